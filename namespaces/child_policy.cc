// Child side of the policy artifacts: rlimits, capabilities, no_new_privs, Landlock, seccomp.
//
// The artifacts are built by policies/ in the parent; here they are only applied, with raw
// syscalls and no allocation (this runs between clone and exec). The caller (child.cc) applies
// them in the fixed order rlimits → capabilities + no_new_privs → Landlock → seccomp and kills
// the child on any failure.
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "arsenal/base/syscalls.h"
#include "child.h"

namespace arsenal::ns::internal {

int ApplyRlimits(const Prepared& p) {
  for (const auto& [resource, limit] : p.rlimits) {
    if (::setrlimit(static_cast<__rlimit_resource>(resource), &limit) < 0) return -1;
  }
  return 0;
}

// The workload runs as uid 0 of its user namespace, and execve() as root recomputes permitted =
// inheritable | bounding. So the bounding and inheritable sets are cut down to `keep_caps` first;
// capset then trims permitted/effective, and the kept ones are raised as ambient so they also
// survive an exec by a non-root user.
int ApplyCapabilities(uint64_t keep_caps) {
  for (int cap = 0; cap < 64; ++cap) {
    if (::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) < 0) {
      // Past the kernel's last capability: nothing beyond it can be kept.
      keep_caps &= (cap == 0) ? 0 : ((uint64_t{1} << cap) - 1);
      break;
    }
    if (keep_caps & (uint64_t{1} << cap)) continue;
    if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) return -1;
  }
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) return -1;
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  for (int i = 0; i < 2; ++i) {
    auto bits = static_cast<uint32_t>(keep_caps >> (32 * i));
    data[i].effective = bits;
    data[i].permitted = bits;
    data[i].inheritable = bits;
  }
  if (::syscall(SYS_capset, &header, data) < 0) return -1;
  for (int cap = 0; cap < 64; ++cap) {
    if (!(keep_caps & (uint64_t{1} << cap))) continue;
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) return -1;
  }
  return 0;
}

int DropAllCapabilities() { return ApplyCapabilities(0); }

int ApplyLandlock(int ruleset_fd) {
  int rc = sys::LandlockRestrictSelf(ruleset_fd, 0);
  int err = errno;
  ::close(ruleset_fd);
  errno = err;
  return rc;
}

int ApplySeccomp(const struct sock_fprog* prog) {
  return static_cast<int>(::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog));
}

}  // namespace arsenal::ns::internal
