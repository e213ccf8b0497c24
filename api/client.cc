// Synchronous Beast client; the only other Beast translation unit besides server.cc.
#include "arsenal/api/client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cstdlib>
#include <optional>

#include "arsenal/api/jsonapi.h"
#include "arsenal/api/url.h"

namespace arsenal::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

Error TransportError(const std::string& code, const std::string& message) {
  return Error(ErrorCategory::kUnavailable, code, message)
      .WithHint("check that arsenald is running and the --remote URL is right")
      .WithRetryable(true);
}

}  // namespace

struct Client::Impl {
  std::string host, port, prefix, key;
  bool https = false;
  std::chrono::seconds timeout{60};
  asio::io_context io;
  std::optional<ssl::context> tls;
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> secure;

  beast::tcp_stream& Lowest() { return https ? beast::get_lowest_layer(*secure) : *plain; }
  bool connected() const { return https ? secure.has_value() : plain.has_value(); }

  Status Open() {
    plain.reset();
    secure.reset();
    boost::system::error_code ec;
    tcp::resolver resolver(io);
    auto results = resolver.resolve(host, port, ec);
    if (ec)
      return Fail(
          TransportError("api.connect_failed", "cannot resolve " + host + ": " + ec.message()));
    if (https) {
      secure.emplace(io, *tls);
      if (!SSL_set_tlsext_host_name(secure->native_handle(), host.c_str())) {
        return Fail(TransportError("api.connect_failed", "cannot set TLS server name"));
      }
      secure->set_verify_callback(ssl::host_name_verification(host));
    } else {
      plain.emplace(io);
    }
    Lowest().expires_after(timeout);
    Lowest().connect(results, ec);
    if (ec) {
      plain.reset();
      secure.reset();
      return Fail(TransportError("api.connect_failed",
                                 "cannot connect to " + host + ":" + port + ": " + ec.message()));
    }
    if (https) {
      secure->handshake(ssl::stream_base::client, ec);
      if (ec) {
        secure.reset();
        return Fail(TransportError("api.connect_failed",
                                   "TLS handshake with " + host + " failed: " + ec.message()));
      }
    }
    return {};
  }

  template <typename Stream>
  Result<http::response<http::string_body>> Exchange(Stream& stream,
                                                     http::request<http::string_body>& req) {
    boost::system::error_code ec;
    Lowest().expires_after(timeout);
    http::write(stream, req, ec);
    if (ec) return Fail(TransportError("api.transport", "sending request failed: " + ec.message()));
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(256 * 1024 * 1024);
    http::read(stream, buffer, parser, ec);
    if (ec)
      return Fail(TransportError("api.transport", "reading response failed: " + ec.message()));
    return parser.release();
  }

  Result<http::response<http::string_body>> Send(http::verb verb, const std::string& target,
                                                 const std::string& body) {
    http::request<http::string_body> req{verb, prefix + target, 11};
    req.set(http::field::host, host);
    req.set(http::field::user_agent, "arsenal-client");
    req.set(http::field::accept, jsonapi::kMediaType);
    req.set(http::field::authorization, "Bearer " + key);
    if (verb != http::verb::get) {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
    }
    req.keep_alive(true);
    req.prepare_payload();
    // One retry on a fresh connection: the server may have closed an idle keep-alive one.
    for (int attempt = 0; attempt < 2; ++attempt) {
      const bool reused = connected();
      if (!reused) ARSENAL_TRY(Open());
      auto res = https ? Exchange(*secure, req) : Exchange(*plain, req);
      if (res) {
        if (!res->keep_alive()) {
          plain.reset();
          secure.reset();
        }
        return res;
      }
      plain.reset();
      secure.reset();
      if (!reused) return Fail(res.error());
    }
    return Fail(TransportError("api.transport", "request failed"));
  }
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

Result<Client> Client::Connect(std::string base_url, std::string api_key,
                               std::chrono::seconds timeout) {
  auto impl = std::make_unique<Impl>();
  impl->key = std::move(api_key);
  impl->timeout = timeout;
  std::string rest;
  if (base_url.starts_with("http://")) {
    rest = base_url.substr(7);
  } else if (base_url.starts_with("https://")) {
    rest = base_url.substr(8);
    impl->https = true;
  } else {
    return Fail(
        ValidationError("api.invalid_url", "remote URL must start with http:// or https://", "url")
            .WithHint("e.g. --remote http://127.0.0.1:7878"));
  }
  const size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) impl->prefix = rest.substr(slash);
  while (!impl->prefix.empty() && impl->prefix.back() == '/') impl->prefix.pop_back();
  if (authority.starts_with("[")) {
    const size_t close = authority.find(']');
    if (close == std::string::npos) {
      return Fail(ValidationError("api.invalid_url", "bad IPv6 host in " + base_url, "url"));
    }
    impl->host = authority.substr(1, close - 1);
    impl->port = close + 2 <= authority.size() ? authority.substr(close + 2) : "";
  } else {
    const size_t colon = authority.rfind(':');
    impl->host = authority.substr(0, colon);
    impl->port = colon == std::string::npos ? "" : authority.substr(colon + 1);
  }
  if (impl->port.empty()) impl->port = impl->https ? "443" : "80";
  if (impl->host.empty()) {
    return Fail(ValidationError("api.invalid_url", "no host in " + base_url, "url"));
  }
  if (impl->https) {
    impl->tls.emplace(ssl::context::tls_client);
    impl->tls->set_verify_mode(ssl::verify_peer);
    boost::system::error_code ec;
    if (const char* ca = std::getenv("ARSENAL_CA_FILE"); ca && *ca) {
      impl->tls->load_verify_file(ca, ec);
    } else {
      impl->tls->set_default_verify_paths(ec);
    }
    if (ec) {
      return Fail(ValidationError("api.invalid_ca", "cannot load CA certificates: " + ec.message())
                      .WithHint("set ARSENAL_CA_FILE to a PEM file"));
    }
  }
  return Client(std::move(impl));
}

Result<Json> Client::Call(const std::string& operation, const Json& params) {
  ARSENAL_ASSIGN_OR_RETURN(
      auto res, impl_->Send(http::verb::post, "/api/v1/operations/" + PercentEncode(operation),
                            params.dump(-1, ' ', false, Json::error_handler_t::replace)));
  Json doc = Json::parse(res.body(), nullptr, false);
  const int status = static_cast<int>(res.result_int());
  if (status < 200 || status >= 300) return Fail(jsonapi::DecodeError(doc, status));
  if (doc.is_discarded()) {
    return Fail(InternalError("api.bad_document", "server answered with a body that is not JSON"));
  }
  return jsonapi::DecodeResult(doc);
}

Result<Json> Client::Get(const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return Fail(ValidationError("api.invalid_path", "path must start with /", "path"));
  }
  ARSENAL_ASSIGN_OR_RETURN(auto res, impl_->Send(http::verb::get, path, ""));
  Json doc = Json::parse(res.body(), nullptr, false);
  const int status = static_cast<int>(res.result_int());
  if (status < 200 || status >= 300) return Fail(jsonapi::DecodeError(doc, status));
  if (doc.is_discarded()) return Json(res.body());
  return doc;
}

}  // namespace arsenal::api
