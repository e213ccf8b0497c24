#include "arsenal/engine/operation.h"

namespace arsenal {

bool Principal::Allows(std::string_view permission) const {
  const auto dot = permission.find('.');
  const std::string_view family = permission.substr(0, dot);
  for (const auto& held : permissions) {
    if (held == "*" || held == permission) return true;
    // "sandbox.*" grants every verb of the family.
    if (held.size() == family.size() + 2 && held.ends_with(".*") &&
        std::string_view(held).substr(0, family.size()) == family) {
      return true;
    }
  }
  return false;
}

Principal Principal::Root() { return Principal{"root", {"*"}}; }

Json DescribeOperation(const Operation& op) {
  Json j = {{"name", op.name},
            {"family", op.family},
            {"summary", op.summary},
            {"description", op.description},
            {"params_schema", op.params_schema},
            {"result_schema", op.result_schema},
            {"permission", op.permission},
            {"http", {{"method", op.http_method}, {"path", op.http_path}}},
            {"idempotent", op.idempotent},
            {"nonblocking", op.nonblocking},
            {"examples", op.examples},
            {"cli", op.cli_command}};
  j["compensation"] = op.compensation ? Json(op.compensation->operation) : Json(nullptr);
  return j;
}

std::vector<OperationFactory>& BuiltinOperationFactories() {
  // Function-local so registration from static initializers in any translation unit is safe.
  static std::vector<OperationFactory> factories;
  return factories;
}

}  // namespace arsenal
