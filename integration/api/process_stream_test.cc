// The WebSocket stream's process topic: a process started through the API is seen starting and
// exiting, in sequence order, and a metadata filter keeps other processes' events out.
#include "harness.h"

namespace arsenal::api::testing {
namespace {

class ProcessStreamTest : public ApiTest {};

TEST_F(ProcessStreamTest, StartAndExitOfAnApiStartedProcessArriveInOrder) {
  WsClient ws(server_->endpoint(), admin_key_);
  ASSERT_TRUE(ws.ok());
  ws.Send({{"type", "subscribe"}, {"topics", {"process"}}, {"filter", {{"name", "stream-probe"}}}});
  const Json ack = ws.Read();
  ASSERT_EQ(ack["type"], "subscribed") << ack;
  EXPECT_EQ(ack["topics"], Json::array({"process"}));

  // A process the filter excludes, started and finished first.
  auto other = Do("POST", "/api/v1/processes", admin_key_,
                  R"({"argv":["/bin/true"],"name":"stream-other","wait_ms":5000})");
  ASSERT_EQ(other.status, 200) << other.body;
  EXPECT_EQ(other.json()["data"]["attributes"]["state"], "exited") << other.body;

  auto started = Do("POST", "/api/v1/processes", admin_key_,
                    R"({"argv":["/bin/sh","-c","exit 3"],"name":"stream-probe",)"
                    R"("stdout":"null","stderr":"null"})");
  ASSERT_EQ(started.status, 200) << started.body;
  const std::string id = started.json()["data"]["id"];
  const int pid = started.json()["data"]["attributes"]["pid"];

  // Read until the exit event; every event must be the probe's, on the process topic, with
  // strictly increasing sequence numbers; telemetry of the HTTP calls must not appear.
  std::vector<Json> events;
  for (int i = 0; i < 20; ++i) {
    Json m = ws.Read();
    ASSERT_FALSE(m.is_null()) << "no event within 10 s; got " << Json(events).dump();
    ASSERT_EQ(m["type"], "event") << m;
    events.push_back(m);
    if (m["name"] == "arsenal.process.exit") break;
  }
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.front()["name"], "arsenal.process.started") << events.front();
  EXPECT_EQ(events.back()["name"], "arsenal.process.exit") << events.back();
  uint64_t prev = ack["last_seq"].get<uint64_t>();
  for (const auto& ev : events) {
    EXPECT_EQ(ev["topic"], "process") << ev;
    EXPECT_EQ(ev["metadata"]["name"], "stream-probe") << ev;
    EXPECT_EQ(ev["metadata"]["id"], id) << ev;
    EXPECT_EQ(ev["measurements"]["pid"], pid) << ev;
    ASSERT_TRUE(ev["seq"].is_number_unsigned()) << ev;
    EXPECT_GT(ev["seq"].get<uint64_t>(), prev) << ev;
    prev = ev["seq"];
  }
  const Json& exit_event = events.back();
  EXPECT_EQ(exit_event["measurements"]["exit_code"], 3) << exit_event;
  EXPECT_EQ(exit_event["metadata"]["state"], "exited") << exit_event;
  EXPECT_EQ(exit_event["metadata"]["exit"], "exit code 3") << exit_event;

  // The same exit is what the API reports for the process.
  auto info = Do("GET", "/api/v1/processes/" + id, admin_key_);
  ASSERT_EQ(info.status, 200) << info.body;
  EXPECT_EQ(info.json()["data"]["attributes"]["exit"]["code"], 3) << info.body;

  // Nothing else for this filter: a ping is answered before any further event.
  ws.Send({{"type", "ping"}});
  EXPECT_EQ(ws.Read()["type"], "pong");
}

TEST_F(ProcessStreamTest, ProcessTopicNeedsProcessRead) {
  StartServer({{"roles", {{"telemetry_only", {"telemetry.read"}}}}});
  auto created =
      engine_->Execute("create_api_key", {{"role", "telemetry_only"}}, Principal::Root());
  ASSERT_TRUE(created) << created.error().ToString();
  WsClient ws(server_->endpoint(), (*created)["key"].get<std::string>());
  ASSERT_TRUE(ws.ok());
  ws.Send({{"type", "subscribe"}, {"topics", {"process"}}});
  const Json reply = ws.Read();
  ASSERT_EQ(reply["type"], "error") << reply;
  EXPECT_EQ(reply["errors"][0]["code"], "auth.permission_denied") << reply;
}

}  // namespace
}  // namespace arsenal::api::testing
