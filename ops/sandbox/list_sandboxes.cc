// Operation list_sandboxes: sandboxes with filters (state, label, ...), sorting and pagination.
#include "sandbox_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  return sandbox_ops::Service(ctx).List(params);
}

Json Params() {
  Json props = ListParamsSchemaProperties(SandboxService::ListSpecification());
  // Labels are matched by the service: "key=value", or "key" for presence; several = all.
  Json label = {
      {"description", "\"key=value\" or \"key\"; an array requires all"},
      {"anyOf",
       Json::array({{{"type", "string"}, {"minLength", 1}},
                    {{"type", "array"}, {"items", {{"type", "string"}, {"minLength", 1}}}}})}};
  if (props.contains("filter") && props["filter"].contains("properties")) {
    props["filter"]["properties"]["label"] = label;
  }
  return {{"type", "object"}, {"properties", props}};
}

Operation Make() {
  Operation op;
  op.name = "list_sandboxes";
  op.family = "sandbox";
  op.summary = "List sandboxes with filters, sorting and cursor pagination";
  op.description =
      "Every sandbox of the engine, destroyed ones included until 256 newer ones were destroyed. "
      "Filter by state, label (\"key=value\" or \"key\"), id, ephemeral, created_by and "
      "created_unix_ms; sort by id, state, created_by or created_unix_ms (default: creation "
      "order); page with next_cursor/prev_cursor.";
  op.params_schema = Params();
  op.result_schema = {{"type", "object"},
                      {"properties", ListResultSchemaProperties(sandbox_ops::InfoSchema(false))},
                      {"required", {"items", "next_cursor", "prev_cursor"}}};
  op.permission = "sandbox.read";
  op.http_method = "GET";
  op.http_path = "/api/v1/sandboxes";
  op.idempotent = true;
  op.examples = {{{"summary", "running sandboxes of team ci, newest first"},
                  {"params",
                   {{"filter", {{"state", "running"}, {"label", "team=ci"}}},
                    {"sort", "-created_unix_ms"},
                    {"page", {{"size", 20}}}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
