#include "arsenal/engine/event_bus.h"

#include <algorithm>
#include <chrono>

#include "arsenal/base/log.h"
#include "compact_fields.h"

namespace arsenal {
namespace {

constexpr std::string_view kOperationStart = "arsenal.operation.start";
constexpr std::string_view kOperationStop = "arsenal.operation.stop";
constexpr std::string_view kGap = "arsenal.bus.gap";

int64_t NowUnixNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// One event in the queue or the retention ring. Events from Emit() carry their Event; the
// engine's operation events carry only their strings and become an Event when someone reads them.
struct EventBus::Record {
  enum class Kind : uint8_t { kGeneric, kOperationStart, kOperationStop };
  Kind kind = Kind::kGeneric;
  uint64_t seq = 0;
  int64_t time_unix_ns = 0;
  std::optional<Event> event;  // kGeneric
  int64_t duration_us = 0;     // kOperationStop
  // operation, principal, request_id, outcome (kOperationStop)
  internal::CompactFields<4, 128> text;

  std::string_view Name() const {
    switch (kind) {
      case Kind::kOperationStart:
        return kOperationStart;
      case Kind::kOperationStop:
        return kOperationStop;
      case Kind::kGeneric:
        break;
    }
    return event->name;
  }

  // Moves the Event out of a generic record; builds it for an operation record.
  Event TakeEvent() {
    if (kind == Kind::kGeneric) return std::move(*event);
    return ToEvent();
  }

  Event ToEvent() const {
    if (kind == Kind::kGeneric) return *event;
    Event out;
    out.seq = seq;
    out.name = std::string(Name());
    out.time_unix_ns = time_unix_ns;
    out.metadata = {
        {"operation", text.get(0)}, {"principal", text.get(1)}, {"request_id", text.get(2)}};
    if (kind == Kind::kOperationStop) {
      out.measurements = {{"duration_us", duration_us}};
      out.metadata["outcome"] = text.get(3);
    }
    return out;
  }
};

Json Event::ToJson() const {
  return {{"seq", seq},
          {"name", name},
          {"time_unix_ns", time_unix_ns},
          {"measurements", measurements},
          {"metadata", metadata}};
}

bool EventNameMatches(std::string_view prefix, std::string_view name) {
  if (prefix.empty()) return true;
  if (!name.starts_with(prefix)) return false;
  return name.size() == prefix.size() || name[prefix.size()] == '.';
}

EventBus::EventBus() : EventBus(Options{}) {}

EventBus::EventBus(Options options) : options_(options) {
  dispatcher_ = std::thread([this] { Run(); });
}

EventBus::~EventBus() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  dispatcher_.join();
}

EventBus::HandlerId EventBus::Attach(std::string prefix, Handler handler, std::string name) {
  std::lock_guard lock(handlers_mu_);
  HandlerId id = next_handler_id_++;
  if (name.empty()) name = "handler-" + std::to_string(id);
  handlers_.push_back({id, std::move(prefix), std::move(name), std::move(handler), 0});
  return id;
}

bool EventBus::Detach(HandlerId id) {
  std::lock_guard lock(handlers_mu_);
  auto it = std::find_if(handlers_.begin(), handlers_.end(),
                         [id](const Subscription& s) { return s.id == id; });
  if (it == handlers_.end()) return false;
  handlers_.erase(it);
  return true;
}

EventBus::Record& EventBus::AppendLocked(bool& wake) {
  const size_t capacity = std::max<size_t>(options_.queue_capacity, 1);
  if (queue_.size() - queue_head_ >= capacity) {
    // Drop the oldest undelivered event and remember the hole for the gap notice.
    Record& lost = queue_[queue_head_];
    if (pending_gap_from_ == 0) pending_gap_from_ = lost.seq;
    pending_gap_to_ = lost.seq;
    ++dropped_;
    lost = Record{};
    // Dropped slots are reclaimed once a whole queue's worth has piled up, which keeps memory
    // bounded while a stuck handler holds the dispatcher and costs O(1) per event amortized.
    if (++queue_head_ >= capacity) {
      queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(queue_head_));
      queue_head_ = 0;
    }
  }
  Record& record = queue_.emplace_back();
  record.seq = next_seq_++;
  wake = dispatcher_idle_;
  dispatcher_idle_ = false;  // one wake-up per burst
  return record;
}

template <typename Fill>
uint64_t EventBus::Append(int64_t now, Fill&& fill) {
  uint64_t seq;
  bool wake;
  {
    std::lock_guard lock(mu_);
    Record& record = AppendLocked(wake);
    seq = record.seq;
    record.time_unix_ns = now;
    fill(record);
  }
  if (wake) cv_.notify_one();
  return seq;
}

uint64_t EventBus::Emit(std::string name, Json measurements, Json metadata) {
  const int64_t now = NowUnixNs();
  return Append(now, [&](Record& record) {
    record.event.emplace(
        Event{record.seq, std::move(name), now, std::move(measurements), std::move(metadata)});
  });
}

uint64_t EventBus::EmitOperation(const OperationEvent& event) {
  const int64_t now = event.time_unix_ns != 0 ? event.time_unix_ns : NowUnixNs();
  return Append(now, [&](Record& record) {
    const bool stop = event.kind == OperationEvent::Kind::kStop;
    record.kind = stop ? Record::Kind::kOperationStop : Record::Kind::kOperationStart;
    record.text.Assign({event.operation, event.principal, event.request_id,
                        stop ? event.outcome : std::string_view()});
    if (stop) record.duration_us = event.duration_us;
  });
}

void EventBus::Flush() {
  std::unique_lock lock(mu_);
  const uint64_t target = next_seq_ - 1;
  ++flush_waiters_;
  cv_.notify_one();  // ends a batch window early
  drained_cv_.wait(lock, [&] { return delivered_seq_ >= target; });
  --flush_waiters_;
}

void EventBus::Run() {
  std::vector<Record> batch;
  bool delivered = false;
  std::unique_lock lock(mu_);
  while (true) {
    if (delivered && options_.batch_window.count() > 0) {
      // The batch window: emitters see dispatcher_idle_ false and do not notify.
      cv_.wait_for(lock, options_.batch_window, [&] { return stopping_ || flush_waiters_ > 0; });
    }
    if (queue_.size() == queue_head_) {
      if (stopping_) return;
      dispatcher_idle_ = true;
      cv_.wait(lock, [&] { return stopping_ || queue_.size() > queue_head_; });
      dispatcher_idle_ = false;
      if (queue_.size() == queue_head_) return;  // stopping, nothing left
    }
    std::optional<Record> gap;
    if (pending_gap_from_ != 0) {
      gap.emplace();
      gap->event.emplace();
      gap->event->name = kGap;
      gap->event->seq = 0;
      gap->event->measurements = {{"from_seq", pending_gap_from_},
                                  {"to_seq", pending_gap_to_},
                                  {"missed", pending_gap_to_ - pending_gap_from_ + 1}};
      pending_gap_from_ = pending_gap_to_ = 0;
    }
    // Everything queued so far is delivered as one batch without the lock, so emitters never wait
    // for a handler and contend for the lock once per batch rather than once per event.
    batch.swap(queue_);
    const size_t from = queue_head_;
    queue_head_ = 0;
    lock.unlock();
    if (gap) Deliver(*gap);
    for (size_t i = from; i < batch.size(); ++i) Deliver(batch[i]);
    const uint64_t last = batch.back().seq;
    Retain(batch, from);
    // Cleared, not freed: the vector goes back to the emitters with its capacity at the next swap.
    batch.clear();
    lock.lock();
    delivered_seq_ = last;
    delivered = true;
    if (flush_waiters_ > 0) drained_cv_.notify_all();
  }
}

void EventBus::ReportFailure(Subscription& sub, std::string_view event_name, const char* what) {
  ++sub.failures;
  ++failures_by_handler_[sub.name];
  handler_failures_.fetch_add(1, std::memory_order_relaxed);
  if (what) {
    log::Get("events")->warn("event handler {} failed on {}: {}", sub.name, event_name, what);
  } else {
    log::Get("events")->warn("event handler {} failed on {}", sub.name, event_name);
  }
}

void EventBus::Deliver(const Record& record) {
  const std::string_view name = record.Name();
  const bool to_everyone = name == kGap;
  // Operation records become an Event only if some handler wants them.
  std::optional<Event> built;
  std::lock_guard lock(handlers_mu_);
  for (auto& sub : handlers_) {
    if (!to_everyone && !EventNameMatches(sub.prefix, name)) continue;
    const Event* event = record.event ? &*record.event : nullptr;
    if (!event) {
      if (!built) built.emplace(record.ToEvent());
      event = &*built;
    }
    try {
      sub.handler(*event);
    } catch (const std::exception& e) {
      ReportFailure(sub, name, e.what());
    } catch (...) {
      ReportFailure(sub, name, nullptr);
    }
  }
}

void EventBus::Retain(std::vector<Record>& batch, size_t from) {
  std::lock_guard lock(retain_mu_);
  retained_through_ = batch.back().seq;
  const size_t capacity = options_.retain;
  if (capacity == 0) return;
  // Only the last `capacity` records of the batch can survive it.
  if (batch.size() - from > capacity) from = batch.size() - capacity;
  for (size_t i = from; i < batch.size(); ++i) {
    if (ring_.size() < capacity) {
      ring_.push_back(std::move(batch[i]));
    } else {
      ring_[ring_start_] = std::move(batch[i]);
      ring_start_ = (ring_start_ + 1) % capacity;
    }
  }
}

EventBus::Replay EventBus::Since(uint64_t after, std::string_view prefix) const {
  Replay replay;
  std::vector<Record> matching;
  {
    std::lock_guard lock(retain_mu_);
    const size_t size = ring_.size();
    const uint64_t oldest = size == 0 ? retained_through_ + 1 : ring_[ring_start_].seq;
    if (after + 1 < oldest) {
      replay.gap_from = after + 1;
      replay.gap_to = oldest - 1;
    }
    for (size_t i = 0; i < size; ++i) {
      const Record& record = ring_[(ring_start_ + i) % size];
      if (record.seq > after && EventNameMatches(prefix, record.Name())) {
        matching.push_back(record);
      }
    }
  }
  // JSON is built outside the lock so that a long replay does not hold up the dispatcher.
  replay.events.reserve(matching.size());
  for (Record& record : matching) replay.events.push_back(record.TakeEvent());
  return replay;
}

EventBus::Stats EventBus::stats() const {
  Stats s;
  {
    std::lock_guard lock(mu_);
    s.emitted = next_seq_ - 1;
    s.delivered = delivered_seq_ - dropped_;
    s.dropped = dropped_;
  }
  s.handler_failures = handler_failures_.load(std::memory_order_relaxed);
  {
    std::lock_guard lock(handlers_mu_);
    s.failures_by_handler = failures_by_handler_;
  }
  return s;
}

uint64_t EventBus::last_seq() const {
  std::lock_guard lock(mu_);
  return next_seq_ - 1;
}

}  // namespace arsenal
