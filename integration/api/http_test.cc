// End-to-end: routes, JSON:API shape, errors, auth, the C++ client.
#include <sys/stat.h>

#include "arsenal/api/client.h"
#include "harness.h"

namespace arsenal::api::testing {
namespace {

TEST_F(ApiTest, HealthNeedsNoKey) {
  auto r = Do("GET", "/healthz", "");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.json(), Json({{"status", "ok"}}));
}

TEST_F(ApiTest, BootstrapKeyFileIsPrivate) {
  struct stat st;
  ASSERT_EQ(::stat(server_->bootstrap_key_path()->c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(ApiTest, ListOperationsAsJsonApiCollection) {
  auto r = Do("GET", "/api/v1/operations", admin_key_);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["content-type"], "application/vnd.api+json");
  Json doc = r.json();
  ASSERT_TRUE(doc["data"].is_array());
  bool found = false;
  for (const auto& res : doc["data"]) {
    EXPECT_EQ(res["type"], "operations");
    EXPECT_TRUE(res["id"].is_string());
    EXPECT_TRUE(res["attributes"].is_object());
    EXPECT_FALSE(res["attributes"].contains("id"));
    if (res["id"] == "list_operations") {
      found = true;
      EXPECT_EQ(res["links"]["self"], "/api/v1/operations/list_operations");
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(doc["meta"]["operation"], "list_operations");
  EXPECT_EQ(doc["links"]["self"], "/api/v1/operations");
}

TEST_F(ApiTest, MissingAndInvalidKeysAre401) {
  auto none = Do("GET", "/api/v1/operations", "");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.error_code(), "auth.missing_key");
  EXPECT_EQ(none.headers["www-authenticate"].rfind("Bearer", 0), 0u);
  auto bad = Do("GET", "/api/v1/operations", "ars_0123456789ab_notakey");
  EXPECT_EQ(bad.status, 401);
  EXPECT_EQ(bad.error_code(), "auth.invalid_key");
  auto basic = SendRaw(server_->endpoint(),
                       "GET /api/v1/operations HTTP/1.1\r\nHost: x\r\nAuthorization: Basic "
                       "YTpi\r\n\r\n");
  EXPECT_EQ(basic.status, 401);
}

TEST_F(ApiTest, WeakRoleIs403) {
  const std::string viewer = KeyWithRole("viewer");
  auto r = Do("POST", "/api/v1/api-keys", viewer, R"({"role":"admin"})");
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(r.error_code(), "auth.permission_denied");
  Json err = r.json()["errors"][0];
  EXPECT_EQ(err["status"], "403");
  EXPECT_EQ(err["meta"]["details"]["permission"], "auth.write");
  EXPECT_FALSE(err["meta"]["hint"].get<std::string>().empty());
  // The viewer can read operations.
  EXPECT_EQ(Do("GET", "/api/v1/operations", viewer).status, 200);
}

TEST_F(ApiTest, RevokedKeyIs401) {
  auto created = engine_->Execute("create_api_key", {{"role", "viewer"}}, Principal::Root());
  ASSERT_TRUE(created);
  const std::string key = (*created)["key"];
  EXPECT_EQ(Do("GET", "/api/v1/operations", key).status, 200);
  auto revoke = Do("DELETE", "/api/v1/api-keys/" + (*created)["id"].get<std::string>(), admin_key_);
  EXPECT_EQ(revoke.status, 200) << revoke.body;
  EXPECT_EQ(Do("GET", "/api/v1/operations", key).status, 401);
}

TEST_F(ApiTest, UniformInvocation) {
  auto r = Do("POST", "/api/v1/operations/list_operations", admin_key_, R"({"family":"auth"})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["data"].size(), 3u);
  auto missing = Do("POST", "/api/v1/operations/no_such_op", admin_key_, "{}");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.error_code(), "operation.not_found");
  // An empty body is an empty params object.
  EXPECT_EQ(Do("POST", "/api/v1/operations/list_operations", admin_key_, "").status, 200);
}

TEST_F(ApiTest, GeneratedRoutesFillPathAndTypedQueryParams) {
  auto one = Do("GET", "/api/v1/operations/describe_operation", admin_key_);
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(one.json()["data"]["id"], "describe_operation");
  EXPECT_EQ(one.json()["data"]["attributes"]["permission"], "operations.read");
  auto filtered = Do("GET", "/api/v1/operations?family=auth", admin_key_);
  ASSERT_EQ(filtered.status, 200);
  EXPECT_EQ(filtered.json()["data"].size(), 3u);
  // page[size] is converted to the integer the schema wants.
  auto page = Do("GET", "/api/v1/widgets?page[size]=3", admin_key_);
  ASSERT_EQ(page.status, 200) << page.body;
  EXPECT_EQ(page.json()["data"].size(), 3u);
  auto not_int = Do("GET", "/api/v1/widgets?page[size]=three", admin_key_);
  EXPECT_EQ(not_int.status, 400);
  EXPECT_EQ(not_int.json()["errors"][0]["source"]["parameter"], "page.size");
  auto unknown = Do("GET", "/api/v1/operations?bogus=1", admin_key_);
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(unknown.error_code(), "operation.invalid_params");
}

TEST_F(ApiTest, RouteAndMethodErrors) {
  auto r = Do("GET", "/api/v1/nothing-here", admin_key_);
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.error_code(), "api.route_not_found");
  auto m = Do("PATCH", "/api/v1/operations", admin_key_, "{}");
  EXPECT_EQ(m.status, 405);
  EXPECT_NE(m.headers["allow"].find("GET"), std::string::npos);
}

TEST_F(ApiTest, ContentNegotiation) {
  auto json = Do("GET", "/api/v1/operations", admin_key_, "", "", "Accept: application/json\r\n");
  EXPECT_EQ(json.status, 200);
  EXPECT_EQ(json.headers["content-type"], "application/json");
  auto api =
      Do("GET", "/api/v1/operations", admin_key_, "", "", "Accept: application/vnd.api+json\r\n");
  EXPECT_EQ(api.headers["content-type"], "application/vnd.api+json");
  auto xml = Do("GET", "/api/v1/operations", admin_key_, "", "", "Accept: text/xml\r\n");
  EXPECT_EQ(xml.status, 406);
  EXPECT_EQ(xml.error_code(), "api.not_acceptable");
  auto params = Do("GET", "/api/v1/operations", admin_key_, "", "",
                   "Accept: application/vnd.api+json; charset=utf-8\r\n");
  EXPECT_EQ(params.status, 406);
}

TEST_F(ApiTest, SparseFieldsets) {
  auto r = Do("GET", "/api/v1/widgets?fields[widgets]=color", admin_key_);
  ASSERT_EQ(r.status, 200) << r.body;
  const Json doc = r.json();
  for (const auto& res : doc["data"]) {
    EXPECT_EQ(res["attributes"].size(), 1u);
    EXPECT_TRUE(res["attributes"].contains("color"));
  }
}

TEST_F(ApiTest, ClientCallsReturnTheOperationResult) {
  auto client = Client::Connect("http://" + server_->endpoint(), admin_key_);
  ASSERT_TRUE(client) << client.error().ToString();
  auto remote = client->Call("list_operations", {{"family", "auth"}});
  ASSERT_TRUE(remote) << remote.error().ToString();
  auto local = engine_->Execute("list_operations", {{"family", "auth"}}, Principal::Root());
  ASSERT_TRUE(local);
  EXPECT_EQ(*remote, *local);
  auto described = client->Call("describe_operation", {{"name", "create_api_key"}});
  ASSERT_TRUE(described) << described.error().ToString();
  EXPECT_EQ((*described)["name"], "create_api_key");
  auto created = client->Call("create_api_key", {{"name", "x"}, {"role", "viewer"}});
  ASSERT_TRUE(created) << created.error().ToString();
  EXPECT_EQ((*created)["id"].get<std::string>().size(), 12u);
  EXPECT_TRUE((*created)["key"].get<std::string>().starts_with("ars_"));
  auto listed = client->Call("list_api_keys", {{"page", {{"size", 1}}}});
  ASSERT_TRUE(listed) << listed.error().ToString();
  EXPECT_EQ((*listed)["items"].size(), 1u);
  EXPECT_TRUE((*listed)["next_cursor"].is_string());
}

TEST_F(ApiTest, ClientDecodesEngineErrors) {
  auto client = Client::Connect("http://" + server_->endpoint(), admin_key_);
  ASSERT_TRUE(client);
  auto bad = client->Call("describe_operation", {{"name", 7}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), "operation.invalid_params");
  EXPECT_EQ(bad.error().category(), ErrorCategory::kValidation);
  EXPECT_EQ(bad.error().details()["field"], "name");
  auto unknown = client->Call("no_such_operation", Json::object());
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), "operation.not_found");
  EXPECT_FALSE(unknown.error().hint().empty());
  auto wrong_key = Client::Connect("http://" + server_->endpoint(), "nope");
  ASSERT_TRUE(wrong_key);
  auto denied = wrong_key->Call("list_operations", Json::object());
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().category(), ErrorCategory::kUnauthenticated);
  auto health = client->Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ((*health)["status"], "ok");
}

TEST_F(ApiTest, ClientReportsUnreachableServer) {
  auto client = Client::Connect("http://127.0.0.1:1", admin_key_);
  ASSERT_TRUE(client);
  auto r = client->Call("list_operations", Json::object());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), "api.connect_failed");
  EXPECT_TRUE(r.error().retryable());
}

TEST_F(ApiTest, KeepAliveServesManyRequestsOnOneConnection) {
  UniqueFd fd = ConnectTo(server_->endpoint());
  ASSERT_TRUE(fd);
  std::string pending;
  // Pipelined: three requests in one write, answered in order.
  std::string three;
  for (int i = 0; i < 3; ++i)
    three += BuildRequest("GET", "/api/v1/operations?family=auth", admin_key_);
  ASSERT_TRUE(SendAll(fd.get(), three));
  for (int i = 0; i < 3; ++i) {
    auto r = ReadResponse(fd.get(), pending);
    EXPECT_EQ(r.status, 200);
    EXPECT_FALSE(r.closed);
  }
}

TEST_F(ApiTest, EveryRequestIsAudited) {
  ASSERT_TRUE(engine_->audit().Flush());
  auto before = engine_->audit().Recent(1000);
  ASSERT_TRUE(before);
  Do("GET", "/api/v1/operations", admin_key_);
  Do("GET", "/api/v1/operations", "");
  Do("GET", "/api/v1/nothing", admin_key_);
  ASSERT_TRUE(engine_->audit().Flush());
  auto after = engine_->audit().Recent(1000);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->size(), before->size() + 3);
}

TEST_F(ApiTest, MetricsNeedTelemetryRead) {
  Do("GET", "/api/v1/operations", admin_key_);
  engine_->events().Flush();
  auto r = Do("GET", "/metrics", admin_key_);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"].rfind("text/plain", 0), 0u);
  EXPECT_NE(r.body.find("arsenal_operations_total{operation=\"list_operations\",outcome=\"ok\"}"),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("arsenal_operation_duration_seconds_bucket{operation=\"list_operations\","
                        "outcome=\"ok\",le=\"+Inf\"}"),
            std::string::npos);
  EXPECT_EQ(Do("GET", "/metrics", "").status, 401);
}

TEST_F(ApiTest, RateLimitPerKey) {
  StartServer({{"rate_limit", {{"per_second", 1}, {"burst", 3}}}});
  const std::string key = KeyWithRole("viewer");
  int limited = 0;
  for (int i = 0; i < 6; ++i) {
    auto r = Do("GET", "/api/v1/operations?family=auth", key);
    if (r.status == 429) {
      ++limited;
      EXPECT_EQ(r.error_code(), "api.rate_limited");
      EXPECT_FALSE(r.headers["retry-after"].empty());
    }
  }
  EXPECT_GE(limited, 2);
  // Another key has its own bucket.
  EXPECT_EQ(Do("GET", "/api/v1/operations?family=auth", admin_key_).status, 200);
}

TEST_F(ApiTest, CustomRoleFromConfig) {
  StartServer({{"roles", {{"nobody", Json::array()}, {"widgets", {"widget.*"}}}}});
  const std::string widgets = KeyWithRole("widgets");
  EXPECT_EQ(Do("GET", "/api/v1/widgets", widgets).status, 200);
  EXPECT_EQ(Do("GET", "/api/v1/operations", widgets).status, 403);
}

}  // namespace
}  // namespace arsenal::api::testing
