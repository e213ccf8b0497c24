// Operation change_strategy: switch a running supervisor's strategy (and optionally its
// intensity) without restarting any child.
#include <cmath>

#include "supervisor_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

using namespace supervisor_ops;
using arsenal::supervisor::Intensity;
using arsenal::supervisor::ParseStrategy;

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  const std::string sup = params["supervisor"].get<std::string>();
  const std::string name = params["strategy"].get<std::string>();
  auto strategy = ParseStrategy(name);
  if (!strategy) {
    return Fail(ValidationError("supervisor.unknown_strategy",
                                "strategy: unknown strategy '" + name + "'", "strategy")
                    .WithHint("one of one_for_one, one_for_all, rest_for_one, simple_one_for_one"));
  }
  ARSENAL_ASSIGN_OR_RETURN(Json before, Service(ctx).Summary(sup));
  std::optional<Intensity> intensity;
  if (params.contains("max_restarts") || params.contains("max_seconds")) {
    Intensity i{before["max_restarts"].get<int>(),
                std::llround(before["max_seconds"].get<double>() * 1000)};
    if (params.contains("max_restarts")) {
      const int64_t n = params["max_restarts"].get<int64_t>();
      if (n < 0) {
        return Fail(ValidationError("supervisor.invalid_intensity",
                                    "max_restarts: must not be negative", "max_restarts"));
      }
      i.max_restarts = static_cast<int>(n);
    }
    if (params.contains("max_seconds")) {
      const double s = params["max_seconds"].get<double>();
      if (!(s > 0)) {
        return Fail(ValidationError("supervisor.invalid_intensity", "max_seconds: must be > 0",
                                    "max_seconds"));
      }
      i.period_ms = std::max<int64_t>(1, std::llround(s * 1000));
    }
    intensity = i;
  }
  ARSENAL_TRY(Service(ctx).ChangeStrategy(sup, *strategy, intensity));
  ARSENAL_ASSIGN_OR_RETURN(Json after, Service(ctx).Summary(sup));
  return Json{{"supervisor", sup},
              {"strategy", after["strategy"]},
              {"max_restarts", after["max_restarts"]},
              {"max_seconds", after["max_seconds"]},
              {"previous",
               {{"strategy", before["strategy"]},
                {"max_restarts", before["max_restarts"]},
                {"max_seconds", before["max_seconds"]}}}};
}

Operation Make() {
  Operation op;
  op.name = "change_strategy";
  op.family = "supervisor";
  op.summary = "Change a supervisor's restart strategy at run time, restarting no child";
  op.description =
      "Takes effect at once: every child exit handled after the call uses the new strategy; a "
      "restart sequence already in progress finishes as planned, and no exit is lost in between. "
      "Changes to or from simple_one_for_one are refused (their children are declared "
      "differently).";
  op.params_schema = {
      {"type", "object"},
      {"properties",
       {{"supervisor", SupervisorProperty()},
        {"strategy",
         {{"type", "string"}, {"description", "one_for_one | one_for_all | rest_for_one"}}},
        {"max_restarts", {{"type", "integer"}}},
        {"max_seconds", {{"type", "number"}}}}},
      {"required", {"supervisor", "strategy"}}};
  op.result_schema = {{"type", "object"},
                      {"properties",
                       {{"supervisor", {{"type", "string"}}},
                        {"strategy", {{"type", "string"}}},
                        {"previous", {{"type", "object"}}}}}};
  op.permission = "supervisor.write";
  op.http_method = "PATCH";
  op.http_path = "/api/v1/supervisors/{supervisor}/strategy";
  op.idempotent = true;
  op.compensation = Compensation{"change_strategy", [](const Json& params, const Json& result) {
                                   Json p = result["previous"];
                                   p["supervisor"] = params["supervisor"];
                                   return p;
                                 }};
  op.examples = {
      {{"params", {{"supervisor", "web"}, {"strategy", "one_for_all"}, {"max_restarts", 10}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
