// The Beast/Asio transport. All Boost.Beast server code lives in this one translation unit
// (each such unit costs ~9 s to compile); request semantics live in router.cc.
#include "arsenal/api/server.h"

#include <array>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <condition_variable>
#include <deque>
#include <map>
#include <thread>
#include <variant>

#include "arsenal/api/metrics.h"
#include "arsenal/api/router.h"
#include "arsenal/api/stream.h"
#include "arsenal/base/log.h"
#include "arsenal/engine/api_keys.h"
#include "arsenal/engine/engine.h"

namespace arsenal::api {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t kHeaderLimit = 16 * 1024;
constexpr size_t kWsMessageLimit = 64 * 1024;
constexpr size_t kStreamQueue = 1024;

std::atomic<int64_t> g_test_read_timeout_ms{0};

Error ListenError(const std::string& listen, const std::string& why) {
  return ValidationError("api.invalid_listen", "cannot listen on '" + listen + "': " + why,
                         "listen")
      .WithHint("use host:port, e.g. 127.0.0.1:7878 or [::1]:0");
}

Result<tcp::endpoint> ParseListen(const std::string& listen) {
  std::string host, port;
  if (listen.starts_with("[")) {
    const size_t close = listen.find(']');
    if (close == std::string::npos || close + 1 >= listen.size() || listen[close + 1] != ':') {
      return Fail(ListenError(listen, "bad IPv6 form"));
    }
    host = listen.substr(1, close - 1);
    port = listen.substr(close + 2);
  } else {
    const size_t colon = listen.rfind(':');
    if (colon == std::string::npos) return Fail(ListenError(listen, "no port"));
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
  }
  if (host == "localhost" || host.empty()) host = "127.0.0.1";
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (ec) return Fail(ListenError(listen, "'" + host + "' is not an IP address"));
  char* end = nullptr;
  const long p = std::strtol(port.c_str(), &end, 10);
  if (port.empty() || *end != '\0' || p < 0 || p > 65535) {
    return Fail(ListenError(listen, "bad port '" + port + "'"));
  }
  return tcp::endpoint(address, static_cast<unsigned short>(p));
}

std::string EndpointText(const tcp::endpoint& ep) {
  if (ep.address().is_v6())
    return "[" + ep.address().to_string() + "]:" + std::to_string(ep.port());
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

// Per-connection state shared by the serving coroutine, its watchdog and Stop().
//
// The deadline moves three times per request (read, handle, write). Re-arming the timer each time
// would cancel the watchdog's wait and resume it on every move, so the timer is only moved
// earlier: a later deadline is just recorded, and the watchdog, woken at the armed time, sleeps
// again until the current deadline. Under steady keep-alive traffic the timer is touched about
// once per read timeout instead of three times per request.
struct Connection {
  explicit Connection(asio::any_io_executor ex)
      : timer(ex), deadline(Clock::time_point::max()), armed(Clock::time_point::max()) {}
  asio::steady_timer timer;
  Clock::time_point deadline;
  Clock::time_point armed;  // when `timer` expires; never later than `deadline` must be noticed
  bool timed_out = false;
  bool busy = false;
  bool done = false;
  std::function<void()> cancel;  // cancels the socket's pending I/O; strand only
  std::function<void()> wake;    // websocket writer wake-up; strand only

  void SetDeadline(Clock::time_point t) {
    deadline = t;
    if (t < armed) {
      armed = t;
      timer.expires_at(t);  // wakes the watchdog, which waits again for `armed`
    }
  }
};

// Moves the body out of `req` (the caller needs only its start line and headers afterwards).
HttpRequest ToRequest(http::request<http::string_body>& req, const std::string& remote) {
  HttpRequest out;
  out.method = std::string(req.method_string());
  out.target = std::string(req.target());
  for (const auto& field : req) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto [it, inserted] = out.headers.try_emplace(std::move(name), field.value());
    if (!inserted) {
      it->second += ", ";
      it->second += field.value();
    }
  }
  out.body = std::move(req.body());
  out.remote = remote;
  return out;
}

http::response<http::string_body> ToResponse(HttpResponse&& r, unsigned version, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::server, "arsenal");
  res.set(http::field::content_type, r.content_type);
  res.set(http::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
  for (const auto& [k, v] : r.headers) res.insert(k, v);
  res.keep_alive(keep_alive);
  res.body() = std::move(r.body);
  res.prepare_payload();
  return res;
}

HttpResponse TransportError(int status, const std::string& code, const std::string& message,
                            const std::string& hint) {
  Error e(status == 413   ? ErrorCategory::kResourceExhausted
          : status == 408 ? ErrorCategory::kTimeout
                          : ErrorCategory::kValidation,
          code, message);
  e.WithHint(hint);
  return Router::ErrorResponse(e, "", status);
}

template <typename Stream>
tcp::socket& Lowest(Stream& s) {
  return beast::get_lowest_layer(s);
}

}  // namespace

struct Server::Impl {
  Impl(Engine& e, ServerOptions o)
      : engine(e),
        options(std::move(o)),
        router(e, RouterFromConfig(options.config)),
        io(static_cast<int>(std::max<size_t>(1, options.threads))),
        acceptor(io),
        workers(std::max<size_t>(2, options.threads)) {}

  static RouterOptions RouterFromConfig(const Json& config) {
    RouterOptions r;
    if (config.is_object() && config.contains("rate_limit") && config["rate_limit"].is_object()) {
      r.rate_per_second = config["rate_limit"].value("per_second", r.rate_per_second);
      r.rate_burst = config["rate_limit"].value("burst", r.rate_burst);
    }
    return r;
  }

  Clock::duration ReadTimeout() const {
    const int64_t ms = g_test_read_timeout_ms.load();
    if (ms > 0) return std::chrono::milliseconds(ms);
    return options.read_timeout;
  }

  Engine& engine;
  ServerOptions options;
  Router router;
  asio::io_context io;
  tcp::acceptor acceptor;
  std::optional<ssl::context> tls;
  asio::thread_pool workers;
  std::vector<std::thread> threads;
  std::string endpoint;
  std::optional<std::string> bootstrap_path;

  std::mutex mu;
  std::condition_variable cv;
  // Written under `mu` (so Accept cannot register a connection Stop() no longer sees); read
  // without it on each request.
  std::atomic<bool> stopping{false};
  bool stopped = false;
  uint64_t next_conn = 0;
  std::map<uint64_t,
           std::pair<asio::strand<asio::io_context::executor_type>, std::weak_ptr<Connection>>>
      conns;

  asio::awaitable<void> Accept();
  template <typename Stream>
  asio::awaitable<void> Serve(Stream stream, std::shared_ptr<Connection> conn, std::string remote);
  template <typename Stream>
  asio::awaitable<void> ServeWebSocket(Stream stream, std::shared_ptr<Connection> conn,
                                       http::request<http::string_body> req, Principal principal);
  asio::awaitable<void> Watchdog(std::shared_ptr<Connection> conn);
};

asio::awaitable<void> Server::Impl::Watchdog(std::shared_ptr<Connection> conn) {
  while (!conn->done) {
    conn->armed = conn->deadline;
    conn->timer.expires_at(conn->armed);
    co_await conn->timer.async_wait(kTuple);
    if (conn->done) break;
    if (conn->deadline <= Clock::now()) {
      // Cancel rather than close, so the serving coroutine can still answer 408.
      conn->timed_out = true;
      conn->deadline = Clock::time_point::max();
      if (conn->cancel) conn->cancel();
    }
  }
}

asio::awaitable<void> Server::Impl::Accept() {
  for (;;) {
    auto strand = asio::make_strand(io);
    tcp::socket socket(strand);
    auto [ec] = co_await acceptor.async_accept(socket, kTuple);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      // EMFILE and friends: back off briefly instead of spinning.
      log::Get("api")->warn("accept failed: {}", ec.message());
      asio::steady_timer pause(io, std::chrono::milliseconds(50));
      co_await pause.async_wait(kTuple);
      continue;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    socket.set_option(asio::socket_base::keep_alive(true), ignored);
    const auto peer = socket.remote_endpoint(ignored);
    const std::string remote = ignored ? "?" : EndpointText(peer);
    auto conn = std::make_shared<Connection>(strand);
    uint64_t id;
    {
      std::lock_guard lock(mu);
      if (stopping) co_return;
      id = next_conn++;
      conns.emplace(id, std::make_pair(strand, std::weak_ptr<Connection>(conn)));
    }
    auto on_done = [this, id, conn](std::exception_ptr e) {
      conn->done = true;
      conn->cancel = nullptr;
      conn->wake = nullptr;
      conn->timer.cancel();
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          log::Get("api")->warn("connection ended by exception: {}", ex.what());
        } catch (...) {
        }
      }
      std::lock_guard lock(mu);
      conns.erase(id);
      cv.notify_all();
    };
    asio::co_spawn(strand, Watchdog(conn), asio::detached);
    if (tls) {
      asio::co_spawn(strand,
                     Serve(beast::ssl_stream<tcp::socket>(std::move(socket), *tls), conn, remote),
                     on_done);
    } else {
      asio::co_spawn(strand, Serve(std::move(socket), conn, remote), on_done);
    }
  }
}

template <typename Stream>
asio::awaitable<void> Server::Impl::Serve(Stream stream, std::shared_ptr<Connection> conn,
                                          std::string remote) {
  conn->cancel = [&stream] {
    boost::system::error_code ignored;
    Lowest(stream).cancel(ignored);
  };
  const auto timeout = ReadTimeout();
  if constexpr (!std::is_same_v<Stream, tcp::socket>) {
    conn->SetDeadline(Clock::now() + timeout);
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, kTuple);
    if (ec) co_return;
  }
  beast::flat_buffer buffer(kHeaderLimit + options.body_limit + 1024);
  boost::system::error_code ignored_close_ec;
  for (;;) {
    if (stopping.load(std::memory_order_relaxed)) break;
    http::request_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(options.body_limit);
    conn->SetDeadline(Clock::now() + timeout);
    auto [ec, bytes] = co_await http::async_read(stream, buffer, parser, kTuple);
    if (ec == http::error::end_of_stream ||
        (ec && buffer.size() == 0 && !conn->timed_out && ec != http::error::body_limit &&
         ec != http::error::header_limit)) {
      break;  // the peer closed, or reset an idle connection
    }
    if (ec) {
      HttpResponse error;
      if (conn->timed_out) {
        if (buffer.size() == 0 && !parser.got_some()) break;  // idle keep-alive: just close
        error = TransportError(408, "api.request_timeout", "the request did not arrive in time",
                               "send the whole request within the server's read timeout");
      } else if (ec == http::error::body_limit) {
        error =
            TransportError(413, "api.body_too_large",
                           "request body exceeds " + std::to_string(options.body_limit) + " bytes",
                           "send a smaller body");
      } else if (ec == http::error::header_limit) {
        error = TransportError(431, "api.headers_too_large",
                               "request headers exceed " + std::to_string(kHeaderLimit) + " bytes",
                               "send fewer or shorter headers");
      } else {
        error = TransportError(400, "api.bad_request", "malformed HTTP request: " + ec.message(),
                               "send an HTTP/1.1 request");
      }
      conn->timed_out = false;
      conn->SetDeadline(Clock::now() + timeout);
      auto res = ToResponse(std::move(error), 11, false);
      auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
      if (!wec) {
        // Lingering close: stop sending, then drain what the client is still sending (bounded),
        // so closing with unread data does not reset the connection before it reads the answer.
        boost::system::error_code ignored;
        Lowest(stream).shutdown(tcp::socket::shutdown_send, ignored);
        conn->SetDeadline(Clock::now() + std::chrono::seconds(1));
        std::array<char, 16384> scratch;
        size_t drained = 0;
        while (drained < (1u << 20)) {
          auto [rec, rn] = co_await Lowest(stream).async_read_some(asio::buffer(scratch), kTuple);
          if (rec) break;
          drained += rn;
        }
      }
      conn->SetDeadline(Clock::time_point::max());
      Lowest(stream).close(ignored_close_ec);
      co_return;
    }
    http::request<http::string_body> req = parser.release();
    if (websocket::is_upgrade(req) && req.target().starts_with("/api/v1/stream")) {
      auto auth = router.AuthorizeStream(ToRequest(req, remote));
      if (auto* refused = std::get_if<HttpResponse>(&auth)) {
        auto res = ToResponse(std::move(*refused), req.version(), false);
        conn->SetDeadline(Clock::now() + timeout);
        co_await http::async_write(stream, res, kTuple);
        break;
      }
      conn->SetDeadline(Clock::time_point::max());
      co_await ServeWebSocket(std::move(stream), conn, std::move(req),
                              std::get<Principal>(std::move(auth)));
      co_return;
    }
    conn->SetDeadline(Clock::time_point::max());
    conn->busy = true;
    HttpRequest hreq = ToRequest(req, remote);
    // Operations may block: they run on the worker pool and come back to this strand, unless
    // the operation is declared nonblocking.
    HttpResponse hres;
    if (router.RunsInline(hreq)) {
      // Saves the two thread hand-offs, the largest part of a small GET's latency on an idle
      // machine (each wakes a sleeping CPU).
      hres = router.Handle(hreq);
    } else {
      hres = co_await asio::co_spawn(
          workers,
          [this, &hreq]() -> asio::awaitable<HttpResponse> { co_return router.Handle(hreq); },
          asio::use_awaitable);
    }
    conn->busy = false;
    const bool keep_alive = req.keep_alive() && !stopping.load(std::memory_order_relaxed);
    auto res = ToResponse(std::move(hres), req.version(), keep_alive);
    if (req.method() == http::verb::head) res.body().clear();
    conn->SetDeadline(Clock::now() + timeout);
    auto [wec, wbytes] = co_await http::async_write(stream, res, kTuple);
    if (wec || !keep_alive) break;
  }
  conn->SetDeadline(Clock::time_point::max());
  boost::system::error_code ignored;
  if constexpr (!std::is_same_v<Stream, tcp::socket>) {
    conn->SetDeadline(Clock::now() + std::chrono::seconds(2));
    co_await stream.async_shutdown(kTuple);
  }
  Lowest(stream).shutdown(tcp::socket::shutdown_both, ignored);
  Lowest(stream).close(ignored);
}

template <typename Stream>
asio::awaitable<void> Server::Impl::ServeWebSocket(Stream stream, std::shared_ptr<Connection> conn,
                                                   http::request<http::string_body> req,
                                                   Principal principal) {
  websocket::stream<Stream> ws(std::move(stream));
  conn->cancel = [&ws] {
    boost::system::error_code ignored;
    Lowest(ws).cancel(ignored);
  };
  ws.read_message_max(kWsMessageLimit);
  ws.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "arsenal"); }));
  conn->SetDeadline(Clock::now() + ReadTimeout());
  auto [aec] = co_await ws.async_accept(req, kTuple);
  conn->SetDeadline(Clock::time_point::max());
  if (aec) co_return;

  struct Shared {
    explicit Shared(asio::any_io_executor ex) : wake_timer(ex) {}
    asio::steady_timer wake_timer;
    std::deque<Json> replies;
    bool closed = false;
    bool writer_done = false;
  };
  auto shared = std::make_shared<Shared>(co_await asio::this_coro::executor);
  shared->wake_timer.expires_at(Clock::time_point::max());
  auto executor = co_await asio::this_coro::executor;
  std::weak_ptr<Shared> weak = shared;
  // Called on the bus dispatcher: hop onto this connection's strand, never block.
  auto subscriber = std::make_shared<StreamSubscriber>(engine.events(), std::move(principal),
                                                       kStreamQueue, [weak, executor] {
                                                         asio::post(executor, [weak] {
                                                           if (auto s = weak.lock())
                                                             s->wake_timer.cancel();
                                                         });
                                                       });
  conn->wake = [shared] { shared->wake_timer.cancel(); };

  // Only the writer writes to `ws`; the reader hands replies over through `shared->replies`.
  auto writer = [&ws, shared, subscriber]() -> asio::awaitable<void> {
    while (!shared->closed) {
      std::vector<Json> batch;
      while (!shared->replies.empty()) {
        batch.push_back(std::move(shared->replies.front()));
        shared->replies.pop_front();
      }
      if (batch.empty()) batch = subscriber->Drain(64);
      if (batch.empty()) {
        shared->wake_timer.expires_at(Clock::time_point::max());
        co_await shared->wake_timer.async_wait(kTuple);
        continue;
      }
      for (const auto& msg : batch) {
        ws.text(true);
        const std::string text = msg.dump(-1, ' ', false, Json::error_handler_t::replace);
        auto [wec, n] = co_await ws.async_write(asio::buffer(text), kTuple);
        if (wec) {
          shared->closed = true;
          break;
        }
      }
    }
    shared->writer_done = true;
    shared->wake_timer.cancel();
  };
  asio::co_spawn(executor, writer(), asio::detached);

  beast::flat_buffer buffer;
  for (;;) {
    if (stopping.load(std::memory_order_relaxed)) break;
    auto [rec, n] = co_await ws.async_read(buffer, kTuple);
    if (rec || shared->closed) break;
    const std::string text = beast::buffers_to_string(buffer.data());
    buffer.consume(buffer.size());
    for (auto& reply : subscriber->OnClientMessage(text))
      shared->replies.push_back(std::move(reply));
    shared->wake_timer.cancel();
  }
  shared->closed = true;
  // Wait for the writer to leave before `ws` (on this frame) goes away.
  while (!shared->writer_done) {
    shared->wake_timer.cancel();
    conn->cancel();
    asio::steady_timer pause(executor, std::chrono::milliseconds(5));
    co_await pause.async_wait(kTuple);
  }
  subscriber.reset();
  if (ws.is_open()) {
    conn->SetDeadline(Clock::now() + std::chrono::seconds(2));
    co_await ws.async_close(websocket::close_code::going_away, kTuple);
  }
  boost::system::error_code ignored;
  Lowest(ws).close(ignored);
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Stop(); }

void Server::SetReadTimeoutForTesting(std::chrono::milliseconds timeout) {
  g_test_read_timeout_ms = timeout.count();
}

Result<std::unique_ptr<Server>> Server::Start(Engine& engine, ServerOptions options) {
  auto logger = log::Get("api");
  const Json config = options.config.is_object() ? options.config : Json::object();
  auto& keys = engine.Service<ApiKeys>();
  if (config.contains("roles")) ARSENAL_TRY(keys.DefineRoles(config["roles"]));
  ARSENAL_ASSIGN_OR_RETURN(auto endpoint, ParseListen(options.listen));
  auto impl = std::make_unique<Impl>(engine, options);

  if (config.contains("tls")) {
    const Json& t = config["tls"];
    if (!t.is_object() || !t.contains("certificate") || !t.contains("private_key") ||
        !t["certificate"].is_string() || !t["private_key"].is_string()) {
      return Fail(ValidationError("api.invalid_tls",
                                  "api.tls needs certificate and private_key "
                                  "file paths",
                                  "api.tls"));
    }
    impl->tls.emplace(ssl::context::tls_server);
    impl->tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    boost::system::error_code ec;
    impl->tls->use_certificate_chain_file(t["certificate"].get<std::string>(), ec);
    if (!ec)
      impl->tls->use_private_key_file(t["private_key"].get<std::string>(), ssl::context::pem, ec);
    if (ec) {
      return Fail(ValidationError("api.invalid_tls",
                                  "cannot load TLS certificate/key: " + ec.message(), "api.tls")
                      .WithHint("check api.tls.certificate and api.tls.private_key (PEM files)"));
    }
  }

  boost::system::error_code ec;
  impl->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(endpoint, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Fail(Error(ec == asio::error::address_in_use ? ErrorCategory::kConflict
                                                        : ErrorCategory::kUnavailable,
                      "api.listen_failed",
                      "cannot listen on " + options.listen + ": " + ec.message())
                    .WithHint("choose another port with --listen, or stop what uses it"));
  }
  impl->endpoint = EndpointText(impl->acceptor.local_endpoint());
  if (!endpoint.address().is_loopback() && !impl->tls) {
    logger->warn("API listening on non-loopback {} without TLS: keys travel in clear text",
                 impl->endpoint);
  }

  if (config.value("bootstrap_key", true)) {
    const std::string path = (engine.state_dir() / "api-bootstrap.key").string();
    ARSENAL_ASSIGN_OR_RETURN(impl->bootstrap_path, keys.EnsureBootstrapKey(path));
    if (impl->bootstrap_path) {
      logger->warn("no API key existed: wrote a bootstrap admin key to {} (mode 0600)",
                   *impl->bootstrap_path);
    }
  }

  (void)engine.Service<Metrics>();
  asio::co_spawn(impl->io, impl->Accept(), asio::detached);
  for (size_t i = 0; i < std::max<size_t>(1, options.threads); ++i) {
    impl->threads.emplace_back([io = &impl->io] { io->run(); });
  }
  logger->info("API listening on {}://{}", impl->tls ? "https" : "http", impl->endpoint);
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

std::string Server::endpoint() const { return impl_->endpoint; }
bool Server::tls() const { return impl_->tls.has_value(); }
std::optional<std::string> Server::bootstrap_key_path() const { return impl_->bootstrap_path; }

void Server::Stop() {
  if (!impl_) return;
  Impl& s = *impl_;
  {
    std::lock_guard lock(s.mu);
    if (s.stopped) return;
    s.stopped = true;
    s.stopping = true;
    for (auto& [id, entry] : s.conns) {
      asio::post(entry.first, [weak = entry.second] {
        auto conn = weak.lock();
        if (!conn) return;
        // Idle connections and streams are cut now; a busy one finishes its response first.
        if (!conn->busy && conn->cancel) conn->cancel();
        if (conn->wake) conn->wake();
      });
    }
  }
  asio::post(s.io, [&s] {
    boost::system::error_code ignored;
    s.acceptor.close(ignored);
  });
  {
    std::unique_lock lock(s.mu);
    s.cv.wait_for(lock, std::chrono::seconds(5), [&] { return s.conns.empty(); });
  }
  s.io.stop();
  for (auto& t : s.threads) {
    if (t.joinable()) t.join();
  }
  s.workers.join();
}

}  // namespace arsenal::api
