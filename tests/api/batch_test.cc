#include "arsenal/api/batch.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>

namespace arsenal::api {
namespace {

struct Kv {
  explicit Kv(Engine&) {}
  std::mutex mu;
  std::map<std::string, int> values;
};

void Register(Engine& engine) {
  Operation put;
  put.name = "kv_put";
  put.family = "kv";
  put.summary = "Put a value; fails when the key exists";
  put.params_schema = {
      {"type", "object"},
      {"properties", {{"key", {{"type", "string"}}}, {"value", {{"type", "integer"}}}}},
      {"required", {"key", "value"}}};
  put.permission = "kv.write";
  put.http_method = "PUT";
  put.http_path = "/api/v1/kv/{key}";
  put.compensation = Compensation{"kv_delete", [](const Json& p, const Json&) {
                                    return Json{{"key", p["key"]}};
                                  }};
  put.handler = [](OperationContext& ctx, const Json& p) -> Result<Json> {
    auto& kv = ctx.engine.Service<Kv>();
    std::lock_guard lock(kv.mu);
    if (!kv.values.emplace(p["key"], p["value"]).second) {
      return Fail(ConflictError("kv.exists", "key exists"));
    }
    return p;
  };
  ASSERT_TRUE(engine.registry().Register(put));
  Operation del;
  del.name = "kv_delete";
  del.family = "kv";
  del.summary = "Delete a key";
  del.params_schema = {
      {"type", "object"}, {"properties", {{"key", {{"type", "string"}}}}}, {"required", {"key"}}};
  del.permission = "kv.write";
  del.http_method = "DELETE";
  del.http_path = "/api/v1/kv/{key}";
  del.handler = [](OperationContext& ctx, const Json& p) -> Result<Json> {
    auto& kv = ctx.engine.Service<Kv>();
    std::lock_guard lock(kv.mu);
    kv.values.erase(p["key"].get<std::string>());
    return Json{{"key", p["key"]}};
  };
  ASSERT_TRUE(engine.registry().Register(del));
  Operation bump;
  bump.name = "kv_bump";
  bump.family = "kv";
  bump.summary = "A write without compensation";
  bump.permission = "kv.write";
  bump.http_method = "POST";
  bump.http_path = "/api/v1/kv/bump";
  bump.handler = [](OperationContext&, const Json&) -> Result<Json> { return Json::object(); };
  ASSERT_TRUE(engine.registry().Register(bump));
}

class BatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = Engine::Create();
    ASSERT_TRUE(e);
    engine_ = std::move(*e);
    Register(*engine_);
  }
  size_t Count() {
    auto& kv = engine_->Service<Kv>();
    std::lock_guard lock(kv.mu);
    return kv.values.size();
  }
  std::unique_ptr<Engine> engine_;
};

TEST_F(BatchTest, AllStepsSucceed) {
  auto r = RunBatch(*engine_,
                    {{"kv_put", {{"key", "a"}, {"value", 1}}},
                     {"kv_put", {{"key", "b"}, {"value", 2}}},
                     {"list_operations", Json::object()}},
                    Principal::Root());
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ((*r)["results"].size(), 3u);
  EXPECT_EQ(Count(), 2u);
}

TEST_F(BatchTest, FailureAtThirdStepUndoesTheFirstTwo) {
  ASSERT_TRUE(engine_->Execute("kv_put", {{"key", "taken"}, {"value", 0}}, Principal::Root()));
  auto r = RunBatch(*engine_,
                    {{"kv_put", {{"key", "a"}, {"value", 1}}},
                     {"kv_put", {{"key", "b"}, {"value", 2}}},
                     {"kv_put", {{"key", "taken"}, {"value", 3}}}},
                    Principal::Root());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), "kv.exists");
  EXPECT_EQ(r.error().details()["step"], 2);
  EXPECT_EQ(r.error().details()["compensated"], Json::array({1, 0}));
  EXPECT_EQ(Count(), 1u);
}

TEST_F(BatchTest, RefusedBeforeAnythingRuns) {
  auto no_comp = RunBatch(*engine_, {{"kv_put", {{"key", "a"}, {"value", 1}}}, {"kv_bump", {}}},
                          Principal::Root());
  ASSERT_FALSE(no_comp);
  EXPECT_EQ(no_comp.error().code(), "batch.not_compensable");
  EXPECT_EQ(no_comp.error().details()["step"], 1);
  auto invalid = RunBatch(
      *engine_,
      {{"kv_put", {{"key", "a"}, {"value", 1}}}, {"kv_put", {{"key", "b"}, {"value", "x"}}}},
      Principal::Root());
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.error().code(), "operation.invalid_params");
  auto denied = RunBatch(*engine_, {{"kv_put", {{"key", "a"}, {"value", 1}}}},
                         Principal{"weak", {"kv.read"}});
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().category(), ErrorCategory::kPermission);
  auto unknown = RunBatch(*engine_, {{"nope", {}}}, Principal::Root());
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), "operation.not_found");
  EXPECT_EQ(Count(), 0u);
}

TEST_F(BatchTest, ParseBatchRejectsMalformedBodies) {
  EXPECT_FALSE(ParseBatch(Json::array(), 10));
  EXPECT_FALSE(ParseBatch({{"operations", Json::array()}}, 10));
  EXPECT_FALSE(ParseBatch({{"operations", {{{"params", {}}}}}}, 10));
  EXPECT_FALSE(ParseBatch({{"operations", {{{"operation", "x"}, {"extra", 1}}}}}, 10));
  EXPECT_FALSE(ParseBatch({{"operations", {{{"operation", "x"}, {"params", 1}}}}}, 10));
  Json many = {{"operations", Json::array()}};
  for (int i = 0; i < 11; ++i) many["operations"].push_back({{"operation", "x"}});
  EXPECT_FALSE(ParseBatch(many, 10));
  auto ok = ParseBatch({{"operations", {{{"operation", "x"}}}}}, 10);
  ASSERT_TRUE(ok);
  EXPECT_EQ((*ok)[0].params, Json::object());
}

}  // namespace
}  // namespace arsenal::api
