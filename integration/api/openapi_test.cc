// The OpenAPI document: independently valid, and every route in it answers with the documented
// auth behaviour. Also: every registered operation is reachable over HTTP.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "harness.h"

namespace arsenal::api::testing {
namespace {

std::string Fill(std::string path) {
  // Every path param gets a real operation name: valid for /operations/{name}, harmless elsewhere.
  size_t open;
  while ((open = path.find('{')) != std::string::npos) {
    path.replace(open, path.find('}', open) - open + 1, "list_operations");
  }
  return path;
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

class OpenApiTest : public ApiTest {
 protected:
  void SetUp() override { StartServer({{"roles", {{"nobody", Json::array()}}}}); }
  Json Document() {
    auto r = Do("GET", "/api/v1/openapi.json", admin_key_);
    EXPECT_EQ(r.status, 200);
    return r.json();
  }
  std::string BodyFor(const std::string& path) {
    if (path == "/api/v1/batch") return R"({"operations":[{"operation":"list_operations"}]})";
    return "{}";
  }
};

TEST_F(OpenApiTest, ValidatedByAnIndependentValidator) {
  if (std::system("command -v node > /dev/null 2>&1") != 0) {
    GTEST_SKIP() << "node is not installed; the OpenAPI document is validated with node "
                    "(@seriousme/openapi-schema-validator)";
  }
  const std::filesystem::path dir = ARSENAL_API_IT_DIR;
  ASSERT_TRUE(std::filesystem::exists(dir / "node_modules/@seriousme/openapi-schema-validator"))
      << "run `npm ci` in " << dir.string() << " (the CI script does)";
  const std::filesystem::path file = engine_->state_dir() / "openapi.json";
  std::ofstream(file) << Document().dump(2);
  const std::string cmd =
      "node '" + (dir / "validate-openapi.mjs").string() + "' '" + file.string() + "' 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  EXPECT_EQ(::pclose(p), 0) << out;
  EXPECT_NE(out.find("valid OpenAPI 3.1"), std::string::npos) << out;
}

TEST_F(OpenApiTest, EveryRouteNeedsAKeyAndARole) {
  const std::string nobody = KeyWithRole("nobody");
  Json doc = Document();
  int routes = 0;
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      const std::string m = Upper(method);
      const std::string target = Fill(path);
      const bool needs_body = m == "POST" || m == "PUT" || m == "PATCH";
      const std::string body = needs_body ? BodyFor(path) : "";
      if (op.contains("security") && op["security"].empty()) {
        EXPECT_EQ(Do(m, target, "", body).status, 200) << m << " " << path;
        continue;
      }
      ++routes;
      auto anonymous = Do(m, target, "", body);
      EXPECT_EQ(anonymous.status, 401) << m << " " << path << " " << anonymous.body;
      EXPECT_FALSE(anonymous.error_code().empty());
      auto weak = Do(m, target, nobody, body);
      EXPECT_EQ(weak.status, 403) << m << " " << path << " " << weak.body;
      EXPECT_EQ(weak.error_code(), "auth.permission_denied") << m << " " << path;
    }
  }
  EXPECT_GT(routes, 10);
}

TEST_F(OpenApiTest, EveryPathAnswers) {
  Json doc = Document();
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      const std::string m = Upper(method);
      // An unknown param makes the operation refuse before doing anything, yet proves the route
      // reached it; fixed routes get a harmless real request.
      std::string target = Fill(path);
      std::string body;
      const bool generated = op.contains("x-arsenal-permission") && path.starts_with("/api/v1/") &&
                             path != "/api/v1/openapi.json";
      if (m == "GET" || m == "DELETE") {
        if (generated) target += "?zz_probe=1";
      } else {
        body = path == "/api/v1/batch"
                   ? R"({"operations":[{"operation":"list_operations"}]})"
                   : (path == "/api/v1/operations/{name}" ? "{}" : R"({"zz_probe":1})");
      }
      auto r = Do(m, target, admin_key_, body);
      EXPECT_NE(r.status, 0) << m << " " << path;
      EXPECT_LT(r.status, 500) << m << " " << path << " " << r.body;
      EXPECT_NE(r.error_code(), "api.route_not_found") << m << " " << path;
      EXPECT_NE(r.status, 405) << m << " " << path;
      if (generated) {
        EXPECT_EQ(r.status, 400) << m << " " << path << " " << r.body;
        EXPECT_EQ(r.error_code(), "operation.invalid_params") << m << " " << path;
      } else if (path != "/api/v1/stream") {
        EXPECT_EQ(r.status, 200) << m << " " << path << " " << r.body;
      }
    }
  }
}

TEST_F(OpenApiTest, EveryRegisteredOperationIsReachable) {
  Json doc = Document();
  for (const auto& entry : engine_->registry().List()) {
    const Operation& op = entry->op;
    const std::string method = op.http_method;
    std::string lower = method;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    ASSERT_TRUE(doc["paths"].contains(op.http_path)) << op.name;
    EXPECT_EQ(doc["paths"][op.http_path][lower]["operationId"], op.name);
    // The uniform route reaches it too: an unknown param is refused by its schema.
    auto uniform = Do("POST", "/api/v1/operations/" + op.name, admin_key_, R"({"zz_probe":1})");
    EXPECT_EQ(uniform.status, 400) << op.name << " " << uniform.body;
    EXPECT_EQ(uniform.error_code(), "operation.invalid_params") << op.name;
  }
}

}  // namespace
}  // namespace arsenal::api::testing
