#include "arsenal/api/stream.h"

#include "arsenal/api/jsonapi.h"

namespace arsenal::api {
namespace {

std::vector<std::string> TopicPrefixes(const std::string& topic) {
  if (topic == "telemetry") return {"arsenal.operation", "arsenal.telemetry", "arsenal.bus"};
  return {"arsenal." + topic};
}

Json ErrorMessage(const Error& e) {
  return {{"type", "error"}, {"errors", Json::array({jsonapi::ErrorObject(e)})}};
}

bool FilterValueMatches(const Json& want, const Json& have) {
  auto eq = [&](const Json& w) {
    if (w == have) return true;
    // Filters usually arrive as strings; compare numbers and booleans by their text too.
    return w.is_string() && !have.is_string() && !have.is_null() &&
           have.dump() == w.get<std::string>();
  };
  if (want.is_array()) {
    for (const auto& w : want) {
      if (eq(w)) return true;
    }
    return false;
  }
  return eq(want);
}

}  // namespace

const std::vector<std::string>& StreamSubscriber::Topics() {
  static const std::vector<std::string> topics = {"process", "sandbox", "supervisor", "module",
                                                  "telemetry"};
  return topics;
}

bool StreamSubscriber::MayReadAnyTopic(const Principal& principal) {
  for (const auto& t : Topics()) {
    if (principal.Allows(t + ".read")) return true;
  }
  return false;
}

StreamSubscriber::StreamSubscriber(EventBus& bus, Principal principal, size_t capacity,
                                   std::function<void()> wake)
    : bus_(bus), principal_(std::move(principal)), capacity_(capacity), wake_(std::move(wake)) {
  handler_ = bus_.Attach(
      "", [this](const Event& e) { OnEvent(e); }, "api.stream");
}

StreamSubscriber::~StreamSubscriber() { bus_.Detach(handler_); }

bool StreamSubscriber::Wants(const Subscription& sub, const Event& event,
                             std::string* topic) const {
  bool in_topic = false;
  for (const auto& t : sub.topics) {
    for (const auto& prefix : TopicPrefixes(t)) {
      if (EventNameMatches(prefix, event.name)) {
        in_topic = true;
        *topic = t;
      }
    }
  }
  if (!in_topic) return false;
  for (const auto& [key, want] : sub.filter.items()) {
    if (key == "event") {
      if (!want.is_string() || !EventNameMatches(want.get<std::string>(), event.name)) return false;
      continue;
    }
    auto it = event.metadata.find(key);
    if (it == event.metadata.end() || !FilterValueMatches(want, *it)) return false;
  }
  return true;
}

Json StreamSubscriber::EventMessage(const Event& event, const std::string& topic) const {
  return {{"type", "event"},
          {"seq", event.seq},
          {"topic", topic},
          {"name", event.name},
          {"time_unix_ns", event.time_unix_ns},
          {"measurements", event.measurements},
          {"metadata", event.metadata}};
}

void StreamSubscriber::OnEvent(const Event& event) {
  bool was_empty;
  {
    std::lock_guard lock(mu_);
    if (!sub_) return;
    Json message;
    if (event.name == "arsenal.bus.gap" && event.seq == 0) {
      // The bus itself dropped events before delivering them to anyone.
      message = {{"type", "gap"},
                 {"reason", "bus_overflow"},
                 {"from_seq", event.measurements.value("from_seq", 0)},
                 {"to_seq", event.measurements.value("to_seq", 0)},
                 {"missed", event.measurements.value("missed", 0)}};
    } else {
      std::string topic;
      if (event.seq <= last_sent_seq_ || !Wants(*sub_, event, &topic)) return;
      message = EventMessage(event, topic);
      last_sent_seq_ = event.seq;
    }
    was_empty = queue_.empty();
    if (queue_.size() >= capacity_) {
      // Full: account for the event in a gap marker at the tail instead of queueing it.
      const uint64_t seq = message.value("seq", uint64_t{0});
      Json& back = queue_.back();
      if (back.value("type", "") == "gap" && back.value("reason", "") == "slow_consumer") {
        back["to_seq"] = seq;
        back["missed"] = back["missed"].get<uint64_t>() + 1;
      } else if (seq != 0) {
        queue_.push_back({{"type", "gap"},
                          {"reason", "slow_consumer"},
                          {"from_seq", seq},
                          {"to_seq", seq},
                          {"missed", 1}});
      }
      return;
    }
    queue_.push_back(std::move(message));
  }
  if (was_empty && wake_) wake_();
}

std::vector<Json> StreamSubscriber::Drain(size_t max) {
  std::vector<Json> out;
  std::lock_guard lock(mu_);
  while (!queue_.empty() && out.size() < max) {
    out.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return out;
}

std::vector<Json> StreamSubscriber::OnClientMessage(std::string_view text) {
  Json msg = Json::parse(text, nullptr, false);
  if (msg.is_discarded() || !msg.is_object() || !msg.contains("type") || !msg["type"].is_string()) {
    return {ErrorMessage(
        ValidationError("stream.invalid_message", "stream messages are JSON objects with a 'type'")
            .WithHint("send {\"type\":\"subscribe\",\"topics\":[\"telemetry\"]}"))};
  }
  const std::string type = msg["type"];
  if (type == "ping") return {{{"type", "pong"}}};
  if (type == "unsubscribe") {
    std::lock_guard lock(mu_);
    sub_.reset();
    queue_.clear();
    return {{{"type", "unsubscribed"}}};
  }
  if (type != "subscribe") {
    return {ErrorMessage(
        ValidationError("stream.invalid_message", "unknown message type '" + type + "'", "type")
            .WithHint("types: subscribe, unsubscribe, ping"))};
  }
  Subscription sub;
  if (!msg.contains("topics") || !msg["topics"].is_array() || msg["topics"].empty()) {
    return {ErrorMessage(ValidationError("stream.invalid_message",
                                         "subscribe needs a non-empty 'topics' list", "topics"))};
  }
  for (const auto& t : msg["topics"]) {
    const auto& topics = Topics();
    if (!t.is_string() ||
        std::find(topics.begin(), topics.end(), t.get<std::string>()) == topics.end()) {
      return {ErrorMessage(
          ValidationError("stream.unknown_topic", "unknown topic " + t.dump(), "topics")
              .WithHint("topics: process, sandbox, supervisor, module, telemetry"))};
    }
    const std::string perm = t.get<std::string>() + ".read";
    if (!principal_.Allows(perm)) {
      return {ErrorMessage(Error(ErrorCategory::kPermission, "auth.permission_denied",
                                 "principal '" + principal_.id + "' lacks permission '" + perm +
                                     "' for topic " + t.dump())
                               .WithDetail("permission", perm))};
    }
    sub.topics.push_back(t.get<std::string>());
  }
  if (msg.contains("filter")) {
    if (!msg["filter"].is_object()) {
      return {ErrorMessage(
          ValidationError("stream.invalid_message", "'filter' must be an object", "filter"))};
    }
    sub.filter = msg["filter"];
  }
  std::optional<uint64_t> after;
  if (msg.contains("after")) {
    if (!msg["after"].is_number_unsigned() && !msg["after"].is_number_integer()) {
      return {ErrorMessage(
          ValidationError("stream.invalid_message", "'after' must be a sequence number", "after"))};
    }
    after = msg["after"].get<uint64_t>();
  }
  for (const auto& [k, _] : msg.items()) {
    if (k != "type" && k != "topics" && k != "filter" && k != "after") {
      return {
          ErrorMessage(ValidationError("stream.invalid_message", "unknown field '" + k + "'", k))};
    }
  }
  std::vector<Json> replies;
  // Live delivery starts (into the queue) before the replay is read, and last_sent_seq_ drops
  // duplicates, so no event falls between replay and live.
  {
    std::lock_guard lock(mu_);
    queue_.clear();
    sub_ = sub;
    last_sent_seq_ = after.value_or(bus_.last_seq());
  }
  replies.push_back(
      {{"type", "subscribed"}, {"topics", sub.topics}, {"last_seq", bus_.last_seq()}});
  if (after) {
    auto replay = bus_.Since(*after);
    if (replay.gap_from) {
      replies.push_back({{"type", "gap"},
                         {"reason", "not_retained"},
                         {"from_seq", *replay.gap_from},
                         {"to_seq", replay.gap_to},
                         {"missed", replay.gap_to - *replay.gap_from + 1}});
    }
    std::lock_guard lock(mu_);
    uint64_t max_replayed = 0;
    for (const auto& e : replay.events) {
      std::string topic;
      max_replayed = std::max(max_replayed, e.seq);
      if (Wants(sub, e, &topic)) replies.push_back(EventMessage(e, topic));
    }
    // Live events already queued that the replay also covered are dropped from the queue.
    std::deque<Json> kept;
    for (auto& m : queue_) {
      if (m.value("type", "") == "event" && m.value("seq", uint64_t{0}) <= max_replayed) continue;
      kept.push_back(std::move(m));
    }
    queue_ = std::move(kept);
    last_sent_seq_ = std::max(last_sent_seq_, max_replayed);
  }
  return replies;
}

}  // namespace arsenal::api
