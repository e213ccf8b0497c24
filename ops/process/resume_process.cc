// Operation resume_process. Idempotent: the result says whether the state changed.
#include "process_ops.h"

namespace arsenal::ops {
namespace {

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  const std::string id = params.at("id");
  auto& table = process::Table(ctx);
  ARSENAL_ASSIGN_OR_RETURN(bool changed, table.Resume(id));
  ARSENAL_ASSIGN_OR_RETURN(ProcessSnapshot now, table.Get(id));
  return Json{
      {"id", id}, {"changed", changed}, {"state", std::string(ProcessStateName(now.state))}};
}

Operation Make() {
  Operation op;
  op.name = "resume_process";
  op.family = "process";
  op.summary = "Continue a suspended process";
  op.description =
      "Sandboxed processes are frozen and thawed as a whole through their cgroup; plain ones "
      "get SIGSTOP/SIGCONT through their pidfd. Calling it again in the same state succeeds with "
      "changed=false. An exited process is a conflict (process.not_running).";
  op.params_schema = {
      {"type", "object"}, {"properties", {{"id", process::IdProperty()}}}, {"required", {"id"}}};
  op.result_schema = {{"type", "object"},
                      {"properties",
                       {{"id", {{"type", "string"}}},
                        {"changed", {{"type", "boolean"}}},
                        {"state", {{"type", "string"}}}}},
                      {"required", {"id", "changed", "state"}}};
  op.permission = "process.write";
  op.http_method = "POST";
  op.http_path = "/api/v1/processes/{id}/resume";
  op.idempotent = true;
  op.compensation = Compensation{"suspend_process", [](const Json& params, const Json&) {
                                   return Json{{"id", params.at("id")}};
                                 }};
  op.examples = {{{"params", {{"id", "p-1"}}},
                  {"result", {{"id", "p-1"}, {"changed", true}, {"state", "running"}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace
}  // namespace arsenal::ops
