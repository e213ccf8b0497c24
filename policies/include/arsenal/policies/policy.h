// SandboxPolicy: every precomputed policy artifact of one sandbox, built in one place.
//
// Purpose: the sandbox code asks one builder for the seccomp program, the kept capability mask,
// the rlimit list and the Landlock ruleset, and hands them to the child (namespaces/ spawn takes
// them as plain data: `seccomp->filter`, `keep_caps`, `rlimits`, `landlock.fd.get()`).
//
// Secure by default: a fresh builder yields the built-in seccomp profile, no capabilities, no
// rlimit changes and no Landlock ruleset (filesystem confinement then comes from the mount
// namespace). Weakening needs a named call: KeepCapabilities() (which also widens the seccomp
// profile's capability-conditional rules) or WithoutSeccompFilterUnsafe().
//
// The builder keeps the first error; Build() returns it (later setters are ignored after an
// error, so a chain of calls needs one check).
//
//   ARSENAL_ASSIGN_OR_RETURN(auto policy, PolicyBuilder()
//                                             .SeccompProfileJson(spec_profile_text)
//                                             .KeepCapabilities({"CAP_NET_BIND_SERVICE"})
//                                             .Rlimits(rlimit_spec)
//                                             .Landlock(landlock_spec)
//                                             .Build());
//
// Thread-safety: a builder is used by one thread; the built SandboxPolicy is immutable except for
// moving its ruleset fd out. Build() must run in the parent, never after fork.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arsenal/base/result.h"
#include "arsenal/policies/landlock.h"
#include "arsenal/policies/rlimits.h"
#include "arsenal/policies/seccomp.h"

namespace arsenal::policies {

struct SandboxPolicy {
  // Never null unless WithoutSeccompFilterUnsafe() was called.
  std::shared_ptr<const SeccompProgram> seccomp;
  uint64_t keep_caps = 0;
  RlimitList rlimits;
  LandlockRuleset landlock;  // landlock.fd is invalid when no Landlock spec was given
  std::vector<std::string> warnings;
};

class PolicyBuilder {
 public:
  PolicyBuilder();

  // Replaces the built-in seccomp profile.
  PolicyBuilder& SeccompProfile(SeccompProfile profile);
  PolicyBuilder& SeccompProfileJson(std::string_view json_text);
  // Installs no seccomp filter at all. Only for trusted workloads and debugging.
  PolicyBuilder& WithoutSeccompFilterUnsafe();
  // Capability names as in capabilities(7); replaces any earlier call.
  PolicyBuilder& KeepCapabilities(const std::vector<std::string>& names);
  PolicyBuilder& KeepCapabilityMask(uint64_t mask);
  PolicyBuilder& Rlimits(const RlimitSpec& spec);
  PolicyBuilder& Landlock(LandlockSpec spec);

  // Validates, compiles (through the global seccomp cache) and builds the Landlock ruleset.
  Result<SandboxPolicy> Build();

 private:
  std::optional<Error> error_;
  std::optional<policies::SeccompProfile> profile_;  // empty = built-in default
  bool no_seccomp_ = false;
  uint64_t caps_ = 0;
  RlimitSpec rlimits_;
  std::optional<LandlockSpec> landlock_;
};

}  // namespace arsenal::policies
