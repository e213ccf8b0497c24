#include "arsenal/api/router.h"

#include <gtest/gtest.h>

#include "arsenal/engine/api_keys.h"

namespace arsenal::api {
namespace {

class RouterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = Engine::Create();
    ASSERT_TRUE(e);
    engine_ = std::move(*e);
    auto created = engine_->Service<ApiKeys>().Create("t", "admin");
    ASSERT_TRUE(created);
    key_ = created->key;
    router_ = std::make_unique<Router>(*engine_);
  }
  HttpResponse Get(const std::string& target) {
    return router_->Handle({"GET", target, {{"authorization", "Bearer " + key_}}, "", ""});
  }
  HttpResponse Post(const std::string& target, const std::string& body,
                    const std::string& content_type = "application/json") {
    return router_->Handle({"POST",
                            target,
                            {{"authorization", "Bearer " + key_}, {"content-type", content_type}},
                            body,
                            ""});
  }
  // A GET operation to register after the router was built.
  static Operation LateGet(std::string name, std::string path) {
    Operation op;
    op.name = std::move(name);
    op.family = "late";
    op.summary = "Registered after the router was built";
    op.permission = "late.read";
    op.http_method = "GET";
    op.http_path = std::move(path);
    op.params_schema = {{"type", "object"}};
    return op;
  }
  static std::string Code(const HttpResponse& r) {
    Json j = Json::parse(r.body, nullptr, false);
    return j.is_object() && j.contains("errors") ? j["errors"][0].value("code", "") : "";
  }
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Router> router_;
  std::string key_;
};

TEST_F(RouterTest, PathTraversalIsRefused) {
  for (const std::string t :
       {"/api/v1/operations/..", "/api/v1/operations/%2e%2e", "/api/v1/operations/..%2F..%2Fetc",
        "/api/v1/../v1/operations", "/api/v1/operations/a%2Fb", "/api/v1/operations/a%5Cb"}) {
    auto r = Get(t);
    EXPECT_EQ(r.status, 400) << t;
    EXPECT_EQ(Code(r), "api.path_traversal") << t;
  }
}

TEST_F(RouterTest, MalformedTargetsAre400) {
  for (const std::string t : {"/api/v1/operations/%zz", "/api/v1/operations/%", "/api/v1/%ff%fe",
                              "/api/v1/operations?family=%c3%28", "relative", "/api//v1"}) {
    auto r = Get(t);
    EXPECT_EQ(r.status, 400) << t;
    EXPECT_TRUE(Code(r).starts_with("api.")) << t << " " << r.body;
  }
}

TEST_F(RouterTest, BodyProblems) {
  EXPECT_EQ(Post("/api/v1/operations/list_operations", "{nope").status, 400);
  EXPECT_EQ(Code(Post("/api/v1/operations/list_operations", "{nope")), "api.malformed_json");
  EXPECT_EQ(Code(Post("/api/v1/operations/list_operations", "[1]")), "api.invalid_body");
  EXPECT_EQ(Code(Post("/api/v1/operations/list_operations", "{\"family\":\"\xff\"}")),
            "api.malformed_json");
  auto wrong_type = Post("/api/v1/operations/list_operations", "{}", "text/plain");
  EXPECT_EQ(wrong_type.status, 415);
  EXPECT_EQ(Code(wrong_type), "api.unsupported_media_type");
  // A JSON:API resource document's attributes are the params.
  auto api =
      Post("/api/v1/operations/list_operations",
           R"({"data":{"type":"x","attributes":{"family":"auth"}}})", "application/vnd.api+json");
  ASSERT_EQ(api.status, 200) << api.body;
  EXPECT_EQ(Json::parse(api.body)["data"].size(), 3u);
}

TEST_F(RouterTest, DuplicateParamsAreRefused) {
  auto r = Get("/api/v1/operations?family=a&family=b");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Code(r), "api.duplicate_param");
  auto c = router_->Handle(
      {"GET", "/api/v1/operations/list_operations", {{"authorization", "Bearer " + key_}}, "", ""});
  EXPECT_EQ(c.status, 200);
}

TEST_F(RouterTest, RoutesFollowTheRegistry) {
  EXPECT_EQ(Get("/api/v1/late").status, 404);
  Operation op = LateGet("late_op", "/api/v1/late/{n}");
  op.params_schema = {{"type", "object"},
                      {"properties", {{"n", {{"type", "integer"}}}, {"b", {{"type", "boolean"}}}}}};
  op.handler = [](OperationContext&, const Json& p) -> Result<Json> { return Json{{"got", p}}; };
  ASSERT_TRUE(engine_->registry().Register(op));
  auto r = Get("/api/v1/late/42?b=true");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(Json::parse(r.body)["data"]["attributes"]["got"], Json({{"n", 42}, {"b", true}}));
  EXPECT_EQ(Get("/api/v1/late/x").status, 400);
}

TEST_F(RouterTest, OnlyGetsOfNonblockingOperationsRunInline) {
  auto runs_inline = [&](const std::string& method, const std::string& target) {
    return router_->RunsInline({method, target, {}, "", ""});
  };
  EXPECT_TRUE(runs_inline("GET", "/api/v1/processes/p-1"));               // get_process_info
  EXPECT_TRUE(runs_inline("GET", "/api/v1/processes?page%5Bsize%5D=5"));  // list_processes
  EXPECT_TRUE(runs_inline("GET", "/api/v1/operations"));
  EXPECT_FALSE(runs_inline("POST", "/api/v1/processes"));           // start_process
  EXPECT_FALSE(runs_inline("POST", "/api/v1/processes/p-1/kill"));  // kill_process
  EXPECT_FALSE(runs_inline("GET", "/api/v1/process-tree"));         // scans every host pid
  EXPECT_FALSE(runs_inline("GET", "/api/v1/no-such-route"));
  EXPECT_FALSE(runs_inline("GET", "/api/v1/%zz"));

  Operation op = LateGet("late_inline", "/api/v1/late-inline");
  op.nonblocking = true;
  op.handler = [](OperationContext&, const Json&) -> Result<Json> { return Json::object(); };
  ASSERT_TRUE(engine_->registry().Register(op));
  EXPECT_TRUE(runs_inline("GET", "/api/v1/late-inline"));
}

TEST_F(RouterTest, OpenApiIsServed) {
  auto r = Get("/api/v1/openapi.json");
  ASSERT_EQ(r.status, 200);
  Json doc = Json::parse(r.body);
  EXPECT_EQ(doc["openapi"], "3.1.0");
  EXPECT_TRUE(doc["paths"].contains("/api/v1/operations/{name}"));
  EXPECT_EQ(doc["paths"]["/api/v1/operations"]["get"]["operationId"], "list_operations");
  EXPECT_EQ(doc["paths"]["/api/v1/api-keys/{id}"]["delete"]["parameters"][0]["in"], "path");
}

}  // namespace
}  // namespace arsenal::api
