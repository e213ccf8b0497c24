// Client: a synchronous client for a remote Arsenal API (the CLI's --remote URL --key KEY mode).
//
// Call() invokes an operation through the uniform route POST /api/v1/operations/{name} and
// returns exactly what Engine::Execute would return in process: the operation's result decoded
// from the JSON:API document (jsonapi.h), or the engine Error decoded from the JSON:API error
// object (code, category, message, hint, details, retryable). Transport failures are
// api.connect_failed / api.transport (unavailable, retryable).
//
// base_url: "http://host:port" or "https://host:port" (TLS verifies the server certificate
// against the system trust store, or against $ARSENAL_CA_FILE when set). The connection is kept
// alive between calls and re-opened once if the server closed it. Not thread-safe: use one Client
// per thread. Security: the key is sent only in the Authorization header, never logged.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "arsenal/base/result.h"

namespace arsenal::api {

class Client {
 public:
  static Result<Client> Connect(std::string base_url, std::string api_key,
                                std::chrono::seconds timeout = std::chrono::seconds(60));
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  ~Client();

  // POST /api/v1/operations/{operation} with `params` as the body.
  Result<Json> Call(const std::string& operation, const Json& params);
  // GET `path` (e.g. "/api/v1/openapi.json", "/healthz"): the parsed body of a 2xx answer (a
  // non-JSON body comes back as a JSON string), or the decoded Error.
  Result<Json> Get(const std::string& path);

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace arsenal::api
