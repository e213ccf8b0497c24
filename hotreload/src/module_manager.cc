#include "arsenal/hotreload/module_manager.h"

#include <malloc.h>
#include <pthread.h>
#include <time.h>

#include <atomic>
#include <deque>
#include <mutex>
#include <optional>
#include <utility>

#include "arsenal/base/log.h"
#include "src/file_store.h"
#include "src/library.h"
#include "src/version_history.h"

namespace arsenal::hotreload {
// Named (not anonymous): ModuleSlot, which has external linkage, holds a Gate.
namespace module_gate {

// Reader-writer gate in front of a module's serving instance: calls hold it shared, a swap holds
// it exclusive. glibc's default rwlock prefers readers, so a steady stream of calls could starve
// a reload forever; the writer-preferring kind makes new calls queue behind a waiting reload, which
// then only waits for the calls already in flight.
class Gate {
 public:
  Gate() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&lock_, &attr);
    pthread_rwlockattr_destroy(&attr);
  }
  ~Gate() { pthread_rwlock_destroy(&lock_); }
  Gate(const Gate&) = delete;
  Gate& operator=(const Gate&) = delete;

  void LockShared() { pthread_rwlock_rdlock(&lock_); }
  void LockExclusive() { pthread_rwlock_wrlock(&lock_); }
  bool LockExclusiveFor(std::chrono::milliseconds timeout) {
    struct timespec deadline {};
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
    deadline.tv_sec += static_cast<time_t>(ns / 1000000000);
    deadline.tv_nsec += static_cast<long>(ns % 1000000000);
    if (deadline.tv_nsec >= 1000000000) {
      deadline.tv_sec += 1;
      deadline.tv_nsec -= 1000000000;
    }
    return pthread_rwlock_clockwrlock(&lock_, CLOCK_MONOTONIC, &deadline) == 0;
  }
  void Unlock() { pthread_rwlock_unlock(&lock_); }

 private:
  pthread_rwlock_t lock_;
};

class SharedGuard {
 public:
  explicit SharedGuard(Gate& gate) : gate_(gate) { gate_.LockShared(); }
  ~SharedGuard() { gate_.Unlock(); }
  SharedGuard(const SharedGuard&) = delete;
  SharedGuard& operator=(const SharedGuard&) = delete;

 private:
  Gate& gate_;
};

// Adopts an exclusive lock already taken.
class ExclusiveGuard {
 public:
  explicit ExclusiveGuard(Gate& gate) : gate_(gate) {}
  ~ExclusiveGuard() { gate_.Unlock(); }
  ExclusiveGuard(const ExclusiveGuard&) = delete;
  ExclusiveGuard& operator=(const ExclusiveGuard&) = delete;

 private:
  Gate& gate_;
};

}  // namespace module_gate

using module_gate::ExclusiveGuard;
using module_gate::Gate;
using module_gate::SharedGuard;

namespace {

Error ModuleNotFound(const std::string& name) {
  return NotFoundError("module.not_found", "module '" + name + "' is not loaded")
      .WithHint("list loaded modules, or load it first");
}

}  // namespace

// The serving version: a library and its one instance.
struct Active {
  Active(std::unique_ptr<Library> lib, std::unique_ptr<Instance> inst)
      : library(std::move(lib)), instance(std::move(inst)), thread_safe(library->thread_safe()) {}
  ~Active() { instance.reset(); }  // the instance must go before its code is unmapped

  std::unique_ptr<Library> library;
  std::unique_ptr<Instance> instance;
  const bool thread_safe;
  std::mutex call_mu;  // serialises call()/health() when the module is not thread-safe
};

class ModuleSlot {
 public:
  ModuleSlot(std::string name, std::string module_name)
      : name_(std::move(name)), module_name_(std::move(module_name)) {}

  Result<std::string> Call(const std::string& method, std::string_view input) {
    SharedGuard guard(gate_);
    Active* active = active_.get();
    if (active == nullptr) [[unlikely]]
      return Fail(ModuleNotFound(name_));
    if (active->thread_safe) {
      calls_.fetch_add(1, std::memory_order_relaxed);
      return active->instance->Call(method, input);
    }
    std::lock_guard serial(active->call_mu);
    // Calls are serialised here (and by the gate across versions): a plain load and store count
    // them without another locked instruction on the hot path.
    calls_.store(calls_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    return active->instance->Call(method, input);
  }

  Status Health() {
    SharedGuard guard(gate_);
    Active* active = active_.get();
    if (active == nullptr) return Fail(ModuleNotFound(name_));
    if (active->thread_safe) return active->instance->Health();
    std::lock_guard serial(active->call_mu);
    return active->instance->Health();
  }

  void PushHistory(const Library& library, size_t depth) {
    HistoryEntry entry;
    entry.info.version = std::string(library.version());
    entry.info.sha256 = library.sha256();
    entry.info.file = library.file()->path();
    entry.info.state_version = library.table().state_version;
    entry.info.thread_safe = library.thread_safe();
    entry.info.loaded_at = std::chrono::system_clock::now();
    entry.file = library.file();
    std::deque<HistoryEntry> dropped;
    {
      std::lock_guard lock(info_mu_);
      dropped = history_.Push(std::move(entry), depth);
    }
    // `dropped` releases its files (and may unlink them) outside info_mu_.
  }

  ModuleInfo Info() const {
    ModuleInfo info;
    info.name = name_;
    info.module_name = module_name_;
    {
      std::lock_guard lock(info_mu_);
      if (!history_.empty()) info.current = history_.serving().info;
    }
    info.current.serving = true;
    info.calls = calls_.load(std::memory_order_relaxed);
    info.reloads = reloads_.load(std::memory_order_relaxed);
    info.last_swap_ns = last_swap_ns_.load(std::memory_order_relaxed);
    return info;
  }

  std::vector<ModuleVersionInfo> Versions() const {
    std::lock_guard lock(info_mu_);
    return history_.Infos();
  }

  // Stops serving: waits for in-flight calls, destroys the instance and unloads every version.
  void TearDown() {
    std::lock_guard admin(admin_mu_);
    unloaded_ = true;
    std::unique_ptr<Active> old;
    gate_.LockExclusive();
    old = std::move(active_);
    gate_.Unlock();
    old.reset();
    std::deque<HistoryEntry> history;
    {
      std::lock_guard lock(info_mu_);
      history = history_.Clear();
    }
  }

  const std::string name_;
  const std::string module_name_;
  Gate gate_;
  std::unique_ptr<Active> active_;  // guarded by gate_; null once unloaded
  std::mutex admin_mu_;             // serialises Reload/Rollback/Snapshot/Unload
  bool unloaded_ = false;           // guarded by admin_mu_
  mutable std::mutex info_mu_;      // guards history_
  VersionHistory history_;          // newest (serving) first
  std::atomic<uint64_t> calls_{0};
  std::atomic<uint64_t> reloads_{0};
  std::atomic<uint64_t> last_swap_ns_{0};
};

Result<std::string> ModuleHandle::Call(const std::string& method, std::string_view input) const {
  if (!slot_) return Fail(ModuleNotFound("<empty handle>"));
  return slot_->Call(method, input);
}

const std::string& ModuleHandle::name() const {
  static const std::string kEmpty;
  return slot_ ? slot_->name_ : kEmpty;
}

ModuleManager::ModuleManager(ManagerOptions options, std::shared_ptr<FileStore> files)
    : options_(std::move(options)), files_(std::move(files)) {}

Result<std::unique_ptr<ModuleManager>> ModuleManager::Create(ManagerOptions options) {
  if (options.history_depth == 0) {
    return Fail(
        ValidationError("module.bad_options", "history_depth must be at least 1", "history_depth"));
  }
  ARSENAL_ASSIGN_OR_RETURN(auto files, FileStore::Open(options.modules_dir));
  if (options.retain_freed_heap) {
    // Fixed thresholds also turn off glibc's dynamic mmap threshold, whose adjustments alternate
    // between mmap'ed and heap chunks for same-sized states.
    ::mallopt(M_MMAP_THRESHOLD, 64 << 20);
    ::mallopt(M_TRIM_THRESHOLD, 256 << 20);
  }
  return std::unique_ptr<ModuleManager>(new ModuleManager(std::move(options), std::move(files)));
}

ModuleManager::~ModuleManager() {
  std::map<std::string, std::shared_ptr<ModuleSlot>> slots;
  {
    std::unique_lock lock(mu_);
    slots.swap(slots_);
  }
  for (auto& [name, slot] : slots) slot->TearDown();
}

Result<std::shared_ptr<ModuleSlot>> ModuleManager::Find(const std::string& name) const {
  std::shared_lock lock(mu_);
  auto it = slots_.find(name);
  if (it == slots_.end()) return Fail(ModuleNotFound(name));
  return it->second;
}

Result<ModuleInfo> ModuleManager::Load(const std::string& name, const std::filesystem::path& path,
                                       const LoadOptions& options) {
  if (!IsValidModuleName(name)) {
    return Fail(ValidationError(
        "module.bad_name", "module name '" + name + "' must be 1-64 characters of [A-Za-z0-9_-]",
        "name"));
  }
  auto exists = [&] {
    return ConflictError("module.exists", "module '" + name + "' is already loaded")
        .WithHint("use reload to replace it, or unload it first");
  };
  {
    std::shared_lock lock(mu_);
    if (slots_.contains(name)) return Fail(exists());
  }
  auto context = "load module " + name;
  auto library = Library::Open(path, *files_, options_.max_module_bytes);
  if (!library) return Fail(std::move(library).error().AddContext(context));
  auto instance = Instance::Create(**library, options.initial_state, options.initial_state_version);
  if (!instance) return Fail(std::move(instance).error().AddContext(context));
  if (auto healthy = (*instance)->Health(); !healthy) {
    return Fail(std::move(healthy).error().AddContext(context));
  }
  auto slot = std::make_shared<ModuleSlot>(name, std::string((*library)->module_name()));
  slot->PushHistory(**library, options_.history_depth);
  slot->active_ = std::make_unique<Active>(std::move(*library), std::move(*instance));
  {
    std::unique_lock lock(mu_);
    if (!slots_.emplace(name, slot).second) {
      lock.unlock();
      slot->TearDown();
      return Fail(exists());
    }
  }
  ModuleInfo info = slot->Info();
  log::Get("hotreload")
      ->info("loaded module {} ({}@{}, sha256 {})", name, info.module_name, info.current.version,
             info.current.sha256.substr(0, 16));
  return info;
}

Status ModuleManager::Unload(const std::string& name) {
  std::shared_ptr<ModuleSlot> slot;
  {
    std::unique_lock lock(mu_);
    auto it = slots_.find(name);
    if (it == slots_.end()) return Fail(ModuleNotFound(name));
    slot = std::move(it->second);
    slots_.erase(it);
  }
  slot->TearDown();
  log::Get("hotreload")->info("unloaded module {}", name);
  return {};
}

std::vector<ModuleInfo> ModuleManager::List() const {
  std::vector<std::shared_ptr<ModuleSlot>> slots;
  {
    std::shared_lock lock(mu_);
    for (const auto& [name, slot] : slots_) slots.push_back(slot);
  }
  std::vector<ModuleInfo> out;
  out.reserve(slots.size());
  for (const auto& slot : slots) out.push_back(slot->Info());
  return out;
}

Result<ModuleInfo> ModuleManager::Info(const std::string& name) const {
  ARSENAL_ASSIGN_OR_RETURN(auto slot, Find(name));
  return slot->Info();
}

Result<std::vector<ModuleVersionInfo>> ModuleManager::Versions(const std::string& name) const {
  ARSENAL_ASSIGN_OR_RETURN(auto slot, Find(name));
  return slot->Versions();
}

Result<std::string> ModuleManager::Call(const std::string& name, const std::string& method,
                                        std::string_view input) {
  ARSENAL_ASSIGN_OR_RETURN(auto slot, Find(name));
  return slot->Call(method, input);
}

Result<ModuleHandle> ModuleManager::Handle(const std::string& name) const {
  ARSENAL_ASSIGN_OR_RETURN(auto slot, Find(name));
  return ModuleHandle(std::move(slot));
}

Result<ModuleInfo> ModuleManager::SwapTo(const std::shared_ptr<ModuleSlot>& slot,
                                         const std::filesystem::path& path) {
  // Caller holds slot->admin_mu_ and has checked that the slot is still loaded.
  ARSENAL_ASSIGN_OR_RETURN(std::unique_ptr<Library> library,
                           Library::Open(path, *files_, options_.max_module_bytes));
  if (library->module_name() != slot->module_name_) {
    return Fail(ValidationError("module.name_mismatch",
                                path.string() + " is module '" +
                                    std::string(library->module_name()) + "', not '" +
                                    slot->module_name_ + "'",
                                "path")
                    .WithHint("reload with a version of the same module, or load it under a new "
                              "name"));
  }
  // From here until the switch, new calls wait; the old instance must not change between its
  // snapshot and the switch, or state would be lost.
  auto quiesce_start = std::chrono::steady_clock::now();
  if (!slot->gate_.LockExclusiveFor(options_.quiesce_timeout)) {
    return Fail(Error(ErrorCategory::kTimeout, "module.busy",
                      "in-flight calls to module '" + slot->name_ + "' did not finish within " +
                          std::to_string(options_.quiesce_timeout.count()) + " ms")
                    .WithRetryable(true)
                    .WithHint("retry, or raise ManagerOptions::quiesce_timeout; the old version "
                              "keeps serving"));
  }
  std::unique_ptr<Active> old;
  // Released after calls are unblocked: freeing a large state can return memory to the kernel
  // (munmap or heap trim, with TLB shootdowns), which is slow and need not hold calls up.
  std::optional<Instance::Snapshot> state;
  {
    ExclusiveGuard guard(slot->gate_);
    Active* current = slot->active_.get();
    ARSENAL_ASSIGN_OR_RETURN(state, current->instance->TakeSnapshot(library->table().state_version,
                                                                    options_.max_state_bytes));
    ARSENAL_ASSIGN_OR_RETURN(std::unique_ptr<Instance> instance,
                             Instance::Create(*library, state->bytes(), state->version()));
    ARSENAL_TRY(instance->Health());
    old = std::exchange(slot->active_,
                        std::make_unique<Active>(std::move(library), std::move(instance)));
  }
  slot->last_swap_ns_.store(NanosSince(quiesce_start), std::memory_order_relaxed);
  state.reset();
  // active_ only changes under admin_mu_, which the caller holds: reading it here is safe.
  slot->PushHistory(*slot->active_->library, options_.history_depth);
  slot->reloads_.fetch_add(1, std::memory_order_relaxed);
  // No call can reach the old version any more (they all went through the gate): unload it
  // without holding up new calls.
  old.reset();
  return slot->Info();
}

Result<ModuleInfo> ModuleManager::Reload(const std::string& name,
                                         const std::filesystem::path& new_path) {
  ARSENAL_ASSIGN_OR_RETURN(auto slot, Find(name));
  std::lock_guard admin(slot->admin_mu_);
  if (slot->unloaded_) return Fail(ModuleNotFound(name));
  std::string from = slot->Info().current.version;
  auto info = SwapTo(slot, new_path);
  if (!info) {
    log::Get("hotreload")
        ->warn("reload of module {} from {} failed, {} keeps serving: {}", name, new_path.string(),
               from, info.error().ToString());
    return Fail(std::move(info).error().AddContext("reload module " + name));
  }
  log::Get("hotreload")
      ->info("reloaded module {}: {} -> {} (calls blocked {} us)", name, from,
             info->current.version, info->last_swap_ns / 1000);
  return info;
}

Result<ModuleInfo> ModuleManager::Rollback(const std::string& name, const std::string& version) {
  ARSENAL_ASSIGN_OR_RETURN(auto slot, Find(name));
  std::lock_guard admin(slot->admin_mu_);
  if (slot->unloaded_) return Fail(ModuleNotFound(name));
  std::shared_ptr<StoredFile> file;
  std::string from;
  {
    std::lock_guard lock(slot->info_mu_);
    from = slot->history_.serving().info.version;
    ARSENAL_ASSIGN_OR_RETURN(file, slot->history_.RollbackTarget(name, version));
  }
  auto info = SwapTo(slot, file->path());
  if (!info) {
    log::Get("hotreload")
        ->warn("rollback of module {} to {} failed, {} keeps serving: {}", name, version, from,
               info.error().ToString());
    return Fail(std::move(info).error().AddContext("roll back module " + name));
  }
  log::Get("hotreload")->info("rolled back module {}: {} -> {}", name, from, version);
  return info;
}

Result<ModuleManager::StateBlob> ModuleManager::Snapshot(const std::string& name) {
  ARSENAL_ASSIGN_OR_RETURN(auto slot, Find(name));
  std::lock_guard admin(slot->admin_mu_);
  if (slot->unloaded_) return Fail(ModuleNotFound(name));
  if (!slot->gate_.LockExclusiveFor(options_.quiesce_timeout)) {
    return Fail(Error(ErrorCategory::kTimeout, "module.busy",
                      "in-flight calls to module '" + name + "' did not finish in time")
                    .WithRetryable(true)
                    .WithHint("retry, or raise ManagerOptions::quiesce_timeout"));
  }
  ExclusiveGuard guard(slot->gate_);
  ARSENAL_ASSIGN_OR_RETURN(auto state,
                           slot->active_->instance->TakeSnapshot(0, options_.max_state_bytes));
  return StateBlob{std::string(state.bytes()), state.version()};
}

Status ModuleManager::Health(const std::string& name) {
  ARSENAL_ASSIGN_OR_RETURN(auto slot, Find(name));
  return slot->Health();
}

}  // namespace arsenal::hotreload
