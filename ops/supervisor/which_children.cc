// Operation which_children: a supervisor's children with pid, type, restart type, state and
// restart count (OTP's which_children), following the list convention.
#include "supervisor_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

using namespace supervisor_ops;

const ListSpec& Spec() {
  static const ListSpec spec{
      .id_field = "id",
      .filterable = {"id", "type", "restart", "state", "restart_count", "sandboxed"},
      .sortable = {"position", "type", "restart", "state", "restart_count", "started_unix_ms"},
      .default_sort = "position"};
  return spec;
}

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  ARSENAL_ASSIGN_OR_RETURN(auto query, ListQuery::FromParams(params, Spec()));
  ARSENAL_ASSIGN_OR_RETURN(auto children,
                           Service(ctx).WhichChildren(params["supervisor"].get<std::string>()));
  std::vector<Json> items;
  for (size_t i = 0; i < children.size(); ++i) {
    Json item = children[i].ToJson();
    item["position"] = i;  // start order
    items.push_back(std::move(item));
  }
  return query.Apply(items);
}

Operation Make() {
  Operation op;
  op.name = "which_children";
  op.family = "supervisor";
  op.summary = "List a supervisor's children: id, pid, type, restart type, state, restart count";
  op.params_schema = {{"type", "object"},
                      {"properties", WithList({{"supervisor", SupervisorProperty()}}, Spec())},
                      {"required", {"supervisor"}}};
  op.result_schema = {{"type", "object"},
                      {"properties", ListResultSchemaProperties(
                                         {{"type", "object"},
                                          {"properties",
                                           {{"id", {{"type", "string"}}},
                                            {"pid", {{"type", Json::array({"integer", "null"})}}},
                                            {"type", {{"type", "string"}}},
                                            {"restart", {{"type", "string"}}},
                                            {"state", {{"type", "string"}}},
                                            {"restart_count", {{"type", "integer"}}}}}})},
                      {"required", {"items"}}};
  op.permission = "supervisor.read";
  op.http_method = "GET";
  op.http_path = "/api/v1/supervisors/{supervisor}/children";
  op.idempotent = true;
  Json filter = {{"state", {{"ne", "running"}}}};
  op.examples = Json::array({{{"summary", "children of a nested supervisor that are not running"},
                              {"params", {{"supervisor", "web/jobs"}, {"filter", filter}}}}});
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
