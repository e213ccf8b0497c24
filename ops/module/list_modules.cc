// Operation list_modules: loaded modules (both modes), following the list convention.
#include "arsenal/engine/list_query.h"
#include "module_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

const ListSpec& Spec() {
  static const ListSpec spec{
      .id_field = "name",
      .filterable = {"name", "module_name", "mode", "host", "version"},
      .sortable = {"module_name", "mode", "host", "version", "calls", "reloads", "loaded_unix_ms"},
      .default_sort = "name"};
  return spec;
}

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  ARSENAL_ASSIGN_OR_RETURN(auto query, ListQuery::FromParams(params, Spec()));
  auto& modules = module::Modules(ctx);
  std::vector<Json> items;
  for (const auto& info : modules.List()) items.push_back(ModuleService::ToJson(info));
  ARSENAL_ASSIGN_OR_RETURN(Json out, query.Apply(items));
  if (params.value("include_hosts", false)) {
    out["hosts"] = Json::array();
    for (const auto& host : modules.Hosts()) out["hosts"].push_back(ModuleService::ToJson(host));
  }
  return out;
}

Operation Make() {
  Operation op;
  op.name = "list_modules";
  op.family = "module";
  op.summary = "List loaded modules, in-process and sandboxed";
  op.description =
      "Each item is a module with its serving version, mode, plugin host, call and reload "
      "counts. With include_hosts the result also lists the plugin hosts: pid, restarts, "
      "whether they failed, and how the last host process ended (crash, timeout, OOM).";
  Json props = ListParamsSchemaProperties(Spec());
  props["include_hosts"] = {{"type", "boolean"},
                            {"description", "also return the sandboxed plugin hosts"}};
  op.params_schema = {{"type", "object"}, {"properties", props}};
  Json result = ListResultSchemaProperties(module::ModuleSchema());
  result["hosts"] = {{"type", "array"}, {"items", {{"type", "object"}}}};
  op.result_schema = {{"type", "object"}, {"properties", result}, {"required", {"items"}}};
  op.permission = "module.read";
  op.http_method = "GET";
  op.http_path = "/api/v1/modules";
  op.idempotent = true;
  op.examples = {{{"summary", "sandboxed modules with their hosts"},
                  {"params", {{"filter", {{"mode", "sandboxed"}}}, {"include_hosts", true}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
