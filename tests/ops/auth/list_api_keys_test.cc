#include <gtest/gtest.h>

#include "arsenal/engine/engine.h"

namespace arsenal {
namespace {

TEST(ListApiKeysOperationTest, PagesAndFilters) {
  auto engine = Engine::Create();
  ASSERT_TRUE(engine) << engine.error().ToString();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE((*engine)->Execute(
        "create_api_key",
        {{"name", "k" + std::to_string(i)}, {"role", i % 2 ? "viewer" : "operator"}},
        Principal::Root()));
  }
  auto page1 = (*engine)->Execute("list_api_keys", {{"page", {{"size", 2}}}, {"sort", "name"}},
                                  Principal::Root());
  ASSERT_TRUE(page1) << page1.error().ToString();
  ASSERT_EQ((*page1)["items"].size(), 2u);
  EXPECT_EQ((*page1)["items"][0]["name"], "k0");
  ASSERT_TRUE((*page1)["next_cursor"].is_string());
  EXPECT_TRUE((*page1)["prev_cursor"].is_null());
  auto page2 = (*engine)->Execute(
      "list_api_keys",
      {{"page", {{"size", 2}, {"after", (*page1)["next_cursor"]}}}, {"sort", "name"}},
      Principal::Root());
  ASSERT_TRUE(page2) << page2.error().ToString();
  EXPECT_EQ((*page2)["items"][0]["name"], "k2");
  auto viewers =
      (*engine)->Execute("list_api_keys", {{"filter", {{"role", "viewer"}}}}, Principal::Root());
  ASSERT_TRUE(viewers);
  EXPECT_EQ((*viewers)["items"].size(), 2u);
}

TEST(ListApiKeysOperationTest, RejectsUnknownFields) {
  auto engine = Engine::Create();
  ASSERT_TRUE(engine);
  auto result = (*engine)->Execute("list_api_keys", {{"bogus", 1}}, Principal::Root());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), "operation.invalid_params");
}

}  // namespace
}  // namespace arsenal
