// Operation restart_frequency: restarts per child within a window, flagging children close to
// the supervisor's restart intensity limit.
#include "supervisor_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

using namespace supervisor_ops;

const ListSpec& Spec() {
  static const ListSpec spec{.id_field = "id",
                             .filterable = {"id", "near_limit", "restarts", "restarts_in_period"},
                             .sortable = {"restarts", "per_minute", "restarts_in_period"},
                             .default_sort = "-restarts"};
  return spec;
}

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  ARSENAL_ASSIGN_OR_RETURN(auto query, ListQuery::FromParams(params, Spec()));
  const double window_s = params.value("window_seconds", 0.0);
  if (window_s < 0) {
    return Fail(ValidationError("supervisor.invalid_window", "window_seconds: must not be negative",
                                "window_seconds"));
  }
  const double threshold = params.value("threshold", 0.8);
  if (threshold < 0 || threshold > 1) {
    return Fail(ValidationError("supervisor.invalid_threshold", "threshold: must be in [0, 1]",
                                "threshold"));
  }
  ARSENAL_ASSIGN_OR_RETURN(
      Json freq, Service(ctx).RestartFrequency(params["supervisor"].get<std::string>(),
                                               static_cast<int64_t>(window_s * 1000), threshold));
  std::vector<Json> items(freq["items"].begin(), freq["items"].end());
  ARSENAL_ASSIGN_OR_RETURN(Json page, query.Apply(items));
  for (auto& [k, v] : freq.items()) {
    if (k != "items") page[k] = v;
  }
  page["threshold"] = threshold;
  return page;
}

Operation Make() {
  Operation op;
  op.name = "restart_frequency";
  op.family = "supervisor";
  op.summary = "Restarts per child per window; flags children close to the intensity limit";
  op.description =
      "Counts restart decisions (exits that were restarted and failed starts that are retried) "
      "per child within window_seconds (default: the supervisor's max_seconds). A child is "
      "near_limit when its restarts within max_seconds reach threshold (default 0.8) of "
      "max_restarts; intensity_used is the supervisor's restarts in its window over "
      "max_restarts (1.0 means the next restart escalates).";
  op.params_schema = {{"type", "object"},
                      {"properties", WithList({{"supervisor", SupervisorProperty()},
                                               {"window_seconds", {{"type", "number"}}},
                                               {"threshold", {{"type", "number"}}}},
                                              Spec())},
                      {"required", {"supervisor"}}};
  op.result_schema = {
      {"type", "object"},
      {"properties",
       [] {
         Json p = ListResultSchemaProperties({{"type", "object"},
                                              {"properties",
                                               {{"id", {{"type", "string"}}},
                                                {"restarts", {{"type", "integer"}}},
                                                {"per_minute", {{"type", "number"}}},
                                                {"near_limit", {{"type", "boolean"}}}}}});
         p["intensity_used"] = {{"type", "number"}};
         return p;
       }()},
      {"required", {"items"}}};
  op.permission = "supervisor.read";
  op.http_method = "GET";
  op.http_path = "/api/v1/supervisors/{supervisor}/restart-frequency";
  op.idempotent = true;
  op.examples = {
      {{"summary", "children close to the limit over the last minute"},
       {"params",
        {{"supervisor", "web"}, {"window_seconds", 60}, {"filter", {{"near_limit", true}}}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
