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

}  // namespace
}  // namespace arsenal
