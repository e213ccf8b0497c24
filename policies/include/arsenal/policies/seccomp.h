// Compiling seccomp profiles to BPF (libseccomp), with a process-wide cache.
//
// Purpose: the parent turns a SeccompProfile plus the kept capability mask into a classic BPF
// program (`std::vector<sock_filter>`) once; the child loads it with ApplySeccomp() after
// SetNoNewPrivs() (arsenal/policies/child.h). Generating a ~350-rule filter costs ~1 ms while
// loading pre-built BPF costs ~0.1 ms, so compiled programs are cached, keyed by the effective
// profile (after includes/excludes), the capability mask, the native architecture and the
// running kernel version. Two sandboxes with the same policy share one immutable program.
//
// Semantics follow Docker (moby profiles/seccomp + runc): includes/excludes are evaluated
// against the kept capabilities, the native architecture (Go name) and the running kernel;
// archMap adds the native architecture's sub-architectures; rules whose action equals the
// default action are skipped; names libseccomp knows but that do not exist on an architecture in
// the filter are skipped for that architecture; a rule with several conditions on the same
// argument index becomes one rule per condition (OR), as runc does. Architectures outside the
// filter are killed (SCMP_ACT_KILL_PROCESS).
//
// Thread-safety: CompileSeccomp and SeccompCache are safe to call from any thread. Never call
// them in a forked child.
#pragma once

#include <linux/filter.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "arsenal/base/result.h"
#include "arsenal/policies/seccomp_profile.h"

namespace arsenal::policies {

// An immutable compiled filter, ready for ApplySeccomp(filter.data(), filter.size(), flags).
struct SeccompProgram {
  std::vector<sock_filter> filter;
  unsigned int flags = 0;  // SECCOMP_FILTER_FLAG_* named by the profile's "flags"
  uint64_t key_hash = 0;   // 64-bit hash of the cache key, for logs and metrics
};

// The environment includes/excludes are evaluated in. Defaults: the running system.
struct SeccompEnvironment {
  uint64_t caps = 0;                    // kept capabilities (bit N = CAP N)
  std::string go_arch;                  // empty = NativeGoArch()
  std::optional<KernelVersion> kernel;  // empty = RunningKernelVersion()
};

// The profile after includes/excludes: what actually goes into the filter.
struct EffectiveSeccompRule {
  std::vector<std::string> names;
  SeccompAction action;
  uint32_t ret = 0;  // errno for kErrno, message for kTrace
  std::vector<SeccompArg> args;
};
struct EffectiveSeccompPolicy {
  SeccompAction default_action;
  uint32_t default_ret = 0;
  std::vector<uint32_t> architectures;  // beyond the native one
  unsigned int flags = 0;
  std::vector<EffectiveSeccompRule> rules;
  // Canonical text of everything above plus caps, native arch and kernel: the cache key.
  std::string CacheKey(const SeccompEnvironment& env) const;
};

// Evaluates includes/excludes. Errors: seccomp.unsupported (SCMP_ACT_NOTIFY or listenerPath: a
// filter that notifies needs a listener fd, which this API does not carry), seccomp.invalid_value
// (architectures and archMap both given, unknown flag).
Result<EffectiveSeccompPolicy> ResolveSeccompProfile(const SeccompProfile& profile,
                                                     const SeccompEnvironment& env);

// Compiles without the cache. Errors: seccomp.compile_failed (internal; libseccomp refused a rule,
// the message names the syscall and the errno).
Result<std::shared_ptr<const SeccompProgram>> CompileSeccompUncached(
    const EffectiveSeccompPolicy& policy);

// Statistics of a cache, for tests and metrics.
struct SeccompCacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t compilations = 0;
  size_t entries = 0;
};

// A bounded, thread-safe cache of compiled programs (oldest entry evicted first).
class SeccompCache {
 public:
  explicit SeccompCache(size_t capacity = 64);
  ~SeccompCache();
  SeccompCache(const SeccompCache&) = delete;
  SeccompCache& operator=(const SeccompCache&) = delete;

  Result<std::shared_ptr<const SeccompProgram>> Get(const SeccompProfile& profile,
                                                    const SeccompEnvironment& env);
  SeccompCacheStats Stats() const;
  void Clear();

  // The process-wide cache CompileSeccomp uses.
  static SeccompCache& Global();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Resolve + compile through the global cache, for the running system and `keep_caps`.
Result<std::shared_ptr<const SeccompProgram>> CompileSeccomp(const SeccompProfile& profile,
                                                             uint64_t keep_caps);

// The built-in profile (DefaultSeccompProfile) compiled for `keep_caps`, without parsing or
// compiling it when a valid persistent copy exists. A fresh process (a one-shot `arsenal run`)
// otherwise pays ~1 ms (more in debug builds) to parse and compile it before every sandbox.
//
// The persistent cache is one file per (built-in profile text, caps, native architecture,
// kernel version, libseccomp version), holding that key and the BPF program; it is read only
// when the key matches exactly. Directory: $ARSENAL_CACHE_DIR/seccomp, else
// /var/cache/arsenal/seccomp for root, else $XDG_CACHE_HOME (or ~/.cache)/arsenal/seccomp;
// ARSENAL_CACHE_DIR=off disables it. Security: a cached filter is applied to sandboxes, so the
// directory and the file must be owned by the effective uid and writable by nobody else, or
// they are ignored (and the program compiled as usual). Files are written atomically (rename).
// Any cache problem falls back to compiling; errors are only those of compiling.
Result<std::shared_ptr<const SeccompProgram>> CompileDefaultSeccomp(uint64_t keep_caps);

// Where CompileDefaultSeccomp keeps its files ("" when disabled). For tests and `arsenal check`.
std::string SeccompCacheDirectory();

}  // namespace arsenal::policies
