#include "arsenal/engine/process_table.h"
#include "arsenal/engine/sandbox_service.h"
#include "sandbox_ops_fixture.h"

namespace arsenal {
namespace {

using ExecuteInSandboxTest = sandbox_ops_testing::SandboxOpsTest;

TEST_F(ExecuteInSandboxTest, RunsAndReturnsOutputAndStatus) {
  std::string id = CreateRunning({{"env", {{"GREETING", "hi"}}}});
  Json r = Ok("execute_in_sandbox",
              {{"id", id},
               {"argv", {"/bin/sh", "-c", "echo $GREETING $X; cat; echo e >&2; exit 4"}},
               {"env", {{"X", "there"}}},
               {"stdin", "input\n"}});
  EXPECT_EQ(r["exit_code"], 4);
  EXPECT_EQ(r["signal"], 0);
  EXPECT_EQ(r["stdout"], "hi there\ninput\n");
  EXPECT_EQ(r["stderr"], "e\n");
  EXPECT_EQ(r["timed_out"], false);
  EXPECT_EQ(r["id"], id);
}

TEST_F(ExecuteInSandboxTest, TimeoutKillsTheCommandOnly) {
  std::string id = CreateRunning({{"limits", {{"pids", 16}}}});
  Json r = Ok("execute_in_sandbox",
              {{"id", id}, {"argv", Json::array({"/bin/sleep", "30"})}, {"timeout", "200ms"}});
  EXPECT_EQ(r["timed_out"], true);
  EXPECT_EQ(r["signal"], SIGKILL);
  Json info = Ok("sandbox_info", {{"id", id}});
  EXPECT_EQ(info["state"], "running");
  auto bad = Call("execute_in_sandbox", {{"id", id}, {"argv", {"/bin/true"}}, {"timeout", "soon"}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().details()["field"], "timeout");
}

TEST_F(ExecuteInSandboxTest, NotRunningAndUnknown) {
  Json created = Ok("create_sandbox", {{"start", false}});
  auto r = Call("execute_in_sandbox", {{"id", created["id"]}, {"argv", {"/bin/true"}}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), "sandbox.invalid_state");
  auto missing = Call("execute_in_sandbox", {{"id", "sb-77"}, {"argv", {"/bin/true"}}});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), "sandbox.not_found");
  auto exec = Call("execute_in_sandbox", {{"id", created["id"]}, {"argv", Json::array()}});
  ASSERT_FALSE(exec);
  EXPECT_EQ(exec.error().category(), ErrorCategory::kValidation);
}

TEST_F(ExecuteInSandboxTest, StartProcessJoinsASandboxById) {
  std::string id = CreateRunning({{"hostname", "joined"}});
  Json p = Ok("start_process", {{"argv", {"/bin/hostname"}}, {"sandbox", id}, {"wait_ms", 5000}});
  EXPECT_EQ(p["sandbox"], id);
  EXPECT_EQ(p["stdout"], "joined\n") << p.dump();
  EXPECT_EQ(p["state"], "exited");
}

TEST_F(ExecuteInSandboxTest, StartProcessWithAnInlineSpecGetsAThrowawaySandbox) {
  // No sandbox operation has run in this engine: start_process alone must be enough.
  Json p = Ok("start_process", {{"argv", {"/bin/sh", "-c", "hostname; echo $A"}},
                                {"env", {{"A", "b"}}},
                                {"sandbox", {{"hostname", "inline"}, {"limits", {{"pids", 8}}}}},
                                {"wait_ms", 5000}});
  EXPECT_EQ(p["stdout"], "inline\nb\n") << p.dump();
  std::string sandbox = p["sandbox"];
  // The throwaway sandbox is destroyed once its process exited (asynchronously).
  Json info;
  for (int i = 0; i < 200; ++i) {
    info = Ok("sandbox_info", {{"id", sandbox}});
    if (info["state"] == "destroyed") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(info["state"], "destroyed");
  EXPECT_EQ(info["ephemeral"], true);
  auto bad =
      Call("start_process", {{"argv", {"/bin/true"}}, {"sandbox", {{"limits", {{"pids", 1}}}}}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().details()["field"], "sandbox.limits.pids");
}

}  // namespace
}  // namespace arsenal
