#include "arsenal/engine/event_bus.h"

#include <chrono>

#include "arsenal/base/log.h"

namespace arsenal {

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

uint64_t EventBus::Emit(std::string name, Json measurements, Json metadata) {
  Event event;
  event.name = std::move(name);
  event.measurements = std::move(measurements);
  event.metadata = std::move(metadata);
  event.time_unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
  uint64_t seq;
  bool wake;
  {
    std::lock_guard lock(mu_);
    seq = event.seq = next_seq_++;
    if (queue_.size() >= options_.queue_capacity) {
      // Drop the oldest undelivered event and remember the hole for the gap notice.
      const uint64_t lost = queue_.front().seq;
      if (pending_gap_from_ == 0) pending_gap_from_ = lost;
      pending_gap_to_ = lost;
      ++dropped_;
      queue_.pop_front();
    }
    queue_.push_back(std::move(event));
    wake = dispatcher_idle_;
    dispatcher_idle_ = false;  // one wake-up per burst
  }
  if (wake) cv_.notify_one();
  return seq;
}

void EventBus::Flush() {
  std::unique_lock lock(mu_);
  const uint64_t target = next_seq_ - 1;
  ++flush_waiters_;
  drained_cv_.wait(lock, [&] { return delivered_seq_ >= target; });
  --flush_waiters_;
}

void EventBus::Run() {
  std::unique_lock lock(mu_);
  std::deque<Event> batch;
  while (true) {
    dispatcher_idle_ = true;
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    dispatcher_idle_ = false;
    if (queue_.empty() && stopping_) return;
    std::optional<Event> gap;
    if (pending_gap_from_ != 0) {
      gap.emplace();
      gap->name = "arsenal.bus.gap";
      gap->seq = 0;
      gap->measurements = {{"from_seq", pending_gap_from_},
                           {"to_seq", pending_gap_to_},
                           {"missed", pending_gap_to_ - pending_gap_from_ + 1}};
      pending_gap_from_ = pending_gap_to_ = 0;
    }
    // Everything queued so far is delivered as one batch without the lock, so emitters never wait
    // for a handler and contend for the lock once per batch rather than once per event.
    batch.swap(queue_);
    lock.unlock();
    if (gap) Deliver(*gap);
    for (const Event& event : batch) Deliver(event);
    lock.lock();
    for (Event& event : batch) {
      delivered_seq_ = event.seq;
      retained_.push_back(std::move(event));
      if (retained_.size() > options_.retain) retained_.pop_front();
    }
    batch.clear();
    if (flush_waiters_ > 0) drained_cv_.notify_all();
  }
}

void EventBus::Deliver(const Event& event) {
  std::lock_guard lock(handlers_mu_);
  for (auto& sub : handlers_) {
    if (!EventNameMatches(sub.prefix, event.name) && event.name != "arsenal.bus.gap") continue;
    try {
      sub.handler(event);
    } catch (const std::exception& e) {
      ++sub.failures;
      ++failures_by_handler_[sub.name];
      handler_failures_.fetch_add(1, std::memory_order_relaxed);
      log::Get("events")->warn("event handler {} failed on {}: {}", sub.name, event.name, e.what());
    } catch (...) {
      ++sub.failures;
      ++failures_by_handler_[sub.name];
      handler_failures_.fetch_add(1, std::memory_order_relaxed);
      log::Get("events")->warn("event handler {} failed on {}", sub.name, event.name);
    }
  }
}

EventBus::Replay EventBus::Since(uint64_t after, std::string_view prefix) const {
  Replay replay;
  std::lock_guard lock(mu_);
  const uint64_t oldest = retained_.empty() ? delivered_seq_ + 1 : retained_.front().seq;
  if (after + 1 < oldest) {
    replay.gap_from = after + 1;
    replay.gap_to = oldest - 1;
  }
  for (const auto& event : retained_) {
    if (event.seq > after && EventNameMatches(prefix, event.name)) replay.events.push_back(event);
  }
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
