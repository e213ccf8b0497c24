// Operation set_restart_backoff: configure the restart backoff of one child or of all children
// of a supervisor at run time.
#include "supervisor_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

using namespace supervisor_ops;

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  const std::string sup = params["supervisor"].get<std::string>();
  const std::string child = params.value("child", "");
  ARSENAL_TRY(Service(ctx).SetBackoff(sup, child, params["backoff"]));
  ARSENAL_ASSIGN_OR_RETURN(auto children, Service(ctx).WhichChildren(sup));
  Json items = Json::array();
  for (const auto& c : children) {
    if (child.empty() || c.id == child)
      items.push_back({{"id", c.id}, {"backoff", c.backoff.ToJson()}});
  }
  return Json{{"supervisor", sup}, {"children", items}};
}

Operation Make() {
  Operation op;
  op.name = "set_restart_backoff";
  op.family = "supervisor";
  op.summary = "Set the restart backoff (exponential, capped, jittered) of a child or all children";
  op.description =
      "The n-th consecutive restart of a child waits min(max_ms, initial_ms * multiplier^(n-1)) "
      "+/- jitter; the count resets after reset_after_ms of healthy running; initial_ms 0 turns "
      "backoff off (immediate restarts, as OTP). Restarts are counted toward the intensity when "
      "decided, so backoff never hides a crash loop from the escalation.";
  op.params_schema = {{"type", "object"},
                      {"properties",
                       {{"supervisor", SupervisorProperty()},
                        {"child", {{"type", "string"}, {"description", "omit for every child"}}},
                        {"backoff", arsenal::supervisor::BackoffSchema()}}},
                      {"required", {"supervisor", "backoff"}}};
  op.result_schema = {
      {"type", "object"},
      {"properties", {{"supervisor", {{"type", "string"}}}, {"children", {{"type", "array"}}}}}};
  op.permission = "supervisor.write";
  op.http_method = "PUT";
  op.http_path = "/api/v1/supervisors/{supervisor}/backoff";
  op.idempotent = true;
  op.examples = {{{"params",
                   {{"supervisor", "web"},
                    {"child", "api"},
                    {"backoff",
                     {{"initial_ms", 100},
                      {"max_ms", 10000},
                      {"multiplier", 2},
                      {"jitter", 0.2},
                      {"reset_after_ms", 30000}}}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
