// Metrics: Prometheus text exposition (format 0.0.4) fed by the engine's event bus.
//
// An engine service (engine.Service<api::Metrics>()): on construction it attaches one handler to
// "arsenal.operation" events and counts, per operation and outcome ("ok" or the error code),
//   arsenal_operations_total{operation,outcome}
//   arsenal_operation_duration_seconds{operation,outcome} (histogram)
// plus HTTP responses by method and status (CountHttp, called by the router) and the bus's own
// counters (emitted, delivered, dropped, handler failures). Counting happens on the bus's
// dispatcher thread, never on the thread running an operation. Served at GET /metrics to keys
// holding telemetry.read.
#pragma once

#include <array>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "arsenal/engine/engine.h"

namespace arsenal::api {

class Metrics {
 public:
  static constexpr std::array<double, 12> kBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                                      0.01,   0.05,    0.1,    0.5,   1,      10};
  explicit Metrics(Engine& engine);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void CountHttp(const std::string& method, int status);
  std::string Render() const;

 private:
  struct Histogram {
    uint64_t count = 0;
    double sum = 0;
    std::array<uint64_t, kBuckets.size()> buckets{};
  };
  void OnEvent(const Event& event);

  Engine& engine_;
  EventBus::HandlerId handler_ = 0;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, Histogram> operations_;
  std::map<std::pair<std::string, int>, uint64_t> http_;
};

}  // namespace arsenal::api
