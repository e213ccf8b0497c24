// Operation kill_process: a signal, a grace period, then SIGKILL; every termination recorded.
#include "process_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  const std::string id = params.at("id");
  KillOptions options;
  if (auto sig = params.find("signal"); sig != params.end()) {
    ARSENAL_ASSIGN_OR_RETURN(options.signal, process::ParseSignal(*sig, "signal"));
  }
  options.grace = std::chrono::milliseconds(params.value("grace_ms", int64_t{5000}));
  options.requested_by = ctx.principal.id;
  options.reason = params.value("reason", "");
  options.process_group = params.value("process_group", false);
  ARSENAL_ASSIGN_OR_RETURN(KillOutcome outcome, process::Table(ctx).Kill(id, std::move(options)));
  Json out = outcome.ToJson();
  out["id"] = id;
  return out;
}

Operation Make() {
  Operation op;
  op.name = "kill_process";
  op.family = "process";
  op.summary = "Stop a managed process: a signal, a grace period, then SIGKILL";
  op.description =
      "Sends `signal` (default SIGTERM) through the process's pidfd, waits up to grace_ms for it "
      "to exit and then sends SIGKILL. Returns how it ended. Killing a process that has already "
      "exited succeeds with how=already_exited and its exit status (idempotent). Every "
      "termination is logged and recorded with who asked and why.";
  op.params_schema = {
      {"type", "object"},
      {"properties",
       {{"id", process::IdProperty()},
        {"signal", process::SignalProperty("first signal (default SIGTERM)")},
        {"grace_ms",
         {{"type", "integer"},
          {"minimum", 0},
          {"maximum", 3600000},
          {"description", "wait this long before SIGKILL (default 5000; 0: SIGKILL at once)"}}},
        {"reason", {{"type", "string"}, {"maxLength", 1024}, {"description", "recorded"}}},
        {"process_group",
         {{"type", "boolean"}, {"description", "signal its whole process group"}}}}},
      {"required", {"id"}}};
  op.result_schema = {
      {"type", "object"},
      {"properties",
       {{"id", {{"type", "string"}}},
        {"how",
         {{"type", "string"},
          {"enum", {"already_exited", "exited_after_signal", "killed_after_grace"}}}},
        {"exit", {{"type", "object"}}},
        {"waited_ms", {{"type", "integer"}}}}},
      {"required", {"id", "how", "exit"}}};
  op.permission = "process.write";
  op.http_method = "POST";
  op.http_path = "/api/v1/processes/{id}/kill";
  op.idempotent = true;
  op.examples = {
      {{"summary", "terminate with a 2 s grace period"},
       {"params", {{"id", "p-1"}, {"signal", "SIGTERM"}, {"grace_ms", 2000}, {"reason", "deploy"}}},
       {"result",
        {{"id", "p-1"},
         {"how", "exited_after_signal"},
         {"exit", {{"signal", 15}, {"signal_name", "SIGTERM"}}},
         {"waited_ms", 3}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
