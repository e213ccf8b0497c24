#include "arsenal/engine/event_bus.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace arsenal {
namespace {

TEST(EventBusTest, PrefixMatchesWholeSegments) {
  EXPECT_TRUE(EventNameMatches("", "a.b"));
  EXPECT_TRUE(EventNameMatches("arsenal.operation", "arsenal.operation.stop"));
  EXPECT_TRUE(EventNameMatches("arsenal.operation.stop", "arsenal.operation.stop"));
  EXPECT_FALSE(EventNameMatches("arsenal.operation", "arsenal.operations.stop"));
  EXPECT_FALSE(EventNameMatches("arsenal.operation.stop", "arsenal.operation"));
}

TEST(EventBusTest, DeliversInOrderToMatchingHandlers) {
  EventBus bus;
  std::vector<uint64_t> seen;
  std::vector<std::string> other;
  bus.Attach("a", [&](const Event& e) { seen.push_back(e.seq); });
  bus.Attach("b", [&](const Event& e) { other.push_back(e.name); });
  std::vector<uint64_t> emitted;
  for (int i = 0; i < 100; ++i) emitted.push_back(bus.Emit(i % 2 ? "a.x" : "a.y", {{"i", i}}));
  bus.Emit("b.z");
  bus.Flush();
  EXPECT_EQ(seen, emitted);
  EXPECT_EQ(other, std::vector<std::string>{"b.z"});
  EXPECT_EQ(bus.stats().emitted, 101u);
}

TEST(EventBusTest, ConcurrentEmittersGetUniqueIncreasingSequences) {
  EventBus bus;
  std::vector<uint64_t> seen;
  bus.Attach("", [&](const Event& e) { seen.push_back(e.seq); });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 500; ++i) bus.Emit("x");
    });
  }
  for (auto& t : threads) t.join();
  bus.Flush();
  ASSERT_EQ(seen.size(), 2000u);
  for (size_t i = 1; i < seen.size(); ++i) ASSERT_EQ(seen[i], seen[i - 1] + 1);
}

TEST(EventBusTest, DetachStopsDelivery) {
  EventBus bus;
  int calls = 0;
  auto id = bus.Attach("x", [&](const Event&) { ++calls; });
  bus.Emit("x");
  bus.Flush();
  EXPECT_TRUE(bus.Detach(id));
  EXPECT_FALSE(bus.Detach(id));
  bus.Emit("x");
  bus.Flush();
  EXPECT_EQ(calls, 1);
}

TEST(EventBusTest, FailingHandlerIsIsolatedAndCounted) {
  EventBus bus;
  int good = 0;
  bus.Attach(
      "x", [](const Event&) { throw std::runtime_error("boom"); }, "bad");
  bus.Attach(
      "x", [](const Event&) { throw 42; }, "worse");
  bus.Attach(
      "x", [&](const Event&) { ++good; }, "good");
  for (int i = 0; i < 3; ++i) bus.Emit("x");
  bus.Flush();
  EXPECT_EQ(good, 3);
  auto stats = bus.stats();
  EXPECT_EQ(stats.handler_failures, 6u);
  EXPECT_EQ(stats.failures_by_handler["bad"], 3u);
  EXPECT_EQ(stats.failures_by_handler["worse"], 3u);
  EXPECT_EQ(stats.failures_by_handler.count("good"), 0u);
}

TEST(EventBusTest, EmitDoesNotWaitForSlowHandlers) {
  EventBus bus;
  std::atomic<bool> release{false};
  bus.Attach("x", [&](const Event&) {
    while (!release.load()) std::this_thread::yield();
  });
  // The handler is blocked on the first event; emitting many more must still return.
  for (int i = 0; i < 1000; ++i) bus.Emit("x");
  EXPECT_EQ(bus.last_seq(), 1000u);
  release = true;
  bus.Flush();
  EXPECT_EQ(bus.stats().dropped, 0u);
}

TEST(EventBusTest, OverflowDropsOldestAndTellsHandlersAboutTheGap) {
  EventBus bus(EventBus::Options{.queue_capacity = 10, .retain = 100});
  std::atomic<bool> release{false};
  std::vector<Event> seen;
  bus.Attach("x", [&](const Event& e) {
    while (!release.load()) std::this_thread::yield();
    seen.push_back(e);
  });
  for (int i = 0; i < 50; ++i) bus.Emit("x");
  release = true;
  bus.Flush();
  const auto stats = bus.stats();
  EXPECT_GT(stats.dropped, 0u);
  uint64_t missed = 0;
  uint64_t delivered = 0;
  for (const auto& e : seen) {
    if (e.name == "arsenal.bus.gap") {
      missed += e.measurements["missed"].get<uint64_t>();
      EXPECT_LE(e.measurements["from_seq"], e.measurements["to_seq"]);
    } else {
      ++delivered;
    }
  }
  // Every event is either delivered or reported missed.
  EXPECT_EQ(missed, stats.dropped);
  EXPECT_EQ(delivered + missed, 50u);
  EXPECT_EQ(seen.back().seq, 50u);
}

TEST(EventBusTest, SinceReplaysAndReportsGaps) {
  EventBus bus(EventBus::Options{.queue_capacity = 1000, .retain = 5});
  for (int i = 0; i < 3; ++i) bus.Emit("a.x");
  bus.Emit("b.x");
  bus.Flush();
  auto all = bus.Since(0);
  EXPECT_FALSE(all.gap_from.has_value());
  ASSERT_EQ(all.events.size(), 4u);
  auto only_a = bus.Since(1, "a");
  ASSERT_EQ(only_a.events.size(), 2u);
  EXPECT_EQ(only_a.events[0].seq, 2u);
  for (int i = 0; i < 10; ++i) bus.Emit("a.x");
  bus.Flush();
  auto late = bus.Since(2);
  ASSERT_TRUE(late.gap_from.has_value());
  EXPECT_EQ(*late.gap_from, 3u);
  EXPECT_EQ(late.gap_to, 9u);
  ASSERT_EQ(late.events.size(), 5u);
  EXPECT_EQ(late.events.front().seq, 10u);
  auto current = bus.Since(14);
  EXPECT_FALSE(current.gap_from.has_value());
  EXPECT_TRUE(current.events.empty());
  EXPECT_EQ(late.events.front().ToJson()["name"], "a.x");
}

using OpKind = EventBus::OperationEvent::Kind;

TEST(EventBusTest, OperationEventsLookLikeTheirJsonForm) {
  EventBus bus;
  std::vector<Event> seen;
  bus.Attach("arsenal.operation", [&](const Event& e) { seen.push_back(e); });
  const uint64_t start = bus.EmitOperation(
      {.kind = OpKind::kStart, .operation = "op", .principal = "alice", .request_id = "req-1"});
  const uint64_t stop = bus.EmitOperation({.kind = OpKind::kStop,
                                           .operation = "op",
                                           .principal = "alice",
                                           .request_id = "req-1",
                                           .outcome = "ok",
                                           .duration_us = 42});
  bus.Flush();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].seq, start);
  EXPECT_EQ(seen[0].name, "arsenal.operation.start");
  EXPECT_GT(seen[0].time_unix_ns, 0);
  EXPECT_EQ(seen[0].measurements, Json::object());
  EXPECT_EQ(seen[0].metadata,
            (Json{{"operation", "op"}, {"principal", "alice"}, {"request_id", "req-1"}}));
  EXPECT_EQ(seen[1].seq, stop);
  EXPECT_EQ(seen[1].name, "arsenal.operation.stop");
  EXPECT_LE(seen[0].time_unix_ns, seen[1].time_unix_ns);
  EXPECT_EQ(seen[1].measurements, (Json{{"duration_us", 42}}));
  EXPECT_EQ(seen[1].metadata, (Json{{"operation", "op"},
                                    {"principal", "alice"},
                                    {"request_id", "req-1"},
                                    {"outcome", "ok"}}));
  // Replay builds the same events.
  auto replay = bus.Since(0);
  ASSERT_EQ(replay.events.size(), 2u);
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(replay.events[i].ToJson(), seen[i].ToJson());
}

TEST(EventBusTest, OperationEventsKeepLongStrings) {
  EventBus bus;
  std::vector<Event> seen;
  bus.Attach("", [&](const Event& e) { seen.push_back(e); });
  // Around and well past the length kept inline.
  for (size_t len : {0u, 1u, 46u, 47u, 48u, 300u}) {
    const std::string text(len, 'x');
    bus.EmitOperation({.kind = OpKind::kStop,
                       .operation = text,
                       .principal = text + "p",
                       .request_id = "r" + text,
                       .outcome = text + "." + text,
                       .duration_us = static_cast<int64_t>(len)});
  }
  bus.Flush();
  ASSERT_EQ(seen.size(), 6u);
  auto replay = bus.Since(0);
  ASSERT_EQ(replay.events.size(), 6u);
  size_t i = 0;
  for (size_t len : {0u, 1u, 46u, 47u, 48u, 300u}) {
    const std::string text(len, 'x');
    for (const Event* e : {&seen[i], &replay.events[i]}) {
      EXPECT_EQ(e->metadata["operation"], text);
      EXPECT_EQ(e->metadata["principal"], text + "p");
      EXPECT_EQ(e->metadata["request_id"], "r" + text);
      EXPECT_EQ(e->metadata["outcome"], text + "." + text);
      EXPECT_EQ(e->measurements["duration_us"], len);
    }
    ++i;
  }
}

TEST(EventBusTest, OperationAndOtherEventsShareOneOrder) {
  EventBus bus;
  std::vector<std::string> all;
  std::vector<std::string> stops;
  bus.Attach("", [&](const Event& e) { all.push_back(e.name); });
  bus.Attach("arsenal.operation.stop", [&](const Event& e) { stops.push_back(e.name); });
  bus.EmitOperation({.kind = OpKind::kStart, .operation = "a"});
  bus.Emit("process.exit");
  bus.EmitOperation({.kind = OpKind::kStop, .operation = "a", .outcome = "ok"});
  bus.Emit("arsenal.operation.exception");
  bus.Flush();
  EXPECT_EQ(all,
            (std::vector<std::string>{"arsenal.operation.start", "process.exit",
                                      "arsenal.operation.stop", "arsenal.operation.exception"}));
  EXPECT_EQ(stops, std::vector<std::string>{"arsenal.operation.stop"});
  auto ops = bus.Since(0, "arsenal.operation");
  ASSERT_EQ(ops.events.size(), 3u);
  EXPECT_EQ(ops.events[0].seq, 1u);
  EXPECT_EQ(ops.events[1].seq, 3u);
  EXPECT_EQ(ops.events[2].seq, 4u);
}

TEST(EventBusTest, FailingHandlerOfOperationEventsIsCounted) {
  EventBus bus;
  int good = 0;
  bus.Attach(
      "arsenal.operation", [](const Event&) { throw std::runtime_error("boom"); }, "bad");
  bus.Attach(
      "arsenal.operation", [&](const Event& e) { good += e.metadata["operation"] == "a"; }, "good");
  bus.EmitOperation({.kind = OpKind::kStart, .operation = "a"});
  bus.EmitOperation({.kind = OpKind::kStop, .operation = "a", .outcome = "ok"});
  bus.Flush();
  EXPECT_EQ(good, 2);
  EXPECT_EQ(bus.stats().failures_by_handler["bad"], 2u);
}

TEST(EventBusTest, RetentionRingWrapsAround) {
  EventBus bus(EventBus::Options{.queue_capacity = 100, .retain = 3});
  for (int i = 0; i < 10; ++i) {
    if (i % 2) {
      bus.Emit("x", {{"i", i}});
    } else {
      bus.EmitOperation({.kind = OpKind::kStart, .operation = std::to_string(i)});
    }
    bus.Flush();  // one batch per event, so the ring overwrites one slot at a time
  }
  auto replay = bus.Since(0);
  ASSERT_TRUE(replay.gap_from.has_value());
  EXPECT_EQ(*replay.gap_from, 1u);
  EXPECT_EQ(replay.gap_to, 7u);
  ASSERT_EQ(replay.events.size(), 3u);
  EXPECT_EQ(replay.events[0].seq, 8u);
  EXPECT_EQ(replay.events[0].measurements["i"], 7);
  EXPECT_EQ(replay.events[1].metadata["operation"], "8");
  EXPECT_EQ(replay.events[2].seq, 10u);
  auto tail = bus.Since(8);
  EXPECT_FALSE(tail.gap_from.has_value());
  ASSERT_EQ(tail.events.size(), 2u);
  EXPECT_EQ(tail.events[0].seq, 9u);
}

TEST(EventBusTest, BatchLargerThanRetentionKeepsItsTail) {
  EventBus bus(EventBus::Options{.queue_capacity = 100, .retain = 5});
  std::atomic<bool> running{false};
  std::atomic<bool> release{false};
  bus.Attach("x", [&](const Event&) {
    running = true;
    while (!release.load()) std::this_thread::yield();
  });
  bus.Emit("x");
  while (!running.load()) std::this_thread::yield();
  // The dispatcher is stuck on event 1: the next 20 queue up and are delivered as one batch.
  for (int i = 0; i < 20; ++i) bus.EmitOperation({.kind = OpKind::kStart});
  release = true;
  bus.Flush();
  auto replay = bus.Since(0);
  ASSERT_TRUE(replay.gap_from.has_value());
  EXPECT_EQ(replay.gap_to, 16u);
  ASSERT_EQ(replay.events.size(), 5u);
  EXPECT_EQ(replay.events.front().seq, 17u);
  EXPECT_EQ(replay.events.back().seq, 21u);
}

TEST(EventBusTest, NoRetentionReportsEverythingAsAGap) {
  EventBus bus(EventBus::Options{.queue_capacity = 100, .retain = 0});
  int delivered = 0;
  bus.Attach("", [&](const Event&) { ++delivered; });
  for (int i = 0; i < 3; ++i) bus.EmitOperation({.kind = OpKind::kStart});
  bus.Flush();
  EXPECT_EQ(delivered, 3);
  auto replay = bus.Since(0);
  EXPECT_TRUE(replay.events.empty());
  ASSERT_TRUE(replay.gap_from.has_value());
  EXPECT_EQ(*replay.gap_from, 1u);
  EXPECT_EQ(replay.gap_to, 3u);
  EXPECT_FALSE(bus.Since(3).gap_from.has_value());
}

TEST(EventBusTest, OverflowOfOperationEventsIsAccountedFor) {
  // A queue of 0 behaves as a queue of 1; every event is delivered or reported missed.
  EventBus bus(EventBus::Options{.queue_capacity = 0, .retain = 100});
  std::atomic<bool> release{false};
  uint64_t delivered = 0;
  uint64_t missed = 0;
  bus.Attach("", [&](const Event& e) {
    while (!release.load()) std::this_thread::yield();
    if (e.name == "arsenal.bus.gap") {
      missed += e.measurements["missed"].get<uint64_t>();
    } else {
      ++delivered;
    }
  });
  for (int i = 0; i < 40; ++i) {
    bus.EmitOperation({.kind = OpKind::kStop, .operation = "op", .outcome = "ok"});
  }
  release = true;
  bus.Flush();
  EXPECT_GT(bus.stats().dropped, 0u);
  EXPECT_EQ(missed, bus.stats().dropped);
  EXPECT_EQ(delivered + missed, 40u);
}

}  // namespace
}  // namespace arsenal
