#include "arsenal/api/router.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>

#include "arsenal/api/batch.h"
#include "arsenal/api/jsonapi.h"
#include "arsenal/api/metrics.h"
#include "arsenal/api/openapi.h"
#include "arsenal/api/stream.h"
#include "arsenal/api/url.h"
#include "arsenal/base/log.h"
#include "arsenal/engine/api_keys.h"

namespace arsenal::api {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string NextRequestId() {
  static std::atomic<uint64_t> counter{0};
  static const std::string prefix = "http-" + std::to_string(::getpid()) + "-";
  return prefix + std::to_string(counter.fetch_add(1, std::memory_order_relaxed) + 1);
}

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

Error BadTarget(const std::string& message) {
  return ValidationError("api.invalid_target", message)
      .WithHint("send an origin-form path such as /api/v1/operations, percent-encoded UTF-8");
}

Result<std::string> PercentDecode(std::string_view in, bool plus_is_space) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return Fail(BadTarget("truncated % escape"));
      auto hex = [](char h) -> int {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'a' && h <= 'f') return h - 'a' + 10;
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;
      };
      const int hi = hex(in[i + 1]), lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return Fail(BadTarget("invalid % escape"));
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  if (!ValidUtf8(out)) return Fail(BadTarget("the request target is not valid UTF-8"));
  if (out.find('\0') != std::string::npos) return Fail(BadTarget("NUL in the request target"));
  return out;
}

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.emplace_back(s.substr(start, pos == std::string_view::npos ? s.npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

// Converts query text to the type the schema wants; leaves it a string when it does not parse,
// so schema validation reports the field.
Json TypedValue(const std::string& text, const Json& schema) {
  Json type = schema.is_object() ? schema.value("type", Json()) : Json();
  if (type.is_array()) {
    for (const auto& t : type) {
      if (t == "string") return text;
    }
    if (!type.empty()) type = type[0];
  }
  if (type == "integer") {
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(text.c_str(), &end, 10);
    if (!text.empty() && end && *end == '\0' && errno == 0) return v;
  } else if (type == "number") {
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (!text.empty() && end && *end == '\0' && std::isfinite(v)) return v;
  } else if (type == "boolean") {
    if (text == "true" || text == "1") return true;
    if (text == "false" || text == "0") return false;
  } else if (type == "array") {
    Json arr = Json::array();
    const Json items = schema.value("items", Json::object());
    if (!text.empty()) {
      for (const auto& part : Split(text, ',')) arr.push_back(TypedValue(part, items));
    }
    return arr;
  } else if (type == "null" && text.empty()) {
    return nullptr;
  }
  return text;
}

const Json& SubSchema(const Json& schema, const std::string& name) {
  static const Json kEmpty = Json::object();
  if (!schema.is_object()) return kEmpty;
  auto props = schema.find("properties");
  if (props == schema.end() || !props->is_object()) return kEmpty;
  auto it = props->find(name);
  return it == props->end() ? kEmpty : *it;
}

}  // namespace

std::string HttpRequest::Header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

struct Router::Route {
  std::string method;
  std::string path_template;
  std::vector<std::string> segments;  // "{x}" for params
  std::string operation;
  std::string type;
  std::string item_self_prefix;  // for collection routes with a GET .../{id} sibling
  int literal_count = 0;
  bool nonblocking = false;  // Operation::nonblocking
};

struct Router::Table {
  size_t registry_size = 0;
  std::vector<Route> routes;  // most literal segments first
};

struct Router::Target {
  std::string path;                                        // decoded, for display
  std::vector<std::string> segments;                       // decoded
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
};

namespace {

Result<Router::Target> ParseTarget(const std::string& target);

bool IsParam(const std::string& segment) {
  return segment.size() > 2 && segment.front() == '{' && segment.back() == '}';
}

// Whether a route's segments ("{x}" for a param) match a request path's (a param matches any
// non-empty segment).
bool SegmentsMatch(const std::vector<std::string>& route, const std::vector<std::string>& path) {
  if (route.size() != path.size()) return false;
  for (size_t i = 0; i < path.size(); ++i) {
    if (IsParam(route[i]) ? path[i].empty() : route[i] != path[i]) return false;
  }
  return true;
}

}  // namespace

Router::Router(Engine& engine, RouterOptions options)
    : engine_(engine),
      options_(options),
      metrics_(engine.Service<Metrics>()),
      keys_(engine.Service<ApiKeys>()) {}

Router::~Router() = default;

std::shared_ptr<const Router::Table> Router::CurrentTable() {
  std::lock_guard lock(table_mu_);
  const size_t size = engine_.registry().size();
  if (table_ && table_->registry_size == size) return table_;
  auto table = std::make_shared<Table>();
  table->registry_size = size;
  for (const auto& entry : engine_.registry().List()) {
    const Operation& op = entry->op;
    Route r;
    r.method = op.http_method;
    r.path_template = op.http_path;
    r.operation = op.name;
    r.nonblocking = op.nonblocking;
    auto parts = Split(op.http_path, '/');
    for (size_t i = 1; i < parts.size(); ++i) {
      r.segments.push_back(parts[i]);
      if (!parts[i].starts_with("{")) ++r.literal_count;
    }
    // Resource type: the first segment after /api/v1/.
    r.type = r.segments.size() > 2 ? r.segments[2] : op.family;
    table->routes.push_back(std::move(r));
  }
  for (auto& r : table->routes) {
    for (const auto& other : table->routes) {
      if (other.method == "GET" && other.segments.size() == r.segments.size() + 1 &&
          other.segments.back().starts_with("{") &&
          std::equal(r.segments.begin(), r.segments.end(), other.segments.begin())) {
        r.item_self_prefix = r.path_template + "/";
      }
    }
  }
  std::stable_sort(table->routes.begin(), table->routes.end(), [](const Route& a, const Route& b) {
    return a.literal_count > b.literal_count;
  });
  table_ = table;
  return table_;
}

bool Router::RunsInline(const HttpRequest& request) {
  if (request.method != "GET") return false;
  auto target = ParseTarget(request.target);
  if (!target) return false;
  auto table = CurrentTable();
  for (const auto& r : table->routes) {
    if (r.method == "GET" && SegmentsMatch(r.segments, target->segments)) return r.nonblocking;
  }
  return false;
}

HttpResponse Router::ErrorResponse(const Error& error, const std::string& request_id, int status) {
  HttpResponse r;
  r.status = status ? status : error.http_status();
  r.body = jsonapi::ErrorDocument(error, request_id, r.status)
               .dump(-1, ' ', false, Json::error_handler_t::replace);
  if (error.category() == ErrorCategory::kUnauthenticated) {
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"arsenal\"");
  }
  return r;
}

Result<Principal> Router::Authenticate(const HttpRequest& request) {
  const std::string auth = request.Header("authorization");
  if (auth.empty()) {
    return Fail(
        Error(ErrorCategory::kUnauthenticated, "auth.missing_key", "this endpoint needs an API key")
            .WithHint("send 'Authorization: Bearer <key>'; a new daemon writes its first "
                      "admin key to <state-dir>/api-bootstrap.key"));
  }
  constexpr std::string_view kBearer = "bearer ";
  if (auth.size() <= kBearer.size() ||
      !std::equal(kBearer.begin(), kBearer.end(), auth.begin(), [](char a, char b) {
        return a == std::tolower(static_cast<unsigned char>(b));
      })) {
    return Fail(Error(ErrorCategory::kUnauthenticated, "auth.invalid_scheme",
                      "only the Bearer authorization scheme is supported")
                    .WithHint("send 'Authorization: Bearer <key>'"));
  }
  std::string key = auth.substr(kBearer.size());
  while (!key.empty() && key.back() == ' ') key.pop_back();
  return keys_.Authenticate(key);
}

std::optional<HttpResponse> Router::RateLimit(const Principal& principal,
                                              const std::string& request_id) {
  if (options_.rate_per_second <= 0) return std::nullopt;
  const auto now = Clock::now();
  double wait_seconds = 0;
  {
    std::lock_guard lock(buckets_mu_);
    auto [it, inserted] = buckets_.try_emplace(principal.id, Bucket{options_.rate_burst, now});
    Bucket& b = it->second;
    const double elapsed = std::chrono::duration<double>(now - b.updated).count();
    b.tokens = std::min(options_.rate_burst, b.tokens + elapsed * options_.rate_per_second);
    b.updated = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return std::nullopt;
    }
    wait_seconds = (1 - b.tokens) / options_.rate_per_second;
  }
  Error e(ErrorCategory::kResourceExhausted, "api.rate_limited",
          "too many requests for key '" + principal.id + "'");
  e.WithHint("slow down; retry after the Retry-After header's seconds").WithRetryable(true);
  HttpResponse r = ErrorResponse(e, request_id);
  r.headers.emplace_back(
      "Retry-After", std::to_string(std::max<int64_t>(1, std::lround(std::ceil(wait_seconds)))));
  return r;
}

void Router::AuditHttp(const HttpRequest& request, const std::string& route,
                       const Principal* principal, const std::string& outcome,
                       const std::string& request_id, Clock::time_point started) {
  if (!engine_.options().audit) return;
  const int64_t us =
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started).count();
  engine_.audit().Record({NowUnixMs(), principal ? principal->id : "anonymous",
                          "http " + request.method + " " + route, DigestParams(request.target),
                          outcome, us, request_id});
}

namespace {

// Origin-form only; "." and ".." segments, empty segments and encoded slashes in literal
// positions are refused rather than normalized, so a path can never name something else.
Result<Router::Target> ParseTarget(const std::string& target) {
  Router::Target t;
  if (target.empty() || target[0] != '/')
    return Fail(BadTarget("request target must start with /"));
  if (target.size() > 8192) return Fail(BadTarget("request target too long"));
  const size_t q = target.find('?');
  const std::string_view raw_path = std::string_view(target).substr(0, q);
  const std::string_view raw_query =
      q == std::string::npos ? std::string_view() : std::string_view(target).substr(q + 1);
  if (raw_path.find('#') != std::string_view::npos) return Fail(BadTarget("fragment in target"));
  auto parts = Split(raw_path.substr(1), '/');
  for (const auto& raw : parts) {
    ARSENAL_ASSIGN_OR_RETURN(auto seg, PercentDecode(raw, false));
    if (seg == "." || seg == "..") {
      return Fail(ValidationError("api.path_traversal", "'.' and '..' are not allowed in paths")
                      .WithHint("name resources by id, not by relative path"));
    }
    if (seg.find('/') != std::string::npos || seg.find('\\') != std::string::npos ||
        seg.find("..") != std::string::npos) {
      return Fail(ValidationError("api.path_traversal",
                                  "path segment '" + seg + "' contains a path separator or '..'")
                      .WithHint("ids never contain '/', '\\' or '..'"));
    }
    t.segments.push_back(std::move(seg));
  }
  // A trailing slash is tolerated ("/api/v1/operations/"); inner empty segments are not.
  if (t.segments.size() > 1 && t.segments.back().empty()) t.segments.pop_back();
  for (size_t i = 0; i + 1 < t.segments.size(); ++i) {
    if (t.segments[i].empty()) return Fail(BadTarget("empty path segment"));
  }
  t.path = "/";
  for (size_t i = 0; i < t.segments.size(); ++i) t.path += (i ? "/" : "") + t.segments[i];
  if (!raw_query.empty()) {
    for (const auto& pair : Split(raw_query, '&')) {
      if (pair.empty()) continue;
      const size_t eq = pair.find('=');
      ARSENAL_ASSIGN_OR_RETURN(auto key, PercentDecode(pair.substr(0, eq), true));
      std::string value;
      if (eq != std::string::npos) {
        ARSENAL_ASSIGN_OR_RETURN(value, PercentDecode(pair.substr(eq + 1), true));
      }
      t.query.emplace_back(std::move(key), std::move(value));
    }
  }
  return t;
}

// "page[size]" → {"page", "size"}; "sort" → {"sort"}.
Result<std::vector<std::string>> BracketPath(const std::string& key) {
  std::vector<std::string> path;
  const size_t open = key.find('[');
  path.push_back(key.substr(0, open));
  if (path[0].empty()) return Fail(ValidationError("api.invalid_query", "empty query key", key));
  size_t pos = open;
  while (pos != std::string::npos && pos < key.size()) {
    if (key[pos] != '[') return Fail(ValidationError("api.invalid_query", "bad query key", key));
    const size_t close = key.find(']', pos);
    if (close == std::string::npos || close == pos + 1) {
      return Fail(
          ValidationError("api.invalid_query", "bad brackets in query key '" + key + "'", key));
    }
    path.push_back(key.substr(pos + 1, close - pos - 1));
    pos = close + 1;
    if (pos == key.size()) break;
  }
  return path;
}

bool MediaTypeIs(const std::string& header, std::string_view type) {
  std::string v = header.substr(0, header.find(';'));
  while (!v.empty() && v.back() == ' ') v.pop_back();
  while (!v.empty() && v.front() == ' ') v.erase(0, 1);
  for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return v == type;
}

// Returns the media type to answer with, or nullopt (406). JSON:API: a vnd.api+json range with
// parameters other than ext/profile cannot be satisfied.
std::optional<std::string> Negotiate(const std::string& accept) {
  if (accept.empty()) return std::string(jsonapi::kMediaType);
  bool json = false, any = false, api = false;
  for (auto range : Split(accept, ',')) {
    while (!range.empty() && range.front() == ' ') range.erase(0, 1);
    const size_t semi = range.find(';');
    std::string type = range.substr(0, semi);
    while (!type.empty() && type.back() == ' ') type.pop_back();
    for (char& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string params = semi == std::string::npos ? "" : range.substr(semi + 1);
    if (type == jsonapi::kMediaType) {
      bool plain = true;
      for (auto p : Split(params, ';')) {
        while (!p.empty() && p.front() == ' ') p.erase(0, 1);
        if (!p.empty() && !p.starts_with("ext=") && !p.starts_with("profile=") &&
            !p.starts_with("q=")) {
          plain = false;
        }
      }
      api |= plain;
    } else if (type == "application/json") {
      json = true;
    } else if (type == "*/*" || type == "application/*") {
      any = true;
    }
  }
  if (api) return std::string(jsonapi::kMediaType);
  if (json) return std::string("application/json");
  if (any) return std::string(jsonapi::kMediaType);
  return std::nullopt;
}

std::string Rebuild(const std::string& path,
                    const std::vector<std::pair<std::string, std::string>>& query) {
  std::string out = path;
  char sep = '?';
  for (const auto& [k, v] : query) {
    out += sep;
    sep = '&';
    // Brackets stay readable; everything else is encoded.
    std::string key;
    for (char c : k) key += (c == '[' || c == ']') ? std::string(1, c) : PercentEncode({&c, 1});
    out += key + "=" + PercentEncode(v);
  }
  return out;
}

}  // namespace

HttpResponse Router::Handle(const HttpRequest& request) {
  const auto started = Clock::now();
  const std::string request_id = NextRequestId();
  HttpResponse response = [&]() -> HttpResponse {
    auto target = ParseTarget(request.target);
    if (!target) {
      AuditHttp(request, "(invalid target)", nullptr, target.error().code(), request_id, started);
      return ErrorResponse(target.error(), request_id);
    }
    if (target->path == "/healthz") {
      if (request.method != "GET" && request.method != "HEAD") {
        HttpResponse r = ErrorResponse(
            Error(ErrorCategory::kValidation, "api.method_not_allowed", "/healthz answers GET"),
            request_id, 405);
        r.headers.emplace_back("Allow", "GET, HEAD");
        return r;
      }
      return HttpResponse{200, "application/json", R"({"status":"ok"})", {}};
    }
    auto media = Negotiate(request.Header("accept"));
    if (!media) {
      HttpResponse r = ErrorResponse(
          Error(ErrorCategory::kValidation, "api.not_acceptable",
                "cannot answer with any media type in Accept: " + request.Header("accept"))
              .WithHint("accept application/vnd.api+json or application/json"),
          request_id, 406);
      AuditHttp(request, target->path, nullptr, "api.not_acceptable", request_id, started);
      return r;
    }
    auto finish = [&](HttpResponse r) {
      if (r.content_type == jsonapi::kMediaType) r.content_type = *media;
      return r;
    };
    auto principal = Authenticate(request);
    if (!principal) {
      AuditHttp(request, target->path, nullptr, principal.error().code(), request_id, started);
      return finish(ErrorResponse(principal.error(), request_id));
    }
    if (auto limited = RateLimit(*principal, request_id)) {
      AuditHttp(request, target->path, &*principal, "api.rate_limited", request_id, started);
      return finish(*limited);
    }
    auto denied = [&](const std::string& permission, const std::string& what) {
      Error e(ErrorCategory::kPermission, "auth.permission_denied",
              "principal '" + principal->id + "' lacks permission '" + permission +
                  "' required by " + what);
      e.WithDetail("permission", permission).WithHint("use a key whose role grants " + permission);
      AuditHttp(request, target->path, &*principal, e.code(), request_id, started);
      return finish(ErrorResponse(e, request_id));
    };
    auto method_not_allowed = [&](const std::string& allow) {
      HttpResponse r = ErrorResponse(Error(ErrorCategory::kValidation, "api.method_not_allowed",
                                           request.method + " is not allowed on " + target->path)
                                         .WithHint("allowed: " + allow),
                                     request_id, 405);
      r.headers.emplace_back("Allow", allow);
      AuditHttp(request, target->path, &*principal, "api.method_not_allowed", request_id, started);
      return finish(r);
    };
    const auto& segs = target->segments;
    if (target->path == "/metrics") {
      if (request.method != "GET") return method_not_allowed("GET");
      if (!principal->Allows("telemetry.read")) return denied("telemetry.read", "/metrics");
      AuditHttp(request, "/metrics", &*principal, "ok", request_id, started);
      return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", metrics_.Render(), {}};
    }
    if (target->path == "/api/v1/openapi.json") {
      if (request.method != "GET") return method_not_allowed("GET");
      if (!principal->Allows("operations.read")) return denied("operations.read", "openapi.json");
      AuditHttp(request, "/api/v1/openapi.json", &*principal, "ok", request_id, started);
      return HttpResponse{
          200,
          "application/json",
          BuildOpenApi(engine_.registry()).dump(-1, ' ', false, Json::error_handler_t::replace),
          {}};
    }
    if (target->path == "/api/v1/stream") {
      if (request.method != "GET") return method_not_allowed("GET");
      if (!StreamSubscriber::MayReadAnyTopic(*principal)) {
        return denied("telemetry.read", "/api/v1/stream (or another topic's read permission)");
      }
      HttpResponse r =
          ErrorResponse(Error(ErrorCategory::kValidation, "api.upgrade_required",
                              "/api/v1/stream is a WebSocket endpoint")
                            .WithHint("connect with a WebSocket client (Upgrade: websocket)"),
                        request_id, 426);
      r.headers.emplace_back("Upgrade", "websocket");
      AuditHttp(request, target->path, &*principal, "api.upgrade_required", request_id, started);
      return finish(r);
    }
    auto table = CurrentTable();
    const Route* route = nullptr;
    std::map<std::string, std::string> path_params;
    std::string allow;
    // Uniform invocation: POST /api/v1/operations/{name}.
    Route invoke;
    if (segs.size() == 4 && segs[0] == "api" && segs[1] == "v1" && segs[2] == "operations" &&
        request.method == "POST") {
      auto entry = engine_.registry().Find(segs[3]);
      if (!entry) {
        AuditHttp(request, target->path, &*principal, "operation.not_found", request_id, started);
        return finish(ErrorResponse(
            NotFoundError("operation.not_found", "no operation named '" + segs[3] + "'")
                .WithHint("GET /api/v1/operations lists what exists"),
            request_id));
      }
      invoke.method = "POST";
      invoke.operation = entry->op.name;
      invoke.path_template = "/api/v1/operations/{name}";
      auto parts = Split(entry->op.http_path, '/');
      invoke.type = parts.size() > 3 ? parts[3] : entry->op.family;
      route = &invoke;
    } else if (target->path == "/api/v1/batch") {
      if (request.method != "POST") return method_not_allowed("POST");
      if (!MediaTypeIs(request.Header("content-type"), "application/json") &&
          !MediaTypeIs(request.Header("content-type"), jsonapi::kMediaType)) {
        HttpResponse r =
            ErrorResponse(Error(ErrorCategory::kValidation, "api.unsupported_media_type",
                                "request body must be application/json or application/vnd.api+json")
                              .WithHint("set Content-Type: application/json"),
                          request_id, 415);
        AuditHttp(request, "/api/v1/batch", &*principal, "api.unsupported_media_type", request_id,
                  started);
        return finish(r);
      }
      Json body = Json::parse(request.body, nullptr, false);
      Result<Json> result = [&]() -> Result<Json> {
        if (body.is_discarded()) {
          return Fail(ValidationError("api.malformed_json", "request body is not valid JSON")
                          .WithHint("send a UTF-8 JSON object"));
        }
        ARSENAL_ASSIGN_OR_RETURN(auto steps, ParseBatch(body, options_.max_batch_steps));
        return RunBatch(engine_, steps, *principal, request_id);
      }();
      AuditHttp(request, "/api/v1/batch", &*principal, result ? "ok" : result.error().code(),
                request_id, started);
      if (!result) return finish(ErrorResponse(result.error(), request_id));
      jsonapi::DocumentContext ctx{.type = "batch-results",
                                   .operation = "batch",
                                   .request_id = request_id,
                                   .self = target->path};
      HttpResponse r;
      r.body = jsonapi::ResultDocument(std::move(*result), ctx)
                   .dump(-1, ' ', false, Json::error_handler_t::replace);
      return finish(r);
    } else {
      // Match on the segments first; the params map is built only for the route chosen.
      for (const auto& r : table->routes) {
        if (!SegmentsMatch(r.segments, segs)) continue;
        if (r.method != request.method) {
          if (allow.find(r.method) == std::string::npos)
            allow += (allow.empty() ? "" : ", ") + r.method;
          continue;
        }
        route = &r;
        for (size_t i = 0; i < segs.size(); ++i) {
          const std::string& t = r.segments[i];
          if (IsParam(t)) path_params[t.substr(1, t.size() - 2)] = segs[i];
        }
        break;
      }
    }
    if (!route) {
      if (!allow.empty()) return method_not_allowed(allow);
      AuditHttp(request, target->path, &*principal, "api.route_not_found", request_id, started);
      return finish(
          ErrorResponse(NotFoundError("api.route_not_found",
                                      "no route for " + request.method + " " + target->path)
                            .WithHint("GET /api/v1/openapi.json lists every route"),
                        request_id));
    }
    return finish(HandleOperation(request, *target, *route, path_params, *principal, request_id));
  }();
  metrics_.CountHttp(request.method, response.status);
  response.headers.emplace_back("X-Request-Id", request_id);
  return response;
}

HttpResponse Router::HandleOperation(const HttpRequest& request, const Target& target,
                                     const Route& route,
                                     const std::map<std::string, std::string>& path_params,
                                     const Principal& principal, const std::string& request_id) {
  const auto started = Clock::now();
  auto entry = engine_.registry().Find(route.operation);
  if (!entry) {
    return ErrorResponse(NotFoundError("operation.not_found", "operation vanished"), request_id);
  }
  const Operation& op = entry->op;
  auto fail = [&](const Error& e, int status = 0) {
    AuditHttp(request, route.path_template, &principal, e.code(), request_id, started);
    return ErrorResponse(e, request_id, status);
  };
  // Permission before params: a weak key learns nothing about the operation's params.
  if (!principal.Allows(op.permission)) {
    return fail(Error(ErrorCategory::kPermission, "auth.permission_denied",
                      "principal '" + principal.id + "' lacks permission '" + op.permission +
                          "' required by '" + op.name + "'")
                    .WithDetail("permission", op.permission)
                    .WithHint("use a key whose role grants " + op.permission));
  }
  Json params = Json::object();
  std::map<std::string, std::vector<std::string>> fieldsets;
  std::vector<std::pair<std::string, std::string>> passthrough_query;
  for (const auto& [key, value] : target.query) {
    auto path = BracketPath(key);
    if (!path) return fail(path.error());
    if ((*path)[0] == "fields" && path->size() == 2) {
      auto names = Split(value, ',');
      names.erase(std::remove(names.begin(), names.end(), ""), names.end());
      fieldsets[(*path)[1]] = names;
      passthrough_query.emplace_back(key, value);
      continue;
    }
    if ((*path)[0] == "include") {
      return fail(ValidationError("api.include_unsupported",
                                  "this API has no relationships to include", "include"));
    }
    passthrough_query.emplace_back(key, value);
    Json* node = &params;
    const Json* schema = &op.params_schema;
    for (size_t i = 0; i < path->size(); ++i) {
      const std::string& name = (*path)[i];
      schema = &SubSchema(*schema, name);
      if (i + 1 == path->size()) {
        if (node->contains(name)) {
          return fail(ValidationError("api.duplicate_param",
                                      "query parameter '" + key + "' is given twice", key));
        }
        (*node)[name] = TypedValue(value, *schema);
      } else {
        Json& child = (*node)[name];
        if (child.is_null()) child = Json::object();
        if (!child.is_object()) {
          return fail(ValidationError("api.invalid_query",
                                      "query parameter '" + key + "' conflicts with another", key));
        }
        node = &child;
      }
    }
  }
  if (request.method == "POST" || request.method == "PUT" || request.method == "PATCH" ||
      !request.body.empty()) {
    if (!request.body.empty()) {
      const std::string ct = request.Header("content-type");
      const bool api = MediaTypeIs(ct, jsonapi::kMediaType);
      if (!api && !MediaTypeIs(ct, "application/json")) {
        HttpResponse r = fail(Error(ErrorCategory::kValidation, "api.unsupported_media_type",
                                    "request body must be application/json or "
                                    "application/vnd.api+json, not '" +
                                        ct + "'")
                                  .WithHint("set Content-Type: application/json"),
                              415);
        return r;
      }
      Json body = Json::parse(request.body, nullptr, false);
      if (body.is_discarded()) {
        return fail(
            ValidationError("api.malformed_json", "request body is not valid JSON (or not UTF-8)")
                .WithHint("send a UTF-8 JSON object of the operation's params"));
      }
      // A JSON:API resource document carries the params as data.attributes.
      if (api && body.is_object() && body.contains("data") && body["data"].is_object() &&
          body["data"].contains("attributes")) {
        body = body["data"]["attributes"];
      }
      if (!body.is_object()) {
        return fail(ValidationError("api.invalid_body", "request body must be a JSON object")
                        .WithHint("send the operation's params as one JSON object"));
      }
      for (auto& [k, v] : body.items()) {
        if (params.contains(k)) {
          return fail(ValidationError("api.duplicate_param",
                                      "'" + k + "' is given both in the query and the body", k));
        }
        params[k] = v;
      }
    }
  }
  for (const auto& [name, value] : path_params) {
    Json typed = TypedValue(value, SubSchema(op.params_schema, name));
    if (params.contains(name) && params[name] != typed) {
      return fail(ValidationError("api.conflicting_param",
                                  "'" + name + "' differs between the path and the body", name));
    }
    params[name] = std::move(typed);
  }
  auto result = engine_.Execute(op.name, params, principal, request_id);
  if (!result) return ErrorResponse(result.error(), request_id);
  jsonapi::DocumentContext ctx{.type = route.type,
                               .operation = op.name,
                               .request_id = request_id,
                               .self = Rebuild(target.path, target.query)};
  if (route.method == "GET") {
    ctx.item_self_prefix = route.item_self_prefix;
    auto link = [&](const char* set, const Json& cursor) {
      std::vector<std::pair<std::string, std::string>> q;
      for (const auto& kv : passthrough_query) {
        if (kv.first != "page[after]" && kv.first != "page[before]") q.push_back(kv);
      }
      q.emplace_back(set, cursor.get<std::string>());
      return Rebuild(target.path, q);
    };
    if (result->is_object()) {
      if (auto n = result->find("next_cursor"); n != result->end() && n->is_string()) {
        ctx.next = link("page[after]", *n);
      }
      if (auto p = result->find("prev_cursor"); p != result->end() && p->is_string()) {
        ctx.prev = link("page[before]", *p);
      }
    }
  }
  Json doc = jsonapi::ResultDocument(std::move(*result), ctx);
  jsonapi::ApplySparseFieldsets(doc, fieldsets);
  HttpResponse r;
  r.body = doc.dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

std::variant<Principal, HttpResponse> Router::AuthorizeStream(const HttpRequest& request) {
  const auto started = Clock::now();
  const std::string request_id = NextRequestId();
  auto principal = Authenticate(request);
  if (!principal) {
    AuditHttp(request, "/api/v1/stream", nullptr, principal.error().code(), request_id, started);
    return ErrorResponse(principal.error(), request_id);
  }
  if (auto limited = RateLimit(*principal, request_id)) return *limited;
  if (!StreamSubscriber::MayReadAnyTopic(*principal)) {
    Error e(ErrorCategory::kPermission, "auth.permission_denied",
            "principal '" + principal->id + "' may read no stream topic");
    e.WithHint("use a key whose role grants telemetry.read or another topic's read permission");
    AuditHttp(request, "/api/v1/stream", &*principal, e.code(), request_id, started);
    return ErrorResponse(e, request_id);
  }
  AuditHttp(request, "/api/v1/stream", &*principal, "ok", request_id, started);
  return *principal;
}

}  // namespace arsenal::api
