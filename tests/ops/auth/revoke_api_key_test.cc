#include <gtest/gtest.h>

#include "arsenal/engine/api_keys.h"
#include "arsenal/engine/engine.h"

namespace arsenal {
namespace {

TEST(RevokeApiKeyOperationTest, RevokedKeyStopsWorking) {
  auto engine = Engine::Create();
  ASSERT_TRUE(engine) << engine.error().ToString();
  auto created = (*engine)->Execute("create_api_key", {{"role", "admin"}}, Principal::Root());
  ASSERT_TRUE(created);
  const std::string key = (*created)["key"];
  auto& keys = (*engine)->Service<ApiKeys>();
  ASSERT_TRUE(keys.Authenticate(key));
  auto revoked =
      (*engine)->Execute("revoke_api_key", {{"id", (*created)["id"]}}, Principal::Root());
  ASSERT_TRUE(revoked) << revoked.error().ToString();
  EXPECT_TRUE((*revoked)["revoked"].get<bool>());
  EXPECT_FALSE(keys.Authenticate(key));
  // Idempotent.
  EXPECT_TRUE((*engine)->Execute("revoke_api_key", {{"id", (*created)["id"]}}, Principal::Root()));
}

TEST(RevokeApiKeyOperationTest, UnknownIdIsNotFound) {
  auto engine = Engine::Create();
  ASSERT_TRUE(engine);
  auto result = (*engine)->Execute("revoke_api_key", {{"id", "0123456789ab"}}, Principal::Root());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), "auth.key_not_found");
}

}  // namespace
}  // namespace arsenal
