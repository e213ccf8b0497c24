// Operation get_process_info: the table's and the kernel's view of one process.
#include "arsenal/engine/process_info.h"
#include "process_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  const std::string id = params.at("id");
  if (auto pid = process::HostPid(id)) return GetHostProcessInfo(*pid);
  return GetProcessInfo(process::Table(ctx), id);
}

Operation Make() {
  Operation op;
  op.name = "get_process_info";
  op.family = "process";
  op.summary = "Describe a process: state, memory, cpu, threads, fds, signals, namespaces, ...";
  op.description =
      "For a managed id: its table entry (state, spec, exit status, restarts, stdin bytes queued, "
      "output not yet drained, ring statistics) plus, while it runs, what /proc and its cgroup "
      "say under \"os\": memory RSS and peak (process and cgroup), cpu user/system, threads, "
      "open fds, pending/blocked/ignored/caught signals, namespaces, seccomp mode, "
      "no_new_privs, capabilities, cgroups, uptime. A host process can be described by the id "
      "list_processes gives it (host-<pid>).";
  op.params_schema = {{"type", "object"},
                      {"properties",
                       {{"id",
                         {{"type", "string"},
                          {"minLength", 1},
                          {"description", "managed id (p-<n>) or host-<pid>"}}}}},
                      {"required", {"id"}}};
  op.result_schema = {{"type", "object"},
                      {"properties",
                       {{"id", {{"type", "string"}}},
                        {"pid", {{"type", "integer"}}},
                        {"state", {{"type", "string"}}},
                        {"os", {{"type", Json::array({"object", "null"})}}}}},
                      {"required", {"pid", "os"}}};
  op.permission = "process.read";
  op.http_method = "GET";
  op.http_path = "/api/v1/processes/{id}";
  op.idempotent = true;
  op.nonblocking = true;
  op.examples = {{{"summary", "a managed process"}, {"params", {{"id", "p-1"}}}},
                 {{"summary", "any host process"}, {"params", {{"id", "host-1"}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
