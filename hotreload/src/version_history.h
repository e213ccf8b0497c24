// VersionHistory: the versions of one module, newest (serving) first, each holding its stored
// file so that a rollback can load it again. Shared by ModuleManager and PluginHost. Not
// synchronised: the owner locks.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "arsenal/base/result.h"
#include "arsenal/hotreload/module_manager.h"
#include "src/file_store.h"

namespace arsenal::hotreload {

// Nanoseconds since `start`: how long a swap held callers back (reported as last_swap_ns).
inline uint64_t NanosSince(std::chrono::steady_clock::time_point start) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
          .count());
}

struct HistoryEntry {
  ModuleVersionInfo info;
  std::shared_ptr<StoredFile> file;  // keeps the file for rollback
};

class VersionHistory {
 public:
  // Adds the new serving version. Returns the entries that fell out (beyond `depth`), so the
  // caller can release their files (which may unlink them) outside its lock.
  std::deque<HistoryEntry> Push(HistoryEntry entry, size_t depth) {
    entries_.push_front(std::move(entry));
    std::deque<HistoryEntry> dropped;
    while (entries_.size() > depth) {
      dropped.push_back(std::move(entries_.back()));
      entries_.pop_back();
    }
    return dropped;
  }

  bool empty() const { return entries_.empty(); }
  const HistoryEntry& serving() const { return entries_.front(); }

  std::vector<ModuleVersionInfo> Infos() const {
    std::vector<ModuleVersionInfo> out;
    for (const auto& entry : entries_) out.push_back(entry.info);
    if (!out.empty()) out.front().serving = true;
    return out;
  }

  // The stored file of the most recent earlier entry with `version`. Errors:
  // module.already_current (it is serving), module.version_not_found.
  Result<std::shared_ptr<StoredFile>> RollbackTarget(const std::string& module,
                                                     const std::string& version) const {
    if (!entries_.empty() && entries_.front().info.version == version) {
      return Fail(ConflictError("module.already_current",
                                "module '" + module + "' is already serving version " + version)
                      .WithHint("pick an earlier version from the module's version history"));
    }
    for (size_t i = 1; i < entries_.size(); ++i) {
      if (entries_[i].info.version == version) return entries_[i].file;
    }
    return Fail(NotFoundError("module.version_not_found", "version " + version + " of module '" +
                                                              module +
                                                              "' is not in its version history")
                    .WithHint("list the module's versions; older ones fall out of the history "
                              "after history_depth reloads"));
  }

  // Empties the history; the caller releases the entries outside its lock.
  std::deque<HistoryEntry> Clear() { return std::exchange(entries_, {}); }

 private:
  std::deque<HistoryEntry> entries_;
};

}  // namespace arsenal::hotreload
