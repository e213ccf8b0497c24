// Operation list_api_keys: the API keys (never their secrets), following the list convention.
#include "arsenal/engine/api_keys.h"
#include "arsenal/engine/engine.h"
#include "arsenal/engine/list_query.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

const ListSpec& Spec() {
  static const ListSpec spec{.id_field = "id",
                             .filterable = {"name", "role", "revoked", "created_unix_ms"},
                             .sortable = {"name", "role", "created_unix_ms"},
                             .default_sort = "created_unix_ms"};
  return spec;
}

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  ARSENAL_ASSIGN_OR_RETURN(auto query, ListQuery::FromParams(params, Spec()));
  ARSENAL_ASSIGN_OR_RETURN(
      auto keys, ctx.engine.Service<ApiKeys>().List(params.value("include_revoked", false)));
  std::vector<Json> items;
  for (const auto& k : keys) items.push_back(k.ToJson());
  return query.Apply(items);
}

Operation Make() {
  Operation op;
  op.name = "list_api_keys";
  op.cli_command = {"keys", "list"};
  op.family = "auth";
  op.summary = "List API keys (ids, names, roles; never the secrets)";
  Json props = ListParamsSchemaProperties(Spec());
  props["include_revoked"] = {{"type", "boolean"}, {"description", "also list revoked keys"}};
  op.params_schema = {{"type", "object"}, {"properties", props}};
  op.result_schema = {
      {"type", "object"},
      {"properties", ListResultSchemaProperties({{"type", "object"},
                                                 {"properties",
                                                  {{"id", {{"type", "string"}}},
                                                   {"name", {{"type", "string"}}},
                                                   {"role", {{"type", "string"}}},
                                                   {"created_unix_ms", {{"type", "integer"}}},
                                                   {"revoked", {{"type", "boolean"}}}}}})},
      {"required", {"items"}}};
  op.permission = "auth.read";
  op.http_method = "GET";
  op.http_path = "/api/v1/api-keys";
  op.idempotent = true;
  op.examples = {
      {{"summary", "every key including revoked ones"}, {"params", {{"include_revoked", true}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
