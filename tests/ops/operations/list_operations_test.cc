#include <gtest/gtest.h>

#include "arsenal/engine/engine.h"

namespace arsenal {
namespace {

TEST(ListOperationsOperationTest, ListsEveryRegisteredOperation) {
  auto engine = Engine::Create();
  ASSERT_TRUE(engine) << engine.error().ToString();
  auto result = (*engine)->Execute("list_operations", Json::object(), Principal::Root());
  ASSERT_TRUE(result) << result.error().ToString();
  const auto& ops = (*result)["operations"];
  EXPECT_EQ(ops.size(), (*engine)->registry().size());
  bool found = false;
  for (const auto& op : ops) found |= op["name"] == "describe_operation";
  EXPECT_TRUE(found);
}

TEST(ListOperationsOperationTest, FiltersByFamily) {
  auto engine = Engine::Create();
  ASSERT_TRUE(engine);
  auto result =
      (*engine)->Execute("list_operations", {{"family", "no_such_family"}}, Principal::Root());
  ASSERT_TRUE(result);
  EXPECT_TRUE((*result)["operations"].empty());
  auto meta = (*engine)->Execute("list_operations", {{"family", "operations"}}, Principal::Root());
  ASSERT_TRUE(meta);
  for (const auto& op : (*meta)["operations"]) EXPECT_EQ(op["family"], "operations");
  EXPECT_GE((*meta)["operations"].size(), 2u);
}

TEST(ListOperationsOperationTest, RejectsWrongTypeAndUnknownFields) {
  auto engine = Engine::Create();
  ASSERT_TRUE(engine);
  auto wrong = (*engine)->Execute("list_operations", {{"family", 3}}, Principal::Root());
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().details()["field"], "family");
  auto unknown = (*engine)->Execute("list_operations", {{"bogus", 1}}, Principal::Root());
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().details()["field"], "bogus");
}

}  // namespace
}  // namespace arsenal
