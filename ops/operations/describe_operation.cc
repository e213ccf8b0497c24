// Operation describe_operation: one operation's full declaration (schemas, permission, route).
#include "arsenal/engine/engine.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  const auto name = params.at("name").get<std::string>();
  auto entry = ctx.engine.registry().Find(name);
  if (!entry) {
    return Fail(NotFoundError("operation.not_found", "no operation named '" + name + "'")
                    .WithDetail("field", "name")
                    .WithHint("list_operations lists the registered operations"));
  }
  return DescribeOperation(entry->op);
}

Operation Make() {
  Operation op;
  op.name = "describe_operation";
  op.family = "operations";
  op.summary = "Describe one operation: schemas, permission, HTTP route, examples";
  op.params_schema = {
      {"type", "object"},
      {"properties",
       {{"name", {{"type", "string"}, {"minLength", 1}, {"description", "operation name"}}}}},
      {"required", {"name"}}};
  op.result_schema = {{"type", "object"},
                      {"required", {"name", "family", "params_schema", "permission", "http"}}};
  op.permission = "operations.read";
  op.http_method = "GET";
  op.http_path = "/api/v1/operations/{name}";
  op.idempotent = true;
  op.nonblocking = true;
  op.examples = {{{"params", {{"name", "list_operations"}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
