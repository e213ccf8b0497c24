#include "ops_fixture.h"

namespace arsenal {
namespace {

using testing::Eventually;
using testing::HelperSpec;
using testing::OutputContains;

TEST_F(ProcessOpsTest, KillProcessWithSignalNameAndGrace) {
  const auto id = StartSleeper();
  Json out = RunOk("kill_process",
                   {{"id", id}, {"signal", "TERM"}, {"grace_ms", 2000}, {"reason", "test"}});
  EXPECT_EQ(out["id"], id);
  EXPECT_EQ(out["how"], "exited_after_signal");
  EXPECT_EQ(out["exit"]["signal_name"], "SIGTERM");
  auto rows = engine_->store().Query(
      "SELECT requested_by, reason FROM process_terminations WHERE process_id = ?1", {id});
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0]["requested_by"], "root");
  EXPECT_EQ((*rows)[0]["reason"], "test");
}

TEST_F(ProcessOpsTest, KillProcessEscalatesToSigkill) {
  auto started = table().Start(HelperSpec("ignore_term"));
  ASSERT_TRUE(started);
  ASSERT_TRUE(Eventually([&] { return OutputContains(table(), started->id, "ready"); }));
  Json out = RunOk("kill_process", {{"id", started->id}, {"grace_ms", 100}});
  EXPECT_EQ(out["how"], "killed_after_grace");
  EXPECT_EQ(out["exit"]["signal_name"], "SIGKILL");
}

// Decision (docs/processes.md): killing an already-dead process is an idempotent success that
// says so, with the original exit status; an unknown id is process.not_found.
TEST_F(ProcessOpsTest, KillProcessOfAnExitedProcessSucceedsIdempotently) {
  Json done = RunOk("start_process", {{"argv", {"/bin/sh", "-c", "exit 6"}}, {"wait_ms", 5000}});
  ASSERT_EQ(done["state"], "exited");
  for (int i = 0; i < 2; ++i) {
    Json out = RunOk("kill_process", {{"id", done["id"]}, {"signal", 9}});
    EXPECT_EQ(out["how"], "already_exited");
    EXPECT_EQ(out["exit"]["code"], 6);
  }
}

TEST_F(ProcessOpsTest, KillProcessBadInput) {
  const auto id = StartSleeper();
  ExpectError(Run("kill_process", {{"id", "p-12345"}}), "process.not_found", "id");
  ExpectError(Run("kill_process", {{"id", id}, {"signal", "SIGNOPE"}}), "process.invalid_signal",
              "signal");
  ExpectError(Run("kill_process", {{"id", id}, {"signal", 0}}), "process.invalid_signal", "signal");
  ExpectError(Run("kill_process", {{"id", id}, {"signal", 65}}), "process.invalid_signal",
              "signal");
  ExpectError(Run("kill_process", {{"id", id}, {"grace_ms", -1}}), "operation.invalid_params",
              "grace_ms");
  ExpectError(Run("kill_process", Json::object()), "operation.invalid_params", "");
  EXPECT_EQ(RunOk("get_process_info", {{"id", id}})["state"], "running");
}

}  // namespace
}  // namespace arsenal
