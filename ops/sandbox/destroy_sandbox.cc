// Operation destroy_sandbox: kill everything in a sandbox and remove it.
#include "sandbox_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  ARSENAL_ASSIGN_OR_RETURN(
      SandboxInfo info,
      sandbox_ops::Service(ctx).Destroy(params.at("id").get<std::string>(), ctx.principal.id));
  return info.ToJson(false);
}

Operation Make() {
  Operation op;
  op.name = "destroy_sandbox";
  op.family = "sandbox";
  op.summary = "Destroy a sandbox: kill its processes, remove its cgroup";
  op.description =
      "Kills every process of the sandbox (its whole cgroup), waits for them, and removes the "
      "cgroup; its mounts vanish with its namespaces. Destroying a destroyed sandbox succeeds and "
      "changes nothing.";
  op.params_schema = {{"type", "object"},
                      {"properties", {{"id", sandbox_ops::IdProperty()}}},
                      {"required", {"id"}}};
  op.result_schema = sandbox_ops::InfoSchema(false);
  op.permission = "sandbox.write";
  op.http_method = "DELETE";
  op.http_path = "/api/v1/sandboxes/{id}";
  op.idempotent = true;
  op.examples = {
      {{"params", {{"id", "sb-1"}}}, {"result", {{"id", "sb-1"}, {"state", "destroyed"}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
