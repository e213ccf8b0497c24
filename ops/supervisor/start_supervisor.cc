// Operation start_supervisor: validate a whole supervision tree, then start it.
#include "supervisor_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

using namespace supervisor_ops;

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  return Service(ctx).StartSupervisor(params);
}

Operation Make() {
  Operation op;
  op.name = "start_supervisor";
  op.family = "supervisor";
  op.summary = "Start a supervision tree (validated as a whole before anything starts)";
  op.description =
      "Children are started in order; if one fails to start, the ones already started are "
      "terminated in reverse order and the error names the child. The definition is persisted "
      "and restored after a daemon restart. See docs/supervisors.md for the spec.";
  op.params_schema = arsenal::supervisor::SupervisorSpecSchema();
  op.result_schema = {{"type", "object"},
                      {"properties",
                       {{"id", {{"type", "string"}}},
                        {"path", {{"type", "string"}}},
                        {"strategy", {{"type", "string"}}},
                        {"state", {{"type", "string"}}},
                        {"children", {{"type", "array"}}}}},
                      {"required", {"id", "children"}}};
  op.permission = "supervisor.write";
  op.http_method = "POST";
  op.http_path = "/api/v1/supervisors";
  op.idempotent = false;
  op.compensation = Compensation{"stop_supervisor", [](const Json& params, const Json&) {
                                   return Json{{"id", params["id"]}, {"forget", true}};
                                 }};
  op.examples = {{{"summary", "two workers, restarted one by one, at most 3 restarts in 5 s"},
                  {"params",
                   {{"id", "web"},
                    {"strategy", "one_for_one"},
                    {"max_restarts", 3},
                    {"max_seconds", 5},
                    {"children",
                     {{{"id", "api"}, {"process", {{"argv", {"/usr/bin/sleep", "1000"}}}}},
                      {{"id", "jobs"},
                       {"restart", "transient"},
                       {"shutdown", 2000},
                       {"backoff", {{"initial_ms", 100}, {"max_ms", 5000}, {"jitter", 0.2}}},
                       {"process", {{"argv", {"/usr/bin/sleep", "1000"}}}}}}}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
