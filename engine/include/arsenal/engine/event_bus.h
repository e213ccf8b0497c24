// EventBus: in-process telemetry in the spirit of Erlang's :telemetry.
//
// Events have a dotted name ("arsenal.operation.stop"), measurements (numbers: duration_us, ...)
// and metadata (operation, principal, outcome, ...). Handlers attach to a name prefix matched on
// whole segments ("arsenal.operation" matches "arsenal.operation.start", not
// "arsenal.operations").
//
// Guarantees:
//  - Emit() never waits for a handler: it stamps a sequence number, appends to a bounded queue and
//    returns. One dispatcher thread delivers events to handlers in sequence order, in batches, up
//    to Options::batch_window after they were emitted (Flush() delivers at once).
//  - A handler that throws is isolated: the exception is caught, counted per handler and logged;
//    other handlers and the emitter are unaffected.
//  - If handlers fall so far behind that the queue overflows, the oldest undelivered events are
//    dropped and every handler receives one "arsenal.bus.gap" event with measurements
//    {from_seq, to_seq, missed}: subscribers learn what they missed instead of silently losing it.
//  - The last `retain` events are kept for Since(), so stream clients can resume from a sequence
//    number and are told explicitly when the events they ask for are no longer retained.
//
// Cost: Emit() takes one short lock, copies the event into a queue slot and, only when the
// dispatcher is asleep, wakes it. EmitOperation() is the engine's per-call fast path: it carries
// the few strings of an operation start/stop event inline and builds no JSON at all; the
// dispatcher builds the Event (measurements, metadata) only when a handler matches its name, and
// Since() only for the events it returns. Either way handlers and readers see the same Event as
// if it had been emitted with Emit(). Retention is a ring of `retain` slots reused in place.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
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
    // After delivering a batch the dispatcher waits this long for more events before it sleeps;
    // events emitted meanwhile do not wake it. A steady stream then costs the emitters no
    // wake-ups at all (one futex call each otherwise, the largest part of Emit on an idle core),
    // at the price of up to this much delivery latency. Flush() and the destructor cut the wait
    // short. Zero: wake the dispatcher for the first event after every batch.
    std::chrono::microseconds batch_window{1000};
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

  // The start or stop of one operation call, as Engine::Execute emits it. Handlers and Since()
  // see exactly what this Emit() would have produced:
  //   kStart: "arsenal.operation.start", measurements {},
  //           metadata {operation, principal, request_id}
  //   kStop:  "arsenal.operation.stop", measurements {duration_us},
  //           metadata {operation, principal, request_id, outcome}
  // The views are copied before EmitOperation returns. Same ordering, sequence numbers and
  // overflow behaviour as Emit(); no JSON is built on the caller's thread.
  struct OperationEvent {
    enum class Kind : uint8_t { kStart, kStop };
    Kind kind = Kind::kStart;
    std::string_view operation;
    std::string_view principal;
    std::string_view request_id;
    std::string_view outcome;  // kStop only
    int64_t duration_us = 0;   // kStop only
    int64_t time_unix_ns = 0;  // the event's time stamp; 0: now
  };
  uint64_t EmitOperation(const OperationEvent& event);

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
  struct Record;  // a queued or retained event in compact form (event_bus.cc)

  // Appends a slot to the queue under mu_ (dropping the oldest undelivered event when full) and
  // returns it with its sequence number set; `wake` tells the caller to notify.
  Record& AppendLocked(bool& wake);
  // Appends a record stamped `now`, lets `fill` complete it under the lock, wakes the dispatcher
  // if it sleeps, and returns the record's sequence number.
  template <typename Fill>
  uint64_t Append(int64_t now, Fill&& fill);
  void Run();
  void Deliver(const Record& record);
  void Retain(std::vector<Record>& batch, size_t from);
  void ReportFailure(Subscription& sub, std::string_view event_name, const char* what);

  const Options options_;
  mutable std::mutex mu_;  // queue_, counters, dispatcher state
  std::condition_variable cv_;
  std::condition_variable drained_cv_;
  // Undelivered events are queue_[queue_head_..]; slots before the head were dropped on overflow.
  // The dispatcher swaps the whole vector for its (empty) batch vector, so both keep their
  // capacity and a steady stream of events allocates nothing.
  std::vector<Record> queue_;
  size_t queue_head_ = 0;
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

  // Retention has its own lock so that Since() never holds up an emitter.
  mutable std::mutex retain_mu_;
  std::vector<Record> ring_;  // up to options_.retain slots, oldest at ring_start_
  size_t ring_start_ = 0;
  uint64_t retained_through_ = 0;  // highest sequence number that went through retention

  mutable std::mutex handlers_mu_;  // held while delivering, so Detach waits for a running handler
  std::vector<Subscription> handlers_;
  HandlerId next_handler_id_ = 1;
  std::atomic<uint64_t> handler_failures_{0};
  std::map<std::string, uint64_t> failures_by_handler_;  // guarded by handlers_mu_

  std::thread dispatcher_;
};

}  // namespace arsenal
