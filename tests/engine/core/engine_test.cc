#include "arsenal/engine/engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <filesystem>
#include <future>

namespace arsenal {
namespace {

Operation Op(std::string name, OperationHandler handler, std::string permission = "test.write") {
  Operation op;
  op.name = std::move(name);
  op.family = "test";
  op.summary = "test";
  op.params_schema = {{"type", "object"},
                      {"properties", {{"n", {{"type", "integer"}, {"minimum", 0}}}}},
                      {"required", {"n"}}};
  op.permission = std::move(permission);
  op.http_method = "POST";
  op.http_path = "/api/v1/test/" + op.name;
  op.handler = std::move(handler);
  return op;
}

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto created = Engine::Create({.register_builtins = false});
    ASSERT_TRUE(created) << created.error().ToString();
    engine_ = std::move(*created);
    ASSERT_TRUE(engine_->registry().Register(
        Op("double", [](OperationContext&, const Json& p) -> Result<Json> {
          return Json{{"n", p["n"].get<int>() * 2}};
        })));
    ASSERT_TRUE(engine_->registry().Register(
        Op("throws", [](OperationContext&, const Json&) -> Result<Json> {
          throw std::runtime_error("kaboom");
        })));
    ASSERT_TRUE(engine_->registry().Register(
        Op("throws_int", [](OperationContext&, const Json&) -> Result<Json> { throw 7; })));
    ASSERT_TRUE(engine_->registry().Register(
        Op("fails", [](OperationContext&, const Json&) -> Result<Json> {
          return Fail(ConflictError("test.busy", "busy"));
        })));
    ASSERT_TRUE(engine_->registry().Register(Op(
        "whoami",
        [](OperationContext& ctx, const Json&) -> Result<Json> {
          return Json{{"principal", ctx.principal.id}, {"request_id", ctx.request_id}};
        },
        "test.read")));
  }

  std::vector<Event> Events() {
    engine_->events().Flush();
    return engine_->events().Since(0).events;
  }

  std::unique_ptr<Engine> engine_;
  Principal reader_{"reader", {"test.read"}};
};

TEST_F(EngineTest, ExecutesValidCalls) {
  auto r = engine_->Execute("double", {{"n", 21}}, Principal::Root());
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ((*r)["n"], 42);
}

TEST_F(EngineTest, UnknownOperationIsNotFound) {
  auto r = engine_->Execute("nope", Json::object(), Principal::Root());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), "operation.not_found");
  EXPECT_FALSE(r.error().hint().empty());
}

TEST_F(EngineTest, ValidationNamesTheField) {
  struct Case {
    Json params;
    std::string field;
  } cases[] = {
      {Json::object(), "n"},                   // missing required n
      {{{"n", "x"}}, "n"},                     // wrong type
      {{{"n", -1}}, "n"},                      // below minimum
      {{{"n", 1}, {"extra", true}}, "extra"},  // unknown field
  };
  for (const auto& c : cases) {
    auto r = engine_->Execute("double", c.params, Principal::Root());
    ASSERT_FALSE(r) << c.params.dump();
    EXPECT_EQ(r.error().code(), "operation.invalid_params") << c.params.dump();
    EXPECT_EQ(r.error().category(), ErrorCategory::kValidation);
    EXPECT_EQ(r.error().details()["field"], c.field) << c.params.dump();
    EXPECT_FALSE(r.error().details()["errors"].empty());
  }
  auto missing = engine_->Execute("double", Json::object(), Principal::Root());
  EXPECT_NE(missing.error().message().find("n"), std::string::npos);
  auto not_object = engine_->Execute("double", Json::array(), Principal::Root());
  ASSERT_FALSE(not_object);
  EXPECT_EQ(not_object.error().code(), "operation.invalid_params");
}

TEST_F(EngineTest, PermissionIsCheckedBeforeTheHandler) {
  std::atomic<int> runs{0};
  ASSERT_TRUE(engine_->registry().Register(Op("counted", [&](OperationContext&, const Json&) {
    ++runs;
    return Result<Json>(Json::object());
  })));
  auto denied = engine_->Execute("counted", {{"n", 1}}, reader_);
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code(), "auth.permission_denied");
  EXPECT_EQ(denied.error().category(), ErrorCategory::kPermission);
  EXPECT_EQ(denied.error().details()["permission"], "test.write");
  EXPECT_EQ(runs.load(), 0);
  auto allowed = engine_->Execute("whoami", {{"n", 0}}, reader_, "req-custom");
  ASSERT_TRUE(allowed);
  EXPECT_EQ((*allowed)["principal"], "reader");
  EXPECT_EQ((*allowed)["request_id"], "req-custom");
}

TEST_F(EngineTest, ExceptionsBecomeInternalErrors) {
  auto r = engine_->Execute("throws", {{"n", 1}}, Principal::Root());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), "operation.internal_error");
  EXPECT_EQ(r.error().category(), ErrorCategory::kInternal);
  EXPECT_NE(r.error().message().find("kaboom"), std::string::npos);
  auto r2 = engine_->Execute("throws_int", {{"n", 1}}, Principal::Root());
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code(), "operation.internal_error");
  // The engine keeps working afterwards.
  EXPECT_TRUE(engine_->Execute("double", {{"n", 1}}, Principal::Root()));
}

TEST_F(EngineTest, EmitsStartStopAndExceptionEvents) {
  ASSERT_TRUE(engine_->Execute("double", {{"n", 1}}, Principal::Root(), "r1"));
  ASSERT_FALSE(engine_->Execute("fails", {{"n", 1}}, Principal::Root(), "r2"));
  ASSERT_FALSE(engine_->Execute("double", {{"n", -5}}, Principal::Root(), "r3"));
  auto events = Events();
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].name, "arsenal.operation.start");
  EXPECT_EQ(events[0].metadata["request_id"], "r1");
  EXPECT_EQ(events[1].name, "arsenal.operation.stop");
  EXPECT_EQ(events[1].metadata["operation"], "double");
  EXPECT_TRUE(events[1].measurements.contains("duration_us"));
  EXPECT_EQ(events[2].name, "arsenal.operation.start");
  EXPECT_EQ(events[3].name, "arsenal.operation.exception");
  EXPECT_EQ(events[3].metadata["outcome"], "test.busy");
  EXPECT_EQ(events[3].metadata["phase"], "handler");
  // A rejected call never starts, but its failure is still visible.
  EXPECT_EQ(events[4].name, "arsenal.operation.exception");
  EXPECT_EQ(events[4].metadata["phase"], "validate");
  EXPECT_EQ(events[4].metadata["handler_ran"], false);
}

TEST_F(EngineTest, OperationEventsCarryExactlyTheirFields) {
  const Principal long_name{std::string(80, 'k'), {"test.write"}};
  ASSERT_TRUE(engine_->Execute("double", {{"n", 1}}, long_name, "req-exact"));
  auto events = Events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].measurements, Json::object());
  EXPECT_EQ(
      events[0].metadata,
      (Json{{"operation", "double"}, {"principal", long_name.id}, {"request_id", "req-exact"}}));
  ASSERT_EQ(events[1].measurements.size(), 1u);
  EXPECT_GE(events[1].measurements["duration_us"].get<int64_t>(), 0);
  EXPECT_EQ(events[1].metadata, (Json{{"operation", "double"},
                                      {"principal", long_name.id},
                                      {"request_id", "req-exact"},
                                      {"outcome", "ok"}}));
  EXPECT_EQ(events[1].seq, events[0].seq + 1);
}

TEST_F(EngineTest, GeneratedRequestIdsAreUniqueAndShared) {
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto r = engine_->Execute("whoami", {{"n", 0}}, reader_);
    ASSERT_TRUE(r);
    ids.push_back((*r)["request_id"].get<std::string>());
    EXPECT_TRUE(ids.back().starts_with("req-" + std::to_string(getpid()) + "-")) << ids.back();
  }
  EXPECT_NE(ids[0], ids[1]);
  EXPECT_NE(ids[1], ids[2]);
  auto events = Events();
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[5].metadata["request_id"], ids[2]);
  ASSERT_TRUE(engine_->audit().Flush());
  EXPECT_EQ((*engine_->audit().Recent(1))[0].request_id, ids[2]);
}

TEST_F(EngineTest, AuditsEveryCallWithDigestAndOutcome) {
  ASSERT_TRUE(engine_->Execute("double", {{"n", 3}}, Principal::Root(), "a1"));
  ASSERT_FALSE(engine_->Execute("double", {{"n", 3}}, reader_, "a2"));
  ASSERT_FALSE(engine_->Execute("nope", Json::object(), reader_, "a3"));
  ASSERT_TRUE(engine_->audit().Flush());
  auto entries = engine_->audit().Recent(10);
  ASSERT_TRUE(entries);
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[2].request_id, "a1");
  EXPECT_EQ((*entries)[2].principal, "root");
  EXPECT_EQ((*entries)[2].outcome, "ok");
  EXPECT_EQ((*entries)[2].params_digest, DigestParams({{"n", 3}}));
  EXPECT_EQ((*entries)[1].outcome, "auth.permission_denied");
  EXPECT_EQ((*entries)[0].operation, "nope");
  EXPECT_EQ((*entries)[0].outcome, "operation.not_found");
}

TEST_F(EngineTest, ConcurrentExecuteIsSafe) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        auto r = engine_->Execute("double", {{"n", t * 1000 + i}}, Principal::Root());
        if (r && (*r)["n"] == 2 * (t * 1000 + i)) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 800);
  ASSERT_TRUE(engine_->audit().Flush());
  EXPECT_EQ(engine_->audit().Recent(10000)->size(), 800u);
}

struct CountingService {
  explicit CountingService(Engine& e) : engine(e) { ++constructed; }
  ~CountingService() { ++destroyed; }
  Engine& engine;
  static inline int constructed = 0;
  static inline int destroyed = 0;
};

TEST(EngineServiceTest, ServicesAreSharedAndDestroyedAtShutdown) {
  CountingService::constructed = CountingService::destroyed = 0;
  auto engine = Engine::Create({.register_builtins = false});
  ASSERT_TRUE(engine);
  CountingService& a = (*engine)->Service<CountingService>();
  CountingService& b = (*engine)->Service<CountingService>();
  EXPECT_EQ(&a, &b);
  EXPECT_EQ(&a.engine, engine->get());
  EXPECT_EQ(CountingService::constructed, 1);
  (*engine)->Shutdown();
  EXPECT_EQ(CountingService::destroyed, 1);
  (*engine)->Shutdown();  // idempotent
  EXPECT_EQ(CountingService::destroyed, 1);
}

TEST(EngineServiceTest, EventLoopRunsPostedWork) {
  auto engine = Engine::Create({.register_builtins = false});
  ASSERT_TRUE(engine);
  std::promise<std::thread::id> ran;
  boost::asio::post((*engine)->io(), [&] { ran.set_value(std::this_thread::get_id()); });
  auto id = ran.get_future().get();
  EXPECT_NE(id, std::this_thread::get_id());
}

TEST(EngineStateTest, PersistsAuditInStateDir) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("arsenal-engine-" + std::to_string(getpid()));
  {
    auto engine = Engine::Create({.state_dir = dir.string(), .register_builtins = true});
    ASSERT_TRUE(engine) << engine.error().ToString();
    ASSERT_TRUE((*engine)->Execute("list_operations", Json::object(), Principal::Root()));
  }
  EXPECT_TRUE(std::filesystem::exists(dir / "arsenal.db"));
  {
    auto engine = Engine::Create({.state_dir = dir.string()});
    ASSERT_TRUE(engine);
    auto recent = (*engine)->audit().Recent(10, "list_operations");
    ASSERT_TRUE(recent);
    EXPECT_EQ(recent->size(), 1u);
  }
  std::filesystem::remove_all(dir);
}

TEST(EngineStateTest, UnwritableStateDirIsAClearError) {
  auto engine = Engine::Create({.state_dir = "/proc/arsenal-cannot-exist"});
  ASSERT_FALSE(engine);
  EXPECT_EQ(engine.error().code(), "engine.state_dir");
  EXPECT_FALSE(engine.error().hint().empty());
}

TEST(EngineStateTest, TemporaryStateDirIsRemoved) {
  std::filesystem::path dir;
  {
    auto engine = Engine::Create({.register_builtins = false});
    ASSERT_TRUE(engine);
    dir = (*engine)->state_dir();
    EXPECT_TRUE(std::filesystem::is_directory(dir));
  }
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(EngineOptionsTest, EventsAndAuditCanBeTurnedOff) {
  auto engine = Engine::Create({.emit_events = false, .audit = false});
  ASSERT_TRUE(engine);
  ASSERT_TRUE((*engine)->Execute("list_operations", Json::object(), Principal::Root()));
  (*engine)->events().Flush();
  EXPECT_EQ((*engine)->events().last_seq(), 0u);
  ASSERT_TRUE((*engine)->audit().Flush());
  EXPECT_TRUE((*engine)->audit().Recent(10)->empty());
}

TEST(EngineOptionsTest, DescribeOperationCarriesCompensation) {
  Operation op = Op("create_x", [](OperationContext&, const Json&) -> Result<Json> {
    return Json{{"id", "x1"}};
  });
  op.compensation = Compensation{"delete_x", [](const Json&, const Json& result) {
                                   return Json{{"id", result["id"]}};
                                 }};
  Json d = DescribeOperation(op);
  EXPECT_EQ(d["compensation"], "delete_x");
  EXPECT_EQ(op.compensation->params({}, {{"id", "x1"}})["id"], "x1");
  op.compensation.reset();
  EXPECT_TRUE(DescribeOperation(op)["compensation"].is_null());
}

}  // namespace
}  // namespace arsenal
