#include "arsenal/api/metrics.h"

#include <charconv>
#include <sstream>

namespace arsenal::api {
namespace {

// Label values escape backslash, quote and newline (exposition format).
std::string Label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// The shortest text that reads back as the same double ("0.00025", not the 17-digit
// "0.00025000000000000001"): bucket bounds are label values, compared as text by some tools.
std::string Number(double v) {
  char buf[400];  // fixed notation of any double fits
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

}  // namespace

Metrics::Metrics(Engine& engine) : engine_(engine) {
  handler_ = engine_.events().Attach(
      "arsenal.operation", [this](const Event& e) { OnEvent(e); }, "api.metrics");
}

Metrics::~Metrics() { engine_.events().Detach(handler_); }

void Metrics::OnEvent(const Event& event) {
  if (event.name != "arsenal.operation.stop" && event.name != "arsenal.operation.exception") {
    return;
  }
  const std::string op = event.metadata.value("operation", "");
  const std::string outcome = event.metadata.value("outcome", "");
  const double seconds = event.measurements.value("duration_us", 0.0) / 1e6;
  std::lock_guard lock(mu_);
  Histogram& h = operations_[{op, outcome}];
  ++h.count;
  h.sum += seconds;
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++h.buckets[i];
  }
}

void Metrics::CountHttp(const std::string& method, int status) {
  std::lock_guard lock(mu_);
  ++http_[{method, status}];
}

std::string Metrics::Render() const {
  // Before mu_: the bus delivers to OnEvent (which takes mu_) while holding its handler lock,
  // which stats() takes too; asking for stats under mu_ would be a lock-order inversion.
  const auto stats = engine_.events().stats();
  std::ostringstream out;
  std::lock_guard lock(mu_);
  out << "# HELP arsenal_operations_total Operations executed, by operation and outcome.\n"
         "# TYPE arsenal_operations_total counter\n";
  for (const auto& [key, h] : operations_) {
    out << "arsenal_operations_total{operation=\"" << Label(key.first) << "\",outcome=\""
        << Label(key.second) << "\"} " << h.count << "\n";
  }
  out << "# HELP arsenal_operation_duration_seconds Operation duration, by operation and "
         "outcome.\n# TYPE arsenal_operation_duration_seconds histogram\n";
  for (const auto& [key, h] : operations_) {
    const std::string labels =
        "operation=\"" + Label(key.first) + "\",outcome=\"" + Label(key.second) + "\"";
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      out << "arsenal_operation_duration_seconds_bucket{" << labels << ",le=\""
          << Number(kBuckets[i]) << "\"} " << h.buckets[i] << "\n";
    }
    out << "arsenal_operation_duration_seconds_bucket{" << labels << ",le=\"+Inf\"} " << h.count
        << "\n";
    out << "arsenal_operation_duration_seconds_sum{" << labels << "} " << Number(h.sum) << "\n";
    out << "arsenal_operation_duration_seconds_count{" << labels << "} " << h.count << "\n";
  }
  out << "# HELP arsenal_http_responses_total HTTP responses, by method and status.\n"
         "# TYPE arsenal_http_responses_total counter\n";
  for (const auto& [key, n] : http_) {
    out << "arsenal_http_responses_total{method=\"" << Label(key.first) << "\",status=\""
        << key.second << "\"} " << n << "\n";
  }
  out << "# HELP arsenal_events_emitted_total Events emitted on the event bus.\n"
         "# TYPE arsenal_events_emitted_total counter\n"
      << "arsenal_events_emitted_total " << stats.emitted << "\n"
      << "# HELP arsenal_events_dropped_total Events dropped because handlers fell behind.\n"
         "# TYPE arsenal_events_dropped_total counter\n"
      << "arsenal_events_dropped_total " << stats.dropped << "\n"
      << "# HELP arsenal_event_handler_failures_total Event handlers that threw.\n"
         "# TYPE arsenal_event_handler_failures_total counter\n"
      << "arsenal_event_handler_failures_total " << stats.handler_failures << "\n";
  return out.str();
}

}  // namespace arsenal::api
