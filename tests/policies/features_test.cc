#include "arsenal/policies/features.h"

#include <gtest/gtest.h>

#include "arsenal/policies/landlock.h"

namespace arsenal::policies {
namespace {

TEST(PolicyFeatures, DetectsThisMachine) {
  PolicyFeatures f = DetectPolicyFeatures();
  EXPECT_TRUE(f.seccomp_filter);
  EXPECT_FALSE(f.libseccomp_version.empty());
  EXPECT_GE(f.libseccomp_api, 1u);
  EXPECT_EQ(f.landlock_abi, LandlockAbiVersion());
  EXPECT_GT(f.last_capability, 30);
  Json j = f.ToJson();
  EXPECT_TRUE(j["seccomp"]["filter"].get<bool>());
  EXPECT_EQ(j["landlock"]["abi"].get<int>(), f.landlock_abi);
  EXPECT_TRUE(j["cgroups"].contains("mode"));
  if (f.cgroup_mode != CgroupMode::kNone) {
    EXPECT_TRUE(f.cgroup_backend.has_value());
  }
}

}  // namespace
}  // namespace arsenal::policies
