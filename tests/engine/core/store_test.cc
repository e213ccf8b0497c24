#include "arsenal/engine/store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "arsenal/engine/audit.h"

namespace arsenal {
namespace {

TEST(StoreTest, RunQueryAndTypedBinds) {
  auto store = Store::Open(":memory:");
  ASSERT_TRUE(store) << store.error().ToString();
  ASSERT_TRUE((*store)->Exec("CREATE TABLE t(i INTEGER, r REAL, s TEXT, n TEXT, j TEXT)"));
  ASSERT_TRUE((*store)->Run("INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)",
                            {42, 1.5, "it's", nullptr, Json{{"k", true}}}));
  ASSERT_TRUE(
      (*store)->Run("INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)", {true, 2.0, "b", "x", 7u}));
  auto rows = (*store)->Query("SELECT * FROM t WHERE i = ?1", {42});
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0]["i"], 42);
  EXPECT_EQ((*rows)[0]["r"], 1.5);
  EXPECT_EQ((*rows)[0]["s"], "it's");
  EXPECT_TRUE((*rows)[0]["n"].is_null());
  EXPECT_EQ(Json::parse((*rows)[0]["j"].get<std::string>())["k"], true);
  auto bools = (*store)->Query("SELECT i FROM t WHERE s = 'b'");
  ASSERT_TRUE(bools);
  EXPECT_EQ((*bools)[0]["i"], 1);
}

TEST(StoreTest, ErrorsAreReportedNotThrown) {
  auto store = Store::Open(":memory:");
  ASSERT_TRUE(store);
  auto bad = (*store)->Query("SELECT * FROM missing_table");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), "store.sqlite_error");
  EXPECT_NE(bad.error().message().find("missing_table"), std::string::npos);
  EXPECT_FALSE((*store)->Exec("NOT SQL"));
  auto unopenable = Store::Open("/nonexistent-dir/x/arsenal.db");
  ASSERT_FALSE(unopenable);
  EXPECT_EQ(unopenable.error().details()["path"], "/nonexistent-dir/x/arsenal.db");
}

TEST(StoreTest, TransactionRollsBackOnFailure) {
  auto store = Store::Open(":memory:");
  ASSERT_TRUE(store);
  ASSERT_TRUE((*store)->Exec("CREATE TABLE t(i INTEGER)"));
  auto failed = (*store)->Transaction([](Store& s) -> Status {
    ARSENAL_TRY(s.Run("INSERT INTO t VALUES (1)"));
    return Fail(InternalError("test.abort", "abort"));
  });
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code(), "test.abort");
  EXPECT_TRUE((*store)->Query("SELECT * FROM t")->empty());
  ASSERT_TRUE((*store)->Transaction([](Store& s) { return s.Run("INSERT INTO t VALUES (2)"); }));
  EXPECT_EQ((*store)->Query("SELECT * FROM t")->size(), 1u);
}

TEST(StoreTest, MigrationsRunOnce) {
  auto store = Store::Open(":memory:");
  ASSERT_TRUE(store);
  ASSERT_TRUE((*store)->Migrate("c", 1, "CREATE TABLE m(i INTEGER)"));
  ASSERT_TRUE((*store)->Migrate("c", 1, "CREATE TABLE m(i INTEGER)"));  // would fail if rerun
  ASSERT_TRUE((*store)->Migrate("c", 2, "ALTER TABLE m ADD COLUMN j INTEGER"));
  EXPECT_FALSE((*store)->Migrate("c", 3, "BROKEN SQL"));
  auto applied = (*store)->Query("SELECT version FROM schema_migrations WHERE component='c'");
  ASSERT_TRUE(applied);
  EXPECT_EQ(applied->size(), 2u);
}

TEST(AuditLogTest, RecordsAreBatchedAndQueryable) {
  auto store = Store::Open(":memory:");
  ASSERT_TRUE(store);
  auto audit = AuditLog::Open(**store);
  ASSERT_TRUE(audit) << audit.error().ToString();
  for (int i = 0; i < 100; ++i) {
    (*audit)->Record({1000 + i, i % 2 ? "alice" : "bob", i % 3 ? "op_a" : "op_b",
                      DigestParams({{"i", i}}), "ok", i, "req-" + std::to_string(i)});
  }
  ASSERT_TRUE((*audit)->Flush());
  auto recent = (*audit)->Recent(5);
  ASSERT_TRUE(recent);
  ASSERT_EQ(recent->size(), 5u);
  EXPECT_EQ((*recent)[0].request_id, "req-99");
  auto alice_b = (*audit)->Recent(1000, "op_b", "alice");
  ASSERT_TRUE(alice_b);
  for (const auto& e : *alice_b) {
    EXPECT_EQ(e.principal, "alice");
    EXPECT_EQ(e.operation, "op_b");
  }
  EXPECT_EQ(alice_b->size(), 17u);  // odd i divisible by 3 in [0,100)
  EXPECT_EQ((*audit)->write_failures(), 0u);
  EXPECT_EQ((*recent)[0].ToJson()["outcome"], "ok");
}

TEST(AuditLogTest, DigestIsStableAndHidesValues) {
  const Json a = {{"b", 1}, {"a", "secret"}};
  const Json b = Json::parse(R"({"a":"secret","b":1})");
  EXPECT_EQ(DigestParams(a), DigestParams(b));
  EXPECT_EQ(DigestParams(a).size(), 64u);
  EXPECT_EQ(DigestParams(a).find("secret"), std::string::npos);
  EXPECT_NE(DigestParams(a), DigestParams({{"a", "other"}, {"b", 1}}));
}

TEST(AuditLogTest, PersistsInAFileDatabase) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("arsenal-audit-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "a.db").string();
  {
    auto store = Store::Open(path);
    ASSERT_TRUE(store);
    auto audit = AuditLog::Open(**store);
    ASSERT_TRUE(audit);
    (*audit)->Record({1, "p", "op", DigestParams({}), "ok", 1, "r1"});
  }
  {
    auto store = Store::Open(path);
    ASSERT_TRUE(store);
    auto audit = AuditLog::Open(**store);
    ASSERT_TRUE(audit);
    auto recent = (*audit)->Recent(10);
    ASSERT_TRUE(recent);
    ASSERT_EQ(recent->size(), 1u);
    EXPECT_EQ((*recent)[0].request_id, "r1");
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace arsenal
