// Operation list_operations: the catalogue itself, for clients, the CLI and the dashboard.
#include "arsenal/engine/engine.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  Json out = Json::array();
  for (const auto& entry : ctx.engine.registry().List(params.value("family", ""))) {
    const Operation& op = entry->op;
    out.push_back({{"name", op.name},
                   {"family", op.family},
                   {"summary", op.summary},
                   {"permission", op.permission},
                   {"http", {{"method", op.http_method}, {"path", op.http_path}}},
                   {"idempotent", op.idempotent}});
  }
  return Json{{"operations", std::move(out)}};
}

Operation Make() {
  Operation op;
  op.name = "list_operations";
  op.family = "operations";
  op.summary = "List the registered operations, optionally of one family";
  op.params_schema = {
      {"type", "object"},
      {"properties",
       {{"family",
         {{"type", "string"}, {"description", "only operations of this family (e.g. sandbox)"}}}}}};
  op.result_schema = {{"type", "object"},
                      {"properties",
                       {{"operations",
                         {{"type", "array"},
                          {"items",
                           {{"type", "object"},
                            {"properties",
                             {{"name", {{"type", "string"}}},
                              {"family", {{"type", "string"}}},
                              {"summary", {{"type", "string"}}},
                              {"permission", {{"type", "string"}}},
                              {"http", {{"type", "object"}}},
                              {"idempotent", {{"type", "boolean"}}}}}}}}}}},
                      {"required", {"operations"}}};
  op.permission = "operations.read";
  op.http_method = "GET";
  op.http_path = "/api/v1/operations";
  op.idempotent = true;
  op.nonblocking = true;
  op.examples = {{{"summary", "every operation of the operations family"},
                  {"params", {{"family", "operations"}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
