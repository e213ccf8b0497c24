// arsenal-ctl: every `arsenal` command but `run` (cli/arsenal.cc execs it, with the same
// arguments, from beside itself). Every registered operation is a subcommand whose flags are
// generated from the operation's parameter schema; `call` takes raw JSON. Runs operations
// in-process (against --state-dir) or, with --remote URL --key KEY, against a running arsenald.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

#include "arsenal/api/client.h"
#include "arsenal/api/openapi.h"
#include "arsenal/api/reference_docs.h"
#include "arsenal/engine/engine.h"
#include "run_command.h"

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

// The subcommand a CLI spelling such as {"keys", "create"} ends at, creating the intermediate
// group commands ("keys") on first use.
CLI::App* NestedCommand(CLI::App& app, const std::vector<std::string>& words,
                        const std::string& summary) {
  CLI::App* parent = &app;
  for (size_t i = 0; i < words.size(); ++i) {
    CLI::App* next = nullptr;
    try {
      next = parent->get_subcommand(words[i]);
    } catch (const CLI::OptionNotFound&) {
      next = parent->add_subcommand(words[i], i + 1 == words.size() ? summary : "");
      if (i + 1 < words.size()) next->require_subcommand(1);
    }
    parent = next;
  }
  return parent;
}

// `arsenal docs`: writes (or with --check compares) the generated operation reference.
int Docs(const arsenal::Registry& catalogue, const std::string& prose_dir, const std::string& out,
         bool check) {
  const std::string text = arsenal::api::BuildReferenceMarkdown(catalogue, prose_dir);
  if (out.empty()) {
    std::cout << text;
    return 0;
  }
  if (check) {
    std::ifstream in(out);
    std::stringstream current;
    current << in.rdbuf();
    if (!in || current.str() != text) {
      std::cerr << "arsenal docs: " << out
                << " is out of date with the operation registry; regenerate it with "
                   "`arsenal docs --out "
                << out << "`\n";
      return 1;
    }
    return 0;
  }
  std::ofstream file(out, std::ios::trunc);
  file << text;
  if (!file.flush()) {
    std::cerr << "arsenal docs: cannot write " << out << "\n";
    return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  arsenal::Registry catalogue;
  if (auto s = catalogue.RegisterBuiltins(); !s) {
    std::cerr << "arsenal: " << s.error().ToString() << "\n";
    return 1;
  }
  CLI::App app{"arsenal: run Arsenal operations in-process or against a daemon", "arsenal"};
  app.set_version_flag("--version", "arsenal " ARSENAL_VERSION);
  app.require_subcommand(1);
  std::string remote, key, state_dir = DefaultStateDir();
  app.add_option("--remote", remote, "base URL of a running arsenald (e.g. http://127.0.0.1:7878)");
  app.add_option("--key", key, "API key for --remote (default: $ARSENAL_API_KEY)");
  app.add_option("--state-dir", state_dir, "state directory for in-process use");

  std::string call_name, call_params = "{}";
  auto* call = app.add_subcommand("call", "invoke any operation with JSON params");
  call->add_option("name", call_name, "operation name")->required();
  call->add_option("--params", call_params, "params as a JSON object");

  std::string docs_out, docs_prose = "docs/operations";
  bool docs_check = false;
  auto* docs = app.add_subcommand("docs", "generate the operation reference (Markdown)");
  docs->group("tools");
  docs->add_option("--out", docs_out, "file to write (default: standard output)");
  docs->add_option("--prose", docs_prose, "directory of per-operation prose")
      ->capture_default_str();
  docs->add_flag("--check", docs_check, "fail if --out differs from what would be generated");
  auto* openapi = app.add_subcommand("openapi", "print the OpenAPI 3 document of the REST API");
  openapi->group("tools");
  arsenal::cli::RunFlags run_flags;
  auto* run = arsenal::cli::AddRunCommand(app, run_flags);

  // Every operation gets `arsenal <name>` and, when it declares one, its extra spelling (e.g.
  // `arsenal keys create`); both share one set of flag values and one callback.
  std::optional<std::string> selected;
  std::map<std::string, std::map<std::string, std::string>> flag_values;
  std::map<std::string, std::vector<CLI::App*>> op_commands;
  for (const auto& entry : catalogue.List()) {
    const auto& op = entry->op;
    std::vector<CLI::App*> commands = {app.add_subcommand(op.name, op.summary)};
    commands.front()->group(op.family);
    if (!op.cli_command.empty()) {
      commands.push_back(NestedCommand(app, op.cli_command, op.summary));
    }
    const Json& props = op.params_schema.value("properties", Json::object());
    const Json required = op.params_schema.value("required", Json::array());
    for (CLI::App* sub : commands) {
      for (const auto& [field, schema] : props.items()) {
        auto* opt =
            sub->add_option("--" + field, flag_values[op.name][field],
                            schema.contains("description") && schema["description"].is_string()
                                ? schema["description"].get<std::string>()
                                : TypeOf(schema));
        if (std::find(required.begin(), required.end(), field) != required.end()) opt->required();
      }
      sub->callback([&selected, name = op.name] { selected = name; });
    }
    op_commands[op.name] = std::move(commands);
  }
  CLI11_PARSE(app, argc, argv);

  if (run->parsed()) return arsenal::cli::RunCommand(run_flags);
  if (docs->parsed()) return Docs(catalogue, docs_prose, docs_out, docs_check);
  if (openapi->parsed()) {
    std::cout << arsenal::api::BuildOpenApi(catalogue).dump(2) << "\n";
    return 0;
  }

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
    for (CLI::App* sub : op_commands[name]) {
      if (!sub->parsed()) continue;
      for (const auto& [field, text] : flag_values[name]) {
        if (sub->count("--" + field) > 0) params[field] = Convert(props[field], text);
      }
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
