#include "arsenal/base/syscalls.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>

namespace arsenal::sys {

pid_t Clone3(struct clone_args* args, size_t size) {
  return static_cast<pid_t>(::syscall(__NR_clone3, args, size));
}

int PidfdOpen(pid_t pid, unsigned int flags) {
  return static_cast<int>(::syscall(__NR_pidfd_open, pid, flags));
}

int PidfdSendSignal(int pidfd, int sig, siginfo_t* info, unsigned int flags) {
  return static_cast<int>(::syscall(__NR_pidfd_send_signal, pidfd, sig, info, flags));
}

int PidfdGetfd(int pidfd, int targetfd, unsigned int flags) {
  return static_cast<int>(::syscall(__NR_pidfd_getfd, pidfd, targetfd, flags));
}

int PivotRoot(const char* new_root, const char* put_old) {
  return static_cast<int>(::syscall(SYS_pivot_root, new_root, put_old));
}

int CloseRange(unsigned int first, unsigned int last, unsigned int flags) {
  int rc = static_cast<int>(::syscall(__NR_close_range, first, last, flags));
  if (rc == 0 || errno != ENOSYS || flags != 0) return rc;
  struct rlimit lim {};
  unsigned int max = 1024;
  if (::getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
    max = static_cast<unsigned int>(lim.rlim_cur);
  }
  for (unsigned int fd = first; fd <= last && fd < max; ++fd) ::close(static_cast<int>(fd));
  return 0;
}

int LandlockCreateRuleset(const void* attr, size_t size, uint32_t flags) {
  return static_cast<int>(::syscall(__NR_landlock_create_ruleset, attr, size, flags));
}

int LandlockAddRule(int ruleset_fd, int rule_type, const void* rule_attr, uint32_t flags) {
  return static_cast<int>(
      ::syscall(__NR_landlock_add_rule, ruleset_fd, rule_type, rule_attr, flags));
}

int LandlockRestrictSelf(int ruleset_fd, uint32_t flags) {
  return static_cast<int>(::syscall(__NR_landlock_restrict_self, ruleset_fd, flags));
}

int WaitPidfd(int pidfd, siginfo_t* info, int options) {
  int rc;
  do {
    rc = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd), info, options);
  } while (rc < 0 && errno == EINTR);
  return rc;
}

pid_t GetTid() { return static_cast<pid_t>(::syscall(SYS_gettid)); }

}  // namespace arsenal::sys
