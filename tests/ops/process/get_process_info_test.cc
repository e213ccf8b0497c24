#include "ops_fixture.h"

namespace arsenal {
namespace {

TEST_F(ProcessOpsTest, GetProcessInfoOfAManagedProcess) {
  const auto id = StartSleeper();
  Json info = RunOk("get_process_info", {{"id", id}});
  EXPECT_EQ(info["id"], id);
  EXPECT_EQ(info["state"], "running");
  ASSERT_TRUE(info["os"].is_object());
  EXPECT_GE(info["os"]["memory"]["rss_bytes"].get<int64_t>(), 0);  // approximate right after exec
  EXPECT_EQ(info["os"]["threads"], 1);
  for (const char* key : {"cpu", "signals", "namespaces", "seccomp", "capabilities", "cgroups",
                          "open_fds", "uptime_ms"}) {
    EXPECT_TRUE(info["os"].contains(key)) << key;
  }
  EXPECT_TRUE(info["stdout"].contains("unread_in_pipe_bytes"));
  EXPECT_TRUE(info["stdin"].contains("mode"));
}

TEST_F(ProcessOpsTest, GetProcessInfoOfAHostProcess) {
  Json info = RunOk("get_process_info", {{"id", "host-" + std::to_string(::getpid())}});
  EXPECT_EQ(info["managed"], false);
  EXPECT_EQ(info["os"]["pid"], ::getpid());
}

TEST_F(ProcessOpsTest, GetProcessInfoUnknownIds) {
  ExpectError(Run("get_process_info", {{"id", "p-77"}}), "process.not_found", "id");
  ExpectError(Run("get_process_info", {{"id", "host-999999"}}), "process.not_found", "pid");
  ExpectError(Run("get_process_info", Json::object()), "operation.invalid_params", "");
}

}  // namespace
}  // namespace arsenal
