#include "arsenal/engine/process_inspect.h"
#include "ops_fixture.h"

namespace arsenal {
namespace {

TEST_F(ProcessOpsTest, SuspendProcessIsIdempotent) {
  const auto id = StartSleeper();
  Json first = RunOk("suspend_process", {{"id", id}});
  EXPECT_EQ(first["changed"], true);
  EXPECT_EQ(first["state"], "suspended");
  Json second = RunOk("suspend_process", {{"id", id}});
  EXPECT_EQ(second["changed"], false);
  EXPECT_EQ(second["state"], "suspended");
  const pid_t pid = RunOk("get_process_info", {{"id", id}})["pid"];
  EXPECT_EQ(ReadProcStat(pid)->state, 'T');
}

TEST_F(ProcessOpsTest, SuspendProcessErrors) {
  ExpectError(Run("suspend_process", {{"id", "p-5"}}), "process.not_found", "id");
  Json done = RunOk("start_process", {{"argv", {"/bin/true"}}, {"wait_ms", 5000}});
  ExpectError(Run("suspend_process", {{"id", done["id"]}}), "process.not_running", "");
}

}  // namespace
}  // namespace arsenal
