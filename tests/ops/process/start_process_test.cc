#include "ops_fixture.h"

namespace arsenal {
namespace {

// Helper programs run from this binary (see process_test_helper.h).
[[maybe_unused]] const int kHelper = testing::RunProcessTestHelperIfRequested();

TEST_F(ProcessOpsTest, StartProcessRunsAndWaits) {
  Json out = RunOk("start_process", {{"argv", {"/bin/sh", "-c", "echo hi; echo oops >&2; exit 2"}},
                                     {"wait_ms", 5000}});
  EXPECT_EQ(out["state"], "exited");
  EXPECT_EQ(out["exit"]["code"], 2);
  EXPECT_EQ(out["stdout"], "hi\n");
  EXPECT_EQ(out["stderr"], "oops\n");
  EXPECT_EQ(out["name"], "sh");
}

TEST_F(ProcessOpsTest, StartProcessAppliesEnvCwdLabelsAndStdin) {
  Json out = RunOk("start_process",
                   {{"argv", {"/bin/sh", "-c", "read line; echo \"$line $GREETING $(pwd)\""}},
                    {"env", {{"GREETING", "hello"}}},
                    {"cwd", "/tmp"},
                    {"labels", {{"team", "web"}}},
                    {"name", "greeter"},
                    {"stdin", {{"data", "in\n"}, {"close", true}}},
                    {"wait_ms", 5000}});
  EXPECT_EQ(out["stdout"], "in hello /tmp\n");
  EXPECT_EQ(out["labels"]["team"], "web");
  EXPECT_EQ(out["name"], "greeter");
}

TEST_F(ProcessOpsTest, StartProcessWithoutWaitReturnsTheRunningProcess) {
  Json out = RunOk("start_process", {{"argv", {"/bin/sleep", "60"}}});
  EXPECT_EQ(out["state"], "running");
  EXPECT_EQ(out["id"], "p-1");
  EXPECT_GT(out["pid"].get<int>(), 0);
  EXPECT_FALSE(out.contains("stdout"));
}

TEST_F(ProcessOpsTest, StartProcessBadInput) {
  ExpectError(Run("start_process", Json::object()), "operation.invalid_params", "");
  ExpectError(Run("start_process", {{"argv", Json::array()}}), "operation.invalid_params", "argv");
  ExpectError(Run("start_process", {{"argv", {"/bin/true"}}, {"colour", "red"}}),
              "operation.invalid_params", "colour");
  ExpectError(Run("start_process", {{"argv", {"/bin/true"}}, {"wait_ms", -1}}),
              "operation.invalid_params", "wait_ms");
  ExpectError(Run("start_process", {{"argv", {"/bin/true"}}, {"stdout", {{"ring_bytes", 1}}}}),
              "operation.invalid_params", "stdout.ring_bytes");
  ExpectError(Run("start_process", {{"argv", {"/bin/true"}}, {"cwd", "relative/dir"}}),
              "process.invalid_spec", "cwd");
  ExpectError(Run("start_process", {{"argv", {"definitely-not-installed"}}}),
              "process.executable_not_found", "argv[0]");
}

TEST_F(ProcessOpsTest, StartProcessInASandboxNamesTheSandboxParameter) {
  // No sandbox operation has run in this engine: the sandbox service is wired in by
  // start_process itself, so these are the sandbox's own errors, not "no sandbox service".
  auto out = Run("start_process", {{"argv", {"/bin/true"}}, {"sandbox", "sb-1"}});
  ExpectError(out, "sandbox.not_found", "sandbox");
  EXPECT_EQ(out.error().category(), ErrorCategory::kNotFound);
  ExpectError(Run("start_process", {{"argv", {"/bin/true"}}, {"sandbox", {{"rootfs", "/"}}}}),
              "sandbox.wrong_type", "sandbox.rootfs");
}

TEST_F(ProcessOpsTest, StartProcessIsRolledBackByKill) {
  auto entry = engine_->registry().Find("start_process");
  ASSERT_NE(entry, nullptr);
  ASSERT_TRUE(entry->op.compensation);
  EXPECT_EQ(entry->op.compensation->operation, "kill_process");
  Json started = RunOk("start_process", {{"argv", {"/bin/sleep", "60"}}});
  Json undo = entry->op.compensation->params(Json::object(), started);
  Json killed = RunOk("kill_process", undo);
  EXPECT_EQ(killed["how"], "exited_after_signal");
  EXPECT_EQ(killed["exit"]["signal_name"], "SIGKILL");
}

}  // namespace
}  // namespace arsenal
