// ModuleService: hot-reloadable modules, in-process or in sandboxed plugin hosts, as one engine
// service (Engine::Service<ModuleService>()).
//
// Purpose: the engine side of the module operations (load_module, unload_module, list_modules,
// module_versions, call_module, reload_module, hot_reload_sandbox, rollback_module). It owns one
// hotreload::ModuleManager for trusted in-process modules and one hotreload::PluginHost per
// sandboxed plugin host (see hotreload/include/arsenal/hotreload/plugin_host.h for the sandbox,
// the supervision and the reload-by-handover semantics). Module names are unique across both.
//
// Modes:
//   - in_process: dlopen()ed into the engine's process. Fastest (a call costs tens of ns) but the
//     module runs with the daemon's privileges and a crash takes the daemon down. Only for code
//     you would link into the daemon.
//   - sandboxed (the default): runs in an arsenal-plugin-host process in its own namespaces with
//     a strict seccomp profile, Landlock, no network, a read-only filesystem and a memory limit.
//     Several modules may share a host (`host`, default: a host named after the module); they
//     are reloaded together (hot_reload_sandbox) and restarted together after a crash.
//
// Configuration (EngineOptions::config["modules"], all optional):
//   {"dir": "<state_dir>/modules",            where version files live (0700, owned by the daemon)
//    "plugin_host": "/usr/libexec/arsenal-plugin-host",   default: $ARSENAL_PLUGIN_HOST, else
//                                             arsenal-plugin-host beside the running executable
//    "history_depth": 8,
//    "retain_heap": true,                     keep freed heap for large-state reloads (mallopt;
//                                             hotreload::ManagerOptions::retain_freed_heap)
//    "sandbox": {"memory_bytes": 268435456, "pids": 8, "call_timeout_ms": 5000,
//                "start_timeout_ms": 10000, "checkpoint_every_calls": 0, "max_restarts": 5,
//                "restart_window_s": 60,
//                "spin_budget_us": 50}}           busy-polling per wait for a reply (0 disables,
//                                             at most 1000; hotreload::PluginHostOptions)
// A bad configuration is reported by every call (module.bad_config, naming the field).
//
// Untrusted input: module paths come from API callers. Before anything is read they must be
// absolute and name an existing regular file that is a 64-bit ELF shared object
// (module.invalid_path / module.not_elf, details.field names the parameter); the loaders check
// the whole file again when they read it.
//
// Threading: every method may be called from any thread; calls to different modules run
// concurrently; Load/Unload/Reload of one module are serialised by the layer below.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <vector>

#include "arsenal/base/result.h"
#include "arsenal/hotreload/module_manager.h"
#include "arsenal/hotreload/plugin_host.h"

namespace arsenal {

class Engine;

enum class ModuleMode { kInProcess, kSandboxed };
std::string_view ModuleModeName(ModuleMode mode);  // "in_process", "sandboxed"

// Per-host settings, used when a load creates the host (defaults from the configuration).
struct SandboxSettings {
  std::optional<uint64_t> memory_bytes;
  std::optional<uint64_t> pids;
  std::optional<uint64_t> call_timeout_ms;
  std::optional<uint32_t> checkpoint_every_calls;
};

struct ModuleLoadRequest {
  std::string name;
  std::string path;  // untrusted: validated as described above
  ModuleMode mode = ModuleMode::kSandboxed;
  std::string host;  // sandboxed only; empty: the module's name
  std::string initial_state;
  uint32_t initial_state_version = 0;
  // sandboxed only, and only when this load creates the host (module.host_exists otherwise).
  std::optional<SandboxSettings> sandbox;
};

class ModuleService {
 public:
  explicit ModuleService(Engine& engine);
  ~ModuleService();
  ModuleService(const ModuleService&) = delete;
  ModuleService& operator=(const ModuleService&) = delete;

  Result<hotreload::ModuleInfo> Load(const ModuleLoadRequest& request);
  // Unloads the module; a plugin host left without modules is stopped.
  Status Unload(const std::string& name);
  std::vector<hotreload::ModuleInfo> List();
  Result<hotreload::ModuleInfo> Info(const std::string& name);
  Result<std::vector<hotreload::ModuleVersionInfo>> Versions(const std::string& name);
  Result<std::string> Call(const std::string& name, const std::string& method,
                           std::string_view input);
  // Hot-swaps one module to the file at `path` (in a sandbox: a new host takes over).
  Result<hotreload::ModuleInfo> Reload(const std::string& name, const std::string& path);
  // Reloads the modules of a plugin host: `changes` maps some of its modules to new files; the
  // others move to the new host with their state. Empty: a fresh host with the same versions.
  Result<std::vector<hotreload::ModuleInfo>> ReloadHost(
      const std::string& host, const std::map<std::string, std::string>& changes);
  Result<hotreload::ModuleInfo> Rollback(const std::string& name, const std::string& version);
  Result<hotreload::StateBlob> Snapshot(const std::string& name);
  std::vector<hotreload::PluginHostInfo> Hosts();
  Result<hotreload::PluginHostInfo> Host(const std::string& host);

  // JSON views shared by the operations.
  static Json ToJson(const hotreload::ModuleInfo& info);
  static Json ToJson(const hotreload::ModuleVersionInfo& info);
  static Json ToJson(const hotreload::PluginHostInfo& info);

 private:
  struct Config;
  struct Entry {
    ModuleMode mode = ModuleMode::kInProcess;
    std::string host;  // sandboxed
  };
  Result<hotreload::ModuleManager*> Manager();
  Result<std::shared_ptr<hotreload::PluginHost>> HostOf(const std::string& name,
                                                        std::string* host_name = nullptr);
  Result<hotreload::PluginHostOptions> HostOptions(const std::string& host,
                                                   const std::optional<SandboxSettings>& settings);

  Engine& engine_;
  std::unique_ptr<Config> config_;
  std::optional<Error> config_error_;

  std::mutex admin_mu_;  // serialises Load/Unload (name reservation, host creation/removal)
  mutable std::shared_mutex mu_;  // guards the maps below
  std::unique_ptr<hotreload::ModuleManager> manager_;
  std::map<std::string, Entry> modules_;
  std::map<std::string, std::shared_ptr<hotreload::PluginHost>> hosts_;
};

}  // namespace arsenal
