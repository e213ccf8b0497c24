// Engine::Execute overhead on a trivial operation, with the cross-cutting work (schema
// validation, start/stop events, audit) switched on and off one at a time.
//
// The handler does nothing but echo a field, so the time per iteration is the engine's own
// cost: lookup, validation, authorization, event emission and the audit enqueue. The
// "Baseline" benchmark calls the handler directly through std::function for comparison; the
// issue's target is under 5 µs of engine overhead per call with everything on.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "arsenal/base/log.h"
#include "arsenal/engine/engine.h"

namespace arsenal {
namespace {

Operation EchoOperation() {
  Operation op;
  op.name = "bench_echo";
  op.family = "bench";
  op.summary = "Echo a value back";
  op.params_schema = {{"type", "object"},
                      {"properties",
                       {{"value", {{"type", "integer"}, {"minimum", 0}}},
                        {"label", {{"type", "string"}, {"maxLength", 64}}}}},
                      {"required", {"value"}}};
  op.result_schema = {{"type", "object"}};
  op.permission = "bench.read";
  op.http_method = "POST";
  op.http_path = "/api/v1/bench/echo";
  op.idempotent = true;
  op.handler = [](OperationContext&, const Json& params) -> Result<Json> {
    return Json{{"value", params.at("value")}};
  };
  return op;
}

std::unique_ptr<Engine> MakeEngine(bool validate, bool events, bool audit) {
  EngineOptions options;
  options.register_builtins = false;
  options.validate_params = validate;
  options.emit_events = events;
  options.audit = audit;
  auto engine = Engine::Create(std::move(options));
  if (!engine) return nullptr;
  if (!(*engine)->registry().Register(EchoOperation())) return nullptr;
  return std::move(*engine);
}

void BM_ExecuteTrivial(benchmark::State& state) {
  const bool validate = state.range(0) != 0;
  const bool events = state.range(1) != 0;
  const bool audit = state.range(2) != 0;
  auto engine = MakeEngine(validate, events, audit);
  if (!engine) {
    state.SkipWithError("engine creation failed");
    return;
  }
  // A handler attached to the events makes emission do real work (delivery happens on the
  // bus's own thread, which is what a daemon with a WebSocket subscriber pays).
  engine->events().Attach("operation.", [](const Event&) {});
  const Json params = {{"value", 42}, {"label", "bench"}};
  Principal principal{"bench", {"bench.read"}};
  for (auto _ : state) {
    auto result = engine->Execute("bench_echo", params, principal);
    if (!result) {
      state.SkipWithError(result.error().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(result);
  }
  state.SetLabel(std::string(validate ? "validate " : "") + (events ? "events " : "") +
                 (audit ? "audit" : ""));
}
BENCHMARK(BM_ExecuteTrivial)
    ->ArgNames({"validate", "events", "audit"})
    ->Args({0, 0, 0})
    ->Args({1, 0, 0})
    ->Args({0, 1, 0})
    ->Args({0, 0, 1})
    ->Args({1, 1, 1});
// Everything on, with the CPU time of the whole process: the event dispatcher's and the audit
// writer's work per call counted too. On a loaded machine the wall time above depends on when
// the scheduler runs those threads; this does not.
BENCHMARK(BM_ExecuteTrivial)
    ->ArgNames({"validate", "events", "audit"})
    ->Args({1, 1, 1})
    ->MeasureProcessCPUTime();

void BM_DirectHandlerCall(benchmark::State& state) {
  auto engine = MakeEngine(false, false, false);
  if (!engine) {
    state.SkipWithError("engine creation failed");
    return;
  }
  const Operation op = EchoOperation();
  const Json params = {{"value", 42}, {"label", "bench"}};
  Principal principal = Principal::Root();
  OperationContext ctx{*engine, principal, {}};
  for (auto _ : state) {
    auto result = op.handler(ctx, params);
    benchmark::DoNotOptimize(result);
  }
}
BENCHMARK(BM_DirectHandlerCall);

// The audit writer's throughput: a burst of entries recorded and then made durable, so the time
// per entry includes the writer thread's share (formatting and the SQLite inserts), which a
// steady stream of calls pays too, just on another core.
void BM_AuditRecordAndWrite(benchmark::State& state) {
  auto store = Store::Open(":memory:");
  if (!store) {
    state.SkipWithError("store creation failed");
    return;
  }
  auto audit = AuditLog::Open(**store);
  if (!audit) {
    state.SkipWithError("audit creation failed");
    return;
  }
  const Json params = {{"value", 42}, {"label", "bench"}};
  const int64_t burst = state.range(0);
  for (auto _ : state) {
    for (int64_t i = 0; i < burst; ++i) {
      (*audit)->RecordCall({.time_unix_ms = 1,
                            .principal = "bench",
                            .operation = "bench_echo",
                            .params = params,
                            .outcome = "ok",
                            .duration_us = 1,
                            .request_id = "req-1234567-1234567"});
    }
    if (!(*audit)->Flush()) {
      state.SkipWithError("audit write failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * burst);
}
BENCHMARK(BM_AuditRecordAndWrite)->Arg(1)->Arg(256)->MeasureProcessCPUTime();

// The event bus end to end: operation events emitted and delivered (to a handler that matches
// nothing, as in BM_ExecuteTrivial, or to one that matches everything and so makes the bus build
// each Event) and retained.
void BM_EventBusEmitAndDeliver(benchmark::State& state) {
  EventBus bus;
  const bool matching = state.range(0) != 0;
  bus.Attach(matching ? "" : "operation.", [](const Event& e) { benchmark::DoNotOptimize(e); });
  for (auto _ : state) {
    for (int i = 0; i < 256; ++i) {
      bus.EmitOperation({.kind = EventBus::OperationEvent::Kind::kStop,
                         .operation = "bench_echo",
                         .principal = "bench",
                         .request_id = "req-1234567-1234567",
                         .outcome = "ok",
                         .duration_us = 1});
    }
    bus.Flush();
  }
  state.SetItemsProcessed(state.iterations() * 256);
  state.SetLabel(matching ? "handler builds events" : "no matching handler");
}
BENCHMARK(BM_EventBusEmitAndDeliver)->Arg(0)->Arg(1)->MeasureProcessCPUTime();

}  // namespace
}  // namespace arsenal

int main(int argc, char** argv) {
  arsenal::log::ConfigureLogging("warn", arsenal::log::Format::kText);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
