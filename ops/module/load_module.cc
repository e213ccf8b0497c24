// Operation load_module: load a module, in the engine's process or in a sandboxed plugin host.
#include "module_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  ModuleLoadRequest request;
  request.name = params.at("name");
  request.path = params.at("path");
  request.mode = params.value("mode", "sandboxed") == "in_process" ? ModuleMode::kInProcess
                                                                   : ModuleMode::kSandboxed;
  request.host = params.value("host", "");
  ARSENAL_ASSIGN_OR_RETURN(request.initial_state,
                           module::BytesParam(params, "initial_state", "initial_state_base64"));
  request.initial_state_version = params.value("initial_state_version", uint32_t{0});
  if (auto box = params.find("sandbox"); box != params.end()) {
    SandboxSettings settings;
    if (box->contains("memory_bytes")) settings.memory_bytes = (*box)["memory_bytes"];
    if (box->contains("pids")) settings.pids = (*box)["pids"];
    if (box->contains("call_timeout_ms")) settings.call_timeout_ms = (*box)["call_timeout_ms"];
    if (box->contains("checkpoint_every_calls")) {
      settings.checkpoint_every_calls = (*box)["checkpoint_every_calls"];
    }
    request.sandbox = settings;
  }
  ARSENAL_ASSIGN_OR_RETURN(auto info, module::Modules(ctx).Load(request));
  return ModuleService::ToJson(info);
}

Operation Make() {
  Operation op;
  op.name = "load_module";
  op.family = "module";
  op.summary = "Load a hot-reloadable module, sandboxed (default) or in the engine's process";
  op.description =
      "Reads the .so at `path` (absolute, a regular file, an ELF shared object), keeps a "
      "content-addressed copy of it, and creates the module's instance from `initial_state`. "
      "With mode `sandboxed` (the default) the module runs in an arsenal-plugin-host process "
      "with its own namespaces, a strict seccomp profile, Landlock, no network, a read-only "
      "filesystem and a memory limit; modules given the same `host` share one such process. With "
      "mode `in_process` it is dlopen()ed into the engine: fastest, but it runs with the daemon's "
      "privileges and a crash takes the daemon down, so use it only for trusted code.";
  op.params_schema = {
      {"type", "object"},
      {"properties",
       {{"name", module::NameProperty("the name the module is registered under")},
        {"path", module::PathProperty("the module file")},
        {"mode",
         {{"type", "string"},
          {"enum", {"sandboxed", "in_process"}},
          {"description", "where the module runs (default sandboxed)"}}},
        {"host", module::NameProperty("sandboxed: the plugin host to run in (default: the "
                                      "module's name; created on first use)")},
        {"initial_state",
         {{"type", "string"}, {"description", "state handed to the module's create()"}}},
        {"initial_state_base64",
         {{"type", "string"}, {"description", "the same, base64-encoded (binary states)"}}},
        {"initial_state_version",
         {{"type", "integer"},
          {"minimum", 0},
          {"maximum", 4294967295},
          {"description", "format of initial_state, as the module defines it (default 0)"}}},
        {"sandbox",
         {{"type", "object"},
          {"description", "limits of a new plugin host (only when this load creates it)"},
          {"properties",
           {{"memory_bytes",
             {{"type", "integer"},
              {"minimum", 16 << 20},
              {"description", "memory limit of the whole host (default 256 MiB)"}}},
            {"pids", {{"type", "integer"}, {"minimum", 2}, {"maximum", 1 << 20}}},
            {"call_timeout_ms",
             {{"type", "integer"},
              {"minimum", 1},
              {"maximum", 3600000},
              {"description", "a call running longer kills and restarts the host"}}},
            {"checkpoint_every_calls",
             {{"type", "integer"},
              {"minimum", 0},
              {"maximum", 1 << 30},
              {"description",
               "snapshot the state every N calls (restart point after a crash)"}}}}}}}}},
      {"required", {"name", "path"}}};
  op.result_schema = module::ModuleSchema();
  op.permission = "module.write";
  op.http_method = "POST";
  op.http_path = "/api/v1/modules";
  op.idempotent = false;
  op.compensation = Compensation{"unload_module", [](const Json& params, const Json&) {
                                   return Json{{"name", params["name"]}};
                                 }};
  op.examples = {{{"summary", "a third-party plugin in its own sandbox"},
                  {"params", {{"name", "counter"}, {"path", "/opt/plugins/counter_v1.so"}}},
                  {"result",
                   {{"name", "counter"},
                    {"module_name", "counter"},
                    {"mode", "sandboxed"},
                    {"host", "counter"},
                    {"version", "1.0.0"},
                    {"sha256", "08f5dca927db1e58..."},
                    {"state_version", 1},
                    {"calls", 0},
                    {"reloads", 0},
                    {"last_swap_ns", 0},
                    {"loaded_unix_ms", 1764120000000}}}},
                 {{"summary", "trusted code in the engine's process, with a starting state"},
                  {"params",
                   {{"name", "rates"},
                    {"path", "/opt/arsenal/modules/rates.so"},
                    {"mode", "in_process"},
                    {"initial_state", "eur=1\n"},
                    {"initial_state_version", 1}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
