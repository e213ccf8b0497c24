// Operation revoke_api_key: a revoked key stops authenticating at once; revoking is idempotent.
#include "arsenal/engine/api_keys.h"
#include "arsenal/engine/engine.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  ARSENAL_ASSIGN_OR_RETURN(
      auto info, ctx.engine.Service<ApiKeys>().Revoke(params.at("id").get<std::string>()));
  return info.ToJson();
}

Operation Make() {
  Operation op;
  op.name = "revoke_api_key";
  op.cli_command = {"keys", "revoke"};
  op.family = "auth";
  op.summary = "Revoke an API key by id";
  op.params_schema = {{"type", "object"},
                      {"properties",
                       {{"id",
                         {{"type", "string"},
                          {"pattern", "^[0-9a-f]{12}$"},
                          {"description", "key id from list_api_keys"}}}}},
                      {"required", {"id"}}};
  op.result_schema = {{"type", "object"},
                      {"properties",
                       {{"id", {{"type", "string"}}},
                        {"name", {{"type", "string"}}},
                        {"role", {{"type", "string"}}},
                        {"revoked", {{"type", "boolean"}}}}}};
  op.permission = "auth.write";
  op.http_method = "DELETE";
  op.http_path = "/api/v1/api-keys/{id}";
  op.idempotent = true;
  op.examples = {{{"params", {{"id", "0123456789ab"}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
