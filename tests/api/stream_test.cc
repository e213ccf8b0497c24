#include "arsenal/api/stream.h"

#include <gtest/gtest.h>

#include <atomic>

namespace arsenal::api {
namespace {

Principal Telemetry() { return Principal{"t", {"telemetry.read"}}; }

TEST(StreamSubscriberTest, SubscribeDeliversMatchingEventsWithSequence) {
  EventBus bus;
  std::atomic<int> wakes{0};
  StreamSubscriber sub(bus, Telemetry(), 16, [&] { ++wakes; });
  auto replies = sub.OnClientMessage(
      R"({"type":"subscribe","topics":["telemetry"],"filter":{"operation":"a"}})");
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0]["type"], "subscribed");
  bus.Emit("arsenal.operation.stop", {}, {{"operation", "a"}});
  bus.Emit("arsenal.operation.stop", {}, {{"operation", "b"}});
  bus.Emit("arsenal.process.exit", {}, {{"operation", "a"}});
  bus.Flush();
  auto events = sub.Drain(100);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["type"], "event");
  EXPECT_EQ(events[0]["seq"], 1);
  EXPECT_EQ(events[0]["topic"], "telemetry");
  EXPECT_GE(wakes.load(), 1);
}

TEST(StreamSubscriberTest, ResumeReplaysAfterSequence) {
  EventBus bus;
  for (int i = 0; i < 5; ++i) bus.Emit("arsenal.operation.stop", {}, {{"i", i}});
  bus.Flush();
  StreamSubscriber sub(bus, Telemetry(), 16, nullptr);
  auto replies = sub.OnClientMessage(R"({"type":"subscribe","topics":["telemetry"],"after":3})");
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies[1]["seq"], 4);
  EXPECT_EQ(replies[2]["seq"], 5);
  bus.Emit("arsenal.operation.stop");
  bus.Flush();
  auto live = sub.Drain(10);
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0]["seq"], 6);
}

TEST(StreamSubscriberTest, ResumeBeyondRetentionGetsAGap) {
  EventBus bus(EventBus::Options{.queue_capacity = 1000, .retain = 4});
  for (int i = 0; i < 10; ++i) bus.Emit("arsenal.operation.stop");
  bus.Flush();
  StreamSubscriber sub(bus, Telemetry(), 16, nullptr);
  auto replies = sub.OnClientMessage(R"({"type":"subscribe","topics":["telemetry"],"after":2})");
  ASSERT_GE(replies.size(), 2u);
  EXPECT_EQ(replies[1]["type"], "gap");
  EXPECT_EQ(replies[1]["reason"], "not_retained");
  EXPECT_EQ(replies[1]["from_seq"], 3);
  EXPECT_EQ(replies[1]["to_seq"], 6);
  EXPECT_EQ(replies.size(), 2u + 4u);
}

TEST(StreamSubscriberTest, SlowConsumerIsToldWhatItMissed) {
  EventBus bus;
  StreamSubscriber sub(bus, Telemetry(), 4, nullptr);
  sub.OnClientMessage(R"({"type":"subscribe","topics":["telemetry"]})");
  for (int i = 0; i < 10; ++i) bus.Emit("arsenal.operation.stop");
  bus.Flush();
  auto first = sub.Drain(100);
  ASSERT_EQ(first.size(), 5u);
  EXPECT_EQ(first[3]["seq"], 4);
  EXPECT_EQ(first[4]["type"], "gap");
  EXPECT_EQ(first[4]["reason"], "slow_consumer");
  EXPECT_EQ(first[4]["from_seq"], 5);
  EXPECT_EQ(first[4]["to_seq"], 10);
  EXPECT_EQ(first[4]["missed"], 6);
  bus.Emit("arsenal.operation.stop");
  bus.Flush();
  auto next = sub.Drain(100);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0]["seq"], 11);
}

TEST(StreamSubscriberTest, TopicsNeedPermissions) {
  EventBus bus;
  StreamSubscriber sub(bus, Telemetry(), 4, nullptr);
  auto r = sub.OnClientMessage(R"({"type":"subscribe","topics":["process"]})");
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0]["type"], "error");
  EXPECT_EQ(r[0]["errors"][0]["code"], "auth.permission_denied");
  EXPECT_EQ(sub.OnClientMessage("not json")[0]["errors"][0]["code"], "stream.invalid_message");
  EXPECT_EQ(
      sub.OnClientMessage(R"({"type":"subscribe","topics":["nope"]})")[0]["errors"][0]["code"],
      "stream.unknown_topic");
  EXPECT_EQ(sub.OnClientMessage(R"({"type":"ping"})")[0]["type"], "pong");
  EXPECT_FALSE(StreamSubscriber::MayReadAnyTopic(Principal{"x", {"operations.read"}}));
  EXPECT_TRUE(StreamSubscriber::MayReadAnyTopic(Principal{"x", {"process.read"}}));
}

}  // namespace
}  // namespace arsenal::api
