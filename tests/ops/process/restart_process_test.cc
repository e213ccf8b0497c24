#include "arsenal/engine/process_checkpoint.h"
#include "ops_fixture.h"

namespace arsenal {
namespace {

TEST_F(ProcessOpsTest, RestartProcessKeepsTheIdAndCountsRestarts) {
  const auto id = StartSleeper();
  const int old_pid = RunOk("get_process_info", {{"id", id}})["pid"];
  Json out = RunOk("restart_process", {{"id", id}, {"grace_ms", 1000}});
  EXPECT_EQ(out["id"], id);
  EXPECT_EQ(out["state"], "running");
  EXPECT_EQ(out["restarts"], 1);
  EXPECT_NE(out["pid"], old_pid);
}

TEST_F(ProcessOpsTest, RestartProcessWithPreserveStateReportsWhyItCannot) {
  const auto support = ProbeCheckpointSupport();
  if (support.supported) GTEST_SKIP() << "criu check passes on this machine";
  const auto id = StartSleeper();
  auto out = Run("restart_process", {{"id", id}, {"preserve_state", true}});
  ExpectError(out, "process.checkpoint_unsupported", "");
  EXPECT_EQ(out.error().category(), ErrorCategory::kUnsupported);
  EXPECT_EQ(out.error().details()["reason"], support.reason);
  EXPECT_EQ(RunOk("get_process_info", {{"id", id}})["restarts"], 0);
}

TEST_F(ProcessOpsTest, RestartProcessWithPreserveStateThroughCriu) {
  const auto support = ProbeCheckpointSupport();
  if (!support.supported) GTEST_SKIP() << "checkpoint/restore unavailable: " << support.reason;
  const auto id = Start({"/bin/sleep", "60"}, {{"stdout", "null"}, {"stderr", "null"}});
  Json out = RunOk("restart_process", {{"id", id}, {"preserve_state", true}});
  EXPECT_EQ(out["restarts"], 1);
}

TEST_F(ProcessOpsTest, RestartProcessBadInput) {
  const auto id = StartSleeper();
  ExpectError(Run("restart_process", {{"id", "p-99"}}), "process.not_found", "id");
  ExpectError(Run("restart_process", {{"id", id}, {"grace_ms", -5}}), "operation.invalid_params",
              "grace_ms");
  ExpectError(Run("restart_process", {{"id", id}, {"signal", "SIGBOGUS"}}),
              "process.invalid_signal", "signal");
}

}  // namespace
}  // namespace arsenal
