#include "arsenal/engine/registry.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace arsenal {
namespace {

Operation MakeOp(std::string name) {
  Operation op;
  op.name = std::move(name);
  op.family = "test";
  op.summary = "test operation";
  op.params_schema = {{"type", "object"}, {"properties", {{"x", {{"type", "integer"}}}}}};
  op.permission = "test.read";
  op.http_method = "GET";
  op.http_path = "/api/v1/test/" + op.name;
  op.handler = [](OperationContext&, const Json& p) -> Result<Json> { return p; };
  return op;
}

TEST(RegistryTest, RegistersFindsAndLists) {
  Registry registry;
  ASSERT_TRUE(registry.Register(MakeOp("b_op")));
  ASSERT_TRUE(registry.Register(MakeOp("a_op")));
  Operation other = MakeOp("c_op");
  other.family = "other";
  ASSERT_TRUE(registry.Register(std::move(other)));
  EXPECT_EQ(registry.size(), 3u);
  ASSERT_NE(registry.Find("a_op"), nullptr);
  EXPECT_EQ(registry.Find("a_op")->op.family, "test");
  EXPECT_EQ(registry.Find("missing"), nullptr);
  auto test_ops = registry.List("test");
  ASSERT_EQ(test_ops.size(), 2u);
  EXPECT_EQ(test_ops[0]->op.name, "a_op");  // sorted
  EXPECT_EQ(test_ops[1]->op.name, "b_op");
  EXPECT_EQ(registry.List().size(), 3u);
}

TEST(RegistryTest, RejectsDuplicatesWithConflict) {
  Registry registry;
  ASSERT_TRUE(registry.Register(MakeOp("dup")));
  auto again = registry.Register(MakeOp("dup"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), "registry.duplicate_operation");
  EXPECT_EQ(again.error().category(), ErrorCategory::kConflict);
  EXPECT_EQ(registry.size(), 1u);
}

TEST(RegistryTest, RejectsMalformedDeclarations) {
  struct Case {
    const char* what;
    std::function<void(Operation&)> mutate;
  };
  const Case cases[] = {
      {"bad name", [](Operation& o) { o.name = "Bad-Name"; }},
      {"bad family", [](Operation& o) { o.family = ""; }},
      {"no summary", [](Operation& o) { o.summary.clear(); }},
      {"bad permission", [](Operation& o) { o.permission = "read"; }},
      {"bad method", [](Operation& o) { o.http_method = "FETCH"; }},
      {"bad path", [](Operation& o) { o.http_path = "/v2/x"; }},
      {"no handler", [](Operation& o) { o.handler = nullptr; }},
      {"non-object schema",
       [](Operation& o) {
         o.params_schema = {{"type", "array"}};
       }},
      {"uncompilable schema",
       [](Operation& o) {
         o.params_schema = {{"type", "object"}, {"properties", {{"x", {{"type", 5}}}}}};
       }},
  };
  for (const auto& c : cases) {
    Registry registry;
    Operation op = MakeOp("op");
    c.mutate(op);
    auto status = registry.Register(std::move(op));
    ASSERT_FALSE(status) << c.what;
    EXPECT_EQ(status.error().code(), "registry.invalid_operation") << c.what;
    EXPECT_EQ(registry.size(), 0u) << c.what;
  }
}

TEST(RegistryTest, ClosesObjectSchemasRecursively) {
  Registry registry;
  Operation op = MakeOp("nested");
  op.params_schema = {
      {"type", "object"},
      {"properties",
       {{"spec",
         {{"type", "object"},
          {"properties",
           {{"mounts",
             {{"type", "array"},
              {"items", {{"type", "object"}, {"properties", {{"path", {{"type", "string"}}}}}}}}},
            {"open", {{"type", "object"}, {"additionalProperties", true}}}}}}}}}};
  ASSERT_TRUE(registry.Register(std::move(op)));
  const auto& schema = *registry.Find("nested")->params_schema;
  EXPECT_TRUE(schema.Validate({{"spec", {{"mounts", {{{"path", "/x"}}}}}}}, "e"));
  auto deep = schema.Validate({{"spec", {{"mounts", {{{"path", "/x"}, {"bogus", 1}}}}}}}, "e");
  ASSERT_FALSE(deep);
  EXPECT_EQ(deep.error().details()["field"], "spec.mounts[0].bogus");
  // An explicit additionalProperties is respected.
  EXPECT_TRUE(schema.Validate({{"spec", {{"open", {{"anything", 1}}}}}}, "e"));
}

TEST(RegistryTest, ConcurrentRegistrationAndLookup) {
  Registry registry;
  constexpr int kWriters = 4;
  constexpr int kPerWriter = 50;
  std::atomic<bool> stop{false};
  std::atomic<int> lookups{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        for (const auto& entry : registry.List()) {
          // Every listed entry must be complete and findable.
          ASSERT_FALSE(entry->op.name.empty());
          ASSERT_NE(registry.Find(entry->op.name), nullptr);
        }
        lookups.fetch_add(1);
      }
    });
  }
  std::vector<std::thread> writers;
  std::atomic<int> duplicates{0};
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < kPerWriter; ++i) {
        ASSERT_TRUE(registry.Register(MakeOp("op_" + std::to_string(w) + "_" + std::to_string(i))));
        // Everyone also races on one shared name: exactly one wins overall.
        if (!registry.Register(MakeOp("shared_" + std::to_string(i)))) duplicates.fetch_add(1);
      }
    });
  }
  for (auto& t : writers) t.join();
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(registry.size(), static_cast<size_t>(kWriters * kPerWriter + kPerWriter));
  EXPECT_EQ(duplicates.load(), (kWriters - 1) * kPerWriter);
  EXPECT_GT(lookups.load(), 0);
}

TEST(PrincipalTest, PermissionsMatchExactFamilyWildcardAndStar) {
  Principal viewer{"v", {"sandbox.read", "process.*"}};
  EXPECT_TRUE(viewer.Allows("sandbox.read"));
  EXPECT_FALSE(viewer.Allows("sandbox.write"));
  EXPECT_TRUE(viewer.Allows("process.write"));
  EXPECT_FALSE(viewer.Allows("processes.write"));
  EXPECT_FALSE(viewer.Allows("proc.write"));
  EXPECT_TRUE(Principal::Root().Allows("anything.at_all"));
  const Principal nobody{"nobody", {}};
  EXPECT_FALSE(nobody.Allows("sandbox.read"));
}

}  // namespace
}  // namespace arsenal
