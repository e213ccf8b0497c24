// get_process_info and get_process_tree: the table's view of a process merged with the kernel's.
//
// GetProcessInfo() combines the table entry (id, state, spec, exit status, restarts, output ring
// statistics, bytes queued on its stdin pipe and bytes written but not yet drained from its output
// pipes) with InspectProcess() (memory, cpu, threads, fds, signals, namespaces, seccomp,
// capabilities, cgroups) while it runs. The /proc part is pid-reuse safe (checked against the
// entry's pidfd); for an exited process only the table part is returned ("os": null).
//
// GetProcessTree() reads the whole /proc once and nests processes under the root: a pid, a
// managed id, a sandbox (its init, through the sandbox launcher) or, by default, the daemon
// itself. Nodes of managed processes carry their id, supervisor and sandbox.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "arsenal/base/result.h"

namespace arsenal {

class ProcessTable;

Result<Json> GetProcessInfo(ProcessTable& table, std::string_view id);
// A host process by pid (best effort against pid reuse: the pid is pinned with a pidfd while
// it is read).
Result<Json> GetHostProcessInfo(pid_t pid);

struct TreeRoot {
  std::optional<std::string> id;       // a managed process
  std::optional<pid_t> pid;            // any process
  std::optional<std::string> sandbox;  // a sandbox's init (sandbox.not_found without a service)
};
Result<Json> GetProcessTree(ProcessTable& table, const TreeRoot& root, size_t max_nodes = 10000);

}  // namespace arsenal
