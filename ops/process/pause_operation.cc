// suspend_process and resume_process: one operation shape in two directions, each the other's
// compensation.
#include "process_ops.h"

namespace arsenal::ops::process {

Operation MakePauseOperation(PauseDirection direction) {
  const bool suspend = direction == PauseDirection::kSuspend;
  const std::string name = suspend ? "suspend_process" : "resume_process";
  const std::string inverse = suspend ? "resume_process" : "suspend_process";
  const std::string state_after = suspend ? "suspended" : "running";
  Operation op;
  op.name = name;
  op.family = "process";
  op.summary = suspend
                   ? "Pause a managed process (cgroup freezer when sandboxed, SIGSTOP otherwise)"
                   : "Continue a suspended process";
  op.description =
      "Sandboxed processes are frozen and thawed as a whole through their cgroup; plain ones "
      "get SIGSTOP/SIGCONT through their pidfd. Calling it again in the same state succeeds with "
      "changed=false. An exited process is a conflict (process.not_running).";
  op.params_schema = {
      {"type", "object"}, {"properties", {{"id", IdProperty()}}}, {"required", {"id"}}};
  op.result_schema = {{"type", "object"},
                      {"properties",
                       {{"id", {{"type", "string"}}},
                        {"changed", {{"type", "boolean"}}},
                        {"state", {{"type", "string"}}}}},
                      {"required", {"id", "changed", "state"}}};
  op.permission = "process.write";
  op.http_method = "POST";
  op.http_path = "/api/v1/processes/{id}/" + std::string(suspend ? "suspend" : "resume");
  op.idempotent = true;
  op.compensation = Compensation{inverse, [](const Json& params, const Json&) {
                                   return Json{{"id", params.at("id")}};
                                 }};
  op.examples = {{{"params", {{"id", "p-1"}}},
                  {"result", {{"id", "p-1"}, {"changed", true}, {"state", state_after}}}}};
  op.handler = [suspend](OperationContext& ctx, const Json& params) -> Result<Json> {
    const std::string id = params.at("id");
    auto& table = Table(ctx);
    ARSENAL_ASSIGN_OR_RETURN(bool changed, suspend ? table.Suspend(id) : table.Resume(id));
    ARSENAL_ASSIGN_OR_RETURN(ProcessSnapshot now, table.Get(id));
    return Json{
        {"id", id}, {"changed", changed}, {"state", std::string(ProcessStateName(now.state))}};
  };
  return op;
}

}  // namespace arsenal::ops::process
