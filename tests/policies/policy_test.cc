#include "arsenal/policies/policy.h"

#include <gtest/gtest.h>
#include <linux/capability.h>

#include <cstring>

#include "arsenal/policies/capabilities.h"

namespace arsenal::policies {
namespace {

TEST(PolicyBuilder, DefaultsAreSecure) {
  auto policy = PolicyBuilder().Build();
  ASSERT_TRUE(policy.has_value()) << policy.error().ToString();
  ASSERT_NE(policy->seccomp, nullptr);
  auto expected = CompileSeccomp(DefaultSeccompProfile(), 0);
  ASSERT_TRUE(expected.has_value());
  // The built-in program (possibly loaded from the persistent cache): the same instructions.
  EXPECT_EQ(policy->seccomp->flags, (*expected)->flags);
  ASSERT_EQ(policy->seccomp->filter.size(), (*expected)->filter.size());
  EXPECT_EQ(std::memcmp(policy->seccomp->filter.data(), (*expected)->filter.data(),
                        policy->seccomp->filter.size() * sizeof(sock_filter)),
            0);
  EXPECT_EQ(policy->seccomp.get(), PolicyBuilder().Build()->seccomp.get());  // memoised
  EXPECT_EQ(policy->keep_caps, 0u);
  EXPECT_TRUE(policy->rlimits.empty());
  EXPECT_FALSE(policy->landlock.fd.valid());
  EXPECT_TRUE(policy->warnings.empty());
}

TEST(PolicyBuilder, CombinesEveryPart) {
  RlimitSpec limits;
  limits.nofile = RlimitValue{256, 256};
  LandlockSpec landlock;
  landlock.paths.push_back({"/usr", landlock::kRead | landlock::kExecute});
  auto policy = PolicyBuilder()
                    .SeccompProfileJson(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
                        {"names": ["mount"], "action": "SCMP_ACT_ERRNO"}]})")
                    .KeepCapabilities({"net_bind_service"})
                    .Rlimits(limits)
                    .Landlock(landlock)
                    .Build();
  ASSERT_TRUE(policy.has_value()) << policy.error().ToString();
  EXPECT_EQ(policy->keep_caps, CapBit(CAP_NET_BIND_SERVICE));
  ASSERT_EQ(policy->rlimits.size(), 1u);
  ASSERT_NE(policy->seccomp, nullptr);
  EXPECT_FALSE(policy->seccomp->filter.empty());
  EXPECT_EQ(policy->landlock.fd.valid(), LandlockAbiVersion() > 0);
}

TEST(PolicyBuilder, KeepsTheFirstError) {
  auto policy =
      PolicyBuilder().KeepCapabilities({"CAP_NOPE"}).SeccompProfileJson("not json").Build();
  ASSERT_FALSE(policy.has_value());
  EXPECT_EQ(policy.error().code(), "capability.unknown");
}

TEST(PolicyBuilder, DisablingSeccompIsExplicitAndWarned) {
  auto policy = PolicyBuilder().WithoutSeccompFilterUnsafe().Build();
  ASSERT_TRUE(policy.has_value());
  EXPECT_EQ(policy->seccomp, nullptr);
  EXPECT_EQ(policy->warnings.size(), 1u);
}

}  // namespace
}  // namespace arsenal::policies
