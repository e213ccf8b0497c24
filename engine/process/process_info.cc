#include "arsenal/engine/process_info.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <unordered_set>

#include "arsenal/base/syscalls.h"
#include "arsenal/engine/process_inspect.h"
#include "arsenal/engine/process_table.h"
#include "process/table_impl.h"

namespace arsenal {
namespace {

// Bytes sitting in a pipe (either end): FIONREAD works on both ends of a Linux pipe.
// The pid namespace of `pid` (its inode), or 0 when the process is gone.
ino_t PidNamespaceOf(pid_t pid) {
  struct stat st {};
  const std::string path = "/proc/" + std::to_string(pid) + "/ns/pid";
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// Processes that joined the PID namespace of `init` through setns (execute_in_sandbox, a
// start_process into a running sandbox) are children of the daemon, not of the sandbox's PID 1,
// so a walk down from PID 1 misses them. Returns the members whose parent is outside the
// namespace, ascending.
std::vector<pid_t> JoinedNamespaceMembers(pid_t init) {
  const ino_t ns = PidNamespaceOf(init);
  std::vector<pid_t> tops;
  if (ns == 0) return tops;
  std::unordered_set<pid_t> members;
  for (pid_t pid : ListHostPids()) {
    if (pid != init && PidNamespaceOf(pid) == ns) members.insert(pid);
  }
  for (pid_t pid : members) {
    auto stat = ReadProcStat(pid);
    if (stat && stat->ppid != init && !members.contains(stat->ppid)) tops.push_back(pid);
  }
  std::sort(tops.begin(), tops.end());
  return tops;
}

Json PipeBytes(int fd) {
  if (fd < 0) return nullptr;
  int n = 0;
  if (::ioctl(fd, FIONREAD, &n) != 0) return nullptr;
  return n;
}

Json CaptureJson(const process_internal::Capture& cap, const OutputSpec& spec) {
  if (cap.mode != OutputMode::kCapture) {
    return {{"mode", cap.mode == OutputMode::kNull ? "null" : "inherit"}};
  }
  Json j = {{"mode", "capture"},
            {"bytes_total", cap.ring.total()},
            {"bytes_buffered", cap.ring.size()},
            {"ring_bytes", cap.ring.capacity()},
            {"unread_in_pipe_bytes", PipeBytes(cap.pipe.get())},
            {"eof", cap.eof}};
  if (!spec.log_file.empty()) {
    j["log_file"] = spec.log_file;
    j["log_errors"] = cap.log_errors;
  }
  return j;
}

}  // namespace

Result<Json> GetProcessInfo(ProcessTable& table, std::string_view id) {
  ProcessTable::Impl& d = table.impl();
  Json info;
  pid_t pid = 0;
  UniqueFd pidfd;
  {
    std::shared_lock lock(d.mu);
    auto entry = d.Find(id);
    if (!entry) return Fail(d.NotFound(id));
    const auto& e = *entry;
    info = {{"id", e.id},
            {"pid", e.pid},
            {"name", e.spec.name.empty() ? e.spec.argv[0].substr(e.spec.argv[0].rfind('/') + 1)
                                         : e.spec.name},
            {"state", std::string(ProcessStateName(e.state))},
            {"sandbox", e.sandbox_id.empty() ? Json(nullptr) : Json(e.sandbox_id)},
            {"supervisor", e.spec.supervisor.empty() ? Json(nullptr) : Json(e.spec.supervisor)},
            {"labels", e.spec.labels},
            {"started_unix_ms", e.started_unix_ms},
            {"restarts", e.restarts},
            {"exit", e.exit ? e.exit->ToJson() : Json(nullptr)},
            {"requested_by", e.requested_by},
            {"spec", e.spec.ToJson()}};
    info["uptime_ms"] =
        e.exit ? Json(nullptr)
               : Json((process_internal::NowSteadyNs() - e.started_steady_ns) / 1000000);
    info["stdin"] = e.stdin_pipe
                        ? Json{{"mode", "pipe"},
                               {"queued_bytes", e.stdin_pending.size()},
                               {"in_pipe_bytes", PipeBytes(e.stdin_pipe.get())}}
                        : Json{{"mode", e.spec.stdin_mode == StdinMode::kPipe ? "closed" : "null"}};
    info["stdout"] = CaptureJson(e.out, e.spec.stdout_spec);
    info["stderr"] = CaptureJson(e.err, e.spec.stderr_spec);
    if (!e.exit) {
      pid = e.pid;
      // A private duplicate: the entry's pidfd may be closed by the loop once it exits.
      pidfd.Reset(::fcntl(e.pidfd.get(), F_DUPFD_CLOEXEC, 3));
      if (e.control) {
        if (auto mem = e.control->CgroupMemory()) {
          info["sandbox_memory"] = {{"usage_bytes", mem->first}, {"peak_bytes", mem->second}};
        }
      }
    }
  }
  info["os"] = nullptr;
  if (pid > 0 && pidfd) {
    auto os = InspectProcess(pid, pidfd.get());
    if (os) info["os"] = std::move(*os);  // else: it exited while we read; the table says so soon
  }
  return info;
}

Result<Json> GetHostProcessInfo(pid_t pid) {
  UniqueFd pidfd(sys::PidfdOpen(pid, 0));
  if (!pidfd) {
    return Fail(NotFoundError("process.not_found", "no process with pid " + std::to_string(pid))
                    .WithDetail("field", "pid"));
  }
  ARSENAL_ASSIGN_OR_RETURN(Json os, InspectProcess(pid, pidfd.get()));
  return Json{{"pid", pid}, {"managed", false}, {"os", std::move(os)}};
}

Result<Json> GetProcessTree(ProcessTable& table, const TreeRoot& root, size_t max_nodes) {
  ProcessTable::Impl& d = table.impl();
  pid_t root_pid = ::getpid();
  if (root.id) {
    std::shared_lock lock(d.mu);
    auto entry = d.Find(*root.id);
    if (!entry) return Fail(d.NotFound(*root.id));
    if (entry->exit) {
      return Fail(ConflictError("process.not_running", "process " + entry->id + " has exited")
                      .WithDetail("field", "id"));
    }
    root_pid = entry->pid;
  } else if (root.pid) {
    root_pid = *root.pid;
  } else if (root.sandbox) {
    auto launcher = table.sandbox_launcher();
    if (!launcher) {
      return Fail(NotFoundError("sandbox.not_found", "sandbox '" + *root.sandbox +
                                                         "' is not available: no sandbox "
                                                         "service is running")
                      .WithDetail("field", "sandbox"));
    }
    auto init = launcher->SandboxRootPid(*root.sandbox);
    if (!init) {
      Error e = std::move(init).error();
      e.WithDetail("field", "sandbox");  // the sandbox service names its own "id" parameter
      return Fail(std::move(e));
    }
    root_pid = *init;
  }
  // Managed pids → (id, supervisor, sandbox), copied so the /proc walk runs without the lock.
  std::unordered_map<pid_t, std::tuple<std::string, std::string, std::string>> managed;
  {
    std::shared_lock lock(d.mu);
    for (const auto& [pid, seq] : d.live_pids) {
      auto it = d.entries.find(seq);
      if (it == d.entries.end()) continue;
      managed.emplace(pid, std::make_tuple(it->second->id, it->second->spec.supervisor,
                                           it->second->sandbox_id));
    }
  }
  const auto annotate = [&](pid_t pid, Json& node) {
    auto it = managed.find(pid);
    if (it == managed.end()) return;
    const auto& [id, supervisor, sandbox] = it->second;
    node["id"] = id;
    if (!supervisor.empty()) node["supervisor"] = supervisor;
    if (!sandbox.empty()) node["sandbox"] = sandbox;
  };
  auto tree = BuildProcessTree(root_pid, annotate, max_nodes);
  if (!tree) {
    Error e = std::move(tree).error();
    e.WithDetail("field", root.id ? "id" : root.sandbox ? "sandbox" : "pid");
    return Fail(std::move(e));
  }
  if (root.sandbox) {
    // Joined commands hang under PID 1, as they do inside the sandbox (their parent is outside).
    for (pid_t pid : JoinedNamespaceMembers(root_pid)) {
      if (auto sub = BuildProcessTree(pid, annotate, max_nodes)) {
        (*tree)["children"].push_back(std::move(*sub));
      }  // else it exited meanwhile
    }
  }
  return tree;
}

}  // namespace arsenal
