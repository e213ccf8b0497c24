#include <gtest/gtest.h>

#include "arsenal/engine/api_keys.h"
#include "arsenal/engine/engine.h"

namespace arsenal {
namespace {

TEST(CreateApiKeyOperationTest, ReturnsAWorkingKeyOnce) {
  auto engine = Engine::Create();
  ASSERT_TRUE(engine) << engine.error().ToString();
  auto created =
      (*engine)->Execute("create_api_key", {{"name", "ci"}, {"role", "viewer"}}, Principal::Root());
  ASSERT_TRUE(created) << created.error().ToString();
  const std::string key = (*created)["key"];
  EXPECT_TRUE(key.starts_with("ars_"));
  auto principal = (*engine)->Service<ApiKeys>().Authenticate(key);
  ASSERT_TRUE(principal) << principal.error().ToString();
  EXPECT_EQ(principal->id, "key:" + (*created)["id"].get<std::string>());
  EXPECT_TRUE(principal->Allows("operations.read"));
  EXPECT_FALSE(principal->Allows("auth.read"));
  // The listing never carries the secret.
  auto listed = (*engine)->Execute("list_api_keys", Json::object(), Principal::Root());
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->dump().find(key), std::string::npos);
  EXPECT_EQ(listed->dump().find("\"key\""), std::string::npos);
}

TEST(CreateApiKeyOperationTest, RejectsUnknownRole) {
  auto engine = Engine::Create();
  ASSERT_TRUE(engine);
  auto result = (*engine)->Execute("create_api_key", {{"role", "superuser"}}, Principal::Root());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), "auth.unknown_role");
}

TEST(CreateApiKeyOperationTest, StoresOnlyAHash) {
  auto engine = Engine::Create();
  ASSERT_TRUE(engine);
  auto created = (*engine)->Execute("create_api_key", {{"role", "admin"}}, Principal::Root());
  ASSERT_TRUE(created);
  auto rows = (*engine)->store().Query("SELECT * FROM api_keys");
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  const std::string key = (*created)["key"];
  EXPECT_EQ(Json(*rows).dump().find(key.substr(17)), std::string::npos);
  EXPECT_EQ((*rows)[0]["key_sha256"].get<std::string>().size(), 64u);
}

TEST(CreateApiKeyOperationTest, CustomRolesFromConfig) {
  EngineOptions options;
  options.config = {{"api", {{"roles", {{"sandboxer", {"sandbox.*", "operations.read"}}}}}}};
  auto engine = Engine::Create(options);
  ASSERT_TRUE(engine);
  auto created = (*engine)->Execute("create_api_key", {{"role", "sandboxer"}}, Principal::Root());
  ASSERT_TRUE(created) << created.error().ToString();
  auto principal = (*engine)->Service<ApiKeys>().Authenticate((*created)["key"].get<std::string>());
  ASSERT_TRUE(principal);
  EXPECT_TRUE(principal->Allows("sandbox.write"));
  EXPECT_TRUE(principal->Allows("operations.read"));
  EXPECT_FALSE(principal->Allows("auth.write"));
}

TEST(CreateApiKeyOperationTest, RejectsWrongAndMalformedKeys) {
  auto engine = Engine::Create();
  ASSERT_TRUE(engine);
  auto created = (*engine)->Execute("create_api_key", {{"role", "admin"}}, Principal::Root());
  ASSERT_TRUE(created);
  std::string key = (*created)["key"];
  auto& keys = (*engine)->Service<ApiKeys>();
  std::string wrong = key;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  for (const std::string& bad :
       {wrong, std::string("ars_"), std::string(""), std::string("Bearer x"), key + "x"}) {
    auto p = keys.Authenticate(bad);
    ASSERT_FALSE(p) << bad;
    EXPECT_EQ(p.error().code(), "auth.invalid_key");
    EXPECT_EQ(p.error().category(), ErrorCategory::kUnauthenticated);
  }
}

}  // namespace
}  // namespace arsenal
