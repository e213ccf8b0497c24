#include "arsenal/engine/engine.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <charconv>
#include <chrono>
#include <cstring>
#include <system_error>
#include <thread>

#include "arsenal/base/log.h"

namespace arsenal {
namespace {

std::string NextRequestId() {
  static std::atomic<uint64_t> counter{0};
  static const std::string prefix = "req-" + std::to_string(::getpid()) + "-";
  // Formatted in place: one allocation (none while it fits the small-string buffer).
  char buf[64];
  const size_t n = std::min(prefix.size(), sizeof(buf) - 24);
  std::memcpy(buf, prefix.data(), n);
  const auto [end, ec] = std::to_chars(buf + n, buf + sizeof(buf),
                                       counter.fetch_add(1, std::memory_order_relaxed) + 1);
  (void)ec;  // 24 bytes hold any uint64_t
  return std::string(buf, end);
}

}  // namespace

struct Engine::Loop {
  boost::asio::io_context io{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{
      boost::asio::make_work_guard(io)};
  std::thread thread;
};

Engine::Engine(EngineOptions options) : options_(std::move(options)) {}

Result<std::unique_ptr<Engine>> Engine::Create(EngineOptions options) {
  std::unique_ptr<Engine> engine(new Engine(std::move(options)));
  ARSENAL_TRY(engine->Init());
  return engine;
}

Status Engine::Init() {
  std::error_code ec;
  if (options_.state_dir.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path(ec) / "arsenal-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      return Fail(ErrnoError("engine.state_dir", "mkdtemp", tmpl, errno));
    }
    state_dir_ = tmpl;
    owns_state_dir_ = true;
  } else {
    state_dir_ = options_.state_dir;
    std::filesystem::create_directories(state_dir_, ec);
    if (ec) {
      return Fail(ErrnoError("engine.state_dir", "mkdir", state_dir_.string(), ec.value())
                      .WithHint("pass a writable --state-dir"));
    }
  }
  const std::string db = owns_state_dir_ ? ":memory:" : (state_dir_ / "arsenal.db").string();
  ARSENAL_ASSIGN_OR_RETURN(store_, Store::Open(db));
  ARSENAL_ASSIGN_OR_RETURN(audit_, AuditLog::Open(*store_));
  events_ = std::make_unique<EventBus>();
  if (options_.register_builtins) ARSENAL_TRY(registry_.RegisterBuiltins());
  loop_ = std::make_unique<Loop>();
  loop_->thread = std::thread([loop = loop_.get()] { loop->io.run(); });
  return {};
}

Engine::~Engine() { Shutdown(); }

void Engine::Shutdown() {
  std::vector<std::shared_ptr<void>> services;
  {
    std::lock_guard lock(services_mu_);
    if (shut_down_) return;
    shut_down_ = true;
    services.swap(service_order_);
    services_.clear();
  }
  // Reverse creation order: later services may depend on earlier ones.
  while (!services.empty()) services.pop_back();
  if (loop_) {
    loop_->guard.reset();
    loop_->io.stop();
    if (loop_->thread.joinable()) loop_->thread.join();
  }
  if (audit_) (void)audit_->Flush();
  if (owns_state_dir_) {
    std::error_code ec;
    std::filesystem::remove_all(state_dir_, ec);
  }
}

boost::asio::io_context& Engine::io() { return loop_->io; }

Result<Json> Engine::Execute(std::string_view name, const Json& params, const Principal& principal,
                             std::string request_id) {
  const auto started = std::chrono::steady_clock::now();
  if (request_id.empty()) request_id = NextRequestId();
  const char* phase = "lookup";
  bool handler_ran = false;

  auto run = [&]() -> Result<Json> {
    auto entry = registry_.Find(name);
    if (!entry) {
      return Fail(
          NotFoundError("operation.not_found", "no operation named '" + std::string(name) + "'")
              .WithHint("list_operations (arsenal operations) lists what exists"));
    }
    const Operation& op = entry->op;
    phase = "validate";
    if (!params.is_object()) {
      return Fail(ValidationError("operation.invalid_params",
                                  "params of '" + op.name + "' must be a JSON object"));
    }
    if (options_.validate_params) {
      ARSENAL_TRY(entry->params_schema->Validate(params, "operation.invalid_params"));
    }
    phase = "authorize";
    if (!principal.Allows(op.permission)) {
      return Fail(Error(ErrorCategory::kPermission, "auth.permission_denied",
                        "principal '" + principal.id + "' lacks permission '" + op.permission +
                            "' required by '" + op.name + "'")
                      .WithDetail("permission", op.permission)
                      .WithHint("use a key whose role grants " + op.permission));
    }
    phase = "handler";
    if (options_.emit_events) {
      events_->EmitOperation({.kind = EventBus::OperationEvent::Kind::kStart,
                              .operation = op.name,
                              .principal = principal.id,
                              .request_id = request_id});
    }
    handler_ran = true;
    OperationContext ctx{*this, principal, request_id};
    try {
      return op.handler(ctx, params);
    } catch (const std::exception& e) {
      return Fail(InternalError("operation.internal_error",
                                "operation '" + op.name + "' failed unexpectedly: " + e.what())
                      .WithHint("this is a bug in Arsenal; the request id is in the audit log"));
    } catch (...) {
      return Fail(InternalError("operation.internal_error",
                                "operation '" + op.name + "' failed unexpectedly")
                      .WithHint("this is a bug in Arsenal; the request id is in the audit log"));
    }
  };

  Result<Json> result = run();
  const int64_t duration_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::steady_clock::now() - started)
                                  .count();
  // One wall-clock reading stamps both the stop event and the audit entry.
  const int64_t now_unix_ns = options_.emit_events || options_.audit
                                  ? std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count()
                                  : 0;
  const std::string_view outcome = result ? std::string_view("ok") : result.error().code();
  if (options_.emit_events) {
    if (result) {
      // The common case goes through the bus's compact path: no JSON on this thread.
      events_->EmitOperation({.kind = EventBus::OperationEvent::Kind::kStop,
                              .operation = name,
                              .principal = principal.id,
                              .request_id = request_id,
                              .outcome = outcome,
                              .duration_us = duration_us,
                              .time_unix_ns = now_unix_ns});
    } else {
      Json metadata = {{"operation", name},
                       {"principal", principal.id},
                       {"request_id", request_id},
                       {"outcome", outcome},
                       {"phase", phase},
                       {"handler_ran", handler_ran},
                       {"error", result.error().ToJson()}};
      events_->Emit("arsenal.operation.exception", {{"duration_us", duration_us}},
                    std::move(metadata));
    }
  }
  if (options_.audit) {
    audit_->RecordCall({.time_unix_ms = now_unix_ns / 1'000'000,
                        .principal = principal.id,
                        .operation = name,
                        .params = params,
                        .outcome = outcome,
                        .duration_us = duration_us,
                        .request_id = request_id});
  }
  return result;
}

}  // namespace arsenal
