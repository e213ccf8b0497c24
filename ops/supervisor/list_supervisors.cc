// Operation list_supervisors: every top-level supervisor (running, stopped or failed).
#include "supervisor_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

using namespace supervisor_ops;

const ListSpec& Spec() {
  static const ListSpec spec{.id_field = "id",
                             .filterable = {"id", "state", "strategy"},
                             .sortable = {"state", "strategy", "children", "restarts_in_window"},
                             .default_sort = "id"};
  return spec;
}

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  ARSENAL_ASSIGN_OR_RETURN(auto query, ListQuery::FromParams(params, Spec()));
  return query.Apply(Service(ctx).List());
}

Operation Make() {
  Operation op;
  op.name = "list_supervisors";
  op.family = "supervisor";
  op.summary = "List top-level supervisors with their state, strategy and restart activity";
  op.params_schema = {{"type", "object"}, {"properties", WithList(Json::object(), Spec())}};
  op.result_schema = {
      {"type", "object"},
      {"properties", ListResultSchemaProperties({{"type", "object"},
                                                 {"properties",
                                                  {{"id", {{"type", "string"}}},
                                                   {"state", {{"type", "string"}}},
                                                   {"strategy", {{"type", "string"}}}}}})},
      {"required", {"items"}}};
  op.permission = "supervisor.read";
  op.http_method = "GET";
  op.http_path = "/api/v1/supervisors";
  op.idempotent = true;
  op.examples = {
      {{"summary", "failed supervisors"}, {"params", {{"filter", {{"state", "failed"}}}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
