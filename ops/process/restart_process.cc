// Operation restart_process: same spec, new pid, restart counted; optionally via CRIU.
#include "process_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  const std::string id = params.at("id");
  RestartOptions options;
  options.preserve_state = params.value("preserve_state", false);
  if (auto sig = params.find("signal"); sig != params.end()) {
    ARSENAL_ASSIGN_OR_RETURN(options.kill.signal, process::ParseSignal(*sig, "signal"));
  }
  options.kill.grace = std::chrono::milliseconds(params.value("grace_ms", int64_t{5000}));
  options.kill.requested_by = ctx.principal.id;
  options.kill.reason = params.value("reason", "restart");
  ARSENAL_ASSIGN_OR_RETURN(ProcessSnapshot restarted, process::Table(ctx).Restart(id, options));
  return restarted.ToJson();
}

Operation Make() {
  Operation op;
  op.name = "restart_process";
  op.family = "process";
  op.summary = "Restart a managed process with the same spec (new pid, same id)";
  op.description =
      "Stops the running instance like kill_process (signal, grace_ms, then SIGKILL) and starts "
      "the same spec again under the same id; restarts is incremented. An exited process is "
      "simply started again. With preserve_state the process is checkpointed and restored with "
      "CRIU instead, keeping its memory; when `criu check` fails (or CRIU is missing) the call "
      "fails with process.checkpoint_unsupported and the reason, and the process is untouched.";
  op.params_schema = {{"type", "object"},
                      {"properties",
                       {{"id", process::IdProperty()},
                        {"preserve_state",
                         {{"type", "boolean"}, {"description", "checkpoint/restore through CRIU"}}},
                        {"signal", process::SignalProperty("signal that stops the old instance")},
                        {"grace_ms", {{"type", "integer"}, {"minimum", 0}, {"maximum", 3600000}}},
                        {"reason", {{"type", "string"}, {"maxLength", 1024}}}}},
                      {"required", {"id"}}};
  op.result_schema = process::SnapshotSchema();
  op.permission = "process.write";
  op.http_method = "POST";
  op.http_path = "/api/v1/processes/{id}/restart";
  op.idempotent = false;
  op.examples = {
      {{"params", {{"id", "p-1"}, {"grace_ms", 1000}}},
       {"result", {{"id", "p-1"}, {"pid", 5151}, {"state", "running"}, {"restarts", 1}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
