// Test harness: an Engine with test operations, a Server on an ephemeral loopback port, a raw
// HTTP/1.1 client over POSIX sockets (so malformed requests can be sent byte for byte) and a
// WebSocket client for /api/v1/stream (WsClient, implemented in ws_client.cc).
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "arsenal/api/server.h"
#include "arsenal/base/unique_fd.h"
#include "arsenal/engine/engine.h"
#include "arsenal/engine/list_query.h"

namespace arsenal::api::testing {

struct RawResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  bool closed = false;  // the server closed the connection after this response
  Json json() const { return Json::parse(body, nullptr, false); }
  std::string error_code() const {
    Json j = json();
    if (!j.is_object() || !j.contains("errors")) return "";
    return j["errors"][0].value("code", "");
  }
};

inline UniqueFd ConnectTo(const std::string& endpoint) {
  const size_t colon = endpoint.rfind(':');
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(std::stoi(endpoint.substr(colon + 1))));
  inet_pton(AF_INET, endpoint.substr(0, colon).c_str(), &addr.sin_addr);
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return UniqueFd();
  return fd;
}

inline bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// Reads one response (Content-Length framed) from `fd`; `pending` keeps bytes read past it.
inline RawResponse ReadResponse(int fd, std::string& pending,
                                std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  RawResponse r;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto fill = [&]() -> bool {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    // The engine in this process starts children, so SIGCHLD interrupts poll (SA_RESTART does
    // not restart it): retry rather than report a response that never failed.
    int ready;
    do {
      ready = ::poll(&p, 1, static_cast<int>(left.count()));
    } while (ready < 0 && errno == EINTR);
    if (ready <= 0) return false;
    char buf[65536];
    ssize_t n;
    do {
      n = ::recv(fd, buf, sizeof buf, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
      r.closed = true;
      return false;
    }
    pending.append(buf, static_cast<size_t>(n));
    return true;
  };
  size_t header_end;
  while ((header_end = pending.find("\r\n\r\n")) == std::string::npos) {
    if (!fill()) return r;
  }
  std::string head = pending.substr(0, header_end);
  pending.erase(0, header_end + 4);
  size_t line_end = head.find("\r\n");
  std::string status_line = head.substr(0, line_end);
  r.status = std::stoi(status_line.substr(9, 3));
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t end = head.find("\r\n", pos);
    if (end == std::string::npos) end = head.size();
    std::string line = head.substr(pos, end - pos);
    const size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    r.headers[name] = value;
    pos = end + 2;
  }
  size_t length = r.headers.count("content-length") ? std::stoul(r.headers["content-length"]) : 0;
  while (pending.size() < length) {
    if (!fill()) break;
  }
  r.body = pending.substr(0, length);
  pending.erase(0, std::min(length, pending.size()));
  if (r.headers["connection"] == "close") r.closed = true;
  return r;
}

inline RawResponse SendRaw(const std::string& endpoint, const std::string& raw,
                           std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  UniqueFd fd = ConnectTo(endpoint);
  if (!fd || !SendAll(fd.get(), raw)) return {};
  std::string pending;
  return ReadResponse(fd.get(), pending, timeout);
}

inline std::string BuildRequest(const std::string& method, const std::string& target,
                                const std::string& key, const std::string& body = "",
                                const std::string& content_type = "application/json",
                                const std::string& extra_headers = "") {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: localhost\r\n";
  if (!key.empty()) req += "Authorization: Bearer " + key + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    if (!content_type.empty()) req += "Content-Type: " + content_type + "\r\n";
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += extra_headers;
  req += "\r\n" + body;
  return req;
}

// A WebSocket client of /api/v1/stream. The Boost.Beast code lives in ws_client.cc so that only
// one test source pays for compiling it. Every read gives up after a timeout and returns null, so
// a missing message fails the test instead of hanging it; after a timed-out read the connection
// is abandoned (a cancelled WebSocket read leaves the stream unusable) and later reads return null.
class WsClient {
 public:
  // Connects and upgrades; `key` empty sends no Authorization header.
  WsClient(const std::string& endpoint, const std::string& key);
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  bool ok() const;     // the upgrade succeeded
  int status() const;  // HTTP status of the upgrade response (101, or 401/403/429 when refused)
  void Send(const Json& msg);
  // The next message, or null on timeout, error or a message that is not JSON.
  Json Read(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // Reads until a message of `type` (skipping others); null after `max` messages or a null read.
  Json ReadType(const std::string& type, int max = 10000);
  // Sends a normal close and waits (bounded) for the server's close.
  void Close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Test-only engine state for the test operations below.
struct TestItems {
  explicit TestItems(Engine&) {}
  std::mutex mu;
  std::map<std::string, Json> items;
};

inline void RegisterTestOperations(Engine& engine) {
  // A list operation following the list convention, over 57 generated widgets.
  {
    Operation op;
    op.name = "test_list_widgets";
    op.family = "widget";
    op.summary = "List test widgets";
    static const ListSpec spec{.id_field = "id",
                               .filterable = {"color", "size", "name"},
                               .sortable = {"size", "name", "color"},
                               .default_page_size = 10,
                               .max_page_size = 25};
    op.params_schema = {{"type", "object"}, {"properties", ListParamsSchemaProperties(spec)}};
    op.result_schema = {{"type", "object"},
                        {"properties", ListResultSchemaProperties({{"type", "object"}})}};
    op.permission = "widget.read";
    op.http_method = "GET";
    op.http_path = "/api/v1/widgets";
    op.idempotent = true;
    op.handler = [](OperationContext&, const Json& params) -> Result<Json> {
      ARSENAL_ASSIGN_OR_RETURN(auto query, ListQuery::FromParams(params, spec));
      static const char* colors[] = {"red", "green", "blue"};
      std::vector<Json> items;
      for (int i = 0; i < 57; ++i) {
        char id[16];
        std::snprintf(id, sizeof id, "w%03d", i);
        items.push_back({{"id", id},
                         {"name", "widget " + std::to_string(i)},
                         {"color", colors[i % 3]},
                         {"size", (i * 7) % 20}});
      }
      return query.Apply(items);
    };
    ASSERT_TRUE(engine.registry().Register(op));
  }
  {
    Operation op;
    op.name = "test_get_widget";
    op.family = "widget";
    op.summary = "Get one test widget";
    op.params_schema = {{"type", "object"},
                        {"properties", {{"id", {{"type", "string"}, {"pattern", "^w[0-9]{3}$"}}}}},
                        {"required", {"id"}}};
    op.permission = "widget.read";
    op.http_method = "GET";
    op.http_path = "/api/v1/widgets/{id}";
    op.handler = [](OperationContext&, const Json& params) -> Result<Json> {
      return Json{{"id", params["id"]}, {"name", "widget"}, {"color", "red"}, {"size", 3}};
    };
    ASSERT_TRUE(engine.registry().Register(op));
  }
  // Items with a compensable put (undone by delete) and a typed count, for batch tests.
  {
    Operation op;
    op.name = "test_put_item";
    op.family = "item";
    op.summary = "Create a test item; fails when it exists";
    op.params_schema = {{"type", "object"},
                        {"properties",
                         {{"id", {{"type", "string"}, {"pattern", "^[a-z0-9-]{1,32}$"}}},
                          {"count", {{"type", "integer"}, {"minimum", 0}}}}},
                        {"required", {"id"}}};
    op.permission = "item.write";
    op.http_method = "PUT";
    op.http_path = "/api/v1/items/{id}";
    op.compensation = Compensation{"test_delete_item", [](const Json& params, const Json&) {
                                     return Json{{"id", params["id"]}};
                                   }};
    op.handler = [](OperationContext& ctx, const Json& params) -> Result<Json> {
      auto& items = ctx.engine.Service<TestItems>();
      std::lock_guard lock(items.mu);
      const std::string id = params["id"];
      if (items.items.contains(id)) {
        return Fail(ConflictError("item.exists", "item '" + id + "' exists"));
      }
      items.items[id] = params;
      return params;
    };
    ASSERT_TRUE(engine.registry().Register(op));
  }
  {
    Operation op;
    op.name = "test_delete_item";
    op.family = "item";
    op.summary = "Delete a test item";
    op.params_schema = {
        {"type", "object"}, {"properties", {{"id", {{"type", "string"}}}}}, {"required", {"id"}}};
    op.permission = "item.write";
    op.http_method = "DELETE";
    op.http_path = "/api/v1/items/{id}";
    op.handler = [](OperationContext& ctx, const Json& params) -> Result<Json> {
      auto& items = ctx.engine.Service<TestItems>();
      std::lock_guard lock(items.mu);
      if (items.items.erase(params["id"].get<std::string>()) == 0) {
        return Fail(NotFoundError("item.not_found", "no item"));
      }
      return Json{{"id", params["id"]}, {"deleted", true}};
    };
    ASSERT_TRUE(engine.registry().Register(op));
  }
  {
    Operation op;
    op.name = "test_list_items";
    op.family = "item";
    op.summary = "List test items";
    op.params_schema = {{"type", "object"}};
    op.permission = "item.read";
    op.http_method = "GET";
    op.http_path = "/api/v1/items";
    op.handler = [](OperationContext& ctx, const Json&) -> Result<Json> {
      auto& items = ctx.engine.Service<TestItems>();
      std::lock_guard lock(items.mu);
      Json out = Json::array();
      for (const auto& [id, item] : items.items) out.push_back(item);
      return Json{{"items", out}, {"next_cursor", nullptr}, {"prev_cursor", nullptr}};
    };
    ASSERT_TRUE(engine.registry().Register(op));
  }
  {
    Operation op;
    op.name = "test_touch";
    op.family = "item";
    op.summary = "A write without compensation";
    op.params_schema = {{"type", "object"}};
    op.permission = "item.write";
    op.http_method = "POST";
    op.http_path = "/api/v1/items/touch";
    op.handler = [](OperationContext&, const Json&) -> Result<Json> {
      return Json{{"touched", true}};
    };
    ASSERT_TRUE(engine.registry().Register(op));
  }
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(Json::object()); }

  void StartServer(Json config) {
    server_.reset();
    engine_.reset();
    EngineOptions eo;
    eo.config = {{"api", config}};
    auto engine = Engine::Create(eo);
    ASSERT_TRUE(engine) << engine.error().ToString();
    engine_ = std::move(*engine);
    RegisterTestOperations(*engine_);
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.body_limit = 64 * 1024;
    options.config = config;
    auto server = Server::Start(*engine_, options);
    ASSERT_TRUE(server) << server.error().ToString();
    server_ = std::move(*server);
    ASSERT_TRUE(server_->bootstrap_key_path());
    std::ifstream in(*server_->bootstrap_key_path());
    std::getline(in, admin_key_);
    ASSERT_TRUE(admin_key_.starts_with("ars_"));
  }

  void TearDown() override {
    if (server_) server_->Stop();
    server_.reset();
    engine_.reset();
  }

  std::string KeyWithRole(const std::string& role) {
    auto created = engine_->Execute("create_api_key", {{"role", role}}, Principal::Root());
    EXPECT_TRUE(created) << created.error().ToString();
    return created ? (*created)["key"].get<std::string>() : "";
  }

  RawResponse Do(const std::string& method, const std::string& target, const std::string& key,
                 const std::string& body = "", const std::string& content_type = "application/json",
                 const std::string& extra = "") {
    return SendRaw(server_->endpoint(),
                   BuildRequest(method, target, key, body, content_type, extra));
  }

  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Server> server_;
  std::string admin_key_;
};

}  // namespace arsenal::api::testing
