// Child-side policy steps: run between clone and exec, with raw syscalls only.
//
// Purpose: the parent precomputes every policy artifact (rlimit list, capability mask, Landlock
// ruleset fd, seccomp BPF program); the child applies them with these functions. Each one is
// async-signal-safe: no allocation, no locks, no logging, no exceptions. Each returns 0 on
// success or a positive errno; the caller reports {step, errno} to the parent and _exits.
//
// Order (the spawn code's one setup function must follow it):
//   1. ApplyRlimits          (before dropping caps: lowering needs none, but keep it early)
//   2. ApplyCapabilities     (needs CAP_SETPCAP in the effective set to drop the bounding set)
//   3. SetNoNewPrivs         (required by Landlock and seccomp without CAP_SYS_ADMIN)
//   4. ApplyLandlock         (the ruleset fd was opened by the parent; close it afterwards)
//   5. ApplySeccomp          (last: the filter may deny the syscalls the earlier steps use)
//   6. execve
//
// Security: any non-zero return means the child is NOT confined as specified; fail closed
// (_exit) rather than exec. ApplyCapabilities raises the kept capabilities into the ambient set so
// that they survive execve for a non-root uid too; with keep == 0 nothing survives.
#pragma once

#include <linux/filter.h>
#include <sys/resource.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

namespace arsenal::policies {

// prctl(PR_SET_NO_NEW_PRIVS, 1). Irreversible; inherited across fork and exec.
int SetNoNewPrivs() noexcept;

// Drops every capability not in `keep` (bit N = CAP N) from the bounding set, sets permitted,
// effective and inheritable to `keep`, clears the ambient set, then raises `keep` into the ambient
// set. Needs CAP_SETPCAP (for the bounding set) and `keep` to be a subset of the current
// permitted set (else EPERM, also for bits the kernel does not know).
int ApplyCapabilities(uint64_t keep) noexcept;

// setrlimit(2) for each {RLIMIT_*, limit}. Stops at the first failure.
int ApplyRlimits(std::span<const std::pair<int, struct rlimit>> limits) noexcept;

// landlock_restrict_self(ruleset_fd, flags). A negative fd means "no Landlock" and returns 0
// (the parent already decided that best effort allows it). Needs no_new_privs first.
int ApplyLandlock(int ruleset_fd, uint32_t flags = 0) noexcept;

// seccomp(SECCOMP_SET_MODE_FILTER, flags, {count, filter}). Needs no_new_privs (or
// CAP_SYS_ADMIN). `flags` are SECCOMP_FILTER_FLAG_* from the compiled program. An empty program
// is refused with EINVAL (fail closed: an empty filter would be a missing policy).
int ApplySeccomp(const struct sock_filter* filter, size_t count, unsigned int flags = 0) noexcept;

}  // namespace arsenal::policies
