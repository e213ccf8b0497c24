// Server: the REST + WebSocket front door of an Engine, on Boost.Beast with Asio coroutines.
//
// Start() binds, starts `threads` I/O threads and returns once the socket is listening; the
// returned Server serves until Stop() or destruction. Requests are handled by Router (router.h);
// operations run on a separate worker pool, so a slow operation never stalls the I/O threads.
// Only GETs of operations declared Operation::nonblocking run on the I/O thread itself.
//
// Transport rules:
//  - HTTP/1.1 keep-alive. Requests on one connection are handled strictly in order, one at a time
//    (pipelined requests wait in a read buffer capped at 16 KiB of headers + body_limit), so a
//    client cannot make the server queue unbounded work.
//  - Every request must arrive completely within read_timeout (slow or endless headers get 408 or
//    431 and the connection is closed); an idle keep-alive connection is closed after
//    read_timeout. Bodies above body_limit get 413. All such answers are JSON:API error objects.
//  - GET /api/v1/stream with "Upgrade: websocket" becomes an event stream (stream.h) after the
//    key is checked (401/403 answered before upgrading).
//
// Configuration (options.config, the "api" section of the daemon config):
//   {"roles": {"name": ["pattern", ...]},           custom roles (arsenal/engine/api_keys.h)
//    "tls": {"certificate": "/path/cert.pem", "private_key": "/path/key.pem"},   HTTPS + WSS
//    "rate_limit": {"per_second": 1000, "burst": 2000},   per key; 0 disables
//    "bootstrap_key": true}                          see below
// Security: binds to 127.0.0.1 by default; listening elsewhere without TLS logs a warning. Every
// endpoint but /healthz requires an API key. When "bootstrap_key" is true (the default) and no
// active key exists, Start() creates an admin key and writes it to
// <state_dir>/api-bootstrap.key (mode 0600); only the path is logged (bootstrap_key_path()).
//
// Stop(): stops accepting, closes idle connections, lets in-flight requests finish (up to 5 s),
// then stops the threads. Idempotent; the destructor calls it. The Engine must outlive the Server.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "arsenal/base/result.h"

namespace arsenal {
class Engine;
}

namespace arsenal::api {

struct ServerOptions {
  std::string listen = "127.0.0.1:7878";  // host:port; port 0 picks a free port
  size_t threads = 2;
  size_t body_limit = 1 << 20;
  std::chrono::seconds read_timeout{30};
  Json config = Json::object();  // the daemon config's "api" section (keys, roles, tls)
};

class Server {
 public:
  // Binds and starts serving on its own threads; returns when listening.
  static Result<std::unique_ptr<Server>> Start(Engine& engine, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  std::string endpoint() const;  // actual "127.0.0.1:PORT"
  bool tls() const;              // true when serving HTTPS/WSS
  // Where a bootstrap admin key was written by this Start(), if one was.
  std::optional<std::string> bootstrap_key_path() const;
  void Stop();  // graceful; idempotent; also in the destructor

  // Test hook: read_timeout below one second (milliseconds); 0 keeps options.read_timeout.
  static void SetReadTimeoutForTesting(std::chrono::milliseconds timeout);

  struct Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace arsenal::api
