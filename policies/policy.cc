#include "arsenal/policies/policy.h"

#include "arsenal/policies/capabilities.h"

namespace arsenal::policies {

PolicyBuilder::PolicyBuilder() = default;

PolicyBuilder& PolicyBuilder::SeccompProfile(policies::SeccompProfile profile) {
  if (!error_) profile_ = std::move(profile);
  return *this;
}

PolicyBuilder& PolicyBuilder::SeccompProfileJson(std::string_view json_text) {
  if (error_) return *this;
  auto profile = ParseSeccompProfile(json_text);
  if (!profile) {
    error_ = std::move(profile).error();
  } else {
    profile_ = std::move(*profile);
  }
  return *this;
}

PolicyBuilder& PolicyBuilder::WithoutSeccompFilterUnsafe() {
  no_seccomp_ = true;
  return *this;
}

PolicyBuilder& PolicyBuilder::KeepCapabilities(const std::vector<std::string>& names) {
  if (error_) return *this;
  auto mask = ParseCapabilityList(names, "capabilities");
  if (!mask) {
    error_ = std::move(mask).error();
  } else {
    caps_ = *mask;
  }
  return *this;
}

PolicyBuilder& PolicyBuilder::KeepCapabilityMask(uint64_t mask) {
  caps_ = mask;
  return *this;
}

PolicyBuilder& PolicyBuilder::Rlimits(const RlimitSpec& spec) {
  rlimits_ = spec;
  return *this;
}

PolicyBuilder& PolicyBuilder::Landlock(LandlockSpec spec) {
  landlock_ = std::move(spec);
  return *this;
}

Result<SandboxPolicy> PolicyBuilder::Build() {
  if (error_) return Fail(*error_);
  SandboxPolicy policy;
  policy.keep_caps = caps_;
  if (!no_seccomp_) {
    // The built-in profile goes through the persistent cache (no parse, no compile when warm).
    ARSENAL_ASSIGN_OR_RETURN(
        policy.seccomp, profile_ ? CompileSeccomp(*profile_, caps_) : CompileDefaultSeccomp(caps_));
  } else {
    policy.warnings.push_back("no seccomp filter: the sandbox may use every syscall");
  }
  ARSENAL_ASSIGN_OR_RETURN(policy.rlimits, BuildRlimits(rlimits_));
  if (landlock_) {
    ARSENAL_ASSIGN_OR_RETURN(policy.landlock, BuildLandlockRuleset(*landlock_));
    for (auto& w : policy.landlock.warnings) policy.warnings.push_back(w);
  }
  return policy;
}

}  // namespace arsenal::policies
