#include "arsenal/engine/audit.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "arsenal/engine/store.h"

namespace arsenal {
namespace {

struct AuditFixture {
  std::unique_ptr<Store> store;
  std::unique_ptr<AuditLog> audit;
};

AuditFixture OpenAudit() {
  AuditFixture f;
  auto store = Store::Open(":memory:");
  EXPECT_TRUE(store);
  if (!store) return f;
  f.store = std::move(*store);
  auto audit = AuditLog::Open(*f.store);
  EXPECT_TRUE(audit);
  if (audit) f.audit = std::move(*audit);
  return f;
}

int64_t CountRows(Store& store) {
  auto rows = store.Query("SELECT COUNT(*) AS n FROM audit");
  EXPECT_TRUE(rows);
  return rows ? (*rows)[0]["n"].get<int64_t>() : -1;
}

TEST(AuditDigestTest, IsTheSha256OfTheCompactDump) {
  // sha256 of "{}" and of {"a":"x","b":1}: keys sorted, no spaces.
  EXPECT_EQ(DigestParams(Json::object()),
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
  EXPECT_EQ(DigestParams({{"b", 1}, {"a", "x"}}),
            "cdab067e9f3beb32d1252cfd63e492592fecbf591b0d08cadb24bb17f3864246");
}

TEST(AuditDigestTest, ReusedBuffersDoNotLeakIntoTheNextDigest) {
  const Json small = {{"a", "x"}, {"b", 1}};
  const std::string expected = DigestParams(small);
  const Json big = {{"blob", std::string(100000, 'z')}};
  const std::string big_digest = DigestParams(big);
  EXPECT_NE(big_digest, expected);
  EXPECT_EQ(DigestParams(small), expected);
  EXPECT_EQ(DigestParams(big), big_digest);
  // Another thread has its own scratch and gets the same answers.
  std::string from_thread;
  std::thread([&] { from_thread = DigestParams(small); }).join();
  EXPECT_EQ(from_thread, expected);
}

TEST(AuditDigestTest, InvalidUtf8StillHasADigest) {
  const Json bad = {{"s", std::string("\xff\xfe ok")}};
  std::string digest;
  EXPECT_NO_THROW(digest = DigestParams(bad));
  EXPECT_EQ(digest.size(), 64u);
  EXPECT_NE(digest, DigestParams({{"s", " ok"}}));
}

TEST(AuditLogTest, RecordCallWritesWhatRecordWould) {
  auto f = OpenAudit();
  ASSERT_TRUE(f.audit);
  const Json params = {{"n", 7}, {"name", "web"}};
  const std::string long_principal(120, 'p');  // longer than the inline buffer
  f.audit->RecordCall({.time_unix_ms = 1234,
                       .principal = long_principal,
                       .operation = "start_process",
                       .params = params,
                       .outcome = "process.spawn_failed.with_a_rather_long_error_code_name",
                       .duration_us = 99,
                       .request_id = "req-1"});
  f.audit->Record({1235, "bob", "stop_process", DigestParams(params), "ok", 5, "req-2"});
  ASSERT_TRUE(f.audit->Flush());
  auto recent = f.audit->Recent(10);
  ASSERT_TRUE(recent);
  ASSERT_EQ(recent->size(), 2u);
  const AuditEntry& call = (*recent)[1];
  EXPECT_EQ(call.time_unix_ms, 1234);
  EXPECT_EQ(call.principal, long_principal);
  EXPECT_EQ(call.operation, "start_process");
  EXPECT_EQ(call.params_digest, DigestParams(params));
  EXPECT_EQ(call.outcome, "process.spawn_failed.with_a_rather_long_error_code_name");
  EXPECT_EQ(call.duration_us, 99);
  EXPECT_EQ(call.request_id, "req-1");
  EXPECT_EQ((*recent)[0].params_digest, call.params_digest);
  EXPECT_EQ((*recent)[0].principal, "bob");
}

TEST(AuditLogTest, ManyEntriesAreWrittenInOrder) {
  auto f = OpenAudit();
  ASSERT_TRUE(f.audit);
  const Json params = Json::object();
  // Hold the store so the writer falls behind: the entries pile up in many queue chunks (more
  // than are kept for reuse) and are written as one batch in several transactions.
  std::promise<void> holding;
  std::atomic<bool> release{false};
  std::thread holder([&] {
    (void)f.store->Transaction([&](Store&) -> Status {
      holding.set_value();
      while (!release.load()) std::this_thread::yield();
      return {};
    });
  });
  holding.get_future().wait();
  constexpr int kEntries = 5000;
  for (int i = 0; i < kEntries; ++i) {
    const std::string id = "r" + std::to_string(i);
    f.audit->RecordCall({.time_unix_ms = i,
                         .principal = "p",
                         .operation = "op",
                         .params = params,
                         .outcome = "ok",
                         .duration_us = i,
                         .request_id = id});
  }
  release = true;
  holder.join();
  ASSERT_TRUE(f.audit->Flush());
  auto rows = f.store->Query("SELECT request_id, duration_us FROM audit ORDER BY id");
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), static_cast<size_t>(kEntries));
  for (int i = 0; i < kEntries; ++i) {
    ASSERT_EQ((*rows)[i]["request_id"], "r" + std::to_string(i));
    ASSERT_EQ((*rows)[i]["duration_us"], i);
  }
  EXPECT_EQ(f.audit->write_failures(), 0u);
}

TEST(AuditLogTest, ConcurrentRecordersKeepTheirOwnOrder) {
  auto f = OpenAudit();
  ASSERT_TRUE(f.audit);
  const Json params = {{"x", 1}};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        f.audit->RecordCall({.principal = "t" + std::to_string(t),
                             .operation = "op",
                             .params = params,
                             .outcome = "ok",
                             .duration_us = i});
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(f.audit->Flush());
  auto rows = f.store->Query("SELECT principal, duration_us FROM audit ORDER BY id");
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 2000u);
  std::vector<int64_t> next(4, 0);
  for (const auto& row : *rows) {
    const int t = std::stoi(row["principal"].get<std::string>().substr(1));
    ASSERT_EQ(row["duration_us"].get<int64_t>(), next[t]++);
  }
}

TEST(AuditLogTest, DestructorWritesEverythingStillQueued) {
  auto f = OpenAudit();
  ASSERT_TRUE(f.audit);
  const Json params = Json::object();
  for (int i = 0; i < 3000; ++i) {
    f.audit->RecordCall({.principal = "p", .operation = "op", .params = params, .outcome = "ok"});
  }
  f.audit.reset();  // no Flush: shutting down must not lose entries
  EXPECT_EQ(CountRows(*f.store), 3000);
}

TEST(AuditLogTest, AFailedBatchIsCountedAndReported) {
  auto f = OpenAudit();
  ASSERT_TRUE(f.audit);
  ASSERT_TRUE(f.store->Exec("DROP TABLE audit"));
  f.audit->RecordCall(
      {.principal = "p", .operation = "op", .params = Json::object(), .outcome = "ok"});
  auto flushed = f.audit->Flush();
  ASSERT_FALSE(flushed);
  EXPECT_EQ(flushed.error().code(), "store.sqlite_error");
  EXPECT_EQ(f.audit->write_failures(), 1u);
}

TEST(StoreRunEachTest, PreparesOnceAndRunsPerRow) {
  auto store = Store::Open(":memory:");
  ASSERT_TRUE(store);
  ASSERT_TRUE((*store)->Exec("CREATE TABLE t(i INTEGER PRIMARY KEY, s TEXT NOT NULL)"));
  ASSERT_TRUE((*store)->RunEach("INSERT INTO t(i, s) VALUES (?1, ?2)", 3,
                                [](size_t i, std::vector<Json>& values) {
                                  EXPECT_TRUE(values.empty());
                                  values.emplace_back(static_cast<int64_t>(i));
                                  values.emplace_back("row " + std::to_string(i));
                                }));
  auto rows = (*store)->Query("SELECT s FROM t ORDER BY i");
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 3u);
  EXPECT_EQ((*rows)[2]["s"], "row 2");
  // Zero runs is a no-op; errors name the failing step.
  EXPECT_TRUE((*store)->RunEach("INSERT INTO t(i, s) VALUES (?1, ?2)", 0,
                                [](size_t, std::vector<Json>&) { ADD_FAILURE(); }));
  auto bad_sql =
      (*store)->RunEach("INSERT INTO nowhere VALUES (1)", 1, [](size_t, std::vector<Json>&) {});
  ASSERT_FALSE(bad_sql);
  EXPECT_NE(bad_sql.error().message().find("prepare"), std::string::npos);
  auto null_text = (*store)->RunEach("INSERT INTO t(i, s) VALUES (?1, ?2)", 2,
                                     [](size_t i, std::vector<Json>& values) {
                                       values.emplace_back(static_cast<int64_t>(10 + i));
                                       values.emplace_back(nullptr);
                                     });
  ASSERT_FALSE(null_text);
  EXPECT_NE(null_text.error().message().find("step"), std::string::npos);
  auto too_many = (*store)->RunEach("INSERT INTO t(i, s) VALUES (?1, ?2)", 1,
                                    [](size_t, std::vector<Json>& values) {
                                      values.emplace_back(20);
                                      values.emplace_back("a");
                                      values.emplace_back("surplus");
                                    });
  ASSERT_FALSE(too_many);
  EXPECT_NE(too_many.error().message().find("bind"), std::string::npos);
}

}  // namespace
}  // namespace arsenal
