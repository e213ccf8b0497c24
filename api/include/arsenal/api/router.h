// Router: the REST API as a pure function from an HTTP request to an HTTP response.
//
// Purpose: everything the API does per request, kept free of Boost.Beast so it compiles fast and
// is unit-tested without sockets: target parsing (percent-decoding, path traversal refused),
// authentication (Bearer API keys, see arsenal/engine/api_keys.h), per-key rate limiting,
// content negotiation, routing (the fixed routes below plus one route per registered operation,
// generated from Operation::http_method/http_path), parameter mapping, Engine::Execute, JSON:API
// documents and error objects, sparse fieldsets, list links, OpenAPI, batch and metrics. The
// server (server.h) only moves bytes and hands each parsed request to Handle().
//
// Fixed routes:
//   GET  /healthz                       liveness only; no key needed
//   GET  /metrics                       Prometheus text; needs telemetry.read
//   GET  /api/v1/openapi.json           OpenAPI 3.1 document; needs operations.read
//   POST /api/v1/operations/{name}      uniform invocation: the body is the params object
//   POST /api/v1/batch                  atomic batch (batch.h)
//   GET  /api/v1/stream                 WebSocket upgrade (handled by the server; see stream.h)
//
// Order of checks for every route but /healthz: target syntax (400) → Accept (406) → key (401,
// WWW-Authenticate: Bearer) → rate limit (429, Retry-After) → route (404/405) → the operation's
// permission (403, before the params are looked at, so a weak key learns nothing about them) →
// Content-Type and body (415/400) → Engine::Execute (which validates and audits). Requests that
// end before Execute are audited here ("http <METHOD> <route>"), so each request leaves one
// audit entry; /healthz is not audited.
//
// Thread-safety: Handle() may be called from many threads at once. The route table is rebuilt
// when the registry grows, so operations registered after the server started are routed too.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "arsenal/base/result.h"
#include "arsenal/engine/engine.h"

namespace arsenal {
class ApiKeys;
}

namespace arsenal::api {

struct HttpRequest {
  std::string method;                          // "GET"
  std::string target;                          // origin-form: "/api/v1/x?y=z"
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string remote;  // peer address, for logs
  std::string Header(const std::string& lower_name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/vnd.api+json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct RouterOptions {
  // Per key: a token bucket of `rate_burst` tokens refilled at `rate_per_second`. 0 disables.
  double rate_per_second = 1000;
  double rate_burst = 2000;
  size_t max_batch_steps = 100;
};

class Metrics;

class Router {
 public:
  Router(Engine& engine, RouterOptions options = {});
  ~Router();

  HttpResponse Handle(const HttpRequest& request);

  // Whether Handle(request) may run on the caller's (I/O) thread: true only for a GET whose route
  // is an Operation::nonblocking operation. Everything else goes to a worker pool so that a slow
  // operation cannot stall the connections served by the same thread. Costs one route match.
  bool RunsInline(const HttpRequest& request);

  // For the WebSocket upgrade of /api/v1/stream: the principal, or the error response to send
  // instead of upgrading (401, 403 when the key may read no stream topic, 429).
  std::variant<Principal, HttpResponse> AuthorizeStream(const HttpRequest& request);

  // An error as a JSON:API error document response.
  // `status` overrides the category's status (405, 406, 413, 415, 426, 431).
  static HttpResponse ErrorResponse(const Error& error, const std::string& request_id,
                                    int status = 0);

  struct Route;  // implementation details, declared here for the .cc's helpers
  struct Table;
  struct Target;

 private:
  std::shared_ptr<const Table> CurrentTable();
  HttpResponse HandleOperation(const HttpRequest& request, const Target& target, const Route& route,
                               const std::map<std::string, std::string>& path_params,
                               const Principal& principal, const std::string& request_id);
  Result<Principal> Authenticate(const HttpRequest& request);
  std::optional<HttpResponse> RateLimit(const Principal& principal, const std::string& request_id);
  void AuditHttp(const HttpRequest& request, const std::string& route, const Principal* principal,
                 const std::string& outcome, const std::string& request_id,
                 std::chrono::steady_clock::time_point started);

  Engine& engine_;
  RouterOptions options_;
  Metrics& metrics_;
  ApiKeys& keys_;
  std::mutex table_mu_;
  std::shared_ptr<const Table> table_;
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point updated;
  };
  std::mutex buckets_mu_;
  std::map<std::string, Bucket> buckets_;
};

}  // namespace arsenal::api
