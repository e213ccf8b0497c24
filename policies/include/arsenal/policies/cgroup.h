// Cgroups for sandboxes: one small backend interface with cgroup v1 and v2 implementations.
//
// Purpose: every sandbox gets its own cgroup, nested under the caller's own cgroup (read from
// /proc/self/cgroup) so the caller's accounting still covers it, with limits (memory,
// memory+swap, CPU quota/period and weight, pids, io where the version allows), stats, freeze,
// whole-group kill and OOM detection.
//
//   auto backend = MakeCgroupBackend();              // v2 when its controllers are usable, else v1
//   auto cg = (*backend)->Create("sb-42", limits);   // creates and limits, or nothing at all
//   // spawn: clone, then cg->Attach(child_pid) before the child execs (it waits on a sync pipe)
//   ...
//   (*cg)->KillAll(std::chrono::seconds(5));         // kill every process, wait until empty
//   (*cg)->Destroy();                                // remove; the destructor does both if needed
//
// Ownership: a Cgroup owns its kernel directories. Its destructor kills what is left and removes
// them (best effort, logged), so no cgroup outlives its sandbox even on error paths.
//
// Versions:
//  - v1 (MakeCgroupV1Backend): plain cgroupfs I/O per hierarchy (mkdir, one write per limit
//    file, cgroup.procs, freezer.state, memory.oom_control, cgroup.event_control, rmdir); not
//    libcgroup, whose initialisation alone costs milliseconds per process (docs/decisions.md).
//    The kernel kills only the largest task on OOM (no group OOM kill): after an OOM event, call
//    KillAll() to "kill the rest". On a hybrid layout a controller-less cgroup2 directory is
//    kept beside the v1 groups for atomic cgroup.kill and CLONE_INTO_CGROUP. OOM is detected via
//    memory.oom_control `oom_kill` and an eventfd registered on cgroup.event_control
//    (OpenOomEventFd).
//  - v2 (MakeCgroupV2Backend): plain cgroupfs file writes under a root path given as a
//    parameter, so it can be unit-tested against a fake tree. Sets memory.oom.group=1 so an OOM
//    kills the whole group. KillAll uses cgroup.kill (Linux 5.14+).
//
// Thread-safety: a Cgroup is not internally synchronised; use one from one thread at a time.
// Backends are safe to share. Never call any of this in a forked child before exec.
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

namespace arsenal::policies {

enum class CgroupVersion { kV1, kV2 };

// How cgroups are mounted on this machine.
enum class CgroupMode {
  kNone,     // no cgroup filesystem
  kLegacy,   // v1 hierarchies only
  kHybrid,   // v1 hierarchies plus a cgroup2 mount (typically /sys/fs/cgroup/unified)
  kUnified,  // cgroup2 only
};
std::string_view CgroupModeName(CgroupMode mode);  // "none", "legacy", "hybrid", "unified"

struct CgroupLayout {
  CgroupMode mode = CgroupMode::kNone;
  std::string v2_mount;                          // empty when there is no cgroup2 mount
  std::vector<std::string> v2_controllers;       // cgroup.controllers of the v2 root
  std::map<std::string, std::string> v1_mounts;  // controller ("memory") -> mount point
  std::map<std::string, std::string> own_v1;     // controller -> this process's cgroup path
  std::string own_v2;                            // this process's cgroup2 path ("/" at the root)
  // The version MakeCgroupBackend picks: v2 when memory, pids and cpu are available there.
  std::optional<CgroupVersion> preferred;
};

// Reads /proc/self/mountinfo, /proc/self/cgroup and the v2 root's cgroup.controllers.
Result<CgroupLayout> DetectCgroupLayout();
// Same, from given file contents (for tests). `read_v2_controllers` is the text of
// cgroup.controllers at the v2 mount, if any.
CgroupLayout ParseCgroupLayout(std::string_view mountinfo, std::string_view proc_self_cgroup,
                               std::string_view v2_root_controllers);

// Writes "max" (v2) or "-1" (v1).
inline constexpr uint64_t kCgroupUnlimited = UINT64_MAX;

struct IoDeviceLimit {
  uint32_t major = 0;
  uint32_t minor = 0;
  std::optional<uint64_t> read_bps;
  std::optional<uint64_t> write_bps;
  std::optional<uint64_t> read_iops;
  std::optional<uint64_t> write_iops;
};

struct CgroupLimits {
  std::optional<uint64_t> memory_bytes;
  // Memory plus swap, as Docker's --memory-swap. When memory_bytes is set and this is not, swap
  // is disabled (equal to memory_bytes). Must be >= memory_bytes.
  std::optional<uint64_t> memory_swap_bytes;
  std::optional<uint64_t> cpu_quota_us;   // per period; kCgroupUnlimited = no quota
  std::optional<uint64_t> cpu_period_us;  // default 100000 when a quota is given
  std::optional<uint32_t> cpu_weight;     // 1..10000, v2 semantics (v1: converted to cpu.shares)
  std::optional<uint64_t> pids_max;
  std::vector<IoDeviceLimit> io;  // v2 io.max; v1 blkio.throttle.* where blkio is mounted
};

// Checks ranges and consistency. Errors (validation): cgroup.invalid_limit (details.field).
Status ValidateCgroupLimits(const CgroupLimits& limits);
// Parses {"memory": bytes, "memory_swap": bytes|"max", "cpu_quota_us", "cpu_period_us",
// "cpu_weight", "pids": n|"max", "io": [{"major","minor","read_bps","write_bps","read_iops",
// "write_iops"}]}. Unknown fields are rejected.
Result<CgroupLimits> ParseCgroupLimits(const Json& json);

// cpu.weight (1..10000) <-> cpu.shares (2..262144), the OCI/runc conversion.
uint64_t CpuWeightToShares(uint32_t weight);
uint32_t CpuSharesToWeight(uint64_t shares);

struct CgroupStats {
  uint64_t memory_current = 0;  // bytes
  uint64_t memory_peak = 0;     // bytes; 0 when the kernel does not report it
  uint64_t cpu_usage_ns = 0;
  uint64_t pids_current = 0;
  uint64_t oom_kills = 0;  // processes killed by the OOM killer in this cgroup
};

class Cgroup {
 public:
  virtual ~Cgroup() = default;
  Cgroup(const Cgroup&) = delete;
  Cgroup& operator=(const Cgroup&) = delete;

  virtual CgroupVersion version() const = 0;
  const std::string& name() const { return name_; }
  // Absolute directories: one for v2, one per hierarchy for v1.
  virtual std::vector<std::string> Paths() const = 0;

  // Applies the limits that are set (others unchanged). Errors name the file and errno.
  virtual Status SetLimits(const CgroupLimits& limits) = 0;
  // Moves a whole process (all threads) into the cgroup, in every hierarchy.
  virtual Status Attach(pid_t pid) = 0;
  virtual Result<std::vector<pid_t>> Processes() const = 0;
  virtual Result<CgroupStats> ReadStats() const = 0;
  // Freezes every process (waits until the kernel reports frozen) / thaws them.
  virtual Status Freeze() = 0;
  virtual Status Thaw() = 0;
  // SIGKILLs every process in the cgroup and waits until it is empty; cgroup.timeout if
  // processes remain after `timeout`. On v1 this is also how to "kill the rest" after an OOM kill.
  virtual Status KillAll(std::chrono::milliseconds timeout) = 0;
  // A descriptor that becomes readable on an OOM event: v1 an eventfd (read 8 bytes to reset),
  // v2 an inotify fd watching memory.events. Check ReadStats().oom_kills afterwards.
  virtual Result<UniqueFd> OpenOomEventFd() = 0;
  // An O_DIRECTORY fd for clone3(CLONE_INTO_CGROUP): the v2 directory, or on a hybrid v1 layout
  // the cgroup2 companion (the child must still be Attach()ed for the v1 limits before it
  // execs). cgroup.unsupported on pure v1. cgroup.clone_into_unavailable once KillAll wrote
  // cgroup.kill: the kernel (seen on 6.18) then SIGKILLs every child cloned into the cgroup, so
  // attach new members with Attach() instead.
  virtual Result<UniqueFd> OpenCloneIntoFd() const = 0;
  // Descriptors a single-threaded child writes "0" to in order to move itself into this cgroup
  // before it execs: v1 opens each hierarchy's `tasks` file (O_WRONLY | O_CLOEXEC). A thread that
  // moves itself skips the kernel's global threadgroup lock, which a pid written by another
  // process takes (costing an RCU grace period, ~10 ms, after an idle spell). The write is checked
  // against the opener's credentials, so it works from inside a user namespace. Empty for v2 and
  // for a hybrid companion directory: use OpenCloneIntoFd (CLONE_INTO_CGROUP) for those.
  virtual Result<std::vector<UniqueFd>> OpenSelfAttachFds() const {
    return std::vector<UniqueFd>{};
  }
  // Kills what is left (KillAll with a short timeout) and removes the directories. Idempotent.
  virtual Status Destroy() = 0;

 protected:
  explicit Cgroup(std::string name) : name_(std::move(name)) {}

 private:
  std::string name_;
};

struct CgroupCreateOptions {
  // Only the controllers `limits` use. On cgroup v1 that means only their hierarchies: no
  // freezer, no cpuacct (unless co-mounted with cpu), no blkio without io limits, and no cgroup2
  // companion; each left-out directory saves a mkdir, an rmdir and a cgroup.procs read per kill
  // check (~0.3 ms together here). Meant for short-lived groups whose processes are held together
  // otherwise (a pid namespace, whose PID 1 takes them all down): Freeze() then fails with
  // cgroup.unsupported, KillAll() signals without freezing first, and usage counters of the
  // left-out controllers read 0. No effect on cgroup v2 (one directory either way).
  bool limited_controllers_only = false;
};

class CgroupBackend {
 public:
  virtual ~CgroupBackend() = default;
  virtual CgroupVersion version() const = 0;
  // Creates "<parent>/<name>" (name: [A-Za-z0-9_.-], 1..64 chars, not "." or "..") and applies
  // `limits`. On any failure nothing is left behind. cgroup.exists (conflict) if it exists.
  virtual Result<std::unique_ptr<Cgroup>> Create(const std::string& name,
                                                 const CgroupLimits& limits,
                                                 const CgroupCreateOptions& options) = 0;
  Result<std::unique_ptr<Cgroup>> Create(const std::string& name, const CgroupLimits& limits) {
    return Create(name, limits, CgroupCreateOptions{});
  }
};

struct CgroupV1Options {
  // Controller -> mount point and controller -> parent path; empty = detected (the caller's own
  // cgroup in each hierarchy).
  std::map<std::string, std::string> mounts;
  std::map<std::string, std::string> parents;
  // Hybrid layouts: a controller-less cgroup2 directory created beside the v1 groups
  // ("<unified_mount>/<unified_parent>/<name>"), used for atomic cgroup.kill and
  // CLONE_INTO_CGROUP (OpenCloneIntoFd). Detected when empty; set use_unified = false to skip.
  bool use_unified = true;
  std::string unified_mount;
  std::string unified_parent;
};
Result<std::unique_ptr<CgroupBackend>> MakeCgroupV1Backend(CgroupV1Options options = {});

struct CgroupV2Options {
  std::string root = "/sys/fs/cgroup";  // the cgroup2 mount point (or a fake tree)
  std::string parent;                   // relative to root; empty = this process's cgroup
  // The tree is a plain directory (tests): files are created on write and removed on Destroy.
  bool plain_directory = false;
  // Controllers to enable in parent/cgroup.subtree_control (only those listed in
  // parent/cgroup.controllers are enabled).
  std::vector<std::string> controllers = {"memory", "pids", "cpu", "io"};
};
Result<std::unique_ptr<CgroupBackend>> MakeCgroupV2Backend(CgroupV2Options options);

// Picks v2 when the layout prefers it, else v1. cgroup.unavailable when neither is usable.
Result<std::unique_ptr<CgroupBackend>> MakeCgroupBackend();

}  // namespace arsenal::policies
