// ProcessTable: every process Arsenal manages, started, watched, signalled and reaped by pidfd.
//
// Purpose: the engine service (Engine::Service<ProcessTable>()) behind the process operations
// (start_process, kill_process, list_processes, ...) and the C++ API the supervisor runtime uses
// to start children, stop them with a grace period and learn when they exit.
//
// Model:
//  - Each managed process has a stable id ("p-<n>", never reused within an engine), a pidfd, its
//    ProcessSpec, a state (running, suspended, stopping, exited), its start time, its exit status
//    and captured stdout/stderr (a bounded ring buffer per stream, optionally also a log file).
//  - A plain process is launched by posix_spawn (vfork-fast; see docs/decisions.md) followed by
//    pidfd_open. The child is not reaped by anyone but this table until its pidfd reports the exit,
//    so the pidfd always refers to the process that was spawned.
//  - A sandboxed process is launched by a SandboxLauncher (installed by the sandbox service); until
//    one is installed, starting with a sandbox fails with `sandbox.not_found`. Processes created
//    elsewhere (the sandbox's own init) join the table through Adopt().
//  - Exits arrive through the pidfds on the engine event loop (Engine::io()); nothing polls. The
//    table reaps with waitid(P_PIDFD) and then notifies subscribers and the event bus
//    ("arsenal.process.exit").
//
// Pid reuse: every signal goes through pidfd_send_signal on the process's own pidfd and every
// /proc read is confirmed against the pidfd afterwards, so a stale id or a recycled pid can never
// signal or describe another process. After the exit the pidfd is kept: signalling it returns
// ESRCH, which the table turns into "already exited".
//
// Orphans: with config process.subreaper (default true) the constructor makes the daemon a child
// subreaper (PR_SET_CHILD_SUBREAPER) and installs a SIGCHLD handler (SA_RESTART, SA_NOCLDSTOP) that
// wakes the event loop, which reaps zombie children that are neither managed nor claimed and
// belong to another process group than the daemon's (orphans of managed processes, which lead
// their own group by default). Children that other code in the daemon forks stay in the daemon's
// group and are never reaped by the table; code that creates children in another process group
// (setpgid, setsid) outside this table must Adopt() them or hold a ChildClaim from
// ClaimChild(pid) until it has reaped them itself. The destructor restores the previous SIGCHLD
// disposition and subreaper flag.
//
// Threading: every method may be called from any thread. Callbacks (StartOptions::on_event,
// Subscribe, KillAsync's completion) run on the engine event loop thread and must not block it;
// they may call back into the table (the table holds no lock while calling them). Blocking calls
// (Kill, Wait, Restart, Suspend/Resume of sandboxed processes) refuse to run on the loop thread
// and return `process.would_block`.
//
// Lifetime: destroying the table (engine shutdown) kills every process still running with SIGKILL
// after config process.shutdown_grace_ms (default 0) of SIGTERM, reaps it and closes every
// descriptor: nothing is left behind.
//
// Example (supervisor):
//   auto& table = engine.Service<ProcessTable>();
//   ProcessSpec spec;
//   spec.argv = {"/usr/bin/sleep", "60"};
//   spec.supervisor = "sup-1";
//   StartOptions opts;
//   opts.requested_by = "supervisor:sup-1";
//   opts.on_event = [](const ProcessEvent& e) { if (e.kind == ProcessEventKind::kExit) ...; };
//   ARSENAL_ASSIGN_OR_RETURN(ProcessSnapshot child, table.Start(spec, std::move(opts)));
//   table.KillAsync(child.id, {.signal = SIGTERM, .grace = std::chrono::seconds(5),
//                              .requested_by = "supervisor:sup-1", .reason = "shutdown"},
//                   [](Result<KillOutcome> outcome) { ... });
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arsenal/base/result.h"
#include "arsenal/base/unique_fd.h"

namespace arsenal {

class Engine;

enum class ProcessState {
  kRunning,    // alive (as far as the table knows; a process stopped by someone else stays here)
  kSuspended,  // stopped by suspend_process (SIGSTOP or the cgroup freezer)
  kStopping,   // a kill with a grace period is in progress
  kExited,     // reaped; exit status known
};
// "running", "suspended", "stopping", "exited".
std::string_view ProcessStateName(ProcessState state);
std::optional<ProcessState> ProcessStateFromName(std::string_view name);

enum class StdinMode {
  kNull,  // /dev/null
  kPipe,  // a pipe the table holds; write with WriteStdin(), close with CloseStdin()
};

enum class OutputMode {
  kCapture,  // a pipe drained on the event loop into a ring buffer (and the log file, if set)
  kNull,     // /dev/null
  kInherit,  // the daemon's own descriptor (for the CLI's foreground runs)
};

struct OutputSpec {
  OutputMode mode = OutputMode::kCapture;
  size_t ring_bytes = 64 * 1024;  // 1 KiB .. 16 MiB; older output is dropped (and counted)
  std::string log_file;           // optional: every captured byte is also appended here
};

// A sandbox to run in: the id of an existing sandbox or an inline sandbox spec (exactly one).
struct SandboxRef {
  std::string id;
  Json spec;  // null unless inline
};

// What to run. Parsed at the edge (FromJson) into this typed form; the table never sees raw JSON.
struct ProcessSpec {
  std::vector<std::string> argv;  // argv[0] without '/' is looked up in env PATH (or the default)
  std::map<std::string, std::string> env;  // the whole environment unless inherit_env
  bool inherit_env = false;  // secure default: the daemon's environment is not passed on
  std::string cwd = "/";
  std::string name;  // display name; default: basename of argv[0]
  std::map<std::string, std::string> labels;
  StdinMode stdin_mode = StdinMode::kNull;
  std::string stdin_data;    // written to the stdin pipe right after start (kPipe only)
  bool close_stdin = false;  // close the pipe after stdin_data (kPipe only)
  OutputSpec stdout_spec;
  OutputSpec stderr_spec;
  std::optional<SandboxRef> sandbox;
  std::string supervisor;  // id of the supervisor that owns this process; empty if none
  // Detached from the daemon's job control: its own process group (so a group kill reaches its
  // descendants) and no controlling terminal (it cannot read or write an operator's terminal). It
  // stays in the daemon's session: see docs/decisions.md for why this is not setsid().
  bool new_session = true;

  // Parses the JSON form used by start_process (see docs/processes.md). Errors are validation
  // errors with code process.invalid_spec naming the field ("stdout.ring_bytes").
  static Result<ProcessSpec> FromJson(const Json& json);
  Json ToJson() const;
};

struct ExitStatus {
  int code = -1;   // exit code when the process exited normally, else -1
  int signal = 0;  // terminating signal, else 0
  bool core_dumped = false;
  int64_t time_unix_ms = 0;

  bool exited_normally() const { return signal == 0; }
  Json ToJson() const;           // {"code"| "signal"+"signal_name", "core_dumped", "time_unix_ms"}
  std::string Describe() const;  // "exit code 0", "killed by SIGKILL"
};

// A consistent copy of one table entry.
struct ProcessSnapshot {
  std::string id;
  pid_t pid = 0;
  std::string name;
  ProcessState state = ProcessState::kRunning;
  std::string sandbox_id;  // empty for plain processes
  std::string supervisor;
  std::map<std::string, std::string> labels;
  int64_t started_unix_ms = 0;
  int64_t started_steady_ns = 0;  // for uptime
  std::optional<ExitStatus> exit;
  uint32_t restarts = 0;
  uint64_t seq = 0;  // creation order; the numeric part of the id
  ProcessSpec spec;

  Json ToJson() const;  // the fields above except spec (use spec.ToJson())
};

enum class ProcessEventKind : uint32_t {
  kStarted = 1u << 0,
  kExit = 1u << 1,
  kStateChange = 1u << 2,  // suspended, resumed, stopping, restarted
  kOom = 1u << 3,          // the kernel's OOM killer killed it (memcg oom_kill counter)
  kSample = 1u << 4,       // periodic resource sample (see SetSampling)
  kTermination = 1u << 5,  // a kill finished: who asked, why, how it ended
};
constexpr uint32_t kAllProcessEvents = 0x3f;
// "started", "exit", "state", "oom", "sample", "termination"; the event bus name is
// "arsenal.process.<name>".
std::string_view ProcessEventName(ProcessEventKind kind);

struct ProcessEvent {
  ProcessEventKind kind = ProcessEventKind::kExit;
  std::string id;
  pid_t pid = 0;
  ProcessState state = ProcessState::kRunning;
  std::optional<ExitStatus> exit;  // kExit, kTermination
  Json data = Json::object();      // kind-specific: sample values, termination record, ...
  int64_t time_unix_ns = 0;
  Json ToJson() const;
};
using ProcessEventCallback = std::function<void(const ProcessEvent&)>;

struct StartOptions {
  std::string requested_by;  // principal id, recorded with the start
  // Subscribed atomically with the start, so no event (not even an immediate exit) is missed.
  ProcessEventCallback on_event;
  uint32_t event_mask = static_cast<uint32_t>(ProcessEventKind::kExit);
};

struct KillOptions {
  int signal = SIGTERM;
  // Time to wait after `signal` before SIGKILL. Zero: SIGKILL right after `signal` (or only
  // SIGKILL when signal is SIGKILL).
  std::chrono::milliseconds grace{5000};
  std::string requested_by;
  std::string reason;
  bool process_group = false;  // signal the process group it leads (needs new_session)
};

struct KillOutcome {
  // "already_exited": it had exited before the request (idempotent success, see docs);
  // "exited_after_signal": it exited within the grace period;
  // "killed_after_grace": SIGKILL was needed.
  std::string how;
  ExitStatus exit;
  int64_t waited_ms = 0;
  Json ToJson() const;
};

// Sandboxed processes: per-process hooks supplied by the sandbox service.
class ProcessControl {
 public:
  virtual ~ProcessControl() = default;
  // Freeze/thaw the process's cgroup (cgroup freezer); must be idempotent.
  virtual Status Freeze() = 0;
  virtual Status Thaw() = 0;
  // Memory usage/peak of the process's cgroup in bytes, when known.
  virtual std::optional<std::pair<uint64_t, uint64_t>> CgroupMemory() { return std::nullopt; }
  // True when the cgroup's OOM killer fired since the last call.
  virtual bool ConsumeOom() { return false; }
};

// The descriptors a launcher hands to the child as 0, 1 and 2 (borrowed; the launcher must dup
// them onto 0..2 in the child and must not keep them).
struct ChildStdio {
  int in = -1;
  int out = -1;
  int err = -1;
};

// A process another component created and hands to the table.
struct LaunchedChild {
  pid_t pid = 0;
  UniqueFd pidfd;  // must be a child of this process (waitid(P_PIDFD) must be able to reap it)
  std::string sandbox_id;
  std::shared_ptr<ProcessControl> control;  // may be null
  // Optional read end of a pipe on which `pid`, a stand-in for the workload (a sandbox's PID 1),
  // writes the workload's raw wait status (an int) before it exits. The table then reports the
  // workload's end ("killed by SIGKILL") rather than the stand-in's translation of it (exit code
  // 137). The table reads it only after reaping `pid`; when nothing was written (the stand-in
  // itself was killed first) the stand-in's own status stands.
  UniqueFd workload_status;
};

// Installed by the sandbox service; used for ProcessSpec::sandbox.
class SandboxLauncher {
 public:
  virtual ~SandboxLauncher() = default;
  // Starts spec.argv inside spec.sandbox (by id or inline). Unknown sandbox id:
  // `sandbox.not_found`. Runs on the caller's thread.
  virtual Result<LaunchedChild> Launch(const ProcessSpec& spec, const ChildStdio& stdio) = 0;
  // The pid of the sandbox's init (for get_process_tree rooted at a sandbox).
  virtual Result<pid_t> SandboxRootPid(const std::string& sandbox_id) = 0;
  // Keeps one fresh, started, never-used sandbox of the inline spec `sandbox_spec` prepared
  // until the returned lease is dropped, so that the next Launch of a process with that inline
  // spec (a supervisor's restart) joins it instead of creating namespaces, mounts and a cgroup on
  // the restart path. Leases of the same spec share one standby. Returns null when the launcher
  // keeps no standby for that spec (no pid namespace, or an unparsable spec). Dropping the last
  // lease destroys the standby before it returns: no process or cgroup outlives the leases.
  // Security: a standby is never reused; a sandbox that has run a workload is destroyed, not
  // recycled, so a crashed (possibly hostile) workload leaves nothing to its successor.
  virtual std::shared_ptr<void> KeepStandby(const Json& sandbox_spec) {
    (void)sandbox_spec;
    return nullptr;
  }
};

// Adopt(): a process created elsewhere, with the parent ends of its stdio (each may be invalid).
struct AdoptRequest {
  LaunchedChild child;
  UniqueFd stdin_pipe;   // write end, if the child's stdin is a pipe
  UniqueFd stdout_pipe;  // read end, captured like OutputMode::kCapture
  UniqueFd stderr_pipe;
  ProcessSpec spec;  // as launched (argv, labels, supervisor, ...)
  std::string requested_by;
};

struct OutputChunk {
  std::string data;
  uint64_t start_offset = 0;  // offset of data[0] in everything the process wrote
  uint64_t end_offset = 0;    // total bytes written so far
  uint64_t dropped = 0;       // bytes requested but no longer in the ring buffer
  bool eof = false;           // the stream is closed; no more output will come
};

enum class OutputStream { kStdout, kStderr };

struct RestartOptions {
  KillOptions kill;             // how to stop the running instance
  bool preserve_state = false;  // checkpoint/restore via CRIU (process.checkpoint_unsupported)
};

class ProcessTable {
 public:
  // Reads config "process": {subreaper, shutdown_grace_ms, exited_retention}.
  explicit ProcessTable(Engine& engine);
  ~ProcessTable();
  ProcessTable(const ProcessTable&) = delete;
  ProcessTable& operator=(const ProcessTable&) = delete;

  // Launches `spec` (plain, or through the sandbox launcher when spec.sandbox is set).
  // Errors: process.invalid_spec, process.executable_not_found, process.spawn_failed (errno
  // details), sandbox.not_found.
  Result<ProcessSnapshot> Start(ProcessSpec spec, StartOptions options = {});
  // Takes ownership of a process launched elsewhere (see AdoptRequest).
  Result<ProcessSnapshot> Adopt(AdoptRequest request, StartOptions options = {});

  // Sends options.signal, waits up to options.grace for the exit, then SIGKILL. `done` runs on the
  // event loop with the outcome. Unknown id: process.not_found; bad signal: process.invalid_signal.
  // Every termination is logged and recorded (event "arsenal.process.termination").
  void KillAsync(std::string_view id, KillOptions options,
                 std::function<void(Result<KillOutcome>)> done);
  // Blocking form of KillAsync.
  Result<KillOutcome> Kill(std::string_view id, KillOptions options);
  // Sends one signal without waiting (pidfd_send_signal). Exited: process.not_running.
  Status Signal(std::string_view id, int signal);

  // Blocks until the process exits or `timeout` passes (process.wait_timeout).
  Result<ExitStatus> Wait(std::string_view id, std::chrono::milliseconds timeout);

  // SIGSTOP/SIGCONT (the cgroup freezer for sandboxed processes). Idempotent: returns whether the
  // state changed. Exited: process.not_running.
  Result<bool> Suspend(std::string_view id);
  Result<bool> Resume(std::string_view id);

  // Stops the current instance (if running) and starts the same spec again under the same id with
  // a new pid; restarts is incremented.
  Result<ProcessSnapshot> Restart(std::string_view id, RestartOptions options);

  using SubscriptionId = uint64_t;
  // Events of one process (`mask` of ProcessEventKind bits). If it has already exited and
  // kExit is in the mask, the exit is delivered (on the loop) right away.
  Result<SubscriptionId> Subscribe(std::string_view id, uint32_t mask, ProcessEventCallback cb);
  // Events of every process.
  SubscriptionId SubscribeAll(uint32_t mask, ProcessEventCallback cb);
  // After it returns the callback is not running and will not be called again (unless called
  // from the callback itself, which is allowed).
  bool Unsubscribe(SubscriptionId id);
  // Periodic kSample events (rss, cpu, threads) every `interval` (0 disables) for one process.
  Status SetSampling(std::string_view id, std::chrono::milliseconds interval);

  Result<ProcessSnapshot> Get(std::string_view id) const;
  // Every entry (running and retained exited ones), in creation order.
  std::vector<ProcessSnapshot> Snapshot() const;
  size_t size() const;

  // Removes an exited entry now instead of waiting for retention. Running: process.running.
  Status Forget(std::string_view id);

  // Stdin pipe (StdinMode::kPipe): data is queued and written on the event loop.
  Status WriteStdin(std::string_view id, std::string data);
  Status CloseStdin(std::string_view id);
  // Captured output from `offset` (0: the oldest byte still buffered), at most `max_bytes`.
  Result<OutputChunk> ReadOutput(std::string_view id, OutputStream stream, uint64_t offset,
                                 size_t max_bytes) const;

  // The sandbox path. Until one is installed, spec.sandbox fails with sandbox.not_found.
  void SetSandboxLauncher(std::shared_ptr<SandboxLauncher> launcher);
  std::shared_ptr<SandboxLauncher> sandbox_launcher() const;

  // Excludes a child pid created outside the table from orphan reaping while the claim lives.
  class ChildClaim {
   public:
    ChildClaim() = default;
    ChildClaim(ChildClaim&& other) noexcept;
    ChildClaim& operator=(ChildClaim&& other) noexcept;
    ~ChildClaim();

   private:
    friend class ProcessTable;
    ChildClaim(ProcessTable* table, pid_t pid) : table_(table), pid_(pid) {}
    ProcessTable* table_ = nullptr;
    pid_t pid_ = 0;
  };
  ChildClaim ClaimChild(pid_t pid);

  Engine& engine() { return engine_; }

  // Implementation detail shared with the other process_*.cc files.
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  Engine& engine_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace arsenal
