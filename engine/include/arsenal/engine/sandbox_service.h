// SandboxService: the engine's sandboxes, by id (the service behind the sandbox operations).
//
// Purpose: holds every long-lived sandbox created through the engine (create_sandbox), runs
// commands in them (execute_in_sandbox), lists and describes them (list_sandboxes,
// sandbox_info) and destroys them (destroy_sandbox). It also installs the process table's
// SandboxLauncher, so start_process (and supervisors) can start a managed process inside a
// sandbox by id (joined like execute_in_sandbox) or inside an inline spec (a one-shot sandbox
// created for that process and destroyed when it exits).
//
// Getting it: SandboxService::Get(engine) (not Engine::Service<SandboxService>() directly): it
// creates the ProcessTable first, so the table outlives this service, and wires the launcher.
//
// Model: a sandbox entry has an id ("sb-<n>", never reused within an engine), its SandboxSpec,
// labels (from the spec), state (created, running, stopped, destroyed), creation time and who
// created it. Destroyed entries stay listed (state "destroyed") until 256 newer ones were
// destroyed, so a client can observe the end; every other call on them is sandbox.invalid_state.
//
// Monitoring: one monitor thread watches, with epoll, each running sandbox's PID 1 (its exit
// makes the sandbox "stopped": event arsenal.sandbox.stopped), its memory cgroup's OOM eventfd
// (cgroup v1 kills only one task, so the service kills the rest of the sandbox, marks it stopped
// and emits arsenal.sandbox.oom), and the wall-clock timeout of processes the table started in a
// sandbox (spec.limits.timeout: an inline sandbox is killed whole, a process in a long-lived one
// alone; event arsenal.sandbox.timeout).
//
// Standbys: a supervisor keeps one fresh, started sandbox per inline spec of its restartable
// sandboxed children (SandboxLauncher::KeepStandby), built on a background thread; a restart's
// workload joins it (like execute_in_sandbox) instead of waiting for namespaces, mounts and a
// cgroup to be made, and the next standby is built behind it. A standby is used once: the
// sandbox a workload ran in is destroyed when the workload exits, never handed to another.
//
// Events (EventBus): arsenal.sandbox.created (metadata standby: true when an inline sandbox was
// a standby), .started, .stopped, .destroyed, .oom, .timeout,
// .exec (measurements duration_us, exit_code; metadata sandbox, argv0, outcome).
//
// Threading: every method may be called from any thread. Execute blocks until the command ends
// (or its timeout); it must not run on the engine loop thread. Shutdown (engine destruction)
// destroys every sandbox: no process, cgroup or fd is left behind.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "arsenal/base/result.h"
#include "arsenal/engine/list_query.h"
#include "arsenal/engine/sandbox.h"

namespace arsenal {

class Engine;

struct SandboxInfo {
  std::string id;
  SandboxState state = SandboxState::kCreated;
  std::map<std::string, std::string> labels;
  int64_t created_unix_ms = 0;
  std::string created_by;
  bool ephemeral = false;  // created inline for one process (start_process)
  pid_t init_pid = 0;
  std::vector<pid_t> pids;  // host pids of the processes in its cgroup
  SandboxUsage usage;
  uint64_t execs = 0;
  uint64_t oom_events = 0;
  Json spec;  // canonical spec (SandboxSpec::ToJson)

  // {"id","state","labels","created_unix_ms","created_by","ephemeral","init_pid","pids",
  //  "usage": {...}|null, "execs","oom_events"[,"spec"]}
  Json ToJson(bool with_spec = true) const;
};

struct ExecuteRequest {
  std::vector<std::string> argv;
  RunOptions options;
  std::string requested_by;
};

class SandboxService {
 public:
  // Use Get(); the constructor is for Engine::Service.
  explicit SandboxService(Engine& engine);
  ~SandboxService();
  SandboxService(const SandboxService&) = delete;
  SandboxService& operator=(const SandboxService&) = delete;

  // The engine's instance, with the process table's launcher installed.
  static SandboxService& Get(Engine& engine);

  // Creates a sandbox and (start = true, the default) starts its holding PID 1. On any failure
  // nothing is left (no cgroup, no process, no entry).
  Result<SandboxInfo> Create(SandboxSpec spec, std::string requested_by, bool start = true);
  // Starts a created or stopped sandbox again (fresh namespaces).
  Result<SandboxInfo> Start(std::string_view id);
  // Kills every process of the sandbox (running → stopped).
  Result<SandboxInfo> Stop(std::string_view id);
  // Kills, waits, removes the cgroup. A destroyed (still listed) sandbox: success, unchanged.
  Result<SandboxInfo> Destroy(std::string_view id, std::string requested_by);
  Result<SandboxInfo> Info(std::string_view id) const;
  // The list convention (list_query.h): filter by id, state, ephemeral, created_unix_ms and
  // label ("key=value", or "key" for presence); sort by id, state, created_unix_ms.
  Result<Json> List(const Json& params) const;
  // Runs a command in a running sandbox and waits (sandbox.invalid_state unless running).
  Result<SandboxResult> Execute(std::string_view id, ExecuteRequest request);
  // The sandbox object itself (for embedders in the daemon).
  Result<std::shared_ptr<Sandbox>> Find(std::string_view id) const;
  size_t size() const;
  // Standby sandboxes built and waiting for a restart (SandboxLauncher::KeepStandby). They are
  // not listed: none has run anything yet, and each is destroyed when its last lease drops.
  size_t standbys_ready() const;

  static const ListSpec& ListSpecification();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace arsenal
