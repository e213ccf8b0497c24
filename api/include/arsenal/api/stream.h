// StreamSubscriber: one WebSocket client's view of the event bus (GET /api/v1/stream).
//
// Beast-free: the server feeds it the client's text messages and sends what it returns.
//
// Client → server (JSON text frames):
//   {"type": "subscribe", "topics": ["process", "telemetry"], "filter": {...}, "after": 41}
//       Replaces the current subscription. Topics: process, sandbox, supervisor, module
//       (events "arsenal.<topic>.*") and telemetry ("arsenal.operation.*", "arsenal.telemetry.*",
//       "arsenal.bus.*"); each needs "<topic>.read". "filter" matches event metadata: {"key":
//       "value"} or {"key": ["v1", "v2"]}; "event" matches the event name by whole-segment prefix.
//       "after" resumes: every retained event with a larger sequence number is replayed first.
//   {"type": "unsubscribe"}   {"type": "ping"}
// Server → client:
//   {"type": "subscribed", "topics": [...], "last_seq": N}
//   {"type": "event", "seq", "topic", "name", "time_unix_ns", "measurements", "metadata"}
//   {"type": "gap", "reason": "not_retained" | "slow_consumer" | "bus_overflow",
//    "from_seq", "to_seq", "missed"}   events in [from_seq, to_seq] will never be delivered here
//   {"type": "error", "errors": [JSON:API error object]}   {"type": "pong"}
//
// Guarantees: events arrive in sequence order, each at most once. The bus handler only appends to
// a bounded per-connection queue (`capacity` events) and never waits, so a slow client cannot
// slow an operation or the bus; when the queue is full, further events are counted into one gap
// message placed where they would have been, and delivery resumes once the client catches up. A
// client is never disconnected for being slow.
//
// Thread-safety: OnClientMessage/Drain from the connection's thread; the bus handler from the
// dispatcher. `wake` is called (from the dispatcher) when the queue turns non-empty; it must not
// block. The destructor detaches from the bus and waits for a running handler.
#pragma once

#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "arsenal/engine/engine.h"

namespace arsenal::api {

class StreamSubscriber {
 public:
  static const std::vector<std::string>& Topics();
  static bool MayReadAnyTopic(const Principal& principal);

  StreamSubscriber(EventBus& bus, Principal principal, size_t capacity, std::function<void()> wake);
  ~StreamSubscriber();
  StreamSubscriber(const StreamSubscriber&) = delete;
  StreamSubscriber& operator=(const StreamSubscriber&) = delete;

  // Replies to send now, in order (ack, replay, errors).
  std::vector<Json> OnClientMessage(std::string_view text);
  // Up to `max` queued messages (events and gap notices), in order.
  std::vector<Json> Drain(size_t max);

 private:
  struct Subscription {
    std::vector<std::string> topics;
    Json filter = Json::object();
  };
  void OnEvent(const Event& event);
  bool Wants(const Subscription& sub, const Event& event, std::string* topic) const;
  Json EventMessage(const Event& event, const std::string& topic) const;

  EventBus& bus_;
  const Principal principal_;
  const size_t capacity_;
  std::function<void()> wake_;
  EventBus::HandlerId handler_ = 0;

  std::mutex mu_;
  std::optional<Subscription> sub_;
  std::deque<Json> queue_;      // events and gap markers
  uint64_t last_sent_seq_ = 0;  // events at or below are not queued again (replay overlap)
};

}  // namespace arsenal::api
