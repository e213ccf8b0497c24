#include "arsenal/namespaces/features.h"

#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "arsenal/base/result.h"
#include "arsenal/base/syscalls.h"

namespace arsenal::ns {
namespace {

// Runs a raw clone3 child that executes `child_main` (syscalls only) and returns its exit code,
// or -errno when the clone itself failed.
template <typename F>
int RunProbe(uint64_t flags, F child_main) {
  int pidfd = -1;
  struct clone_args args = {};
  args.flags = flags | CLONE_PIDFD;
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  pid_t pid = sys::Clone3(&args, sizeof(args));
  if (pid < 0) return -errno;
  if (pid == 0) ::_exit(child_main());
  siginfo_t info = {};
  int rc = sys::WaitPidfd(pidfd, &info, WEXITED);
  ::close(pidfd);
  if (rc < 0) return -errno;
  return info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
}

KernelFeatures Detect() {
  KernelFeatures f;
  f.time_namespace = TimeNamespaceAvailable();
  f.cgroup_namespace = ::access("/proc/self/ns/cgroup", F_OK) == 0;

  int rc = RunProbe(0, [] { return 0; });
  f.clone3 = rc != -ENOSYS;
  f.pidfd = rc == 0;
  if (!f.pidfd) {
    f.user_namespaces_detail = "clone3 with CLONE_PIDFD unavailable";
    return f;
  }
  // Joining one's own new UTS namespace through a pidfd is harmless and needs kernel 5.8+.
  rc = RunProbe(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS, [] {
    int self = sys::PidfdOpen(::getpid(), 0);
    if (self < 0) return 2;
    return ::setns(self, CLONE_NEWUTS) == 0 ? 0 : 3;
  });
  f.user_namespaces = rc >= 0;
  f.setns_pidfd = rc == 0;
  if (rc < 0) f.user_namespaces_detail = "clone3: " + ErrnoName(-rc);
  return f;
}

}  // namespace

const KernelFeatures& DetectKernelFeatures() {
  static const KernelFeatures features = Detect();
  return features;
}

bool TimeNamespaceAvailable() {
  static const bool available = ::access("/proc/self/ns/time", F_OK) == 0;
  return available;
}

}  // namespace arsenal::ns
