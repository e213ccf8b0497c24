// Kernel feature detection for namespaces/ (used by `arsenal check` and by tests to skip).
//
// DetectKernelFeatures() probes by doing, not by version numbers: it creates two short-lived
// children (a plain clone3 with CLONE_PIDFD, then one in new user/mount/pid/uts namespaces that
// tries setns through a pidfd). The result is computed once per process and cached; the call is
// thread-safe. Nothing is left behind (both children are reaped).
#pragma once

#include <string>

namespace arsenal::ns {

struct KernelFeatures {
  bool clone3 = false;            // clone3(2) exists (5.3+)
  bool pidfd = false;             // CLONE_PIDFD and waitid(P_PIDFD) work (5.3+ / 5.4+)
  bool user_namespaces = false;   // a user namespace (with mount, pid, uts) can be created
  bool setns_pidfd = false;       // setns(pidfd, flags) joins several namespaces at once (5.8+)
  bool time_namespace = false;    // CLONE_NEWTIME (5.6+, CONFIG_TIME_NS)
  bool cgroup_namespace = false;  // CLONE_NEWCGROUP
  // Why user_namespaces is false ("clone3: Operation not permitted (EPERM)"), else empty.
  std::string user_namespaces_detail;
};

const KernelFeatures& DetectKernelFeatures();

// Cheap check (one access(2), cached) used by Spawn to decide whether NamespaceSet::time is
// honoured.
bool TimeNamespaceAvailable();

}  // namespace arsenal::ns
