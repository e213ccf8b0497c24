// EventBus: in-process telemetry in the spirit of Erlang's :telemetry.
//
// Events have a dotted name ("arsenal.operation.stop"), measurements (numbers: duration_us, ...)
// and metadata (operation, principal, outcome, ...). Handlers attach to a name prefix matched on
// whole segments ("arsenal.operation" matches "arsenal.operation.start", not
// "arsenal.operations").
//
// Guarantees:
//  - Emit() never waits for a handler: it stamps a sequence number, appends to a bounded queue and
//    returns. One dispatcher thread delivers events to handlers in sequence order.
//  - A handler that throws is isolated: the exception is caught, counted per handler and logged;
//    other handlers and the emitter are unaffected.
//  - If handlers fall so far behind that the queue overflows, the oldest undelivered events are
//    dropped and every handler receives one "arsenal.bus.gap" event with measurements
//    {from_seq, to_seq, missed}: subscribers learn what they missed instead of silently losing it.
//  - The last `retain` events are kept for Since(), so stream clients can resume from a sequence
//    number and are told explicitly when the events they ask for are no longer retained.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "arsenal/base/result.h"

namespace arsenal {

struct Event {
  uint64_t seq = 0;
  std::string name;
  int64_t time_unix_ns = 0;
  Json measurements = Json::object();
  Json metadata = Json::object();

  Json ToJson() const;
};

// True when `prefix` equals `name` or is a whole-segment prefix of it; "" matches everything.
bool EventNameMatches(std::string_view prefix, std::string_view name);

class EventBus {
 public:
  using HandlerId = uint64_t;
  using Handler = std::function<void(const Event&)>;

  struct Options {
    size_t queue_capacity = 65536;  // undelivered events before the oldest are dropped
    size_t retain = 4096;           // delivered events kept for Since()
  };

  EventBus();
  explicit EventBus(Options options);
  // Delivers what is queued, then stops the dispatcher.
  ~EventBus();
  EventBus(const EventBus&) = delete;
  EventBus& operator=(const EventBus&) = delete;

  HandlerId Attach(std::string prefix, Handler handler, std::string name = {});
  // False when no such handler. After Detach returns, the handler is not running and is never
  // called again.
  bool Detach(HandlerId id);

  // Returns the event's sequence number (1, 2, ...).
  uint64_t Emit(std::string name, Json measurements = Json::object(),
                Json metadata = Json::object());

  // Blocks until every event emitted before the call has been delivered.
  void Flush();

  struct Replay {
    std::vector<Event> events;         // retained events with seq > after, matching the prefix
    std::optional<uint64_t> gap_from;  // set when events after `after` were no longer retained:
    uint64_t gap_to = 0;               // [gap_from, gap_to] are lost to this reader
  };
  Replay Since(uint64_t after, std::string_view prefix = {}) const;

  struct Stats {
    uint64_t emitted = 0;
    uint64_t delivered = 0;
    uint64_t dropped = 0;
    uint64_t handler_failures = 0;
    std::map<std::string, uint64_t> failures_by_handler;
  };
  Stats stats() const;
  uint64_t last_seq() const;

 private:
  struct Subscription {
    HandlerId id;
    std::string prefix;
    std::string name;
    Handler handler;
    uint64_t failures = 0;
  };
  void Run();
  void Deliver(const Event& event);

  const Options options_;
  mutable std::mutex mu_;  // queue_, retained_, counters
  std::condition_variable cv_;
  std::condition_variable drained_cv_;
  std::deque<Event> queue_;
  std::deque<Event> retained_;
  uint64_t next_seq_ = 1;
  uint64_t delivered_seq_ = 0;
  uint64_t dropped_ = 0;
  uint64_t pending_gap_from_ = 0;
  uint64_t pending_gap_to_ = 0;
  bool stopping_ = false;
  // The dispatcher is blocked on cv_: only then does Emit pay for a wake-up (a futex syscall and,
  // on a busy machine, a context switch), so a burst of events costs one wake-up, not one each.
  bool dispatcher_idle_ = false;
  size_t flush_waiters_ = 0;  // callers blocked in Flush(), told after each delivered batch

  mutable std::mutex handlers_mu_;  // held while delivering, so Detach waits for a running handler
  std::vector<Subscription> handlers_;
  HandlerId next_handler_id_ = 1;
  std::atomic<uint64_t> handler_failures_{0};
  std::map<std::string, uint64_t> failures_by_handler_;  // guarded by handlers_mu_

  std::thread dispatcher_;
};

}  // namespace arsenal
