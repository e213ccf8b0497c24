// Operation sandbox_info: one sandbox's spec, state, processes and cgroup usage.
#include "sandbox_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  ARSENAL_ASSIGN_OR_RETURN(SandboxInfo info,
                           sandbox_ops::Service(ctx).Info(params.at("id").get<std::string>()));
  return info.ToJson();
}

Operation Make() {
  Operation op;
  op.name = "sandbox_info";
  op.family = "sandbox";
  op.summary = "Show a sandbox: spec, state, pids and usage from its cgroup";
  op.description =
      "Returns the canonical spec, the state, the PID 1 and every pid in the sandbox's cgroup, "
      "and the cgroup's usage: memory current and peak, CPU time, pids count and OOM kills.";
  op.params_schema = {{"type", "object"},
                      {"properties", {{"id", sandbox_ops::IdProperty()}}},
                      {"required", {"id"}}};
  op.result_schema = sandbox_ops::InfoSchema(true);
  op.permission = "sandbox.read";
  op.http_method = "GET";
  op.http_path = "/api/v1/sandboxes/{id}";
  op.idempotent = true;
  op.examples = {{{"params", {{"id", "sb-1"}}},
                  {"result",
                   {{"id", "sb-1"},
                    {"state", "running"},
                    {"pids", {4242}},
                    {"usage",
                     {{"memory_current_bytes", 1048576},
                      {"memory_peak_bytes", 2097152},
                      {"cpu_usage_ns", 1500000},
                      {"pids_current", 1},
                      {"oom_kills", 0}}}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
