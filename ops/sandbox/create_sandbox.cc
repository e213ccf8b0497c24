// Operation create_sandbox: a long-lived sandbox from a spec, started and ready for commands.
#include "sandbox_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  auto spec = SandboxSpec::FromJson(params.value("spec", Json::object()));
  if (!spec) {
    Error e = std::move(spec).error();
    std::string field = e.details().value("field", "");
    e.WithDetail("field", field.empty() ? "spec" : "spec." + field);
    return Fail(std::move(e));
  }
  ARSENAL_ASSIGN_OR_RETURN(SandboxInfo info,
                           sandbox_ops::Service(ctx).Create(std::move(*spec), ctx.principal.id,
                                                            params.value("start", true)));
  return info.ToJson();
}

Operation Make() {
  Operation op;
  op.name = "create_sandbox";
  op.family = "sandbox";
  op.summary = "Create a sandbox (namespaces, cgroup limits, policy) and start it";
  op.description =
      "Validates the spec (docs/sandbox-spec.md), compiles its policy, creates its cgroup and "
      "starts a PID 1 that holds the namespaces, so execute_in_sandbox and start_process (with "
      "its id) can run commands in it. With start=false it stays created. Any failure leaves "
      "nothing behind.";
  op.params_schema = {
      {"type", "object"},
      {"properties",
       {{"spec", sandbox_ops::SpecSchema()},
        {"start", {{"type", "boolean"}, {"description", "start its PID 1 now (default true)"}}}}}};
  op.result_schema = sandbox_ops::InfoSchema(true);
  op.permission = "sandbox.write";
  op.http_method = "POST";
  op.http_path = "/api/v1/sandboxes";
  op.idempotent = false;
  op.compensation = Compensation{"destroy_sandbox", [](const Json&, const Json& result) {
                                   return Json{{"id", result.at("id")}};
                                 }};
  op.examples = {
      {{"summary", "a sandbox with a tmpfs and limits"},
       {"params",
        {{"spec",
          {{"version", 1},
           {"mounts", {{{"type", "tmpfs"}, {"target", "/tmp"}, {"size", "64M"}}}},
           {"limits", {{"memory", "256M"}, {"pids", 64}}},
           {"labels", {{"team", "ci"}}}}}}},
       {"result", {{"id", "sb-1"}, {"state", "running"}, {"labels", {{"team", "ci"}}}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
