// Operation hot_reload_sandbox: reload the modules of a sandboxed plugin host by host handover.
#include "module_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  const std::string host = params.at("host");
  std::map<std::string, std::string> changes;
  if (auto modules = params.find("modules"); modules != params.end()) {
    for (const auto& [name, path] : modules->items()) changes[name] = path.get<std::string>();
  }
  auto& service = module::Modules(ctx);
  ARSENAL_ASSIGN_OR_RETURN(auto infos, service.ReloadHost(host, changes));
  Json out = {{"modules", Json::array()}};
  for (const auto& info : infos) out["modules"].push_back(ModuleService::ToJson(info));
  ARSENAL_ASSIGN_OR_RETURN(auto host_info, service.Host(host));
  out["host"] = ModuleService::ToJson(host_info);
  return out;
}

Operation Make() {
  Operation op;
  op.name = "hot_reload_sandbox";
  op.family = "module";
  op.summary = "Reload the modules of a sandboxed plugin host into a fresh host process";
  op.description =
      "Starts a new plugin host process with the new files given in `modules` (module name -> "
      "path) and the current versions of the host's other modules, checks them there while the "
      "old host keeps serving, then blocks calls, hands every module's state over and switches "
      "once all are healthy. The old host is stopped afterwards; on any failure the new one is "
      "discarded and the old one keeps serving. Without `modules` the host is replaced with the "
      "same versions: this also revives a host that failed after too many crashes (from the "
      "modules' last snapshots).";
  op.params_schema = {
      {"type", "object"},
      {"properties",
       {{"host", module::NameProperty("the plugin host (see list_modules include_hosts)")},
        {"modules",
         {{"type", "object"},
          {"description", "module name -> absolute path of its new version"},
          {"propertyNames", {{"pattern", module::kNamePattern}}},
          {"additionalProperties", module::PathProperty("the module's new version")}}}}},
      {"required", {"host"}}};
  op.result_schema = {{"type", "object"},
                      {"properties",
                       {{"host", {{"type", "object"}}},
                        {"modules", {{"type", "array"}, {"items", module::ModuleSchema()}}}}},
                      {"required", {"host", "modules"}}};
  op.permission = "module.write";
  op.http_method = "POST";
  op.http_path = "/api/v1/module-hosts/{host}/reload";
  op.idempotent = false;
  op.examples = {
      {{"summary", "upgrade one plugin, move the others with their state"},
       {"params", {{"host", "plugins"}, {"modules", {{"counter", "/opt/plugins/counter_v2.so"}}}}}},
      {{"summary", "fresh host process, same versions"}, {"params", {{"host", "plugins"}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
