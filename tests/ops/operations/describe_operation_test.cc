#include <gtest/gtest.h>

#include "arsenal/engine/engine.h"

namespace arsenal {
namespace {

TEST(DescribeOperationOperationTest, DescribesARegisteredOperation) {
  auto engine = Engine::Create();
  ASSERT_TRUE(engine) << engine.error().ToString();
  auto result =
      (*engine)->Execute("describe_operation", {{"name", "list_operations"}}, Principal::Root());
  ASSERT_TRUE(result) << result.error().ToString();
  EXPECT_EQ((*result)["name"], "list_operations");
  EXPECT_EQ((*result)["http"]["method"], "GET");
  EXPECT_EQ((*result)["http"]["path"], "/api/v1/operations");
  EXPECT_EQ((*result)["permission"], "operations.read");
  // The registry closes object schemas, so describe shows what validation enforces.
  EXPECT_EQ((*result)["params_schema"]["additionalProperties"], false);
}

TEST(DescribeOperationOperationTest, UnknownNameIsNotFound) {
  auto engine = Engine::Create();
  ASSERT_TRUE(engine);
  auto result = (*engine)->Execute("describe_operation", {{"name", "nope"}}, Principal::Root());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), "operation.not_found");
  EXPECT_EQ(result.error().category(), ErrorCategory::kNotFound);
}

TEST(DescribeOperationOperationTest, MissingNameIsAValidationError) {
  auto engine = Engine::Create();
  ASSERT_TRUE(engine);
  auto result = (*engine)->Execute("describe_operation", Json::object(), Principal::Root());
  ASSERT_FALSE(result);
  EXPECT_EQ(result.error().code(), "operation.invalid_params");
  EXPECT_NE(result.error().message().find("name"), std::string::npos);
}

}  // namespace
}  // namespace arsenal
