// ModuleManager: loads, calls, hot-reloads and rolls back in-process modules (arsenal/module.h).
//
// Purpose: the in-process half of Arsenal's hot reload. Operations (load_module, reload_module,
// rollback_module, call_module, ...) call this class; embedders may use it directly.
//
// How a version is loaded: the source .so is read (at most max_module_bytes), checked to be ELF,
// hashed (SHA-256), written to a private file in `modules_dir` and dlopen()ed from there with
// RTLD_NOW | RTLD_LOCAL; its entry point `arsenal_module_v1` and table are validated; once the
// version is serving, its file is renamed to `<module>@<version>-<sha256 prefix 16>.so`. Each
// load gets its own file (and so its own mapping), so two versions of a module, or the same
// version loaded twice, live side by side. A load that fails leaves no mapping and no file.
//
// Reload (and Rollback, which is a reload to a file from the version history):
//   1. load and validate the new version (calls keep flowing to the old one);
//   2. quiesce: block new calls and wait up to `quiesce_timeout` for in-flight calls to drain;
//   3. snapshot the old instance (asking for the new version's state_version), create the new
//      instance from that state, health-check it;
//   4. switch, unblock calls, then destroy the old instance and dlclose the old version.
// Every call is answered by exactly one version, no call is dropped (calls that arrive during
// the switch wait for it), and any failure in 1-3 leaves the old version serving with its state
// untouched. Calls are blocked only during step 3 (see ModuleInfo::last_swap_ns).
//
// Thread safety: every method may be called from any thread. Calls to one module run
// concurrently only if the module declares ARSENAL_MODULE_FLAG_THREAD_SAFE; otherwise they are
// serialised. Load/Reload/Rollback/Unload of one module are serialised among themselves; different
// modules are independent. Do not call the manager from inside a module (deadlock).
//
// Errors (Error::code, stable): module.not_found, module.version_not_found, module.exists,
// module.bad_name, module.io, module.too_large, module.not_elf, module.load_failed,
// module.missing_entry_point, module.abi_mismatch, module.invalid_table, module.name_mismatch,
// module.create_failed, module.bad_state, module.health_check_failed, module.snapshot_failed,
// module.no_such_method, module.call_failed, module.busy, module.already_current,
// module.insecure_dir.
//
// Security: a module runs with the host's full privileges; load only trusted code here (the
// sandboxed plugin host is for untrusted code). `modules_dir` must be a directory owned by the
// effective user and not writable by group or others, since anything placed there could be
// loaded: Create() refuses anything else (module.insecure_dir).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "arsenal/base/result.h"

namespace arsenal::hotreload {

struct ManagerOptions {
  // Where content-addressed copies live. Created (mode 0700) if missing. Required.
  std::filesystem::path modules_dir;
  // Versions remembered per module, including the serving one (>= 1). Files of versions that
  // fall out of the history are deleted.
  size_t history_depth = 8;
  // Largest state blob accepted from snapshot(); larger is module.bad_state.
  size_t max_state_bytes = 64u << 20;
  // Largest .so accepted.
  size_t max_module_bytes = 256u << 20;
  // How long a reload waits for in-flight calls to drain before giving up with module.busy.
  std::chrono::milliseconds quiesce_timeout{5000};
  // Process-wide allocator policy for reloads of large states. When true, Create() sets glibc's
  // M_MMAP_THRESHOLD to 64 MiB and M_TRIM_THRESHOLD to 256 MiB (mallopt), so the memory one reload
  // frees is reused by the next instead of going back to the kernel and being faulted in again
  // while calls are blocked. With 1 MiB of state that is most of the swap time on a VM (see
  // docs/modules.md, "Costs"). It affects every allocation of the process and keeps up to
  // 256 MiB of freed heap mapped: a daemon's choice (ModuleService turns it on by default, config
  // modules.retain_heap), off here for embedders.
  bool retain_freed_heap = false;
};

struct LoadOptions {
  // State handed to the first create() (e.g. restored from a snapshot); empty for fresh.
  std::string initial_state;
  uint32_t initial_state_version = 0;
};

// One version in a module's history.
struct ModuleVersionInfo {
  std::string version;         // the module's version string
  std::string sha256;          // hex SHA-256 of the .so
  std::filesystem::path file;  // content-addressed copy in modules_dir
  uint32_t state_version = 0;  // format the version writes
  bool thread_safe = false;    // ARSENAL_MODULE_FLAG_THREAD_SAFE
  bool serving = false;        // true for the version answering calls
  std::chrono::system_clock::time_point loaded_at;
};

// A module's serialised state and the format it is written in.
struct StateBlob {
  std::string bytes;
  uint32_t version = 0;
};

struct ModuleInfo {
  std::string name;         // the name it is registered under (Load's `name`)
  std::string module_name;  // the name the module declares in its table
  std::string host;         // the plugin host it runs in (plugin_host.h); empty: in-process
  ModuleVersionInfo current;
  uint64_t calls = 0;         // calls answered (successfully or not) since Load
  uint64_t reloads = 0;       // successful reloads and rollbacks since Load
  uint64_t last_swap_ns = 0;  // how long calls were blocked by the last reload (0 if none)
};

// Checks a module path given by an untrusted caller before anything is loaded from it: absolute,
// an existing regular file (not a FIFO or device: it is opened non-blocking), starting with a
// 64-bit ELF shared-object header. Errors are validation errors with details.field = `field`:
// module.invalid_path (empty, relative, NUL byte), module.file_not_found, module.not_elf,
// module.io (permission and other errno). Loading checks the whole file again.
Status CheckModulePath(const std::string& path, const std::string& field);

class ModuleSlot;  // one registered module; defined in module_manager.cc

// A cached reference to one registered module, for callers that call it often: it skips the
// name lookup of ModuleManager::Call. Copyable, thread-safe. After Unload, Call returns
// module.not_found; the handle never keeps a version loaded.
class ModuleHandle {
 public:
  ModuleHandle() = default;
  Result<std::string> Call(const std::string& method, std::string_view input) const;
  const std::string& name() const;

 private:
  friend class ModuleManager;
  explicit ModuleHandle(std::shared_ptr<ModuleSlot> slot) : slot_(std::move(slot)) {}
  std::shared_ptr<ModuleSlot> slot_;
};

class FileStore;  // owner of the content-addressed files; defined in file_store.h

class ModuleManager {
 public:
  // Validates options and prepares modules_dir (creates it, checks ownership and mode, removes
  // leftovers of an earlier process's unfinished loads).
  static Result<std::unique_ptr<ModuleManager>> Create(ManagerOptions options);
  // Unloads every module (no calls may be running or start any more).
  ~ModuleManager();
  ModuleManager(const ModuleManager&) = delete;
  ModuleManager& operator=(const ModuleManager&) = delete;

  // Loads `path` and registers it as `name` ([A-Za-z0-9_-], 1-64 chars). The instance is created
  // from options.initial_state and health-checked before the name becomes visible.
  Result<ModuleInfo> Load(const std::string& name, const std::filesystem::path& path,
                          const LoadOptions& options = {});
  // Waits for in-flight calls, destroys the instance, dlcloses every version and deletes the
  // module's files. Calls made afterwards get module.not_found.
  Status Unload(const std::string& name);
  // Registered modules, sorted by name.
  std::vector<ModuleInfo> List() const;
  Result<ModuleInfo> Info(const std::string& name) const;
  // The version history, newest (serving) first, at most history_depth entries.
  Result<std::vector<ModuleVersionInfo>> Versions(const std::string& name) const;
  // Calls `method` of the serving version. Errors: module.not_found, module.no_such_method,
  // module.call_failed (with the module's message).
  Result<std::string> Call(const std::string& name, const std::string& method,
                           std::string_view input);
  Result<ModuleHandle> Handle(const std::string& name) const;
  // Hot-swaps to the .so at `new_path` (see the file comment). The new version must declare the
  // same module name. On failure the old version keeps serving, state intact.
  Result<ModuleInfo> Reload(const std::string& name, const std::filesystem::path& new_path);
  // Reloads to the most recent history entry with version string `version` (its stored file),
  // migrating the state through that version's create(). module.version_not_found if the version
  // is not in the history, module.already_current if it is serving.
  Result<ModuleInfo> Rollback(const std::string& name, const std::string& version);
  // The serving instance's state (snapshot with wanted_state_version 0), taken while calls are
  // briefly blocked. For checkpoints and migration.
  using StateBlob = hotreload::StateBlob;
  Result<StateBlob> Snapshot(const std::string& name);
  // Runs the serving instance's health().
  Status Health(const std::string& name);

  const ManagerOptions& options() const { return options_; }

 private:
  explicit ModuleManager(ManagerOptions options, std::shared_ptr<FileStore> files);
  Result<std::shared_ptr<ModuleSlot>> Find(const std::string& name) const;
  Result<ModuleInfo> SwapTo(const std::shared_ptr<ModuleSlot>& slot,
                            const std::filesystem::path& path);

  ManagerOptions options_;
  std::shared_ptr<FileStore> files_;
  mutable std::shared_mutex mu_;  // guards slots_ (the map only; slots lock themselves)
  std::map<std::string, std::shared_ptr<ModuleSlot>> slots_;
};

}  // namespace arsenal::hotreload
