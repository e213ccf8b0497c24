#include "arsenal/engine/schema.h"

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace arsenal {
namespace {

// valijson reports a context like ["<root>", "[spec]", "[mounts]", "[2]"]; users want
// "spec.mounts[2]".
std::string FieldPath(const std::vector<std::string>& context) {
  std::string path;
  for (const auto& part : context) {
    if (part == "<root>") continue;
    std::string_view p = part;
    if (p.size() >= 2 && p.front() == '[' && p.back() == ']') p = p.substr(1, p.size() - 2);
    const bool index = !p.empty() && std::all_of(p.begin(), p.end(), ::isdigit);
    if (index) {
      path += "[" + std::string(p) + "]";
    } else {
      if (!path.empty()) path += ".";
      path += p;
    }
  }
  return path;
}

// For unknown-property errors valijson names the property only in its description.
std::string UnknownProperty(const std::string& description) {
  static constexpr std::string_view kMarker = "constraints: '";
  auto pos = description.find(kMarker);
  if (pos == std::string::npos) return {};
  pos += kMarker.size();
  auto end = description.rfind('\'');
  if (end == std::string::npos || end < pos) return {};
  return description.substr(pos, end - pos);
}

// valijson: "Missing required property 'n'."
std::string MissingProperty(const std::string& description) {
  static constexpr std::string_view kMarker = "required property '";
  auto pos = description.find(kMarker);
  if (pos == std::string::npos) return {};
  pos += kMarker.size();
  auto end = description.find('\'', pos);
  if (end == std::string::npos) return {};
  return description.substr(pos, end - pos);
}

}  // namespace

struct CompiledSchema::Impl {
  valijson::Schema schema;
};

CompiledSchema::CompiledSchema() : impl_(std::make_unique<Impl>()) {}
CompiledSchema::~CompiledSchema() = default;

Result<std::shared_ptr<const CompiledSchema>> CompiledSchema::Compile(const Json& schema) {
  std::shared_ptr<CompiledSchema> compiled(new CompiledSchema());
  try {
    valijson::SchemaParser parser;
    valijson::adapters::NlohmannJsonAdapter adapter(schema);
    parser.populateSchema(adapter, compiled->impl_->schema);
  } catch (const std::exception& e) {
    return Fail(
        ValidationError("schema.invalid", std::string("JSON Schema does not compile: ") + e.what())
            .WithHint("fix the schema; see https://json-schema.org/draft-07"));
  }
  return std::shared_ptr<const CompiledSchema>(std::move(compiled));
}

Status CompiledSchema::Validate(const Json& document, const std::string& error_code) const {
  valijson::Validator validator;
  valijson::adapters::NlohmannJsonAdapter target(document);
  // Fast path without collecting results; collect them only to explain a failure.
  if (validator.validate(impl_->schema, target, nullptr)) return {};
  valijson::ValidationResults results;
  validator.validate(impl_->schema, target, &results);
  Json errors = Json::array();
  std::string first_field;
  std::string first_message;
  valijson::ValidationResults::Error error;
  while (results.popError(error)) {
    std::string field = FieldPath(error.context);
    if (auto missing = MissingProperty(error.description); !missing.empty()) {
      field = field.empty() ? missing : field + "." + missing;
    } else if (auto unknown = UnknownProperty(error.description); !unknown.empty()) {
      field = field.empty() ? unknown : field + "." + unknown;
      error.description = "unknown field '" + unknown + "'";
    }
    // valijson reports the enclosing "allOf/anyOf" failures too; keep the deepest one first.
    if (first_message.empty() || field.size() > first_field.size()) {
      first_field = field;
      first_message = error.description;
    }
    errors.push_back({{"field", field}, {"message", error.description}});
  }
  std::string where = first_field.empty() ? "params" : "'" + first_field + "'";
  return Fail(ValidationError(error_code, "invalid " + where + ": " + first_message, first_field)
                  .WithDetail("errors", std::move(errors))
                  .WithHint("fix the field named in details.field; describe_operation shows the "
                            "parameter schema"));
}

}  // namespace arsenal
