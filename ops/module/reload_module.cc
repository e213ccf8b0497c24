// Operation reload_module: hot-swap a module to a new file, handing its state over.
#include "module_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  const std::string name = params.at("name");
  return module::ChangeVersion(
      ctx, name, [&](ModuleService& service) { return service.Reload(name, params.at("path")); });
}

Operation Make() {
  Operation op;
  op.name = "reload_module";
  op.family = "module";
  op.summary = "Hot-swap a module to a new version, migrating its state";
  op.description =
      "Loads and checks the new file while the old version keeps serving, then blocks calls, "
      "snapshots the old instance (in the new version's state format when the old version can "
      "write it), creates the new instance from that state, health-checks it and switches. Any "
      "failure (not ELF, wrong ABI, no entry point, create or health failure, unreadable state) "
      "leaves the old version serving with its state intact. A sandboxed module's plugin host is "
      "replaced by a new host process that takes over every module of the old one; the old host "
      "keeps serving until the new one is healthy.";
  op.params_schema = {{"type", "object"},
                      {"properties",
                       {{"name", module::NameProperty()},
                        {"path", module::PathProperty("the new version's file")}}},
                      {"required", {"name", "path"}}};
  op.result_schema = module::ModuleSchema();
  op.permission = "module.write";
  op.http_method = "POST";
  op.http_path = "/api/v1/modules/{name}/reload";
  op.idempotent = false;
  op.compensation = module::RollbackToPrevious();
  op.examples = {{{"params", {{"name", "counter"}, {"path", "/opt/plugins/counter_v2.so"}}},
                  {"result",
                   {{"name", "counter"},
                    {"module_name", "counter"},
                    {"mode", "sandboxed"},
                    {"host", "counter"},
                    {"version", "2.0.0"},
                    {"previous_version", "1.0.0"},
                    {"sha256", "1c692803ec0b127c..."},
                    {"state_version", 2},
                    {"calls", 3},
                    {"reloads", 1},
                    {"last_swap_ns", 412000},
                    {"loaded_unix_ms", 1764120060000}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
