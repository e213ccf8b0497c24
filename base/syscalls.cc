#include "arsenal/base/syscalls.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

namespace {

// The signals /proc/self/status reports ignored (SigIgn) or caught (SigCgt), bit n-1 for signal
// n; false when it cannot be read or parsed. (/proc/self/stat has the same masks, but without the
// real-time signals.)
bool DisposedSignals(uint64_t& mask) {
  const int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  // Only the kernel's word counts: inside a sandbox's rootfs, /proc may be an ordinary directory.
  struct statfs fs {};
  if (::fstatfs(fd, &fs) != 0 || fs.f_type != PROC_SUPER_MAGIC) {
    ::close(fd);
    return false;
  }
  char buf[4096];
  size_t len = 0;
  while (len < sizeof(buf) - 1) {
    const ssize_t n = ::read(fd, buf + len, sizeof(buf) - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += static_cast<size_t>(n);
  }
  ::close(fd);
  buf[len] = '\0';
  int found = 0;
  mask = 0;
  for (const char* line = buf; *line != '\0';) {
    const bool ign = std::strncmp(line, "SigIgn:", 7) == 0;
    const bool cgt = std::strncmp(line, "SigCgt:", 7) == 0;
    const char* p = line;
    if (ign || cgt) {
      p += 7;
      while (*p == ' ' || *p == '\t') ++p;
      uint64_t value = 0;
      const char* start = p;
      for (;; ++p) {
        const char c = *p;
        const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (digit < 0) break;
        value = value << 4 | static_cast<uint64_t>(digit);
      }
      if (p == start || p - start > 16) return false;
      mask |= value;
      if (++found == 2) return true;
    }
    while (*p != '\0' && *p != '\n') ++p;
    line = *p == '\n' ? p + 1 : p;
  }
  return false;
}

}  // namespace

void ResetSignalDispositions() {
  uint64_t mask = 0;
  if (!DisposedSignals(mask)) mask = ~uint64_t{0};
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  for (int sig = 1; sig < NSIG && sig <= 64; ++sig) {
    if (sig == SIGKILL || sig == SIGSTOP || (mask & (uint64_t{1} << (sig - 1))) == 0) continue;
    ::sigaction(sig, &dfl, nullptr);  // EINVAL for glibc's internal signals is expected
  }
}

}  // namespace arsenal::sys
