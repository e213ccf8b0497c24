// Operation get_process_tree: the OS process tree as nested JSON.
#include "arsenal/engine/process_info.h"
#include "process_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  TreeRoot root;
  int given = 0;
  if (params.contains("id")) {
    ++given;
    const std::string id = params["id"];
    if (auto pid = process::HostPid(id)) {
      root.pid = *pid;
    } else {
      root.id = id;
    }
  }
  if (params.contains("pid")) {
    ++given;
    root.pid = params["pid"].get<pid_t>();
  }
  if (params.contains("sandbox")) {
    ++given;
    root.sandbox = params["sandbox"].get<std::string>();
  }
  if (given > 1) {
    return Fail(
        ValidationError("process.invalid_root", "give at most one of id, pid, sandbox", "id")
            .WithHint("the tree is rooted at one process"));
  }
  return GetProcessTree(process::Table(ctx), root, params.value("max_nodes", size_t{10000}));
}

Operation Make() {
  Operation op;
  op.name = "get_process_tree";
  op.family = "process";
  op.summary = "Show the OS process tree under a process, a sandbox or the daemon";
  op.description =
      "Reads /proc and nests every process under its parent, starting at `id` (a managed "
      "process), `pid`, a sandbox's init, or by default the daemon itself. Nodes of managed "
      "processes carry their id and, where they have one, their supervisor and sandbox.";
  op.params_schema = {
      {"type", "object"},
      {"properties",
       {{"id", {{"type", "string"}, {"minLength", 1}, {"description", "managed id or host-<pid>"}}},
        {"pid", {{"type", "integer"}, {"minimum", 1}}},
        {"sandbox", {{"type", "string"}, {"minLength", 1}}},
        {"max_nodes", {{"type", "integer"}, {"minimum", 1}, {"maximum", 100000}}}}}};
  op.result_schema = {{"type", "object"},
                      {"properties",
                       {{"pid", {{"type", "integer"}}},
                        {"name", {{"type", "string"}}},
                        {"children", {{"type", "array"}}}}},
                      {"required", {"pid", "children"}}};
  op.permission = "process.read";
  op.http_method = "GET";
  op.http_path = "/api/v1/process-tree";
  op.idempotent = true;
  const Json leaf = {{"pid", 4243}, {"name", "sleep"}, {"children", Json::array()}};
  const Json tree = {
      {"pid", 4242}, {"id", "p-1"}, {"name", "sh"}, {"children", Json::array({leaf})}};
  op.examples = Json::array({{{"summary", "the tree under a managed process"},
                              {"params", {{"id", "p-1"}}},
                              {"result", tree}}});
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
