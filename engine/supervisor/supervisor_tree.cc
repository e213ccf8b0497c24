// Supervision tree pictures: Graphviz DOT from the JSON tree, SVG from `dot`.
#include <unistd.h>

#include <chrono>
#include <thread>

#include "arsenal/engine/engine.h"
#include "arsenal/engine/process_table.h"
#include "arsenal/engine/supervisor.h"

namespace arsenal::supervisor {
namespace {

std::string Quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

std::string Fill(const std::string& state) {
  if (state == "running") return "#d1fae5";
  if (state == "restarting" || state == "starting") return "#fef3c7";
  if (state == "terminating" || state == "stopping") return "#fde68a";
  if (state == "failed") return "#fecaca";
  return "#e5e7eb";
}

void Supervisor(const Json& tree, std::string& out) {
  const std::string path = tree.value("path", "");
  const std::string me = "sup:" + path;
  std::string label = tree.value("id", path) + "\n" + tree.value("strategy", "") + " (" +
                      tree.value("state", "") + ")";
  if (tree.contains("max_restarts")) {
    label += "\nintensity " + std::to_string(tree.value("restarts_in_window", 0)) + "/" +
             std::to_string(tree.value("max_restarts", 0)) + " in " +
             Json(tree.value("max_seconds", 0.0)).dump() + " s";
  }
  if (tree.contains("reason") && !tree["reason"].get<std::string>().empty()) {
    label += "\n" + tree["reason"].get<std::string>();
  }
  out += "  " + Quote(me) + " [shape=box, style=\"rounded,filled\", fillcolor=" +
         Quote(tree.value("state", "") == "failed" ? Fill("failed") : "#dbeafe") +
         ", label=" + Quote(label) + "];\n";
  for (const auto& child : tree.value("children", Json::array())) {
    const std::string id = child.value("id", "");
    if (child.contains("tree")) {
      Supervisor(child["tree"], out);
      out += "  " + Quote(me) + " -> " + Quote("sup:" + child["tree"].value("path", "")) +
             " [label=" + Quote(child.value("restart", "")) + "];\n";
      continue;
    }
    const std::string node = path + "/" + id;
    std::string label = id + "\n";
    if (child.contains("pid") && !child["pid"].is_null()) {
      label += "pid " + std::to_string(child["pid"].get<int64_t>());
    } else {
      label += child.value("state", "");
    }
    label += "\n" + child.value("restart", "") + ", " +
             std::to_string(child.value("restart_count", 0)) + " restarts";
    if (child.value("sandboxed", false)) label += "\nsandboxed";
    out += "  " + Quote(node) +
           " [shape=" + (child.value("type", "") == "supervisor" ? "box" : "ellipse") +
           ", style=filled, fillcolor=" + Quote(Fill(child.value("state", ""))) +
           ", label=" + Quote(label) + "];\n";
    out += "  " + Quote(me) + " -> " + Quote(node) + ";\n";
  }
}

}  // namespace

std::string TreeToDot(const Json& tree) {
  std::string out =
      "digraph supervision {\n"
      "  graph [rankdir=TB, fontname=\"Helvetica\", bgcolor=\"white\"];\n"
      "  node [fontname=\"Helvetica\", fontsize=10];\n"
      "  edge [fontname=\"Helvetica\", fontsize=8, color=\"#6b7280\"];\n";
  if (tree.contains("supervisors")) {
    for (const auto& sup : tree["supervisors"]) Supervisor(sup, out);
  } else {
    Supervisor(tree, out);
  }
  return out + "}\n";
}

Result<std::string> SupervisorService::TreeDot(const std::string& path) {
  ARSENAL_ASSIGN_OR_RETURN(Json tree, Tree(path));
  return TreeToDot(tree);
}

Result<std::string> SupervisorService::TreeSvg(const std::string& path) {
  ARSENAL_ASSIGN_OR_RETURN(std::string dot, TreeDot(path));
  const char* dot_binary = nullptr;
  for (const char* candidate : {"/usr/bin/dot", "/usr/local/bin/dot"}) {
    if (::access(candidate, X_OK) == 0) {
      dot_binary = candidate;
      break;
    }
  }
  if (dot_binary == nullptr) {
    return Fail(UnsupportedError("supervisor.graphviz_unavailable",
                                 "Graphviz's dot is not installed, so no SVG can be rendered")
                    .WithHint("install the graphviz package (scripts/install-deps.sh), or use "
                              "format=dot and render it elsewhere"));
  }
  // Run through the process table: it owns child reaping in this daemon (subreaper).
  ProcessTable* table_ptr = process_table();
  if (table_ptr == nullptr) {
    return Fail(InternalError("supervisor.not_initialized", "use SupervisorService::Get(engine)"));
  }
  ProcessTable& table = *table_ptr;
  ProcessSpec spec;
  spec.argv = {dot_binary, "-Tsvg"};
  spec.env = {{"PATH", "/usr/bin:/bin"}};
  spec.name = "graphviz-dot";
  spec.labels["arsenal.internal"] = "supervision_tree";
  spec.stdin_mode = StdinMode::kPipe;
  spec.stdin_data = std::move(dot);
  spec.close_stdin = true;
  spec.stdout_spec.ring_bytes = 16 * 1024 * 1024;
  spec.stderr_spec.ring_bytes = 16 * 1024;
  ARSENAL_ASSIGN_OR_RETURN(ProcessSnapshot proc, table.Start(std::move(spec)));
  auto exit = table.Wait(proc.id, std::chrono::seconds(10));
  if (!exit) {
    (void)table.Kill(proc.id, {.signal = SIGKILL, .grace = std::chrono::milliseconds(0)});
    (void)table.Forget(proc.id);
    return Fail(std::move(exit).error().AddContext("render supervision tree"));
  }
  // The exit is known once the pipes may still hold output: read until end of stream.
  std::string svg;
  uint64_t offset = 0;
  for (int i = 0; i < 1000; ++i) {
    auto chunk = table.ReadOutput(proc.id, OutputStream::kStdout, offset, 1 << 20);
    if (!chunk) break;
    svg += chunk->data;
    offset = chunk->end_offset;
    if (chunk->eof && chunk->data.empty()) break;
    if (chunk->data.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  std::string err;
  if (auto chunk = table.ReadOutput(proc.id, OutputStream::kStderr, 0, 4096)) err = chunk->data;
  (void)table.Forget(proc.id);
  if (exit->code != 0 || svg.find("<svg") == std::string::npos) {
    return Fail(
        InternalError("supervisor.graphviz_failed", "dot failed (" + exit->Describe() + "): " + err)
            .WithHint("this is a bug in the DOT Arsenal generated; report it"));
  }
  return svg;
}

}  // namespace arsenal::supervisor
