// Reading processes from /proc (and their cgroups): the data behind get_process_info,
// list_processes' resource fields and get_process_tree.
//
// Pid reuse: /proc/<pid> names whatever process holds the pid *now*. Every reader here that takes
// a pidfd (which must have been opened for `pid`) confirms after reading that the pidfd's process
// has not been reaped, so its pid cannot have been reused while it was read, and the data
// returned is never that of another process. Readers
// without a pidfd (host processes) give a best-effort snapshot and say so in their docs.
//
// All functions are thread-safe and never throw; a process that vanishes mid-read yields
// `process.not_found`.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "arsenal/base/result.h"

namespace arsenal {

// The fields of /proc/<pid>/stat the engine uses.
struct ProcStat {
  pid_t pid = 0;
  pid_t ppid = 0;
  pid_t pgrp = 0;
  pid_t session = 0;
  std::string comm;
  char state = '?';  // R S D T t Z X I
  uint64_t utime_ticks = 0;
  uint64_t stime_ticks = 0;
  uint64_t starttime_ticks = 0;  // since boot
  int64_t num_threads = 0;
  uint64_t rss_pages = 0;
  uint64_t vsize_bytes = 0;
};

// Reads /proc/<pid>/stat (comm may contain spaces and parentheses; parsed from the last ')').
Result<ProcStat> ReadProcStat(pid_t pid);

// True when `pidfd` refers to a process that still owns `pid` (from /proc/self/fdinfo: a reaped
// process's pidfd reports Pid: -1, and a pid once released is never re-attached to that pidfd).
bool PidfdRefersTo(int pidfd, pid_t pid);

// "running", "sleeping", "disk_sleep", "stopped", "tracing_stop", "zombie", "dead", "idle".
std::string ProcStateName(char state);
uint64_t ClockTicksToMs(uint64_t ticks);
uint64_t PageSizeBytes();
// Milliseconds since `starttime_ticks` (a ProcStat field), from /proc/uptime.
int64_t UptimeMsSinceBoot(uint64_t starttime_ticks);

// Every pid in /proc (processes, not threads), ascending.
std::vector<pid_t> ListHostPids();

// Full description of one process: state, memory (rss, peak, from the cgroup too), cpu user/sys,
// threads, open fds, signals (pending/blocked/ignored/caught as names), namespaces, seccomp mode,
// no_new_privs, capabilities (hex masks and names), cgroups, start time. `pidfd` >= 0 makes the
// result pid-reuse safe (see above); -1 reads a host process best-effort.
Result<Json> InspectProcess(pid_t pid, int pidfd);

// The OS process tree rooted at `root`, as nested JSON {pid, ppid, name, state, children: [...]};
// `annotate` may add fields to each node (supervisor, managed id). At most `max_nodes` nodes; a
// truncated tree has "truncated": true at the root. Unknown root: process.not_found.
Result<Json> BuildProcessTree(pid_t root, const std::function<void(pid_t, Json&)>& annotate,
                              size_t max_nodes = 10000);

// Resident memory and CPU time of one process from /proc/<pid>/stat, cheap enough for list pages.
struct ProcUsage {
  uint64_t rss_bytes = 0;
  uint64_t cpu_ms = 0;  // user + system
  int64_t threads = 0;
};
std::optional<ProcUsage> ReadProcUsage(pid_t pid, int pidfd);

}  // namespace arsenal
