// Operation monitor_process: subscribe a process's events to the bus (and optionally collect
// them for a while). C++ embedders use ProcessTable::Subscribe directly.
#include <condition_variable>
#include <mutex>

#include "process_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

constexpr std::pair<const char*, ProcessEventKind> kKinds[] = {
    {"started", ProcessEventKind::kStarted},   {"exit", ProcessEventKind::kExit},
    {"state", ProcessEventKind::kStateChange}, {"oom", ProcessEventKind::kOom},
    {"sample", ProcessEventKind::kSample},     {"termination", ProcessEventKind::kTermination}};

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  const std::string id = params.at("id");
  auto& table = process::Table(ctx);
  ARSENAL_ASSIGN_OR_RETURN(ProcessSnapshot snap, table.Get(id));
  uint32_t mask = kAllProcessEvents;
  if (auto events = params.find("events"); events != params.end()) {
    mask = 0;
    for (const auto& name : *events) {
      for (const auto& [text, kind] : kKinds) {
        if (name == text) mask |= static_cast<uint32_t>(kind);
      }
    }
  }
  const int64_t interval = params.value("sample_interval_ms", int64_t{0});
  if (params.contains("sample_interval_ms") && snap.state != ProcessState::kExited) {
    ARSENAL_TRY(table.SetSampling(id, std::chrono::milliseconds(interval)));
  }
  Json out = {{"id", id},
              {"event_prefix", "arsenal.process"},
              {"since_seq", ctx.engine.events().last_seq()},
              {"state", std::string(ProcessStateName(snap.state))},
              {"sample_interval_ms", interval}};
  const int64_t duration = params.value("duration_ms", int64_t{0});
  if (duration <= 0) return out;

  // Collect events for duration_ms, or until the process exits.
  struct Collected {
    std::mutex mu;
    std::condition_variable cv;
    Json events = Json::array();
    bool exited = false;
  };
  auto collected = std::make_shared<Collected>();
  ARSENAL_ASSIGN_OR_RETURN(
      auto sub, table.Subscribe(id, mask | static_cast<uint32_t>(ProcessEventKind::kExit),
                                [collected, mask](const ProcessEvent& e) {
                                  std::lock_guard lock(collected->mu);
                                  if (mask & static_cast<uint32_t>(e.kind)) {
                                    collected->events.push_back(e.ToJson());
                                  }
                                  if (e.kind == ProcessEventKind::kExit) collected->exited = true;
                                  collected->cv.notify_all();
                                }));
  {
    std::unique_lock lock(collected->mu);
    collected->cv.wait_for(lock, std::chrono::milliseconds(duration),
                           [&] { return collected->exited; });
  }
  table.Unsubscribe(sub);
  std::lock_guard lock(collected->mu);
  out["events"] = collected->events;
  return out;
}

Operation Make() {
  Operation op;
  op.name = "monitor_process";
  op.family = "process";
  op.summary = "Follow a process's events: exit, state changes, OOM, resource samples";
  op.description =
      "Every process event is published on the event bus as arsenal.process.<kind> (started, "
      "exit, state, oom, sample, termination) with the process id in the metadata; the "
      "WebSocket stream can resume from since_seq. sample_interval_ms turns periodic resource "
      "samples on (>= 10) or off (0). With duration_ms the call also collects the events of the "
      "kinds in `events` for that long (or until the exit) and returns them.";
  Json kinds = Json::array();
  for (const auto& [text, kind] : kKinds) kinds.push_back(text);
  op.params_schema = {{"type", "object"},
                      {"properties",
                       {{"id", process::IdProperty()},
                        {"sample_interval_ms",
                         {{"type", "integer"},
                          {"minimum", 0},
                          {"maximum", 3600000},
                          {"description", "periodic samples (0: off; else >= 10)"}}},
                        {"duration_ms",
                         {{"type", "integer"},
                          {"minimum", 0},
                          {"maximum", 60000},
                          {"description", "collect events this long and return them"}}},
                        {"events",
                         {{"type", "array"},
                          {"items", {{"type", "string"}, {"enum", kinds}}},
                          {"description", "kinds to collect (default: all)"}}}}},
                      {"required", {"id"}}};
  op.result_schema = {{"type", "object"},
                      {"properties",
                       {{"id", {{"type", "string"}}},
                        {"event_prefix", {{"type", "string"}}},
                        {"since_seq", {{"type", "integer"}}},
                        {"events", {{"type", "array"}}}}},
                      {"required", {"id", "event_prefix", "since_seq"}}};
  op.permission = "process.read";
  op.http_method = "POST";
  op.http_path = "/api/v1/processes/{id}/monitor";
  op.idempotent = true;
  op.examples = {{{"summary", "samples every second, streamed on the bus"},
                  {"params", {{"id", "p-1"}, {"sample_interval_ms", 1000}}}},
                 {{"summary", "wait up to 10 s for the exit"},
                  {"params", {{"id", "p-1"}, {"duration_ms", 10000}, {"events", {"exit"}}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
