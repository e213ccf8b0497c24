#include "arsenal/engine/registry.h"

#include <mutex>
#include <regex>

namespace arsenal {
namespace {

constexpr std::string_view kMethods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};

bool IsSnakeName(std::string_view s) {
  static const std::regex kName("^[a-z][a-z0-9_]*$");
  return std::regex_match(s.begin(), s.end(), kName);
}

Error Invalid(const Operation& op, std::string what) {
  return ValidationError("registry.invalid_operation",
                         "operation '" + op.name + "' is not registrable: " + std::move(what))
      .WithHint("fix the operation's declaration in ops/");
}

// Closes every object schema that does not say otherwise, recursively, so unknown fields are
// rejected at any depth.
void CloseObjects(Json& schema) {
  if (!schema.is_object()) return;
  // "type" may also be an array of type names (["string", "null"]).
  const auto type = schema.find("type");
  if (type != schema.end() && *type == "object" && !schema.contains("additionalProperties")) {
    schema["additionalProperties"] = false;
  }
  for (const char* key : {"properties", "definitions", "$defs", "patternProperties"}) {
    if (auto it = schema.find(key); it != schema.end() && it->is_object()) {
      for (auto& [_, sub] : it->items()) CloseObjects(sub);
    }
  }
  for (const char* key : {"items", "additionalProperties", "not"}) {
    if (auto it = schema.find(key); it != schema.end()) CloseObjects(*it);
  }
  for (const char* key : {"allOf", "anyOf", "oneOf"}) {
    if (auto it = schema.find(key); it != schema.end() && it->is_array()) {
      for (auto& sub : *it) CloseObjects(sub);
    }
  }
}

}  // namespace

Status Registry::Register(Operation op) {
  if (!IsSnakeName(op.name)) return Fail(Invalid(op, "name must be lower_snake_case"));
  if (!IsSnakeName(op.family)) return Fail(Invalid(op, "family must be lower_snake_case"));
  if (op.summary.empty()) return Fail(Invalid(op, "summary is empty"));
  if (op.permission.find('.') == std::string::npos) {
    return Fail(Invalid(op, "permission must look like 'family.verb'"));
  }
  if (std::find(std::begin(kMethods), std::end(kMethods), op.http_method) == std::end(kMethods)) {
    return Fail(Invalid(op, "http_method '" + op.http_method + "' is not an HTTP method"));
  }
  if (!op.http_path.starts_with("/api/v1/")) {
    return Fail(Invalid(op, "http_path must start with /api/v1/"));
  }
  if (!op.handler) return Fail(Invalid(op, "handler is missing"));
  if (op.params_schema.is_null()) op.params_schema = {{"type", "object"}};
  if (op.params_schema.value("type", "") != "object") {
    return Fail(Invalid(op, "params_schema must describe an object"));
  }
  if (op.result_schema.is_null()) op.result_schema = {{"type", "object"}};
  CloseObjects(op.params_schema);
  auto compiled = CompiledSchema::Compile(op.params_schema);
  if (!compiled) return Fail(Invalid(op, compiled.error().message()));
  if (!CompiledSchema::Compile(op.result_schema)) return Fail(Invalid(op, "bad result_schema"));

  auto entry = std::make_shared<RegisteredOperation>();
  entry->op = std::move(op);
  entry->params_schema = std::move(*compiled);
  std::unique_lock lock(mu_);
  auto [it, inserted] = ops_.try_emplace(entry->op.name, entry);
  if (!inserted) {
    return Fail(ConflictError("registry.duplicate_operation",
                              "operation '" + entry->op.name + "' is already registered")
                    .WithHint("operation names are global: choose a unique name"));
  }
  return {};
}

Status Registry::RegisterBuiltins() {
  for (OperationFactory factory : BuiltinOperationFactories()) ARSENAL_TRY(Register(factory()));
  return {};
}

std::shared_ptr<const RegisteredOperation> Registry::Find(std::string_view name) const {
  std::shared_lock lock(mu_);
  auto it = ops_.find(name);
  return it == ops_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const RegisteredOperation>> Registry::List(
    std::string_view family) const {
  std::shared_lock lock(mu_);
  std::vector<std::shared_ptr<const RegisteredOperation>> out;
  out.reserve(ops_.size());
  for (const auto& [_, entry] : ops_) {
    if (family.empty() || entry->op.family == family) out.push_back(entry);
  }
  return out;
}

size_t Registry::size() const {
  std::shared_lock lock(mu_);
  return ops_.size();
}

}  // namespace arsenal
