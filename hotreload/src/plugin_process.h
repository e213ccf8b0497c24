// PluginProcess: one running arsenal-plugin-host in its sandbox, and the sandbox's policy.
//
// PluginSandbox is built once per PluginHost (policies/ compiles and caches the seccomp programs;
// the Landlock ruleset fd is reused by every spawn). PluginProcess::Start creates the cgroup,
// spawns the host through namespaces/ with the socket as its fd 0, attaches it to the cgroup from
// the spawn hook (cgroup v1 cannot use CLONE_INTO_CGROUP), and seals it. Stop() always reaps the
// process and removes the cgroup, so nothing outlives a PluginProcess.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>

#include "arsenal/base/result.h"
#include "arsenal/base/unique_fd.h"
#include "arsenal/hotreload/plugin_host.h"
#include "arsenal/hotreload/plugin_protocol.h"
#include "arsenal/namespaces/spawn.h"
#include "arsenal/policies/cgroup.h"
#include "arsenal/policies/policy.h"

namespace arsenal::hotreload {

struct PluginSandbox {
  policies::SandboxPolicy policy;                        // applied before exec (stage 1)
  std::shared_ptr<const policies::SeccompProgram> seal;  // installed by the host (stage 2)
};

// The stage-1 and stage-2 seccomp profiles (Docker JSON format), for docs and tests.
std::string_view PluginHostStartProfileJson();
std::string_view PluginHostSealProfileJson();

// Builds the policy for hosts running `host_binary`. Errors: module.sandbox_failed.
Result<std::shared_ptr<const PluginSandbox>> BuildPluginSandbox(
    const std::filesystem::path& host_binary);

class PluginProcess {
 public:
  using Clock = std::chrono::steady_clock;

  // Spawns and seals a host. Errors: module.sandbox_failed (with the cause's message).
  static Result<std::unique_ptr<PluginProcess>> Start(const PluginHostOptions& options,
                                                      const PluginSandbox& sandbox,
                                                      const std::string& label);
  ~PluginProcess();
  PluginProcess(const PluginProcess&) = delete;
  PluginProcess& operator=(const PluginProcess&) = delete;

  // Sends `request` (its id is assigned here) and returns the reply: kOk or kError. Transport
  // failures keep their plugin.* codes (plugin.closed, plugin.timeout, ...); a reply with the
  // wrong id or type is plugin.protocol_error. After any failure the process must be stopped.
  Result<plugin::Frame> Request(plugin::Frame& request, Clock::time_point deadline);

  // Ends the process and removes its cgroup. graceful: close the socket and give the host a
  // moment to exit by itself (clean stop, or a crash in progress, so its own exit status is
  // seen); otherwise SIGKILL at once (timeouts). Idempotent; the first call's result sticks.
  HostExit Stop(bool graceful);

  pid_t pid() const { return pid_; }
  const plugin::FrameChannel::SpinStats& spin_stats() const { return channel_.spin_stats(); }

 private:
  PluginProcess(UniqueFd socket, size_t max_frame_bytes)
      : socket_(std::move(socket)), channel_(socket_.get(), max_frame_bytes) {}

  UniqueFd socket_;
  plugin::FrameChannel channel_;
  ns::SpawnedProcess process_;
  std::unique_ptr<policies::Cgroup> cgroup_;
  pid_t pid_ = 0;
  uint32_t next_id_ = 1;
  bool stopped_ = false;
  HostExit exit_;
};

// Turns a kError reply into an Error for API callers: only module.* codes pass, messages are
// truncated and name the host.
Error RemoteError(const plugin::Frame& reply, const std::string& host);

}  // namespace arsenal::hotreload
