// Operation add_child: add and start a child (a dynamic child for simple_one_for_one).
#include "supervisor_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

using namespace supervisor_ops;

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  const std::string sup = params["supervisor"].get<std::string>();
  if (params.contains("child") && params.contains("args")) {
    return Fail(ValidationError("supervisor.invalid_spec",
                                "args: give a child spec or args (simple_one_for_one), not both",
                                "args"));
  }
  Json child_params = Json::object();
  if (params.contains("child")) child_params = params["child"];
  if (params.contains("args")) child_params["args"] = params["args"];
  ARSENAL_ASSIGN_OR_RETURN(std::string id, Service(ctx).AddChild(sup, child_params));
  ARSENAL_ASSIGN_OR_RETURN(auto children, Service(ctx).WhichChildren(sup));
  for (const auto& c : children) {
    if (c.id == id) return c.ToJson();
  }
  return Json{{"id", id}, {"supervisor", sup}};
}

Operation Make() {
  Operation op;
  op.name = "add_child";
  op.family = "supervisor";
  op.summary = "Add a child to a running supervisor and start it";
  op.description =
      "For one_for_one, one_for_all and rest_for_one supervisors pass `child` (a child spec; it is "
      "started last in order and persisted with the definition). For simple_one_for_one pass "
      "`args` (appended to the template's argv, optional); the id is generated. If the child "
      "fails to start it is not added.";
  op.params_schema = {
      {"type", "object"},
      {"properties",
       {{"supervisor", SupervisorProperty()},
        {"child", arsenal::supervisor::ChildSpecSchema()},
        {"args", {{"type", "array"}, {"description", "simple_one_for_one: extra argv"}}}}},
      {"required", {"supervisor"}}};
  op.result_schema = {
      {"type", "object"},
      {"properties",
       {{"id", {{"type", "string"}}}, {"pid", {{"type", Json::array({"integer", "null"})}}}}},
      {"required", {"id"}}};
  op.permission = "supervisor.write";
  op.http_method = "POST";
  op.http_path = "/api/v1/supervisors/{supervisor}/children";
  op.idempotent = false;
  op.compensation =
      Compensation{"delete_child", [](const Json& params, const Json& result) {
                     return Json{{"supervisor", params["supervisor"]}, {"child", result["id"]}};
                   }};
  op.examples = {
      {{"summary", "a static child"},
       {"params",
        {{"supervisor", "web"},
         {"child", {{"id", "cache"}, {"process", {{"argv", {"/usr/bin/sleep", "1000"}}}}}}}}},
      {{"summary", "a dynamic child of a simple_one_for_one pool"},
       {"params", {{"supervisor", "pool"}, {"args", {"--port", "8081"}}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
