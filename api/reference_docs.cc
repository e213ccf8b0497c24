#include "arsenal/api/reference_docs.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <vector>

namespace arsenal::api {
namespace {

std::string ReadProse(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return {};
  std::stringstream text;
  text << in.rdbuf();
  std::string prose = text.str();
  // The stub's leading HTML comment is for the author, not the reader.
  if (prose.starts_with("<!--")) {
    auto end = prose.find("-->");
    if (end != std::string::npos) prose.erase(0, end + 3);
  }
  while (!prose.empty() && (prose.front() == '\n' || prose.front() == ' ')) prose.erase(0, 1);
  while (!prose.empty() && (prose.back() == '\n' || prose.back() == ' ')) prose.pop_back();
  return prose;
}

void RenderParams(std::ostringstream& out, const Json& schema) {
  const Json props = schema.value("properties", Json::object());
  if (props.empty()) {
    out << "No parameters.\n\n";
    return;
  }
  const Json required = schema.value("required", Json::array());
  out << "| Parameter | Type | Required | Description |\n|---|---|---|---|\n";
  // Iterators rather than items()' structured bindings: g++ 12 -O3 reports a false
  // -Warray-bounds through the iteration proxy's tuple.
  for (auto it = props.begin(); it != props.end(); ++it) {
    const std::string& field = it.key();
    const Json& sub = it.value();
    std::string type =
        sub.contains("type")
            ? (sub["type"].is_string() ? sub["type"].get<std::string>() : sub["type"].dump())
            : "any";
    std::string description = sub.value("description", "");
    for (auto& c : description) {
      if (c == '|' || c == '\n') c = ' ';
    }
    const bool req = std::any_of(required.begin(), required.end(), [&](const Json& name) {
      return name.is_string() && name.get_ref<const std::string&>() == field;
    });
    out << "| `" << field << "` | " << type << " | " << (req ? "yes" : "no") << " | " << description
        << " |\n";
  }
  out << "\n";
}

}  // namespace

std::string BuildReferenceMarkdown(const Registry& registry,
                                   const std::filesystem::path& prose_dir) {
  std::map<std::string, std::vector<const Operation*>> by_family;
  const auto entries = registry.List();
  for (const auto& entry : entries) by_family[entry->op.family].push_back(&entry->op);

  std::ostringstream out;
  out << "# Operation reference\n\n"
      << "Generated from the operation registry by `arsenal docs`; edit the operations (and the "
         "prose in docs/operations/), not this file.\n\n";
  for (const auto& [family, ops] : by_family) {
    out << "- " << family << ":";
    for (const Operation* op : ops) out << " [`" << op->name << "`](#" << op->name << ")";
    out << "\n";
  }
  out << "\n";
  for (const auto& [family, ops] : by_family) {
    out << "## " << family << "\n\n";
    for (const Operation* op : ops) {
      out << "### " << op->name << "\n\n" << op->summary << ".\n\n";
      if (!op->description.empty()) out << op->description << "\n\n";
      const std::string prose = ReadProse(prose_dir / op->family / (op->name + ".md"));
      if (!prose.empty()) out << prose << "\n\n";
      out << "- HTTP: `" << op->http_method << " " << op->http_path << "` (also `POST "
          << "/api/v1/operations/" << op->name << "`)\n";
      out << "- CLI: `arsenal " << op->name << "`";
      if (!op->cli_command.empty()) {
        out << ", `arsenal";
        for (const auto& word : op->cli_command) out << " " << word;
        out << "`";
      }
      out << "\n- Permission: `" << op->permission << "`\n";
      out << "- Idempotent: " << (op->idempotent ? "yes" : "no") << "\n";
      if (op->nonblocking) out << "- Nonblocking: runs on the API server's I/O thread\n";
      out << "- Batch compensation: "
          << (op->compensation ? "`" + op->compensation->operation + "`"
                               : std::string("none (cannot be part of a batch)"))
          << "\n\n";
      RenderParams(out, op->params_schema);
      out << "<details><summary>Parameter and result schemas</summary>\n\n```json\n"
          << Json{{"params", op->params_schema}, {"result", op->result_schema}}.dump(2)
          << "\n```\n\n</details>\n\n";
      for (const auto& example : op->examples) {
        const std::string summary = example.value("summary", "");
        out << "Example" << (summary.empty() ? std::string() : " (" + summary + ")")
            << ":\n\n```json\n"
            << example.value("params", Json::object()).dump(2) << "\n```\n\n";
      }
    }
  }
  return out.str();
}

}  // namespace arsenal::api
