// Private to namespaces/: the data prepared before clone and the child-side steps.
//
// Everything the child touches between clone and exec lives in a Prepared, filled by the parent
// before clone. The child runs on a copy-on-write copy of the parent's memory (clone3 without
// CLONE_VM), so it may read Prepared and write into its own copies of the prepared buffers
// (mkdir -p edits target paths in place) without allocating. Its workload shares that copy
// (CLONE_VM) until PID 1 execs the reaper program.
#pragma once

#include <limits.h>
#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace arsenal::ns::internal {

// The setup steps, in the order they run. Values are part of the sync-socket protocol between
// parent and child of the same binary only, but keep them stable anyway (they show in logs).
enum class Step : int32_t {
  kNone = 0,
  kWaitParent,
  kStdio,
  kCloseFds,
  kGroups,
  kCgroupNs,
  kMountPrivate,
  kMountStaging,
  kPivotStaging,
  kRootfs,
  kMount,
  kProc,
  kDev,
  kPivotRoot,
  kDetachOldRoot,
  kHostname,
  kNetwork,
  kForkWorkload,
  kReaper,
  kSetns,
  kSetIds,
  kCwd,
  kSignals,
  kRlimits,
  kCapabilities,
  kNoNewPrivs,
  kLandlock,
  kSeccomp,
  kExec,
  kCgroupJoin,  // runs first, right after the parent's go; numbered last to keep values stable
};

const char* StepName(Step step);

// One message on the sync socket (SOCK_SEQPACKET keeps message boundaries).
struct Report {
  enum Kind : int32_t { kFailure = 1, kPid = 2 };
  int32_t kind = kFailure;
  int32_t step = 0;
  int32_t err = 0;
  int32_t index = -1;  // which mount, for Step::kMount
  int32_t pid = 0;     // kPid: the workload's pid (SpawnInto)
};

// The parent's "go" byte also tells the child whether it must clear supplementary groups.
enum GoByte : char { kGoClearGroups = 'C', kGoKeepGroups = 'K' };

struct PreparedMount {
  bool bind = true;
  bool read_only = true;
  const char* source = nullptr;  // "/oldroot/<realpath>" for binds, "tmpfs" otherwise
  char* target = nullptr;        // "/newroot/<target>" (mutable: mkdir -p edits it in place)
  const char* data = nullptr;    // tmpfs options
};

struct Prepared {
  // Owns every string below; a deque keeps element addresses stable while growing.
  std::deque<std::string> storage;
  std::vector<char*> argv;          // null-terminated
  std::vector<char*> envp;          // null-terminated
  const char* path_list = nullptr;  // PATH used to find argv[0] when it has no '/'
  const char* cwd = "/";
  char exec_buf[PATH_MAX] = {};

  int sync_fd = -1;
  int stdio[3] = {0, 1, 2};

  bool user_ns = false;  // become uid/gid 0 of the new user namespace
  bool mount_ns = false;
  bool pid_ns = false;  // run a PID 1 reaper that forks the workload
  bool uts_ns = false;
  bool net_ns = false;
  bool cgroup_ns = false;  // unshared by the child after the hook ran

  const char* rootfs_source = nullptr;  // "/oldroot" or "/oldroot/<dir>"
  bool rootfs_read_only = true;
  std::vector<PreparedMount> mounts;
  bool mount_proc = true;
  bool mount_dev = true;
  const char* hostname = nullptr;  // null: leave as is
  bool loopback_up = false;

  // Policy.
  std::vector<sock_filter> seccomp_bpf;
  struct sock_fprog seccomp_prog = {};
  unsigned int seccomp_flags = 0;  // SECCOMP_FILTER_FLAG_*
  uint64_t keep_caps = 0;
  std::vector<std::pair<int, struct rlimit>> rlimits;
  int landlock_fd = -1;
  bool no_new_privs = true;

  // SpawnInto: the helper joins these namespaces of target_pidfd, then forks the workload.
  int setns_pidfd = -1;
  int setns_flags = 0;
  bool setns_user = false;
  // SpawnInto: the (privileged) helper drops the caller's supplementary groups before joining.
  bool clear_groups = false;

  // cgroup v1 `tasks` fds the child writes "0" to right after go (moves itself).
  std::vector<int> cgroup_join_fds;
  // PID 1 without a workload (holds the namespaces for SpawnInto).
  bool idle_init = false;
  // PID 1 writes the workload's raw wait status here before exiting; -1 = none.
  int status_fd = -1;
  // The reaper program (reaper_image.h) PID 1 execs once the workload is started.
  int reaper_fd = -1;
  // The workload's stack while it shares PID 1's memory (clone with CLONE_VM), prepared by the
  // parent; the top is where the stack starts (it grows down).
  char* workload_stack_top = nullptr;
  // The pipe the workload waits on until PID 1 has become the (non-dumpable) reaper; created by
  // PID 1.
  int go_read_fd = -1;
  int go_write_fd = -1;

  char* Keep(std::string s) { return storage.emplace_back(std::move(s)).data(); }
};

// Child entry points. None returns; all report failures on p.sync_fd and _exit.
[[noreturn]] void RunSpawnChild(Prepared& p);
[[noreturn]] void RunSetnsHelper(Prepared& p);

// Writes {step, errno, index} to the sync socket and _exits. Async-signal-safe.
[[noreturn]] void Die(int sync_fd, Step step, int err, int index = -1);

// Child-side steps, in their own files. Each returns 0, or -1 with errno set and *step (and
// *index) naming what failed.
int SetupMounts(Prepared& p, Step* step, int* index);  // mounts.cc: up to detaching the old root
int BringUpLoopback();                                 // network.cc
int ApplyRlimits(const Prepared& p);                   // child_policy.cc
int ApplyCapabilities(uint64_t keep_caps);             // child_policy.cc
int DropAllCapabilities();                             // child_policy.cc (the reaper)
int ApplyLandlock(int ruleset_fd);                     // child_policy.cc
int ApplySeccomp(const struct sock_fprog* prog, unsigned int flags);  // child_policy.cc

}  // namespace arsenal::ns::internal
