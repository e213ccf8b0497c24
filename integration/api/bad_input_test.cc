// Hostile and broken input: every case gets a 4xx JSON:API error object (or, for a silent idle
// connection, a close) and the server keeps serving.
#include <thread>

#include "harness.h"

namespace arsenal::api::testing {
namespace {

class BadInputTest : public ApiTest {
 protected:
  void TearDown() override {
    // Whatever happened, the server still answers.
    auto health = Do("GET", "/healthz", "");
    EXPECT_EQ(health.status, 200);
    auto ops = Do("GET", "/api/v1/operations?family=auth", admin_key_);
    EXPECT_EQ(ops.status, 200);
    Server::SetReadTimeoutForTesting(std::chrono::milliseconds(0));
    ApiTest::TearDown();
  }
  void ExpectErrorObject(const RawResponse& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body;
    Json doc = r.json();
    ASSERT_TRUE(doc.is_object()) << r.body;
    ASSERT_TRUE(doc.contains("errors")) << r.body;
    EXPECT_EQ(doc["errors"][0]["status"], std::to_string(status));
    EXPECT_EQ(doc["errors"][0]["code"], code);
    EXPECT_TRUE(doc["errors"][0].contains("detail"));
  }
};

TEST_F(BadInputTest, MalformedJson) {
  ExpectErrorObject(Do("POST", "/api/v1/operations/list_operations", admin_key_, "{\"family\":"),
                    400, "api.malformed_json");
}

TEST_F(BadInputTest, InvalidUtf8InBody) {
  ExpectErrorObject(
      Do("POST", "/api/v1/operations/list_operations", admin_key_, "{\"family\":\"\xc3\x28\"}"),
      400, "api.malformed_json");
}

TEST_F(BadInputTest, InvalidUtf8InPathAndQuery) {
  ExpectErrorObject(Do("GET", "/api/v1/operations/%c3%28", admin_key_), 400, "api.invalid_target");
  ExpectErrorObject(Do("GET", "/api/v1/operations?family=%ff", admin_key_), 400,
                    "api.invalid_target");
}

TEST_F(BadInputTest, WrongContentType) {
  ExpectErrorObject(Do("POST", "/api/v1/operations/list_operations", admin_key_, "family=auth",
                       "application/x-www-form-urlencoded"),
                    415, "api.unsupported_media_type");
  ExpectErrorObject(Do("POST", "/api/v1/batch", admin_key_, "{}", "text/plain"), 415,
                    "api.unsupported_media_type");
}

TEST_F(BadInputTest, OversizedBody) {
  const std::string big = "{\"family\":\"" + std::string(70 * 1024, 'a') + "\"}";
  ExpectErrorObject(Do("POST", "/api/v1/operations/list_operations", admin_key_, big), 413,
                    "api.body_too_large");
}

// Without a Content-Length the limit still holds: a chunked body is cut off at the limit.
TEST_F(BadInputTest, OversizedChunkedBody) {
  std::string req =
      "POST /api/v1/operations/list_operations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
      admin_key_ + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string chunk(40 * 1024, ' ');
  for (int i = 0; i < 3; ++i) req += "a000\r\n" + chunk + "\r\n";
  req += "0\r\n\r\n";
  ExpectErrorObject(SendRaw(server_->endpoint(), req), 413, "api.body_too_large");
}

TEST_F(BadInputTest, EndlessHeaders) {
  std::string req = "GET /api/v1/operations HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 400; ++i)
    req += "X-Filler-" + std::to_string(i) + ": " + std::string(60, 'f') + "\r\n";
  req += "\r\n";
  ExpectErrorObject(SendRaw(server_->endpoint(), req), 431, "api.headers_too_large");
}

TEST_F(BadInputTest, SlowHeadersTimeOut) {
  Server::SetReadTimeoutForTesting(std::chrono::milliseconds(300));
  UniqueFd fd = ConnectTo(server_->endpoint());
  ASSERT_TRUE(fd);
  ASSERT_TRUE(SendAll(fd.get(), "GET /api/v1/operations HTTP/1.1\r\nHost: x\r\nX-Slow: "));
  std::string pending;
  const auto start = std::chrono::steady_clock::now();
  auto r = ReadResponse(fd.get(), pending, std::chrono::seconds(5));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  ExpectErrorObject(r, 408, "api.request_timeout");
}

TEST_F(BadInputTest, IdleKeepAliveIsClosed) {
  Server::SetReadTimeoutForTesting(std::chrono::milliseconds(300));
  UniqueFd fd = ConnectTo(server_->endpoint());
  ASSERT_TRUE(fd);
  std::string pending;
  auto r = ReadResponse(fd.get(), pending, std::chrono::seconds(3));
  EXPECT_EQ(r.status, 0);
  EXPECT_TRUE(r.closed);
}

TEST_F(BadInputTest, PathTraversalInIds) {
  for (const std::string t : {"/api/v1/api-keys/..%2F..%2Fetc%2Fpasswd", "/api/v1/api-keys/%2e%2e",
                              "/api/v1/items/..", "/api/v1/widgets/..%5c..%5cwindows"}) {
    const std::string method = t.starts_with("/api/v1/widgets") ? "GET" : "DELETE";
    ExpectErrorObject(Do(method, t, admin_key_), 400, "api.path_traversal");
  }
}

TEST_F(BadInputTest, GarbageRequestLine) {
  ExpectErrorObject(SendRaw(server_->endpoint(), "HELLO\r\n\r\n"), 400, "api.bad_request");
  ExpectErrorObject(SendRaw(server_->endpoint(), "GET /x HTTP/1.1\r\nBad Header\r\n\r\n"), 400,
                    "api.bad_request");
}

TEST_F(BadInputTest, ManyConnectionsInParallel) {
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 10; ++j) {
        if (Do("GET", "/api/v1/operations?family=auth", admin_key_).status == 200) ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 80);
}

}  // namespace
}  // namespace arsenal::api::testing
