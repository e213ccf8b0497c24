// PluginHost: untrusted modules in a supervised, sandboxed `arsenal-plugin-host` process.
//
// Purpose: the sandboxed half of Arsenal's hot reload. A PluginHost owns one plugin host process
// at a time and any number of modules loaded into it, called over a socket with the frame
// protocol of plugin_protocol.h. A crashing, spinning or hostile module cannot touch the engine's
// process: it takes down at most its host, which is restarted from the last snapshot of every
// module in it. Same module ABI (arsenal/module.h) and same version/rollback semantics as the
// in-process ModuleManager.
//
// Sandbox (built by PluginHost for every host process, from namespaces/ and policies/):
//   - every namespace kind (user, mount, pid, net, uts, ipc, cgroup, time); root inside is
//     uid 65534 outside; no network at all; empty environment; only fd 0 (the socket), 1 and 2
//     (/dev/null unless stderr_fd is given);
//   - the host's root filesystem bound read-only, a fresh /proc, a minimal /dev, nothing writable;
//   - Landlock: read access to /usr (shared libraries) and /etc/ld.so.cache, read+execute on the
//     host binary and the dynamic loader only; no other file can be opened, nothing written;
//   - a cgroup with memory_limit_bytes (swap off) and pids_limit, nested under the caller's cgroup;
//   - no capabilities, no_new_privs, rlimits (no core dumps, few fds);
//   - seccomp in two stages, both strict allowlists (default: EPERM): the program applied before
//     exec allows what the dynamic loader and the loop need plus execve and seccomp; the "seal"
//     program the host installs before loading any module (first request, plugin_host_server.h)
//     drops execve, seccomp, and everything else the request loop does not need. No fork, clone,
//     socket, kill, ptrace or mount: a fork bomb gets EPERM.
// Modules reach the host as bytes (a sealed memfd inside the host), so the host never needs read
// access to the engine's files.
//
// Latency: a call is one frame each way (plus a snapshot round trip when checkpoint_every_calls
// says so). When the engine's thread and the host run on different CPUs, both ends busy-poll
// briefly before sleeping (spin_budget) so that back-to-back calls avoid the two cross-CPU
// sleep/wakeup transitions per round trip; on one CPU a call costs two process switches either
// way. Deadlines and hang-up detection are the same with and without polling.
//
// Supervision: a host that dies (crash, OOM kill, broken protocol) or does not answer within
// call_timeout (it is then killed: this is how a spinning module is stopped) is restarted at once
// from the last snapshot of each module (its checkpoint: the state at Load, after every reload,
// every explicit Snapshot(), and every checkpoint_every_calls calls). The request that was in
// flight fails with module.host_crashed or module.call_timeout (both retryable; details say why,
// with exit_code, signal and oom); other callers simply wait for the restarted host. More than
// max_restarts restarts within restart_window put the host in the failed state
// (module.host_failed) until a Reload starts a fresh one or the modules are unloaded.
//
// Reload: a new host process is started with the new versions (and the unchanged modules' current
// versions), loaded and checked there while the old host keeps serving; then calls are blocked,
// each module's state is snapshot in the old host (asking for the new version's state format) and
// created in the new one with a health check; only if every module is healthy does the new host
// take over, and the old one is stopped. Any failure kills the new host and leaves the old one
// serving, state intact. Rollback(name, version) is a Reload to that version's stored file.
//
// Thread safety: all methods may be called from any thread. Requests to one host are serialised
// (one in flight); Load/Unload/Reload/Rollback are serialised among themselves.
//
// Errors (stable codes, besides those of module_manager.h): module.host_crashed,
// module.call_timeout, module.host_failed, module.sandbox_failed (the host could not be started:
// namespaces, cgroup, policy), module.host_protocol_error (in details.reason of host_crashed).
// Error codes and messages that come from the host are untrusted: only `module.*` codes pass
// through (others become module.call_failed), messages are truncated, and every message names
// the host.
//
// Security: this is the place for untrusted code. The engine process never dlopen()s a sandboxed
// module; it only reads the file, checks it is ELF and hashes it. The host binary itself must be
// trusted (it is executed with the caller's privileges up to the sandbox setup).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arsenal/base/result.h"
#include "arsenal/hotreload/module_manager.h"
#include "arsenal/hotreload/plugin_protocol.h"

namespace arsenal::hotreload {

struct PluginHostOptions {
  // The arsenal-plugin-host executable (absolute). Required.
  std::filesystem::path host_binary;
  // Where the engine keeps each version's file (for restarts and rollback); as
  // ManagerOptions::modules_dir (created 0700, must not be writable by others). Required.
  std::filesystem::path modules_dir;
  size_t history_depth = 8;
  // cgroup memory limit of the whole sandbox (host + module memory); swap is disabled.
  uint64_t memory_limit_bytes = 256u << 20;
  uint64_t pids_limit = 8;
  // How long a request (call, health, snapshot, create) may take before the host is killed.
  std::chrono::milliseconds call_timeout{5000};
  // How long starting a host (sandbox setup, exec, seal, loading modules) may take.
  std::chrono::milliseconds start_timeout{10000};
  size_t max_frame_bytes = 64u << 20;
  // Largest module file accepted (must fit in a frame).
  size_t max_module_bytes = 48u << 20;
  // Snapshot every this many calls of a module (0: only at load, reload and Snapshot()).
  uint32_t checkpoint_every_calls = 0;
  // Restart intensity: more than max_restarts within restart_window -> failed.
  int max_restarts = 5;
  std::chrono::seconds restart_window{60};
  // The host's stderr (diagnostics); -1: /dev/null. Borrowed.
  int stderr_fd = -1;
  // Adaptive busy-polling on both ends of the socket (plugin_protocol.h, FrameChannel): after
  // sending a request the caller polls for the reply this long before sleeping, and the host
  // polls for the next request this long after answering, but only while the two run on
  // different CPUs. A call answered within the budget then costs no sleep/wakeup on either side
  // (on a VM, most of a round trip). CPU cost: at most the budget per wait, backing off to one
  // budget per 64 waits while replies or requests keep coming later than that. 0 disables; at
  // most 1000 us.
  std::chrono::microseconds spin_budget{50};
};

// Why a host process ended (the latest one).
struct HostExit {
  std::string reason;  // "crashed", "timeout", "protocol_error", "stopped"
  int exit_code = 0;   // the sandbox's exit code; 128+N when killed by signal N
  int signal = 0;      // N when exit_code is 128+N
  bool oom = false;    // the cgroup's OOM killer fired
  std::string during;  // the request that was in flight ("call counter.incr")
  std::chrono::system_clock::time_point at;
};

struct PluginHostInfo {
  std::string name;
  bool running = false;  // a host process is up (false once failed)
  bool failed = false;   // restart intensity exceeded, or a restart failed
  pid_t pid = 0;         // the sandbox's init process (as seen by the engine)
  uint64_t restarts = 0;
  uint64_t generation = 0;  // host processes started so far (restarts and reloads included)
  uint64_t memory_limit_bytes = 0;
  std::vector<std::string> modules;
  std::optional<HostExit> last_exit;
  // The engine end's busy-polling since the current host process started (spin_budget): waits
  // for a reply that polled and got it, polled in vain, or slept (after misses; or because the
  // host ran on the caller's CPU, where polling would only delay it).
  plugin::FrameChannel::SpinStats polling;
};

class PluginHost {
 public:
  // Starts an empty host process named `name` ([A-Za-z0-9_-], 1-64). Errors: module.bad_options,
  // module.sandbox_failed, module.insecure_dir, module.io.
  static Result<std::unique_ptr<PluginHost>> Create(std::string name, PluginHostOptions options);
  // Stops the host process (no call may be running) and deletes the module files.
  ~PluginHost();
  PluginHost(const PluginHost&) = delete;
  PluginHost& operator=(const PluginHost&) = delete;

  // Reads `path` (regular file, ELF, at most max_module_bytes), loads it into the host as `name`,
  // creates the instance from options.initial_state and health-checks it. A module that crashes
  // the host while loading is reported (module.host_crashed) and the host is restarted without it.
  Result<ModuleInfo> Load(const std::string& name, const std::filesystem::path& path,
                          const LoadOptions& options = {});
  Status Unload(const std::string& name);
  Result<std::string> Call(const std::string& name, const std::string& method,
                           std::string_view input);
  // The module's state; it also becomes the module's restart checkpoint.
  Result<StateBlob> Snapshot(const std::string& name);
  Status Health(const std::string& name);
  // Reloads the host: `changes` maps module names to new files; every other module keeps its
  // version. An empty map moves the modules to a fresh host process with their state. On
  // failure the old host keeps serving, state intact. Returns every module's info.
  Result<std::vector<ModuleInfo>> Reload(
      const std::map<std::string, std::filesystem::path>& changes);
  // Reload of one module to the most recent history entry with `version`.
  Result<ModuleInfo> Rollback(const std::string& name, const std::string& version);

  std::vector<ModuleInfo> List() const;
  Result<ModuleInfo> Info(const std::string& name) const;
  Result<std::vector<ModuleVersionInfo>> Versions(const std::string& name) const;
  PluginHostInfo HostInfo() const;
  bool Contains(const std::string& name) const;

  const std::string& name() const { return name_; }
  const PluginHostOptions& options() const { return options_; }

  class Impl;  // defined in plugin_host.cc

 private:
  PluginHost(std::string name, PluginHostOptions options, std::unique_ptr<Impl> impl);
  std::string name_;
  PluginHostOptions options_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace arsenal::hotreload
