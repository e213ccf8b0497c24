// Engine: the one entry point every front door calls.
//
//   Engine::Execute(name, params, principal)
//     lookup → validate params (JSON Schema) → authorize → run handler → events → audit → Result
//
// The REST/WebSocket server, the CLI and C++ embedders all go through Execute, so validation,
// authorization, telemetry and auditing cannot be bypassed by choosing another front door.
// Execute never throws: an exception escaping a handler becomes `operation.internal_error`.
//
// Subsystems (process table, sandboxes, supervisors, modules, ...) are engine services: created
// lazily on first use by Service<T>() with a `T(Engine&)` constructor, shared by all operations,
// and destroyed in reverse creation order when the engine shuts down. This keeps the engine core
// free of compile-time knowledge of every subsystem.
//
// Thread-safety: Execute, Service, registry(), events() and the accessors may be called from any
// thread concurrently.
#pragma once

#include <any>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <typeindex>
#include <unordered_map>
#include <vector>

#include "arsenal/base/result.h"
#include "arsenal/engine/audit.h"
#include "arsenal/engine/event_bus.h"
#include "arsenal/engine/operation.h"
#include "arsenal/engine/registry.h"
#include "arsenal/engine/store.h"

namespace boost::asio {
class io_context;
}

namespace arsenal {

struct EngineOptions {
  // Holds arsenal.db and per-subsystem state. Empty: an in-memory store and a private temp dir
  // (removed at shutdown), which suits tests and one-shot CLI use.
  std::string state_dir;
  std::string node_name = "local";
  bool register_builtins = true;  // every ARSENAL_REGISTER_OPERATION in the binary
  bool validate_params = true;    // turning this off is for benchmarks only
  bool emit_events = true;
  bool audit = true;
  // Arbitrary per-subsystem configuration (the daemon's config file), read by services.
  Json config = Json::object();
};

class Engine {
 public:
  static Result<std::unique_ptr<Engine>> Create(EngineOptions options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  Result<Json> Execute(std::string_view name, const Json& params, const Principal& principal,
                       std::string request_id = {});

  Registry& registry() { return registry_; }
  EventBus& events() { return *events_; }
  Store& store() { return *store_; }
  AuditLog& audit() { return *audit_; }
  const EngineOptions& options() const { return options_; }
  const std::filesystem::path& state_dir() const { return state_dir_; }
  // The event loop (Boost.Asio) run by one engine thread; subsystems put pidfd watches, timers
  // and sockets on it. Handlers must not block it.
  boost::asio::io_context& io();

  // The shared instance of subsystem T, constructed as T(Engine&) on first use.
  template <typename T>
  T& Service() {
    std::lock_guard lock(services_mu_);
    auto it = services_.find(std::type_index(typeid(T)));
    if (it != services_.end()) return *static_cast<T*>(it->second.get());
    auto owned = std::make_shared<T>(*this);
    T& ref = *owned;
    services_.emplace(std::type_index(typeid(T)), owned);
    service_order_.push_back(std::move(owned));
    return ref;
  }

  // Stops every service (reverse creation order) and the event loop; idempotent. Called by the
  // destructor; the daemon calls it on SIGTERM.
  void Shutdown();

 private:
  explicit Engine(EngineOptions options);
  Status Init();

  EngineOptions options_;
  std::filesystem::path state_dir_;
  bool owns_state_dir_ = false;
  Registry registry_;
  std::unique_ptr<EventBus> events_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<AuditLog> audit_;
  struct Loop;
  std::unique_ptr<Loop> loop_;

  std::mutex services_mu_;
  std::unordered_map<std::type_index, std::shared_ptr<void>> services_;
  std::vector<std::shared_ptr<void>> service_order_;
  bool shut_down_ = false;
};

}  // namespace arsenal
