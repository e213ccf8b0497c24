// Operation restart_child: terminate a child (if it runs) and start it again.
#include "supervisor_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

using namespace supervisor_ops;

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  const std::string sup = params["supervisor"].get<std::string>();
  const std::string child = params["child"].get<std::string>();
  ARSENAL_TRY(Service(ctx).RestartChild(sup, child));
  ARSENAL_ASSIGN_OR_RETURN(auto children, Service(ctx).WhichChildren(sup));
  for (const auto& c : children) {
    if (c.id == child) return c.ToJson();
  }
  return Json{{"id", child}, {"supervisor", sup}};
}

Operation Make() {
  Operation op;
  op.name = "restart_child";
  op.family = "supervisor";
  op.summary = "Restart one child of a supervisor (terminating it first if it runs)";
  op.description =
      "Uses the child's shutdown policy; not counted toward the restart intensity; resets the "
      "child's backoff. Siblings are not touched, whatever the strategy.";
  op.params_schema = {
      {"type", "object"},
      {"properties", {{"supervisor", SupervisorProperty()}, {"child", ChildIdProperty()}}},
      {"required", {"supervisor", "child"}}};
  op.result_schema = {{"type", "object"}, {"properties", {{"id", {{"type", "string"}}}}}};
  op.permission = "supervisor.write";
  op.http_method = "POST";
  op.http_path = "/api/v1/supervisors/{supervisor}/children/{child}/restart";
  op.idempotent = false;
  op.examples = {{{"params", {{"supervisor", "web"}, {"child", "api"}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
