// arsenal: the command-line front door. Every registered operation is a subcommand whose flags
// are generated from the operation's parameter schema; `call` takes raw JSON. Runs operations
// in-process (against --state-dir) or, with --remote URL --key KEY, against a running arsenald.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>

#include "arsenal/api/client.h"
#include "arsenal/engine/engine.h"

namespace {

using arsenal::Json;

std::string DefaultStateDir() {
  if (const char* env = std::getenv("ARSENAL_STATE_DIR")) return env;
  if (::geteuid() == 0) return "/var/lib/arsenal";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/tmp") + "/.local/state/arsenal";
}

// Converts a flag's text to the JSON type its schema declares; schema validation in the engine
// then reports anything still wrong, naming the field.
std::string TypeOf(const Json& schema) {
  auto it = schema.find("type");
  if (it == schema.end()) return "string";
  if (it->is_string()) return it->get<std::string>();
  for (const auto& t : *it) {
    if (t.is_string() && t != "null") return t.get<std::string>();
  }
  return "string";
}

Json Convert(const Json& schema, const std::string& text) {
  const std::string type = TypeOf(schema);
  try {
    if (type == "integer") return std::stoll(text);
    if (type == "number") return std::stod(text);
    if (type == "boolean") return text == "true" || text == "1" || text == "yes";
    if (type == "object" || type == "array") return Json::parse(text);
  } catch (const std::exception&) {
    return text;  // left as a string: validation names the field and the expected type
  }
  return text;
}

int Print(const arsenal::Result<Json>& result) {
  if (result) {
    std::cout << result->dump(2) << "\n";
    return 0;
  }
  std::cerr << Json{{"error", result.error().ToJson()}}.dump(2) << "\n";
  return result.error().category() == arsenal::ErrorCategory::kValidation ? 2 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  arsenal::Registry catalogue;
  if (auto s = catalogue.RegisterBuiltins(); !s) {
    std::cerr << "arsenal: " << s.error().ToString() << "\n";
    return 1;
  }
  CLI::App app{"arsenal: run Arsenal operations in-process or against a daemon"};
  app.require_subcommand(1);
  std::string remote, key, state_dir = DefaultStateDir();
  app.add_option("--remote", remote, "base URL of a running arsenald (e.g. http://127.0.0.1:7878)");
  app.add_option("--key", key, "API key for --remote (default: $ARSENAL_API_KEY)");
  app.add_option("--state-dir", state_dir, "state directory for in-process use");

  std::string call_name, call_params = "{}";
  auto* call = app.add_subcommand("call", "invoke any operation with JSON params");
  call->add_option("name", call_name, "operation name")->required();
  call->add_option("--params", call_params, "params as a JSON object");

  std::optional<std::string> selected;
  std::map<std::string, std::map<std::string, std::string>> flag_values;
  for (const auto& entry : catalogue.List()) {
    const auto& op = entry->op;
    auto* sub = app.add_subcommand(op.name, op.summary);
    sub->group(op.family);
    const Json& props = op.params_schema.value("properties", Json::object());
    for (const auto& [field, schema] : props.items()) {
      auto* opt =
          sub->add_option("--" + field, flag_values[op.name][field],
                          schema.contains("description") && schema["description"].is_string()
                              ? schema["description"].get<std::string>()
                              : TypeOf(schema));
      const Json required = op.params_schema.value("required", Json::array());
      if (std::find(required.begin(), required.end(), field) != required.end()) opt->required();
    }
    sub->callback([&selected, name = op.name] { selected = name; });
  }
  CLI11_PARSE(app, argc, argv);

  std::string name;
  Json params = Json::object();
  if (call->parsed()) {
    name = call_name;
    try {
      params = Json::parse(call_params);
    } catch (const std::exception& e) {
      std::cerr << "arsenal: --params is not valid JSON: " << e.what() << "\n";
      return 2;
    }
  } else if (selected) {
    name = *selected;
    const auto& op = catalogue.Find(name)->op;
    const Json& props = op.params_schema.value("properties", Json::object());
    auto* sub = app.get_subcommand(name);
    for (const auto& [field, text] : flag_values[name]) {
      if (sub->count("--" + field) > 0) params[field] = Convert(props[field], text);
    }
  }

  if (!remote.empty()) {
    if (key.empty() && std::getenv("ARSENAL_API_KEY")) key = std::getenv("ARSENAL_API_KEY");
    auto client = arsenal::api::Client::Connect(remote, key);
    if (!client) return Print(arsenal::Fail(client.error()));
    return Print(client->Call(name, params));
  }
  auto engine = arsenal::Engine::Create({.state_dir = state_dir});
  if (!engine) return Print(arsenal::Fail(engine.error()));
  return Print((*engine)->Execute(name, params, arsenal::Principal::Root()));
}
