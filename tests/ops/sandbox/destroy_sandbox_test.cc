#include "sandbox_ops_fixture.h"

namespace arsenal {
namespace {

using DestroySandboxTest = sandbox_ops_testing::SandboxOpsTest;

TEST_F(DestroySandboxTest, DestroysOnceAndThenIsIdempotent) {
  std::string id = CreateRunning({{"limits", {{"pids", 16}}}});
  Json info = Ok("sandbox_info", {{"id", id}});
  pid_t init = info["init_pid"].get<pid_t>();
  Json r = Ok("destroy_sandbox", {{"id", id}});
  EXPECT_EQ(r["state"], "destroyed");
  EXPECT_NE(::kill(init, 0), 0);  // PID 1 is gone (reaped)
  Json again = Ok("destroy_sandbox", {{"id", id}});
  EXPECT_EQ(again["state"], "destroyed");
  auto exec = Call("execute_in_sandbox", {{"id", id}, {"argv", {"/bin/true"}}});
  ASSERT_FALSE(exec);
  EXPECT_EQ(exec.error().code(), "sandbox.invalid_state");
}

TEST_F(DestroySandboxTest, UnknownIdIsNotFound) {
  auto r = Call("destroy_sandbox", {{"id", "sb-404"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), "sandbox.not_found");
  EXPECT_EQ(r.error().http_status(), 404);
}

TEST_F(DestroySandboxTest, EmitsLifecycleEvents) {
  std::vector<std::string> names;
  std::mutex mu;
  engine_->events().Attach("arsenal.sandbox", [&](const Event& e) {
    std::lock_guard lock(mu);
    names.push_back(e.name);
  });
  std::string id = CreateRunning();
  Ok("execute_in_sandbox", {{"id", id}, {"argv", {"/bin/true"}}});
  Ok("destroy_sandbox", {{"id", id}});
  engine_->events().Flush();
  std::lock_guard lock(mu);
  EXPECT_EQ(names, (std::vector<std::string>{"arsenal.sandbox.created", "arsenal.sandbox.started",
                                             "arsenal.sandbox.exec", "arsenal.sandbox.destroyed"}));
}

}  // namespace
}  // namespace arsenal
