// Operation unload_module: stop serving a module and remove every version of it.
#include "module_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  const std::string name = params.at("name");
  ARSENAL_TRY(module::Modules(ctx).Unload(name));
  return Json{{"name", name}, {"unloaded", true}};
}

Operation Make() {
  Operation op;
  op.name = "unload_module";
  op.family = "module";
  op.summary = "Unload a module: wait for its calls, destroy its instance, delete its versions";
  op.description =
      "In-process modules are dlclose()d (nothing of them stays mapped); a sandboxed module is "
      "unloaded from its plugin host, and a host left without modules is stopped. The state is "
      "not kept: take it with the module's own methods first if you need it.";
  op.params_schema = {{"type", "object"},
                      {"properties", {{"name", module::NameProperty()}}},
                      {"required", {"name"}}};
  op.result_schema = {
      {"type", "object"},
      {"properties", {{"name", {{"type", "string"}}}, {"unloaded", {{"type", "boolean"}}}}},
      {"required", {"name", "unloaded"}}};
  op.permission = "module.write";
  op.http_method = "DELETE";
  op.http_path = "/api/v1/modules/{name}";
  op.idempotent = false;
  op.examples = {
      {{"params", {{"name", "counter"}}}, {"result", {{"name", "counter"}, {"unloaded", true}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
