#include "sandbox_ops_fixture.h"

namespace arsenal {
namespace {

using CreateSandboxTest = sandbox_ops_testing::SandboxOpsTest;

TEST_F(CreateSandboxTest, CreatesAndStartsWithLimitsAndLabels) {
  Json r = Ok("create_sandbox",
              {{"spec",
                {{"version", 1},
                 {"mounts", {{{"type", "tmpfs"}, {"target", "/tmp"}, {"size", "16M"}}}},
                 {"limits", {{"memory", "64M"}, {"pids", 32}}},
                 {"labels", {{"team", "ci"}}}}}});
  EXPECT_EQ(r["state"], "running");
  EXPECT_EQ(r["labels"]["team"], "ci");
  EXPECT_TRUE(r["init_pid"].is_number());
  EXPECT_EQ(r["spec"]["limits"]["memory"], 64 << 20);
  EXPECT_EQ(r["created_by"], Principal::Root().id);
  Json created = Ok("create_sandbox", {{"start", false}});
  EXPECT_EQ(created["state"], "created");
  EXPECT_TRUE(created["init_pid"].is_null());
}

TEST_F(CreateSandboxTest, DefaultsToTheStrictSpec) {
  Json r = Ok("create_sandbox", Json::object());
  EXPECT_EQ(r["spec"]["network"], "none");
  EXPECT_EQ(r["spec"]["capabilities"], Json::array());
  EXPECT_EQ(r["spec"]["env"], Json::object());
}

TEST_F(CreateSandboxTest, BadSpecsNameTheFieldAndCreateNothing) {
  auto unknown = Call("create_sandbox", {{"spec", {{"limits", {{"memroy", "1M"}}}}}});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().category(), ErrorCategory::kValidation);
  EXPECT_EQ(unknown.error().details()["field"], "spec.limits.memroy");
  auto small = Call("create_sandbox", {{"spec", {{"limits", {{"memory", "4K"}}}}}});
  ASSERT_FALSE(small);
  EXPECT_EQ(small.error().code(), "sandbox.invalid_limit");
  EXPECT_EQ(small.error().details()["field"], "spec.limits.memory");
  auto path =
      Call("create_sandbox",
           {{"spec",
             {{"mounts", {{{"type", "bind"}, {"source", "/nonexistent/x"}, {"target", "/x"}}}}}}});
  ASSERT_FALSE(path);
  EXPECT_EQ(path.error().code(), "sandbox.path_not_found");
  EXPECT_EQ(path.error().details()["field"], "spec.mounts[0].source");
  auto syscall =
      Call("create_sandbox",
           {{"spec",
             {{"seccomp",
               {{"profile",
                 {{"defaultAction", "SCMP_ACT_ERRNO"},
                  {"syscalls", {{{"names", {"bogus_call"}}, {"action", "SCMP_ACT_ALLOW"}}}}}}}}}}});
  ASSERT_FALSE(syscall);
  EXPECT_EQ(syscall.error().code(), "seccomp.unknown_syscall");
  EXPECT_EQ(syscall.error().details()["field"], "spec.seccomp.profile.syscalls[0].names[0]");
  auto type = Call("create_sandbox", {{"spec", {{"hostname", 3}}}});
  ASSERT_FALSE(type);
  EXPECT_EQ(type.error().details()["field"], "spec.hostname");
  Json list = Ok("list_sandboxes", Json::object());
  EXPECT_TRUE(list["items"].empty()) << list.dump();
}

TEST_F(CreateSandboxTest, HasADestroyCompensation) {
  auto registered = engine_->registry().Find("create_sandbox");
  ASSERT_NE(registered, nullptr);
  const Operation* op = &registered->op;
  ASSERT_TRUE(op->compensation);
  EXPECT_EQ(op->compensation->operation, "destroy_sandbox");
  EXPECT_EQ(op->compensation->params(Json::object(), {{"id", "sb-7"}}), Json({{"id", "sb-7"}}));
  EXPECT_EQ(op->permission, "sandbox.write");
}

}  // namespace
}  // namespace arsenal
