// arsenal::Sandbox: turn a SandboxSpec into a running sandbox, run commands in it, tear it down.
//
// Purpose: the C++ API for embedders and test authors, and the building block of the engine's
// SandboxService (create_sandbox, execute_in_sandbox, ...) and of `arsenal run`
// (RunSandboxed). A sandbox is namespaces + a cgroup + a policy (seccomp, capabilities,
// no_new_privs, rlimits, Landlock), all derived from one SandboxSpec (sandbox_spec.h).
//
// Two ways to use it:
//  - One-shot: Run(argv) creates fresh namespaces with argv as the workload behind a PID 1 reaper,
//    in ONE clone3 (the child moves itself into the cgroup before any setup step; no separate
//    init), waits, and returns a SandboxResult. RunSandboxed(spec, argv) = Create + Run + Destroy.
//  - Long-lived: Start() launches a PID 1 that runs nothing and holds the namespaces; Exec(argv)
//    joins them through its pidfd (setns), attaches to the cgroup, applies the same policy and
//    runs argv. Start/Exec is what create_sandbox/execute_in_sandbox use.
//
// States: created (cgroup and policy ready, nothing running) → running (a one-shot command or the
// holding PID 1 is alive) → stopped (nothing runs; Run or Start may be called again) →
// destroyed (cgroup removed; terminal). Stop() kills every process in the sandbox's cgroup.
//
// Ordering and cleanup: Create validates the spec, compiles the policy (seccomp from the process
// cache) and creates the cgroup; a failure leaves nothing behind. Destroy (and the destructor)
// kills the whole cgroup (or the PID 1, which takes the pid namespace with it), waits, and
// removes the cgroup; mounts live only in the sandbox's mount namespace and vanish with its last
// process; Arsenal creates no temp dirs on the host for a sandbox.
//
// Results: exit_code is the command's own (128+N when killed by signal N, like a shell), signal
// the terminating signal. `timed_out`: the wall-clock timeout (RunOptions or
// spec.limits.timeout) expired and the sandbox (one-shot) or the command (exec) was killed.
// `oom`: the kernel's OOM killer hit the sandbox's memory cgroup; cgroup v1 kills only one task,
// so Arsenal kills the rest of the sandbox (one-shot) and reports oom. stdout/stderr are captured
// up to spec.output_limit_bytes each (the rest is drained and dropped; *_truncated is set).
//
// Security: the defaults are those of SandboxSpec (every namespace, no capabilities,
// no_new_privs, the built-in seccomp profile, no network, empty environment). Only fds 0-2 reach
// the sandbox. Host paths in the spec are resolved with the caller's privileges.
//
// Thread-safety: a Sandbox may be used from several threads (state is guarded); Exec calls may
// run concurrently. Never use it in a forked child.
//
// Example:
//   ARSENAL_ASSIGN_OR_RETURN(auto box, Sandbox::Create(SandboxSpecBuilder()
//                                                           .Tmpfs("/tmp", 64 << 20)
//                                                           .Memory(256 << 20)
//                                                           .Pids(64)));
//   ARSENAL_ASSIGN_OR_RETURN(SandboxResult r, box->Run({"/bin/sh", "-c", "echo hi"}));
//   // r.exit_code == 0, r.out == "hi\n"
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arsenal/base/result.h"
#include "arsenal/base/unique_fd.h"
#include "arsenal/engine/sandbox_spec.h"

namespace arsenal {

enum class SandboxState { kCreated, kRunning, kStopped, kDestroyed };
// "created", "running", "stopped", "destroyed".
std::string_view SandboxStateName(SandboxState state);
std::optional<SandboxState> SandboxStateFromName(std::string_view name);

struct SandboxResult {
  int exit_code = 0;  // the command's exit code; 128+signal when it was killed
  int signal = 0;     // terminating signal, 0 when it exited
  bool oom = false;
  bool timed_out = false;
  std::string out;  // captured stdout (empty when it was passed through)
  std::string err;  // captured stderr
  bool out_truncated = false;
  bool err_truncated = false;
  std::chrono::microseconds user_cpu{0};  // of the command and its reaped descendants
  std::chrono::microseconds system_cpu{0};
  // Peak memory: of the sandbox's memory cgroup when it has one, else the largest resident set
  // of one of its processes (getrusage ru_maxrss).
  uint64_t peak_memory_bytes = 0;
  std::chrono::microseconds wall_time{0};  // from the start of the spawn to the exit

  bool Success() const { return exit_code == 0 && signal == 0 && !oom && !timed_out; }
  // {"exit_code","signal","oom","timed_out","stdout","stderr","stdout_truncated",
  //  "stderr_truncated","user_cpu_us","system_cpu_us","peak_memory_bytes","wall_time_us"}
  Json ToJson() const;
};

struct RunOptions {
  // Written to the command's stdin, which is then closed. Empty: stdin is /dev/null.
  std::string stdin_data;
  // Overrides spec.limits.timeout for this command.
  std::optional<std::chrono::milliseconds> timeout;
  // Added to (and overriding) spec.env for this command.
  std::map<std::string, std::string> env;
  std::string cwd;  // empty: spec.cwd
  // Pass-through stdio instead of capture (the CLI's foreground run; the process table's pipes).
  // Borrowed; -1 = /dev/null for stdin (unless stdin_data), capture for stdout/stderr.
  int stdin_fd = -1;
  int stdout_fd = -1;
  int stderr_fd = -1;
};

// Resource usage of a sandbox's cgroup.
struct SandboxUsage {
  bool has_cgroup = false;
  uint64_t memory_current = 0;
  uint64_t memory_peak = 0;
  uint64_t cpu_usage_ns = 0;
  uint64_t pids_current = 0;
  uint64_t oom_kills = 0;
  Json ToJson() const;
};

struct SandboxOptions {
  // The sandbox's id (also part of its cgroup's name). Empty: "sb-<n>", unique in the process.
  std::string id;
  // One-shot sandboxes whose spec has no cgroup limits and a pid namespace skip the cgroup (the
  // pid namespace already kills everything when the command ends): false forces one.
  bool cgroup_only_when_needed = true;
  // With a pid namespace, give the cgroup only the controllers the limits need
  // (policies::CgroupCreateOptions): cheaper to create and remove, but Freeze() then fails and
  // Usage() reports only what those controllers count. RunSandboxed (`arsenal run`) sets it.
  bool cgroup_limited_controllers_only = false;
};

class Sandbox;

// A command running in a sandbox (from Sandbox::Launch / LaunchExec). Wait() once.
// Destroying it without Wait() kills the command (and, for a one-shot, the sandbox's processes).
class SandboxProcess {
 public:
  ~SandboxProcess();
  SandboxProcess(const SandboxProcess&) = delete;
  SandboxProcess& operator=(const SandboxProcess&) = delete;

  pid_t pid() const;
  int pidfd() const;
  // Captures output (unless passed through), enforces the timeout, detects OOM, reaps.
  Result<SandboxResult> Wait();
  // SIGKILL to the command (a one-shot's PID 1 takes the whole pid namespace with it).
  Status Kill();
  // Hands the pidfd to the caller (the process table), who reaps it; Wait() is then unavailable.
  // For a one-shot, the sandbox stays "running" until the owner reports the exit
  // (Sandbox::NoteExited) or the sandbox is stopped/destroyed.
  UniqueFd ReleasePidfd();
  // Hands over the read end on which the sandbox's PID 1 writes the workload's raw wait status
  // (an int) before it exits (LaunchedChild::workload_status). Invalid without a PID namespace.
  UniqueFd ReleaseStatusPipe();

  struct Impl;
  explicit SandboxProcess(std::unique_ptr<Impl> impl);

 private:
  std::unique_ptr<Impl> impl_;
};

class Sandbox {
 public:
  // Validates (spec.Validate()), builds the policy and creates the cgroup (if needed).
  static Result<std::unique_ptr<Sandbox>> Create(SandboxSpec spec, SandboxOptions options = {});
  static Result<std::unique_ptr<Sandbox>> Create(const SandboxSpecBuilder& builder,
                                                 SandboxOptions options = {});
  ~Sandbox();  // Destroy(), errors logged
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  // One-shot (state created or stopped): fresh namespaces, argv as the workload. Errors:
  // sandbox.invalid_state (running or destroyed), sandbox.setup_failed / sandbox.exec_failed
  // (naming the setup step and errno), spec errors for argv/options.
  Result<SandboxResult> Run(const std::vector<std::string>& argv, const RunOptions& options = {});
  Result<std::unique_ptr<SandboxProcess>> Launch(const std::vector<std::string>& argv,
                                                 const RunOptions& options = {});

  // Long-lived: starts the holding PID 1 (created/stopped → running). Needs a pid namespace.
  Status Start();
  // Runs argv in the running sandbox (sandbox.invalid_state unless Start()ed and alive).
  Result<SandboxResult> Exec(const std::vector<std::string>& argv, const RunOptions& options = {});
  Result<std::unique_ptr<SandboxProcess>> LaunchExec(const std::vector<std::string>& argv,
                                                     const RunOptions& options = {});

  // Kills every process of the sandbox and waits (running → stopped). Idempotent.
  Status Stop();
  // Stop, then remove the cgroup (→ destroyed). Idempotent.
  Status Destroy();

  // Freezes / thaws every process of the sandbox (cgroup freezer). sandbox.no_cgroup when the
  // sandbox has no cgroup.
  Status Freeze();
  Status Thaw();

  // A released one-shot process (SandboxProcess::ReleasePidfd) has exited: running → stopped.
  void NoteExited();
  // The holding PID 1 exited on its own (or was killed): running → stopped. Returns whether it
  // had exited (non-blocking check).
  bool CheckInitExited();

  const std::string& id() const { return id_; }
  const SandboxSpec& spec() const { return spec_; }
  SandboxState state() const;
  int64_t created_unix_ms() const { return created_unix_ms_; }
  // The holding PID 1 (or the one-shot's PID 1 while it runs), 0 when none.
  pid_t init_pid() const;
  // Pids in the sandbox's cgroup (host pid namespace); empty without a cgroup.
  std::vector<pid_t> Pids() const;
  Result<SandboxUsage> Usage() const;
  // An eventfd/inotify fd readable on an OOM event of the sandbox's cgroup (sandbox.no_cgroup
  // when it has none or the memory controller is missing).
  Result<UniqueFd> OpenOomEventFd();

  struct Impl;

 private:
  Sandbox(SandboxSpec spec, std::string id);
  friend class SandboxProcess;

  const SandboxSpec spec_;
  const std::string id_;
  const int64_t created_unix_ms_;
  std::shared_ptr<Impl> impl_;
};

// One-shot run without an engine: Create + Run + Destroy. What `arsenal run` calls.
Result<SandboxResult> RunSandboxed(const SandboxSpec& spec, const std::vector<std::string>& argv,
                                   const RunOptions& options = {});

}  // namespace arsenal
