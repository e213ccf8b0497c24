// Child-side steps. Everything here runs between clone and exec: raw syscalls only, no
// allocation, no locks, no errno-to-string, no logging. Kept free of libcap on purpose (libcap
// allocates).
#include "arsenal/policies/child.h"

#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "arsenal/base/syscalls.h"

namespace arsenal::policies {

int SetNoNewPrivs() noexcept {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return errno;
  return 0;
}

int ApplyCapabilities(uint64_t keep) noexcept {
  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[2]{};
  // After a setuid() to a non-root uid (with PR_SET_KEEPCAPS) the effective set is empty while
  // the permitted set still holds CAP_SETPCAP: make permitted effective so the bounding set can
  // be dropped.
  if (::syscall(SYS_capget, &header, data) != 0) return errno;
  if (data[0].effective != data[0].permitted || data[1].effective != data[1].permitted) {
    data[0].effective = data[0].permitted;
    data[1].effective = data[1].permitted;
    if (::syscall(SYS_capset, &header, data) != 0) return errno;
  }
  // The bounding set must be reduced while CAP_SETPCAP is still effective, i.e. before capset.
  // EINVAL marks the first number past the kernel's last capability.
  for (int cap = 0; cap < 64; ++cap) {
    if (keep & (uint64_t{1} << cap)) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      if (errno == EINVAL) break;
      return errno;
    }
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    return errno;
  }
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  for (int i = 0; i < 2; ++i) {
    auto word = static_cast<uint32_t>(keep >> (32 * i));
    data[i].effective = word;
    data[i].permitted = word;
    data[i].inheritable = word;
  }
  if (::syscall(SYS_capset, &header, data) != 0) return errno;
  // Ambient caps survive execve of a non-setuid binary for any uid; without them a non-root
  // workload would lose every kept capability at exec.
  for (int cap = 0; cap < 64; ++cap) {
    if (!(keep & (uint64_t{1} << cap))) continue;
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) {
      if (errno == EINVAL) break;
      return errno;
    }
  }
  return 0;
}

int ApplyRlimits(std::span<const std::pair<int, struct rlimit>> limits) noexcept {
  for (const auto& [resource, limit] : limits) {
    if (::setrlimit(static_cast<__rlimit_resource_t>(resource), &limit) != 0) return errno;
  }
  return 0;
}

int ApplyLandlock(int ruleset_fd, uint32_t flags) noexcept {
  if (ruleset_fd < 0) return 0;
  if (sys::LandlockRestrictSelf(ruleset_fd, flags) != 0) return errno;
  return 0;
}

int ApplySeccomp(const struct sock_filter* filter, size_t count, unsigned int flags) noexcept {
  if (filter == nullptr || count == 0 || count > 0xffff) return EINVAL;
  struct sock_fprog prog {};
  prog.len = static_cast<unsigned short>(count);
  prog.filter = const_cast<struct sock_filter*>(filter);
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog) != 0) return errno;
  return 0;
}

}  // namespace arsenal::policies
