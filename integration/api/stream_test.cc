// WebSocket /api/v1/stream over a real connection: subscribe, resume, gap, auth.
#include "harness.h"

namespace arsenal::api::testing {
namespace {

class StreamTest : public ApiTest {};

TEST_F(StreamTest, UpgradeNeedsAKey) {
  WsClient anonymous(server_->endpoint(), "");
  EXPECT_FALSE(anonymous.ok());
  EXPECT_EQ(anonymous.status(), 401);
  StartServer({{"roles", {{"ops_only", {"operations.read"}}}}});
  WsClient weak(server_->endpoint(), KeyWithRole("ops_only"));
  EXPECT_FALSE(weak.ok());
  EXPECT_EQ(weak.status(), 403);
  // Without an upgrade the route explains itself.
  EXPECT_EQ(Do("GET", "/api/v1/stream", admin_key_).status, 426);
}

TEST_F(StreamTest, SubscribeResumeAndGap) {
  uint64_t last_seq = 0;
  {
    WsClient ws(server_->endpoint(), admin_key_);
    ASSERT_TRUE(ws.ok());
    ws.Send({{"type", "subscribe"},
             {"topics", {"telemetry"}},
             {"filter", {{"operation", "list_operations"}, {"event", "arsenal.operation.stop"}}}});
    Json ack = ws.Read();
    ASSERT_EQ(ack["type"], "subscribed") << ack;
    ASSERT_TRUE(
        engine_->Execute("describe_operation", {{"name", "list_operations"}}, Principal::Root()));
    ASSERT_TRUE(engine_->Execute("list_operations", Json::object(), Principal::Root()));
    Json ev = ws.ReadType("event");
    EXPECT_EQ(ev["name"], "arsenal.operation.stop");
    EXPECT_EQ(ev["metadata"]["operation"], "list_operations");
    EXPECT_EQ(ev["topic"], "telemetry");
    ASSERT_TRUE(ev["seq"].is_number_unsigned());
    last_seq = ev["seq"];
    ws.Close();
  }
  // While disconnected: three more matching events.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(engine_->Execute("list_operations", Json::object(), Principal::Root()));
  }
  engine_->events().Flush();
  {
    WsClient ws(server_->endpoint(), admin_key_);
    ASSERT_TRUE(ws.ok());
    ws.Send({{"type", "subscribe"},
             {"topics", {"telemetry"}},
             {"filter", {{"operation", "list_operations"}, {"event", "arsenal.operation.stop"}}},
             {"after", last_seq}});
    EXPECT_EQ(ws.Read()["type"], "subscribed");
    uint64_t prev = last_seq;
    for (int i = 0; i < 3; ++i) {
      Json ev = ws.Read();
      ASSERT_EQ(ev["type"], "event") << ev;
      EXPECT_GT(ev["seq"].get<uint64_t>(), prev);
      prev = ev["seq"];
    }
    // Live events continue after the replay, in order.
    ASSERT_TRUE(engine_->Execute("list_operations", Json::object(), Principal::Root()));
    Json live = ws.ReadType("event");
    EXPECT_GT(live["seq"].get<uint64_t>(), prev);
    ws.Close();
  }
  // Push the resume point out of the bus's retention: an explicit gap, then what is retained.
  for (int i = 0; i < 5000; ++i) engine_->events().Emit("arsenal.telemetry.tick");
  engine_->events().Flush();
  WsClient ws(server_->endpoint(), admin_key_);
  ASSERT_TRUE(ws.ok());
  ws.Send({{"type", "subscribe"}, {"topics", {"telemetry"}}, {"after", last_seq}});
  EXPECT_EQ(ws.Read()["type"], "subscribed");
  Json gap = ws.Read();
  ASSERT_EQ(gap["type"], "gap") << gap;
  EXPECT_EQ(gap["reason"], "not_retained");
  EXPECT_EQ(gap["from_seq"], last_seq + 1);
  EXPECT_GT(gap["missed"].get<uint64_t>(), 0u);
  Json next = ws.Read();
  EXPECT_EQ(next["type"], "event");
  EXPECT_EQ(next["seq"], gap["to_seq"].get<uint64_t>() + 1);
  ws.Close();
}

TEST_F(StreamTest, ErrorsAreMessagesNotDisconnects) {
  WsClient ws(server_->endpoint(), admin_key_);
  ASSERT_TRUE(ws.ok());
  ws.Send({{"type", "subscribe"}, {"topics", {"nope"}}});
  Json err = ws.Read();
  EXPECT_EQ(err["type"], "error");
  EXPECT_EQ(err["errors"][0]["code"], "stream.unknown_topic");
  ws.Send({{"type", "ping"}});
  EXPECT_EQ(ws.Read()["type"], "pong");
  ws.Close();
}

TEST_F(StreamTest, StopClosesOpenStreams) {
  WsClient ws(server_->endpoint(), admin_key_);
  ASSERT_TRUE(ws.ok());
  ws.Send({{"type", "subscribe"}, {"topics", {"telemetry"}}});
  EXPECT_EQ(ws.Read()["type"], "subscribed");
  const auto start = std::chrono::steady_clock::now();
  server_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

}  // namespace
}  // namespace arsenal::api::testing
