#include "sandbox_ops_fixture.h"

namespace arsenal {
namespace {

using SandboxInfoTest = sandbox_ops_testing::SandboxOpsTest;

TEST_F(SandboxInfoTest, ShowsSpecStatePidsAndUsage) {
  std::string id =
      CreateRunning({{"limits", {{"memory", "64M"}, {"pids", 32}}}, {"hostname", "h1"}});
  Ok("execute_in_sandbox", {{"id", id}, {"argv", {"/bin/sh", "-c", "echo hi"}}});
  Json r = Ok("sandbox_info", {{"id", id}});
  EXPECT_EQ(r["id"], id);
  EXPECT_EQ(r["state"], "running");
  EXPECT_EQ(r["spec"]["hostname"], "h1");
  ASSERT_TRUE(r["init_pid"].is_number());
  EXPECT_EQ(r["pids"], Json::array({r["init_pid"]}));
  ASSERT_TRUE(r["usage"].is_object()) << r.dump();
  EXPECT_GT(r["usage"]["memory_peak_bytes"].get<uint64_t>(), 0u);
  EXPECT_GT(r["usage"]["cpu_usage_ns"].get<uint64_t>(), 0u);
  EXPECT_EQ(r["usage"]["pids_current"], 1);
  EXPECT_EQ(r["usage"]["oom_kills"], 0);
  EXPECT_EQ(r["execs"], 1);
}

TEST_F(SandboxInfoTest, UnknownIdIsNotFound) {
  auto r = Call("sandbox_info", {{"id", "sb-999"}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), "sandbox.not_found");
}

}  // namespace
}  // namespace arsenal
