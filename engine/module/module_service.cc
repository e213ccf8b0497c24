#include "arsenal/engine/module_service.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "arsenal/base/log.h"
#include "arsenal/engine/engine.h"

namespace arsenal {
namespace {

using hotreload::ModuleInfo;
using hotreload::ModuleVersionInfo;
using hotreload::PluginHost;
using hotreload::PluginHostInfo;

Error BadConfig(const std::string& field, const std::string& what) {
  return ValidationError("module.bad_config", "configuration modules." + field + " " + what,
                         "modules." + field)
      .WithHint("fix the daemon's configuration file and restart it");
}

Error NotLoaded(const std::string& name) {
  return NotFoundError("module.not_found", "module '" + name + "' is not loaded")
      .WithHint("list_modules shows the loaded modules");
}

Error HostNotFound(const std::string& host) {
  return NotFoundError("module.host_not_found", "no plugin host named '" + host + "'")
      .WithDetail("field", "host")
      .WithHint("load a module with mode \"sandboxed\" and this host name first");
}

int64_t UnixMs(std::chrono::system_clock::time_point at) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
}

// Reads an unsigned integer setting in [min, max] from `object[key]` if present.
template <typename T>
Status ReadUint(const Json& object, const std::string& key, const std::string& field, uint64_t min,
                uint64_t max, T* out) {
  auto it = object.find(key);
  if (it == object.end()) return {};
  // Parsed JSON holds positive numbers as unsigned, JSON built in C++ as signed: accept both.
  const bool non_negative =
      it->is_number_unsigned() || (it->is_number_integer() && it->get<int64_t>() >= 0);
  if (!non_negative || it->get<uint64_t>() < min || it->get<uint64_t>() > max) {
    return Fail(BadConfig(
        field, "must be an integer in " + std::to_string(min) + ".." + std::to_string(max)));
  }
  *out = static_cast<T>(it->get<uint64_t>());
  return {};
}

Status RejectUnknown(const Json& object, const std::vector<std::string>& known,
                     const std::string& prefix) {
  for (const auto& [key, value] : object.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return Fail(BadConfig(prefix + key, "is not a known setting"));
    }
  }
  return {};
}

bool IsExecutableFile(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec) && ::access(path.c_str(), X_OK) == 0;
}

}  // namespace

std::string_view ModuleModeName(ModuleMode mode) {
  return mode == ModuleMode::kInProcess ? "in_process" : "sandboxed";
}

struct ModuleService::Config {
  std::filesystem::path dir;
  std::filesystem::path plugin_host;  // empty when none was found
  size_t history_depth = 8;
  bool retain_heap = true;
  hotreload::PluginHostOptions sandbox;  // defaults for new hosts

  Status Parse(const Json& all, const std::filesystem::path& state_dir) {
    dir = state_dir / "modules";
    if (!all.is_object() || !all.contains("modules")) return FindPluginHost();
    const Json& config = all["modules"];
    if (!config.is_object()) return Fail(BadConfig("", "must be an object"));
    ARSENAL_TRY(RejectUnknown(
        config, {"dir", "plugin_host", "history_depth", "retain_heap", "sandbox"}, ""));
    if (config.contains("retain_heap")) {
      if (!config["retain_heap"].is_boolean()) {
        return Fail(BadConfig("retain_heap", "must be true or false"));
      }
      retain_heap = config["retain_heap"].get<bool>();
    }
    if (config.contains("dir")) {
      if (!config["dir"].is_string() || config["dir"].get<std::string>().empty() ||
          config["dir"].get<std::string>().front() != '/') {
        return Fail(BadConfig("dir", "must be an absolute directory path"));
      }
      dir = config["dir"].get<std::string>();
    }
    ARSENAL_TRY(ReadUint(config, "history_depth", "history_depth", 1, 1000, &history_depth));
    if (config.contains("plugin_host")) {
      if (!config["plugin_host"].is_string())
        return Fail(BadConfig("plugin_host", "must be a path"));
      plugin_host = config["plugin_host"].get<std::string>();
      if (!plugin_host.is_absolute() || !IsExecutableFile(plugin_host)) {
        return Fail(BadConfig("plugin_host",
                              "must be the absolute path of the "
                              "arsenal-plugin-host executable"));
      }
    }
    if (config.contains("sandbox")) {
      const Json& box = config["sandbox"];
      if (!box.is_object()) return Fail(BadConfig("sandbox", "must be an object"));
      ARSENAL_TRY(RejectUnknown(
          box,
          {"memory_bytes", "pids", "call_timeout_ms", "start_timeout_ms", "checkpoint_every_calls",
           "max_restarts", "restart_window_s", "spin_budget_us"},
          "sandbox."));
      ARSENAL_TRY(ReadUint(box, "memory_bytes", "sandbox.memory_bytes", 16u << 20, 1ull << 40,
                           &sandbox.memory_limit_bytes));
      ARSENAL_TRY(ReadUint(box, "pids", "sandbox.pids", 2, 1u << 20, &sandbox.pids_limit));
      uint64_t ms = 0;
      ARSENAL_TRY(ReadUint(box, "call_timeout_ms", "sandbox.call_timeout_ms", 1, 3600000, &ms));
      if (ms) sandbox.call_timeout = std::chrono::milliseconds(ms);
      ms = 0;
      ARSENAL_TRY(ReadUint(box, "start_timeout_ms", "sandbox.start_timeout_ms", 1, 3600000, &ms));
      if (ms) sandbox.start_timeout = std::chrono::milliseconds(ms);
      ARSENAL_TRY(ReadUint(box, "checkpoint_every_calls", "sandbox.checkpoint_every_calls", 0,
                           1u << 30, &sandbox.checkpoint_every_calls));
      ARSENAL_TRY(
          ReadUint(box, "max_restarts", "sandbox.max_restarts", 0, 1000, &sandbox.max_restarts));
      uint64_t window = 0;
      ARSENAL_TRY(ReadUint(box, "restart_window_s", "sandbox.restart_window_s", 1, 86400, &window));
      if (window) sandbox.restart_window = std::chrono::seconds(window);
      if (box.contains("spin_budget_us")) {
        uint64_t us = 0;
        ARSENAL_TRY(ReadUint(
            box, "spin_budget_us", "sandbox.spin_budget_us", 0,
            static_cast<uint64_t>(hotreload::plugin::FrameChannel::kMaxSpinBudget.count()), &us));
        sandbox.spin_budget = std::chrono::microseconds(us);
      }
    }
    sandbox.history_depth = history_depth;
    return FindPluginHost();
  }

  Status FindPluginHost() {
    if (!plugin_host.empty()) return {};
    if (const char* env = ::getenv("ARSENAL_PLUGIN_HOST"); env != nullptr && *env == '/') {
      plugin_host = env;
      return {};
    }
    char self[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n > 0) {
      self[n] = '\0';
      auto beside = std::filesystem::path(self).parent_path() / "arsenal-plugin-host";
      if (IsExecutableFile(beside)) plugin_host = beside;
    }
    return {};  // a missing host is reported by the first sandboxed load
  }
};

ModuleService::ModuleService(Engine& engine)
    : engine_(engine), config_(std::make_unique<Config>()) {
  if (auto parsed = config_->Parse(engine.options().config, engine.state_dir()); !parsed) {
    config_error_ = parsed.error();
    log::Get("module")->error("{}", parsed.error().ToString());
  }
}

ModuleService::~ModuleService() {
  std::map<std::string, std::shared_ptr<PluginHost>> hosts;
  std::unique_ptr<hotreload::ModuleManager> manager;
  {
    std::lock_guard admin(admin_mu_);
    std::unique_lock lock(mu_);
    hosts.swap(hosts_);
    manager.swap(manager_);
    modules_.clear();
  }
  hosts.clear();  // stops every plugin host
  manager.reset();
}

Result<hotreload::ModuleManager*> ModuleService::Manager() {
  if (manager_) return manager_.get();
  hotreload::ManagerOptions options;
  options.modules_dir = config_->dir / "in_process";
  options.history_depth = config_->history_depth;
  options.retain_freed_heap = config_->retain_heap;
  std::error_code ec;
  std::filesystem::create_directories(config_->dir, ec);
  ARSENAL_ASSIGN_OR_RETURN(auto manager, hotreload::ModuleManager::Create(options));
  std::unique_lock lock(mu_);
  manager_ = std::move(manager);
  return manager_.get();
}

Result<hotreload::PluginHostOptions> ModuleService::HostOptions(
    const std::string& host, const std::optional<SandboxSettings>& settings) {
  if (config_->plugin_host.empty()) {
    return Fail(Error(ErrorCategory::kUnavailable, "module.plugin_host_not_found",
                      "the arsenal-plugin-host executable was not found")
                    .WithHint("install it beside the daemon, or set modules.plugin_host in the "
                              "configuration (or ARSENAL_PLUGIN_HOST)"));
  }
  hotreload::PluginHostOptions options = config_->sandbox;
  options.host_binary = config_->plugin_host;
  options.modules_dir = config_->dir / "hosts" / host;
  if (settings) {
    if (settings->memory_bytes) options.memory_limit_bytes = *settings->memory_bytes;
    if (settings->pids) options.pids_limit = *settings->pids;
    if (settings->call_timeout_ms) {
      options.call_timeout = std::chrono::milliseconds(*settings->call_timeout_ms);
    }
    if (settings->checkpoint_every_calls) {
      options.checkpoint_every_calls = *settings->checkpoint_every_calls;
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(config_->dir / "hosts", ec);
  return options;
}

Result<std::shared_ptr<PluginHost>> ModuleService::HostOf(const std::string& name,
                                                          std::string* host_name) {
  std::shared_lock lock(mu_);
  auto it = modules_.find(name);
  if (it == modules_.end()) return Fail(NotLoaded(name));
  if (it->second.mode != ModuleMode::kSandboxed) return std::shared_ptr<PluginHost>();
  if (host_name != nullptr) *host_name = it->second.host;
  auto host = hosts_.find(it->second.host);
  if (host == hosts_.end()) return Fail(NotLoaded(name));
  return host->second;
}

Result<ModuleInfo> ModuleService::Load(const ModuleLoadRequest& request) {
  if (config_error_) return Fail(*config_error_);
  ARSENAL_TRY(hotreload::CheckModulePath(request.path, "path"));
  std::lock_guard admin(admin_mu_);
  {
    std::shared_lock lock(mu_);
    if (modules_.contains(request.name)) {
      return Fail(ConflictError("module.exists", "module '" + request.name + "' is already loaded")
                      .WithDetail("field", "name")
                      .WithHint("use reload_module to replace it, or unload it first"));
    }
  }
  hotreload::LoadOptions options{request.initial_state, request.initial_state_version};
  if (request.mode == ModuleMode::kInProcess) {
    if (!request.host.empty() || request.sandbox) {
      return Fail(ValidationError("module.invalid_params",
                                  "host and sandbox apply only to sandboxed modules",
                                  request.host.empty() ? "sandbox" : "host")
                      .WithHint("drop them, or load with mode \"sandboxed\""));
    }
    ARSENAL_ASSIGN_OR_RETURN(auto* manager, Manager());
    ARSENAL_ASSIGN_OR_RETURN(ModuleInfo info, manager->Load(request.name, request.path, options));
    std::unique_lock lock(mu_);
    modules_[request.name] = Entry{ModuleMode::kInProcess, {}};
    return info;
  }
  const std::string host_name = request.host.empty() ? request.name : request.host;
  std::shared_ptr<PluginHost> host;
  {
    std::shared_lock lock(mu_);
    if (auto it = hosts_.find(host_name); it != hosts_.end()) host = it->second;
  }
  const bool created = !host;
  if (host && request.sandbox) {
    return Fail(ConflictError("module.host_exists",
                              "plugin host '" + host_name +
                                  "' already runs; its sandbox settings were fixed when it was "
                                  "created")
                    .WithDetail("field", "sandbox")
                    .WithHint("drop sandbox, or load into a new host"));
  }
  if (created) {
    ARSENAL_ASSIGN_OR_RETURN(auto options_for_host, HostOptions(host_name, request.sandbox));
    ARSENAL_ASSIGN_OR_RETURN(auto made, PluginHost::Create(host_name, std::move(options_for_host)));
    host = std::move(made);
  }
  ARSENAL_ASSIGN_OR_RETURN(ModuleInfo info, host->Load(request.name, request.path, options));
  std::unique_lock lock(mu_);
  if (created) hosts_[host_name] = host;
  modules_[request.name] = Entry{ModuleMode::kSandboxed, host_name};
  return info;
}

Status ModuleService::Unload(const std::string& name) {
  if (config_error_) return Fail(*config_error_);
  std::lock_guard admin(admin_mu_);
  std::string host_name;
  ARSENAL_ASSIGN_OR_RETURN(auto host, HostOf(name, &host_name));
  if (!host) {
    ARSENAL_TRY(manager_->Unload(name));
    std::unique_lock lock(mu_);
    modules_.erase(name);
    return {};
  }
  ARSENAL_TRY(host->Unload(name));
  std::shared_ptr<PluginHost> emptied;
  {
    std::unique_lock lock(mu_);
    modules_.erase(name);
    if (host->List().empty()) {
      emptied = std::move(hosts_[host_name]);
      hosts_.erase(host_name);
    }
  }
  host.reset();
  if (emptied) {
    const auto dir = emptied->options().modules_dir;
    emptied.reset();  // stops the host unless a call still holds it
    std::error_code ec;
    std::filesystem::remove(dir, ec);  // only if empty
  }
  return {};
}

std::vector<ModuleInfo> ModuleService::List() {
  std::vector<ModuleInfo> out;
  std::vector<std::shared_ptr<PluginHost>> hosts;
  {
    std::shared_lock lock(mu_);
    if (manager_) out = manager_->List();
    for (const auto& [name, host] : hosts_) hosts.push_back(host);
  }
  for (const auto& host : hosts) {
    auto infos = host->List();
    out.insert(out.end(), infos.begin(), infos.end());
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

Result<ModuleInfo> ModuleService::Info(const std::string& name) {
  ARSENAL_ASSIGN_OR_RETURN(auto host, HostOf(name));
  return host ? host->Info(name) : manager_->Info(name);
}

Result<std::vector<ModuleVersionInfo>> ModuleService::Versions(const std::string& name) {
  ARSENAL_ASSIGN_OR_RETURN(auto host, HostOf(name));
  return host ? host->Versions(name) : manager_->Versions(name);
}

Result<std::string> ModuleService::Call(const std::string& name, const std::string& method,
                                        std::string_view input) {
  ARSENAL_ASSIGN_OR_RETURN(auto host, HostOf(name));
  return host ? host->Call(name, method, input) : manager_->Call(name, method, input);
}

Result<ModuleInfo> ModuleService::Reload(const std::string& name, const std::string& path) {
  ARSENAL_TRY(hotreload::CheckModulePath(path, "path"));
  ARSENAL_ASSIGN_OR_RETURN(auto host, HostOf(name));
  if (!host) return manager_->Reload(name, path);
  ARSENAL_ASSIGN_OR_RETURN(auto infos, host->Reload({{name, path}}));
  for (auto& info : infos) {
    if (info.name == name) return info;
  }
  return Fail(NotLoaded(name));
}

Result<std::vector<ModuleInfo>> ModuleService::ReloadHost(
    const std::string& host_name, const std::map<std::string, std::string>& changes) {
  std::shared_ptr<PluginHost> host;
  {
    std::shared_lock lock(mu_);
    if (auto it = hosts_.find(host_name); it != hosts_.end()) host = it->second;
  }
  if (!host) return Fail(HostNotFound(host_name));
  std::map<std::string, std::filesystem::path> files;
  for (const auto& [name, path] : changes) {
    ARSENAL_TRY(hotreload::CheckModulePath(path, "modules." + name));
    if (!host->Contains(name)) {
      return Fail(NotFoundError("module.not_found",
                                "module '" + name + "' is not in plugin host '" + host_name + "'")
                      .WithDetail("field", "modules." + name)
                      .WithHint("list_modules shows each module's host"));
    }
    files.emplace(name, path);
  }
  return host->Reload(files);
}

Result<ModuleInfo> ModuleService::Rollback(const std::string& name, const std::string& version) {
  ARSENAL_ASSIGN_OR_RETURN(auto host, HostOf(name));
  return host ? host->Rollback(name, version) : manager_->Rollback(name, version);
}

Result<hotreload::StateBlob> ModuleService::Snapshot(const std::string& name) {
  ARSENAL_ASSIGN_OR_RETURN(auto host, HostOf(name));
  return host ? host->Snapshot(name) : manager_->Snapshot(name);
}

std::vector<PluginHostInfo> ModuleService::Hosts() {
  std::vector<std::shared_ptr<PluginHost>> hosts;
  {
    std::shared_lock lock(mu_);
    for (const auto& [name, host] : hosts_) hosts.push_back(host);
  }
  std::vector<PluginHostInfo> out;
  for (const auto& host : hosts) out.push_back(host->HostInfo());
  return out;
}

Result<PluginHostInfo> ModuleService::Host(const std::string& host_name) {
  std::shared_lock lock(mu_);
  auto it = hosts_.find(host_name);
  if (it == hosts_.end()) return Fail(HostNotFound(host_name));
  return it->second->HostInfo();
}

Json ModuleService::ToJson(const ModuleInfo& info) {
  Json out = {{"name", info.name},
              {"module_name", info.module_name},
              {"mode", info.host.empty() ? "in_process" : "sandboxed"},
              {"version", info.current.version},
              {"sha256", info.current.sha256},
              {"state_version", info.current.state_version},
              {"calls", info.calls},
              {"reloads", info.reloads},
              {"last_swap_ns", info.last_swap_ns},
              {"loaded_unix_ms", UnixMs(info.current.loaded_at)}};
  if (!info.host.empty()) out["host"] = info.host;
  return out;
}

Json ModuleService::ToJson(const ModuleVersionInfo& info) {
  return {{"version", info.version},
          {"sha256", info.sha256},
          {"state_version", info.state_version},
          {"serving", info.serving},
          {"loaded_unix_ms", UnixMs(info.loaded_at)}};
}

Json ModuleService::ToJson(const PluginHostInfo& info) {
  Json out = {{"name", info.name},
              {"running", info.running},
              {"failed", info.failed},
              {"pid", info.pid},
              {"restarts", info.restarts},
              {"generation", info.generation},
              {"memory_limit_bytes", info.memory_limit_bytes},
              {"modules", info.modules}};
  if (info.last_exit) {
    out["last_exit"] = {
        {"reason", info.last_exit->reason}, {"exit_code", info.last_exit->exit_code},
        {"signal", info.last_exit->signal}, {"oom", info.last_exit->oom},
        {"during", info.last_exit->during}, {"at_unix_ms", UnixMs(info.last_exit->at)}};
  }
  return out;
}

}  // namespace arsenal
