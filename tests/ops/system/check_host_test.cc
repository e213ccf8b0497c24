#include <gtest/gtest.h>

#include <set>

#include "arsenal/engine/engine.h"
#include "arsenal/namespaces/features.h"
#include "arsenal/policies/features.h"

namespace arsenal {
namespace {

const Json* FindFeature(const Json& result, const std::string& name) {
  for (const auto& f : result["features"]) {
    if (f["name"] == name) return &f;
  }
  return nullptr;
}

TEST(CheckHostOperationTest, ReportsWhatTheProbesSee) {
  auto engine = Engine::Create();
  ASSERT_TRUE(engine) << engine.error().ToString();
  auto result = (*engine)->Execute("check_host", Json::object(), Principal::Root());
  ASSERT_TRUE(result) << result.error().ToString();
  const auto& kernel = ns::DetectKernelFeatures();
  const auto policy = policies::DetectPolicyFeatures();
  const Json* userns = FindFeature(*result, "user_namespaces");
  ASSERT_NE(userns, nullptr);
  EXPECT_EQ((*userns)["present"], kernel.user_namespaces);
  const Json* landlock = FindFeature(*result, "landlock");
  ASSERT_NE(landlock, nullptr);
  EXPECT_EQ((*landlock)["present"], policy.landlock_abi > 0);
  EXPECT_EQ((*result)["raw"]["landlock"]["abi"], policy.landlock_abi);
  const Json* time_ns = FindFeature(*result, "time_namespace");
  ASSERT_NE(time_ns, nullptr);
  EXPECT_EQ((*time_ns)["present"], kernel.time_namespace);
  ASSERT_NE(FindFeature(*result, "seccomp_user_notification"), nullptr);
  ASSERT_NE(FindFeature(*result, "pidfd"), nullptr);
  ASSERT_NE(FindFeature(*result, "cgroup.memory"), nullptr);
}

TEST(CheckHostOperationTest, EveryMissingFeatureSaysWhatItCostsAndHowToFixIt) {
  auto engine = Engine::Create();
  ASSERT_TRUE(engine);
  auto result = (*engine)->Execute("check_host", Json::object(), Principal::Root());
  ASSERT_TRUE(result);
  std::set<std::string> missing;
  for (const auto& name : (*result)["missing"]) missing.insert(name.get<std::string>());
  bool ready = true;
  for (const auto& f : (*result)["features"]) {
    const bool present = f["present"].get<bool>();
    EXPECT_EQ(missing.count(f["name"].get<std::string>()), present ? 0u : 1u) << f.dump();
    if (!present) {
      EXPECT_FALSE(f.value("impact", "").empty()) << f.dump();
      EXPECT_FALSE(f.value("fix", "").empty()) << f.dump();
      if (f["required"].get<bool>()) ready = false;
    } else {
      EXPECT_FALSE(f.contains("fix")) << f.dump();
    }
  }
  EXPECT_EQ((*result)["ready"], ready);
}

TEST(CheckHostOperationTest, RejectsUnknownFields) {
  auto engine = Engine::Create();
  ASSERT_TRUE(engine);
  auto result = (*engine)->Execute("check_host", {{"bogus", 1}}, Principal::Root());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), "operation.invalid_params");
  EXPECT_EQ(result.error().details()["field"], "bogus");
}

TEST(CheckHostOperationTest, NeedsSystemReadPermission) {
  auto engine = Engine::Create();
  ASSERT_TRUE(engine);
  auto denied = (*engine)->Execute("check_host", Json::object(), Principal{"viewer", {"x.read"}});
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().category(), ErrorCategory::kPermission);
}

}  // namespace
}  // namespace arsenal
