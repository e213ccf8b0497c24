// Launching a plain (unsandboxed) child: clone with vfork semantics, then exec. Private to
// engine/process.
//
// Why not posix_spawn: its child gets a copy of the daemon's whole descriptor table and then
// closes everything above 2, so with one pidfd per managed process every start costs time in
// proportion to the number of managed processes (about 0.15 us per descriptor here, 1.5 ms at
// 10,000). This launcher's child shares the parent's table (CLONE_FILES) only until its first
// step, which replaces it with an empty one (close_range(CLOSE_RANGE_UNSHARE), constant cost),
// and then fetches exactly its three stdio descriptors from the parent with pidfd_getfd. Where
// pidfd_getfd is refused (a daemon that is not allowed to ptrace itself, e.g. not dumpable and
// without CAP_SYS_PTRACE), it falls back for the rest of the process's life to a child with a
// copied table that dup2s its stdio and closes the rest with one close_range call.
//
// The pidfd comes from the clone itself (CLONE_PIDFD), so it can never refer to a recycled pid.
// Memory is shared with the child until exec (CLONE_VM|CLONE_VFORK), so the cost does not grow
// with the daemon's memory either; the calling thread is suspended until the child has exec'd or
// failed, and every signal is blocked in the calling thread meanwhile so no handler of the daemon
// can ever run on the child's side.
//
// The child's code allocates nothing, takes no lock and does not log: on failure it records
// {step, errno} in memory the parent reads after the vfork ends, and _exits with 127.
//
// Needs Linux 5.9 (close_range); the descriptor handoff needs 5.6 (pidfd_getfd).
#pragma once

#include <sys/types.h>

#include "arsenal/base/result.h"
#include "arsenal/base/unique_fd.h"

namespace arsenal::process_internal {

struct PlainSpawnRequest {
  const char* path = nullptr;   // executable, already resolved
  char* const* argv = nullptr;  // null-terminated
  char* const* envp = nullptr;  // null-terminated; the child's whole environment
  const char* cwd = "/";
  bool new_session = true;      // own process group, controlling terminal dropped
  int stdio[3] = {-1, -1, -1};  // borrowed; become the child's 0, 1, 2
  const char* what = "";        // names the program in errors
  // Use the descriptor handoff when it works here (config process.spawn_fd_handoff); false
  // forces the copied table.
  bool fd_handoff = true;
};

struct SpawnedChild {
  pid_t pid = 0;
  UniqueFd pidfd;
};

// Starts the child; returns once it has exec'd. The child is not reaped by anyone but the caller
// (who owns the pidfd). Errors: process.spawn_failed with the failing step's syscall and errno
// (ENOENT/EACCES from execve, ENOENT from chdir, ...).
Result<SpawnedChild> SpawnPlainChild(const PlainSpawnRequest& request);

}  // namespace arsenal::process_internal
