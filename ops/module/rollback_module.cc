// Operation rollback_module: return a module to a named earlier version of its history.
#include "module_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  const std::string name = params.at("name");
  return module::ChangeVersion(ctx, name, [&](ModuleService& service) {
    return service.Rollback(name, params.at("version"));
  });
}

Operation Make() {
  Operation op;
  op.name = "rollback_module";
  op.family = "module";
  op.summary = "Roll a module back to an earlier version from its history, migrating its state";
  op.description =
      "A reload to the stored copy of `version` (see module_versions). The state goes through "
      "the modules' own code: the serving version is asked to write the older version's state "
      "format, and the older version's create() reads it. If that fails, the serving version "
      "stays, state intact.";
  op.params_schema = {{"type", "object"},
                      {"properties",
                       {{"name", module::NameProperty()},
                        {"version", module::VersionProperty("a version from module_versions")}}},
                      {"required", {"name", "version"}}};
  op.result_schema = module::ModuleSchema();
  op.permission = "module.write";
  op.http_method = "POST";
  op.http_path = "/api/v1/modules/{name}/rollback";
  op.idempotent = false;
  op.compensation = module::RollbackToPrevious();
  op.examples = {{{"params", {{"name", "counter"}, {"version", "1.0.0"}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
