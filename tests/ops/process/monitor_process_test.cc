#include <future>

#include "ops_fixture.h"

namespace arsenal {
namespace {

TEST_F(ProcessOpsTest, MonitorProcessCollectsStateChangesAndTheExit) {
  const auto id = StartSleeper();
  auto monitor = std::async(std::launch::async, [&] {
    return Run("monitor_process",
               {{"id", id}, {"duration_ms", 10000}, {"events", {"state", "exit", "termination"}}});
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  RunOk("suspend_process", {{"id", id}});
  RunOk("resume_process", {{"id", id}});
  RunOk("kill_process", {{"id", id}, {"grace_ms", 1000}, {"reason", "monitor test"}});
  auto out = monitor.get();
  ASSERT_TRUE(out) << out.error().ToString();
  std::vector<std::string> kinds;
  for (const auto& e : (*out)["events"]) kinds.push_back(e["kind"]);
  // suspended, resumed, stopping, termination, exit (termination and exit in either order).
  ASSERT_GE(kinds.size(), 5u) << (*out)["events"].dump();
  EXPECT_EQ(kinds[0], "state");
  EXPECT_EQ((*out)["events"][0]["data"]["to"], "suspended");
  EXPECT_EQ(kinds[1], "state");
  EXPECT_EQ((*out)["events"][1]["data"]["to"], "running");
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "exit"), kinds.end());
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "termination"), kinds.end());
  EXPECT_EQ((*out)["event_prefix"], "arsenal.process");
}

TEST_F(ProcessOpsTest, MonitorProcessPublishesSamplesOnTheEventBus) {
  const auto id = StartSleeper();
  std::promise<Event> got;
  std::atomic<bool> once{false};
  engine_->events().Attach("arsenal.process.sample", [&](const Event& e) {
    if (e.metadata.value("id", "") == id && !once.exchange(true)) got.set_value(e);
  });
  Json out = RunOk("monitor_process", {{"id", id}, {"sample_interval_ms", 20}});
  EXPECT_EQ(out["sample_interval_ms"], 20);
  auto future = got.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
  EXPECT_TRUE(future.get().measurements["rss_bytes"].is_number());
}

TEST_F(ProcessOpsTest, MonitorProcessBadInput) {
  const auto id = StartSleeper();
  ExpectError(Run("monitor_process", {{"id", "p-404"}}), "process.not_found", "id");
  ExpectError(Run("monitor_process", {{"id", id}, {"sample_interval_ms", -1}}),
              "operation.invalid_params", "sample_interval_ms");
  ExpectError(Run("monitor_process", {{"id", id}, {"duration_ms", -1}}), "operation.invalid_params",
              "duration_ms");
  ExpectError(Run("monitor_process", {{"id", id}, {"sample_interval_ms", 5}}),
              "process.invalid_interval", "sample_interval_ms");
  ExpectError(Run("monitor_process", {{"id", id}, {"events", {"bogus"}}}),
              "operation.invalid_params", "events[0]");
}

}  // namespace
}  // namespace arsenal
