// Child side of the policy artifacts: rlimits, capabilities, no_new_privs, Landlock, seccomp.
//
// The artifacts are built by policies/ in the parent; here they are only applied, through the
// async-signal-safe steps of arsenal/policies/child.h (one implementation of each step, shared
// with every other caller). The caller (child.cc) applies them in the fixed order rlimits →
// capabilities + no_new_privs → Landlock → seccomp and kills the child on any failure. These
// adapters only turn the policies' "0 or errno" into this library's "-1 with errno set".
#include <unistd.h>

#include <cerrno>
#include <span>

#include "arsenal/policies/child.h"
#include "child.h"

namespace arsenal::ns::internal {
namespace {

int FromErrno(int err) {
  if (err == 0) return 0;
  errno = err;
  return -1;
}

}  // namespace

int ApplyRlimits(const Prepared& p) {
  return FromErrno(policies::ApplyRlimits(std::span(p.rlimits.data(), p.rlimits.size())));
}

int ApplyCapabilities(uint64_t keep_caps) {
  return FromErrno(policies::ApplyCapabilities(keep_caps));
}

int DropAllCapabilities() { return ApplyCapabilities(0); }

int ApplyLandlock(int ruleset_fd) {
  int err = policies::ApplyLandlock(ruleset_fd);
  ::close(ruleset_fd);
  return FromErrno(err);
}

int ApplySeccomp(const struct sock_fprog* prog, unsigned int flags) {
  return FromErrno(policies::ApplySeccomp(prog->filter, prog->len, flags));
}

}  // namespace arsenal::ns::internal
