// Operation delete_child: terminate a child if it runs (or cancel its pending restart) and remove
// it from its supervisor.
#include "supervisor_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

using namespace supervisor_ops;

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  const std::string sup = params["supervisor"].get<std::string>();
  const std::string child = params["child"].get<std::string>();
  ARSENAL_TRY(Service(ctx).DeleteChild(sup, child));
  return Json{{"supervisor", sup}, {"id", child}, {"deleted", true}};
}

Operation Make() {
  Operation op;
  op.name = "delete_child";
  op.family = "supervisor";
  op.summary = "Remove a child from a supervisor, terminating it first";
  op.params_schema = {
      {"type", "object"},
      {"properties", {{"supervisor", SupervisorProperty()}, {"child", ChildIdProperty()}}},
      {"required", {"supervisor", "child"}}};
  op.result_schema = {{"type", "object"},
                      {"properties",
                       {{"supervisor", {{"type", "string"}}},
                        {"id", {{"type", "string"}}},
                        {"deleted", {{"type", "boolean"}}}}}};
  op.permission = "supervisor.write";
  op.http_method = "DELETE";
  op.http_path = "/api/v1/supervisors/{supervisor}/children/{child}";
  op.idempotent = false;
  op.examples = {{{"params", {{"supervisor", "web"}, {"child", "cache"}}},
                  {"result", {{"supervisor", "web"}, {"id", "cache"}, {"deleted", true}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
