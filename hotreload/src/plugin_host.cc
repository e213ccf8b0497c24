#include "arsenal/hotreload/plugin_host.h"

#include <atomic>
#include <deque>
#include <mutex>
#include <utility>

#include "arsenal/base/log.h"
#include "src/file_store.h"
#include "src/library.h"
#include "src/plugin_process.h"
#include "src/version_history.h"

namespace arsenal::hotreload {
namespace {

using plugin::Frame;
using plugin::FrameType;
using Clock = std::chrono::steady_clock;

Error ModuleNotFound(const std::string& name, const std::string& host) {
  return NotFoundError("module.not_found",
                       "module '" + name + "' is not loaded in plugin host '" + host + "'")
      .WithHint("list loaded modules, or load it first");
}

Frame Request(FrameType type, std::vector<std::string> fields, uint32_t arg = 0) {
  Frame frame;
  frame.type = type;
  frame.arg = arg;
  frame.fields = std::move(fields);
  return frame;
}

// A module image read from an untrusted path, checked and hashed (never dlopen()ed here).
struct Image {
  std::string bytes;
  std::string sha256;
};

Result<Image> ReadImage(const std::filesystem::path& path, size_t max_bytes) {
  Image image;
  ARSENAL_ASSIGN_OR_RETURN(image.bytes, ReadModuleFile(path, max_bytes));
  ARSENAL_TRY(CheckElfImage(image.bytes, path.string()));
  image.sha256 = Sha256Hex(image.bytes);
  return image;
}

// Errors about the module file itself name the parameter that gave it, as in-process loads do
// (the host's error replies carry no details).
Error NamePath(Error error) {
  if (error.category() == ErrorCategory::kValidation && !error.details().contains("field")) {
    error.WithDetail("field", "path");
  }
  return error;
}

// What the host said about a module it loaded.
struct Declared {
  std::string name;
  std::string version;
  uint32_t state_version = 0;
};

}  // namespace

struct SandboxedSlot {
  std::string name;
  std::string module_name;
  VersionHistory history;               // newest (serving) first; guarded by meta_mu_
  StateBlob checkpoint;                 // guarded by io_mu_
  uint32_t calls_since_checkpoint = 0;  // guarded by io_mu_
  std::atomic<uint64_t> calls{0};
  std::atomic<uint64_t> reloads{0};
  std::atomic<uint64_t> last_swap_ns{0};
};

class PluginHost::Impl {
 public:
  Impl(std::string name, PluginHostOptions options, std::shared_ptr<FileStore> files,
       std::shared_ptr<const PluginSandbox> sandbox)
      : name_(std::move(name)),
        options_(std::move(options)),
        files_(std::move(files)),
        sandbox_(std::move(sandbox)) {}

  ~Impl() {
    std::lock_guard admin(admin_mu_);
    std::lock_guard io(io_mu_);
    StopProcess(true, "stopped", "");
  }

  Status Start() {
    std::lock_guard io(io_mu_);
    ARSENAL_ASSIGN_OR_RETURN(auto process, PluginProcess::Start(options_, *sandbox_, name_));
    SetProcess(std::move(process));
    return {};
  }

  // ---- requests to the serving host (io_mu_ held) --------------------------------------------

  // One request to the serving host. A transport failure (crash, timeout, bad reply) stops the
  // host, restarts it from the checkpoints, and becomes module.host_crashed / module.call_timeout.
  // A kError reply is returned as an Error. `ok_fields` is the field count a kOk must have.
  Result<Frame> Exchange(Frame request, size_t ok_fields) {
    if (failed_ || !process_) return Fail(HostFailed());
    auto reply = process_->Request(request, Clock::now() + options_.call_timeout);
    PublishPolling(process_->spin_stats());
    if (reply && reply->type == FrameType::kError) return Fail(RemoteError(*reply, name_));
    if (reply && reply->fields.size() == ok_fields) return reply;
    // Described only on failure: building the text on every call would cost an allocation.
    std::string what = std::string(plugin::FrameTypeName(request.type)) + " " +
                       (request.fields.empty() ? std::string() : request.fields[0]);
    if (request.type == FrameType::kCall && request.fields.size() > 1) {
      what += "." + request.fields[1];
    }
    std::string reason = "protocol_error";
    if (!reply && reply.error().code() == "plugin.timeout") reason = "timeout";
    if (!reply && reply.error().code() == "plugin.closed") reason = "crashed";
    std::string cause = reply ? "a malformed " + what + " reply" : reply.error().message();
    HostExit exit = StopProcess(reason != "timeout", reason, what);
    bool restarted = RestartLocked();
    Error error = reason == "timeout"
                      ? Error(ErrorCategory::kTimeout, "module.call_timeout",
                              what + " did not answer within " +
                                  std::to_string(options_.call_timeout.count()) +
                                  " ms; plugin host '" + name_ + "' was killed")
                      : Error(ErrorCategory::kUnavailable, "module.host_crashed",
                              "plugin host '" + name_ + "' " +
                                  (reason == "crashed" ? "died" : "broke the protocol") +
                                  " during " + what + " (" + cause + ")");
    error.WithRetryable(true)
        .WithDetail("host", name_)
        .WithDetail("reason", reason)
        .WithDetail("exit_code", exit.exit_code)
        .WithDetail("signal", exit.signal)
        .WithDetail("oom", exit.oom)
        .WithDetail("restarted", restarted)
        .WithHint(restarted ? "the host was restarted from the modules' last snapshots; retry"
                            : "the host could not be restarted; reload or unload its modules");
    log::Get("hotreload")
        ->warn("plugin host {} {} during {} (exit code {}, oom {}); {}", name_, reason, what,
               exit.exit_code, exit.oom, restarted ? "restarted" : "not restarted");
    return Fail(std::move(error));
  }

  Error HostFailed() const {
    return Error(ErrorCategory::kUnavailable, "module.host_failed",
                 "plugin host '" + name_ +
                     "' is not running: it failed too often or could not "
                     "be restarted")
        .WithDetail("host", name_)
        .WithHint(
            "reload the host's modules (a fresh host starts from their last snapshots) "
            "or unload them");
  }

  // Stops the serving process and records why. io_mu_ held.
  HostExit StopProcess(bool graceful, const std::string& reason, const std::string& during) {
    if (!process_) return {};
    HostExit exit = process_->Stop(graceful);
    exit.reason = reason;
    exit.during = during;
    process_.reset();
    std::lock_guard meta(meta_mu_);
    pid_ = 0;
    last_exit_ = exit;
    return exit;
  }

  // For HostInfo without io_mu_ (which a call in flight holds).
  void PublishPolling(const plugin::FrameChannel::SpinStats& stats) {
    polling_hits_.store(stats.hits, std::memory_order_relaxed);
    polling_misses_.store(stats.misses, std::memory_order_relaxed);
    polling_backed_off_.store(stats.backed_off, std::memory_order_relaxed);
    polling_same_cpu_.store(stats.same_cpu, std::memory_order_relaxed);
  }

  void SetProcess(std::unique_ptr<PluginProcess> process) {
    process_ = std::move(process);
    failed_ = false;
    PublishPolling(process_->spin_stats());
    std::lock_guard meta(meta_mu_);
    pid_ = process_->pid();
    host_failed_ = false;
    ++generation_;
  }

  void MarkFailed() {
    failed_ = true;
    std::lock_guard meta(meta_mu_);
    host_failed_ = true;
  }

  // Starts a replacement process with every module from its checkpoint. io_mu_ held.
  bool RestartLocked() {
    auto now = Clock::now();
    while (!restart_times_.empty() && now - restart_times_.front() > options_.restart_window) {
      restart_times_.pop_front();
    }
    if (static_cast<int>(restart_times_.size()) >= options_.max_restarts) {
      log::Get("hotreload")
          ->error("plugin host {} restarted {} times within {} s: giving up", name_,
                  restart_times_.size(), options_.restart_window.count());
      MarkFailed();
      return false;
    }
    restart_times_.push_back(now);
    auto process = StartWith({}, /*use_checkpoints=*/true);
    if (!process) {
      log::Get("hotreload")
          ->error("plugin host {} could not be restarted: {}", name_, process.error().ToString());
      MarkFailed();
      return false;
    }
    SetProcess(std::move(*process));
    std::lock_guard meta(meta_mu_);
    ++restarts_;
    return true;
  }

  // ---- building a host process ---------------------------------------------------------------

  // A raw request to a host that is not serving yet: any failure is an Error and the caller
  // discards the process.
  Result<Frame> Setup(PluginProcess& process, Frame request, size_t ok_fields,
                      const std::string& what) {
    auto deadline = Clock::now() + (request.type == FrameType::kLoad ? options_.start_timeout
                                                                     : options_.call_timeout);
    auto reply = process.Request(request, deadline);
    if (!reply) {
      return Fail(Error(ErrorCategory::kUnavailable, "module.host_crashed",
                        "new plugin host '" + name_ + "' failed during " + what + ": " +
                            reply.error().message())
                      .WithDetail("host", name_)
                      .WithRetryable(true));
    }
    if (reply->type == FrameType::kError) return Fail(RemoteError(*reply, name_));
    if (reply->fields.size() != ok_fields) {
      return Fail(InternalError("module.host_protocol_error",
                                "plugin host '" + name_ + "' sent a malformed reply to " + what));
    }
    return reply;
  }

  Result<Declared> LoadInto(PluginProcess& process, const std::string& slot,
                            const std::string& bytes) {
    ARSENAL_ASSIGN_OR_RETURN(
        Frame reply, Setup(process, Request(FrameType::kLoad, {slot, bytes}), 2, "load " + slot));
    Declared declared{reply.fields[0], reply.fields[1], reply.arg};
    // An honest host has validated the table; a compromised one may say anything.
    if (!IsValidModuleName(declared.name) || !IsValidVersion(declared.version)) {
      return Fail(
          InternalError("module.host_protocol_error", "plugin host '" + name_ +
                                                          "' reported an invalid module name or "
                                                          "version for " +
                                                          slot));
    }
    return declared;
  }

  Status CreateIn(PluginProcess& process, const std::string& slot, const StateBlob& state) {
    ARSENAL_TRY(Setup(process, Request(FrameType::kCreate, {slot, state.bytes}, state.version), 0,
                      "create " + slot));
    return {};
  }

  // Starts a process and loads every module; with use_checkpoints also creates each from its
  // checkpoint. `images` overrides the image of some modules (reload). io_mu_ or admin_mu_ held.
  Result<std::unique_ptr<PluginProcess>> StartWith(
      const std::map<std::string, Image>& images, bool use_checkpoints,
      std::map<std::string, Declared>* declared = nullptr) {
    ARSENAL_ASSIGN_OR_RETURN(auto process, PluginProcess::Start(options_, *sandbox_, name_));
    for (const auto& [slot_name, slot] : Slots()) {
      std::string bytes;
      if (auto it = images.find(slot_name); it != images.end()) {
        bytes = it->second.bytes;
      } else {
        std::filesystem::path file;
        {
          std::lock_guard meta(meta_mu_);
          file = slot->history.serving().file->path();
        }
        ARSENAL_ASSIGN_OR_RETURN(Image image, ReadImage(file, options_.max_module_bytes));
        bytes = std::move(image.bytes);
      }
      ARSENAL_ASSIGN_OR_RETURN(Declared d, LoadInto(*process, slot_name, bytes));
      if (d.name != slot->module_name) {
        return Fail(ValidationError("module.name_mismatch",
                                    "the new file of '" + slot_name + "' is module '" + d.name +
                                        "', not '" + slot->module_name + "'",
                                    "path")
                        .WithHint("reload with a version of the same module"));
      }
      if (use_checkpoints) ARSENAL_TRY(CreateIn(*process, slot_name, slot->checkpoint));
      if (declared != nullptr) (*declared)[slot_name] = std::move(d);
    }
    return process;
  }

  std::map<std::string, std::shared_ptr<SandboxedSlot>> Slots() const {
    std::lock_guard meta(meta_mu_);
    return slots_;
  }

  Result<std::shared_ptr<SandboxedSlot>> Find(const std::string& name) const {
    std::lock_guard meta(meta_mu_);
    auto it = slots_.find(name);
    if (it == slots_.end()) return Fail(ModuleNotFound(name, name_));
    return it->second;
  }

  ModuleVersionInfo VersionInfo(const Declared& declared, const std::string& sha256,
                                const std::shared_ptr<StoredFile>& file) const {
    ModuleVersionInfo info;
    info.version = declared.version;
    info.sha256 = sha256;
    info.file = file->path();
    info.state_version = declared.state_version;
    info.thread_safe = false;  // the host serialises every request
    info.loaded_at = std::chrono::system_clock::now();
    return info;
  }

  Result<std::shared_ptr<StoredFile>> Store(const Image& image, const Declared& declared) {
    ARSENAL_ASSIGN_OR_RETURN(IncomingFile incoming, files_->WriteIncoming(image.bytes));
    return files_->Commit(std::move(incoming), declared.name + "@" + declared.version + "-" +
                                                   image.sha256.substr(0, 16) + ".so");
  }

  // Entries that fall out of the history release their files (and may unlink them) after
  // meta_mu_ is released.
  void PushHistory(SandboxedSlot& slot, HistoryEntry entry) {
    std::deque<HistoryEntry> dropped;
    std::lock_guard meta(meta_mu_);
    dropped = slot.history.Push(std::move(entry), options_.history_depth);
  }

  ModuleInfo InfoOf(const SandboxedSlot& slot) const {
    ModuleInfo info;
    info.name = slot.name;
    info.module_name = slot.module_name;
    info.host = name_;
    {
      std::lock_guard meta(meta_mu_);
      if (!slot.history.empty()) info.current = slot.history.serving().info;
    }
    info.current.serving = true;
    info.calls = slot.calls.load(std::memory_order_relaxed);
    info.reloads = slot.reloads.load(std::memory_order_relaxed);
    info.last_swap_ns = slot.last_swap_ns.load(std::memory_order_relaxed);
    return info;
  }

  // ---- public operations ---------------------------------------------------------------------

  Result<ModuleInfo> Load(const std::string& name, const std::filesystem::path& path,
                          const LoadOptions& options) {
    if (!IsValidModuleName(name)) {
      return Fail(ValidationError(
          "module.bad_name", "module name '" + name + "' must be 1-64 characters of [A-Za-z0-9_-]",
          "name"));
    }
    std::lock_guard admin(admin_mu_);
    if (Find(name)) {
      return Fail(ConflictError("module.exists", "module '" + name + "' is already loaded")
                      .WithHint("use reload to replace it, or unload it first"));
    }
    ARSENAL_ASSIGN_OR_RETURN(Image image, ReadImage(path, options_.max_module_bytes));
    std::lock_guard io(io_mu_);
    auto loaded = Exchange(Request(FrameType::kLoad, {name, image.bytes}), 2);
    if (!loaded) return Fail(NamePath(std::move(loaded).error()).AddContext("load module " + name));
    Declared declared{loaded->fields[0], loaded->fields[1], loaded->arg};
    auto discard = [&](Error error) {
      if (process_) (void)Exchange(Request(FrameType::kUnload, {name}), 0);
      return Fail(std::move(error).AddContext("load module " + name));
    };
    if (!IsValidModuleName(declared.name) || !IsValidVersion(declared.version)) {
      return discard(InternalError("module.host_protocol_error",
                                   "plugin host reported an invalid module name or version"));
    }
    StateBlob initial{options.initial_state, options.initial_state_version};
    auto created = Exchange(Request(FrameType::kCreate, {name, initial.bytes}, initial.version), 0);
    if (!created) {
      // A crash was already handled (the restarted host does not have this module).
      if (created.error().code() == "module.host_crashed" ||
          created.error().code() == "module.call_timeout") {
        return Fail(std::move(created).error().AddContext("load module " + name));
      }
      return discard(std::move(created).error());
    }
    auto file = Store(image, declared);
    if (!file) return discard(std::move(file).error());
    auto slot = std::make_shared<SandboxedSlot>();
    slot->name = name;
    slot->module_name = declared.name;
    slot->checkpoint = std::move(initial);
    {
      PushHistory(*slot, HistoryEntry{VersionInfo(declared, image.sha256, *file), *file});
      std::lock_guard meta(meta_mu_);
      slots_.emplace(name, slot);
    }
    log::Get("hotreload")
        ->info("loaded module {} ({}@{}, sha256 {}) into plugin host {}", name, declared.name,
               declared.version, image.sha256.substr(0, 16), name_);
    return InfoOf(*slot);
  }

  Status Unload(const std::string& name) {
    std::lock_guard admin(admin_mu_);
    std::lock_guard io(io_mu_);
    ARSENAL_ASSIGN_OR_RETURN(auto slot, Find(name));
    {
      std::lock_guard meta(meta_mu_);
      slots_.erase(name);
    }
    // If the host dies here it is restarted without the module: unloaded either way.
    if (process_ && !failed_) {
      if (auto done = Exchange(Request(FrameType::kUnload, {name}), 0); !done) {
        log::Get("hotreload")
            ->warn("unload of {} in plugin host {}: {}", name, name_, done.error().ToString());
      }
    }
    log::Get("hotreload")->info("unloaded module {} from plugin host {}", name, name_);
    return {};
  }

  Result<std::string> Call(const std::string& name, const std::string& method,
                           std::string_view input) {
    std::lock_guard io(io_mu_);
    ARSENAL_ASSIGN_OR_RETURN(auto slot, Find(name));
    slot->calls.fetch_add(1, std::memory_order_relaxed);
    ARSENAL_ASSIGN_OR_RETURN(
        Frame reply, Exchange(Request(FrameType::kCall, {name, method, std::string(input)}), 1));
    if (options_.checkpoint_every_calls > 0 &&
        ++slot->calls_since_checkpoint >= options_.checkpoint_every_calls) {
      if (auto state = SnapshotLocked(*slot); !state) {
        log::Get("hotreload")
            ->warn("checkpoint of module {} in plugin host {} failed: {}", name, name_,
                   state.error().ToString());
      }
    }
    return std::move(reply.fields[0]);
  }

  // io_mu_ held.
  Result<StateBlob> SnapshotLocked(SandboxedSlot& slot) {
    ARSENAL_ASSIGN_OR_RETURN(Frame reply,
                             Exchange(Request(FrameType::kSnapshot, {slot.name}, 0), 1));
    slot.checkpoint = StateBlob{std::move(reply.fields[0]), reply.arg};
    slot.calls_since_checkpoint = 0;
    return slot.checkpoint;
  }

  Result<StateBlob> Snapshot(const std::string& name) {
    std::lock_guard io(io_mu_);
    ARSENAL_ASSIGN_OR_RETURN(auto slot, Find(name));
    return SnapshotLocked(*slot);
  }

  Status Health(const std::string& name) {
    std::lock_guard io(io_mu_);
    ARSENAL_TRY(Find(name));
    ARSENAL_TRY(Exchange(Request(FrameType::kHealth, {name}), 0));
    return {};
  }

  Result<std::vector<ModuleInfo>> Reload(
      const std::map<std::string, std::filesystem::path>& changes) {
    std::lock_guard admin(admin_mu_);
    std::map<std::string, Image> images;
    for (const auto& [name, path] : changes) {
      ARSENAL_TRY(Find(name));
      auto image = ReadImage(path, options_.max_module_bytes);
      if (!image) return Fail(std::move(image).error().AddContext("reload module " + name));
      images.emplace(name, std::move(*image));
    }
    // The new host loads and checks every module while the old one keeps serving.
    std::map<std::string, Declared> declared;
    auto fresh = StartWith(images, /*use_checkpoints=*/false, &declared);
    if (!fresh) {
      return Fail(NamePath(std::move(fresh).error()).AddContext("reload plugin host " + name_));
    }
    std::map<std::string, std::shared_ptr<StoredFile>> stored;
    for (const auto& [name, image] : images) {
      ARSENAL_ASSIGN_OR_RETURN(stored[name], Store(image, declared[name]));
    }
    auto slots = Slots();
    std::map<std::string, StateBlob> handed;
    uint64_t swap_ns = 0;
    std::unique_ptr<PluginProcess> old;
    {
      // Quiesce: requests queue on io_mu_ until the switch.
      std::lock_guard io(io_mu_);
      const auto quiesce_start = Clock::now();
      const bool recover = failed_ || !process_;
      for (const auto& [name, slot] : slots) {
        if (recover) {
          handed[name] = slot->checkpoint;
        } else {
          auto state =
              Exchange(Request(FrameType::kSnapshot, {name}, declared[name].state_version), 1);
          if (!state) {
            (*fresh)->Stop(false);
            return Fail(std::move(state).error().AddContext("reload plugin host " + name_));
          }
          handed[name] = StateBlob{std::move(state->fields[0]), state->arg};
        }
        if (auto created = CreateIn(**fresh, name, handed[name]); !created) {
          (*fresh)->Stop(false);
          return Fail(std::move(created).error().AddContext("reload plugin host " + name_ +
                                                            ": the old host keeps serving"));
        }
      }
      // The old host is stopped after calls are unblocked (stopping waits for it to exit).
      old = std::move(process_);
      SetProcess(std::move(*fresh));
      restart_times_.clear();
      for (auto& [name, slot] : slots) {
        slot->checkpoint = std::move(handed[name]);
        slot->calls_since_checkpoint = 0;
      }
      swap_ns = NanosSince(quiesce_start);
    }
    if (old) old->Stop(true);
    std::vector<ModuleInfo> out;
    for (auto& [name, slot] : slots) {
      if (auto it = stored.find(name); it != stored.end()) {
        PushHistory(
            *slot,
            HistoryEntry{VersionInfo(declared[name], images[name].sha256, it->second), it->second});
      }
      slot->reloads.fetch_add(1, std::memory_order_relaxed);
      slot->last_swap_ns.store(swap_ns, std::memory_order_relaxed);
      out.push_back(InfoOf(*slot));
    }
    log::Get("hotreload")
        ->info("reloaded plugin host {} ({} modules, {} changed; calls blocked {} us)", name_,
               slots.size(), changes.size(), swap_ns / 1000);
    return out;
  }

  Result<ModuleInfo> Rollback(const std::string& name, const std::string& version) {
    ARSENAL_ASSIGN_OR_RETURN(auto slot, Find(name));
    std::shared_ptr<StoredFile> file;
    {
      std::lock_guard meta(meta_mu_);
      ARSENAL_ASSIGN_OR_RETURN(file, slot->history.RollbackTarget(name, version));
    }
    // `file` keeps the stored copy alive until the reload has read it.
    ARSENAL_ASSIGN_OR_RETURN(auto infos, Reload({{name, file->path()}}));
    for (auto& info : infos) {
      if (info.name == name) return info;
    }
    return Fail(ModuleNotFound(name, name_));
  }

  std::vector<ModuleInfo> List() const {
    std::vector<ModuleInfo> out;
    for (const auto& [name, slot] : Slots()) out.push_back(InfoOf(*slot));
    return out;
  }

  Result<std::vector<ModuleVersionInfo>> Versions(const std::string& name) const {
    ARSENAL_ASSIGN_OR_RETURN(auto slot, Find(name));
    std::lock_guard meta(meta_mu_);
    return slot->history.Infos();
  }

  PluginHostInfo HostInfo() const {
    PluginHostInfo info;
    info.name = name_;
    info.memory_limit_bytes = options_.memory_limit_bytes;
    std::lock_guard meta(meta_mu_);
    info.pid = pid_;
    info.running = pid_ != 0;
    info.failed = host_failed_;
    info.restarts = restarts_;
    info.generation = generation_;
    info.last_exit = last_exit_;
    info.polling.hits = polling_hits_.load(std::memory_order_relaxed);
    info.polling.misses = polling_misses_.load(std::memory_order_relaxed);
    info.polling.backed_off = polling_backed_off_.load(std::memory_order_relaxed);
    info.polling.same_cpu = polling_same_cpu_.load(std::memory_order_relaxed);
    for (const auto& [name, slot] : slots_) info.modules.push_back(name);
    return info;
  }

  const std::string name_;
  const PluginHostOptions options_;

 private:
  std::shared_ptr<FileStore> files_;
  std::shared_ptr<const PluginSandbox> sandbox_;

  // Lock order: admin_mu_ -> io_mu_ -> meta_mu_.
  std::mutex admin_mu_;  // Load/Unload/Reload/Rollback
  std::mutex io_mu_;     // the serving process; one request at a time
  std::unique_ptr<PluginProcess> process_;
  bool failed_ = false;
  std::deque<Clock::time_point> restart_times_;
  std::atomic<uint64_t> polling_hits_{0};
  std::atomic<uint64_t> polling_misses_{0};
  std::atomic<uint64_t> polling_backed_off_{0};
  std::atomic<uint64_t> polling_same_cpu_{0};

  mutable std::mutex meta_mu_;  // slots_ (the map), histories, and the fields below
  std::map<std::string, std::shared_ptr<SandboxedSlot>> slots_;
  pid_t pid_ = 0;
  bool host_failed_ = false;
  uint64_t restarts_ = 0;
  uint64_t generation_ = 0;
  std::optional<HostExit> last_exit_;
};

PluginHost::PluginHost(std::string name, PluginHostOptions options, std::unique_ptr<Impl> impl)
    : name_(std::move(name)), options_(std::move(options)), impl_(std::move(impl)) {}

PluginHost::~PluginHost() = default;

Result<std::unique_ptr<PluginHost>> PluginHost::Create(std::string name,
                                                       PluginHostOptions options) {
  auto bad = [](std::string message, std::string field) {
    return Fail(ValidationError("module.bad_options", std::move(message), std::move(field)));
  };
  if (!IsValidModuleName(name)) {
    return bad("plugin host name '" + name + "' must be 1-64 characters of [A-Za-z0-9_-]", "host");
  }
  if (!options.host_binary.is_absolute()) {
    return bad("host_binary must be an absolute path to arsenal-plugin-host", "host_binary");
  }
  if (options.history_depth == 0) return bad("history_depth must be at least 1", "history_depth");
  if (options.memory_limit_bytes < (16u << 20)) {
    return bad("memory_limit_bytes must be at least 16 MiB", "memory_limit_bytes");
  }
  if (options.pids_limit < 2) return bad("pids_limit must be at least 2", "pids_limit");
  if (options.call_timeout.count() <= 0 || options.start_timeout.count() <= 0) {
    return bad("timeouts must be positive", "call_timeout");
  }
  if (options.max_frame_bytes < plugin::kMinFrameBytes || options.max_frame_bytes > (1u << 30)) {
    return bad("max_frame_bytes must be 4 KiB..1 GiB", "max_frame_bytes");
  }
  if (options.max_module_bytes + 1024 > options.max_frame_bytes) {
    return bad("max_module_bytes must fit in a frame (max_frame_bytes)", "max_module_bytes");
  }
  if (options.max_restarts < 0) return bad("max_restarts must not be negative", "max_restarts");
  if (options.spin_budget.count() < 0 ||
      options.spin_budget > plugin::FrameChannel::kMaxSpinBudget) {
    return bad("spin_budget must be 0..1000 us (0 disables busy-polling)", "spin_budget");
  }
  ARSENAL_ASSIGN_OR_RETURN(auto files, FileStore::Open(options.modules_dir));
  ARSENAL_ASSIGN_OR_RETURN(auto sandbox, BuildPluginSandbox(options.host_binary));
  auto impl = std::make_unique<Impl>(name, options, std::move(files), std::move(sandbox));
  ARSENAL_TRY(impl->Start());
  return std::unique_ptr<PluginHost>(
      new PluginHost(std::move(name), std::move(options), std::move(impl)));
}

Result<ModuleInfo> PluginHost::Load(const std::string& name, const std::filesystem::path& path,
                                    const LoadOptions& options) {
  return impl_->Load(name, path, options);
}
Status PluginHost::Unload(const std::string& name) { return impl_->Unload(name); }
Result<std::string> PluginHost::Call(const std::string& name, const std::string& method,
                                     std::string_view input) {
  return impl_->Call(name, method, input);
}
Result<StateBlob> PluginHost::Snapshot(const std::string& name) { return impl_->Snapshot(name); }
Status PluginHost::Health(const std::string& name) { return impl_->Health(name); }
Result<std::vector<ModuleInfo>> PluginHost::Reload(
    const std::map<std::string, std::filesystem::path>& changes) {
  return impl_->Reload(changes);
}
Result<ModuleInfo> PluginHost::Rollback(const std::string& name, const std::string& version) {
  return impl_->Rollback(name, version);
}
std::vector<ModuleInfo> PluginHost::List() const { return impl_->List(); }
Result<ModuleInfo> PluginHost::Info(const std::string& name) const {
  ARSENAL_ASSIGN_OR_RETURN(auto slot, impl_->Find(name));
  return impl_->InfoOf(*slot);
}
Result<std::vector<ModuleVersionInfo>> PluginHost::Versions(const std::string& name) const {
  return impl_->Versions(name);
}
PluginHostInfo PluginHost::HostInfo() const { return impl_->HostInfo(); }
bool PluginHost::Contains(const std::string& name) const { return impl_->Find(name).has_value(); }

}  // namespace arsenal::hotreload
