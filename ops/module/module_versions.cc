// Operation module_versions: a module's version history, newest (serving) first.
#include "module_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  const std::string name = params.at("name");
  ARSENAL_ASSIGN_OR_RETURN(auto versions, module::Modules(ctx).Versions(name));
  Json out = {{"name", name}, {"versions", Json::array()}};
  for (const auto& version : versions) out["versions"].push_back(ModuleService::ToJson(version));
  return out;
}

Operation Make() {
  Operation op;
  op.name = "module_versions";
  op.family = "module";
  op.summary = "Show a module's version history (the versions rollback_module can return to)";
  op.params_schema = {{"type", "object"},
                      {"properties", {{"name", module::NameProperty()}}},
                      {"required", {"name"}}};
  op.result_schema = {{"type", "object"},
                      {"properties",
                       {{"name", {{"type", "string"}}},
                        {"versions",
                         {{"type", "array"},
                          {"items",
                           {{"type", "object"},
                            {"properties",
                             {{"version", {{"type", "string"}}},
                              {"sha256", {{"type", "string"}}},
                              {"state_version", {{"type", "integer"}}},
                              {"serving", {{"type", "boolean"}}},
                              {"loaded_unix_ms", {{"type", "integer"}}}}}}}}}}},
                      {"required", {"name", "versions"}}};
  op.permission = "module.read";
  op.http_method = "GET";
  op.http_path = "/api/v1/modules/{name}/versions";
  op.idempotent = true;
  op.examples = {{{"params", {{"name", "counter"}}},
                  {"result",
                   {{"name", "counter"},
                    {"versions",
                     {{{"version", "2.0.0"},
                       {"sha256", "1c692803ec0b127c..."},
                       {"state_version", 2},
                       {"serving", true},
                       {"loaded_unix_ms", 1764120060000}},
                      {{"version", "1.0.0"},
                       {"sha256", "08f5dca927db1e58..."},
                       {"state_version", 1},
                       {"serving", false},
                       {"loaded_unix_ms", 1764120000000}}}}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
