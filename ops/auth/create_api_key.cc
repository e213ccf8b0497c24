// Operation create_api_key: issue a new API key with a role. The key is returned only here.
#include "arsenal/engine/api_keys.h"
#include "arsenal/engine/engine.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  ARSENAL_ASSIGN_OR_RETURN(auto created, ctx.engine.Service<ApiKeys>().Create(
                                             params.value("name", ""), params.at("role")));
  Json out = created.info.ToJson();
  out["key"] = std::move(created.key);
  return out;
}

Operation Make() {
  Operation op;
  op.name = "create_api_key";
  op.cli_command = {"keys", "create"};
  op.family = "auth";
  op.summary = "Create an API key with a role; the secret key is shown only in this result";
  op.description =
      "Keys are random (32 bytes) and stored only as SHA-256 hashes. Roles: viewer, operator, "
      "admin, or a custom role from the api.roles config section.";
  op.params_schema = {
      {"type", "object"},
      {"properties",
       {{"name", {{"type", "string"}, {"maxLength", 200}, {"description", "label for people"}}},
        {"role",
         {{"type", "string"},
          {"pattern", "^[a-z][a-z0-9_]{0,63}$"},
          {"description", "viewer, operator, admin or a custom role"}}}}},
      {"required", {"role"}}};
  op.result_schema = {{"type", "object"},
                      {"properties",
                       {{"id", {{"type", "string"}}},
                        {"name", {{"type", "string"}}},
                        {"role", {{"type", "string"}}},
                        {"created_unix_ms", {{"type", "integer"}}},
                        {"revoked", {{"type", "boolean"}}},
                        {"key", {{"type", "string"}, {"description", "shown once"}}}}},
                      {"required", {"id", "role", "key"}}};
  op.permission = "auth.write";
  op.http_method = "POST";
  op.http_path = "/api/v1/api-keys";
  op.idempotent = false;
  op.compensation = Compensation{"revoke_api_key", [](const Json&, const Json& result) {
                                   return Json{{"id", result.at("id")}};
                                 }};
  op.examples = {{{"summary", "a read-only key for a dashboard"},
                  {"params", {{"name", "dashboard"}, {"role", "viewer"}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
