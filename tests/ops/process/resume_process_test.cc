#include "arsenal/engine/process_inspect.h"
#include "ops_fixture.h"

namespace arsenal {
namespace {

TEST_F(ProcessOpsTest, ResumeProcessIsIdempotent) {
  const auto id = StartSleeper();
  EXPECT_EQ(RunOk("resume_process", {{"id", id}})["changed"], false);  // was running
  RunOk("suspend_process", {{"id", id}});
  Json first = RunOk("resume_process", {{"id", id}});
  EXPECT_EQ(first["changed"], true);
  EXPECT_EQ(first["state"], "running");
  EXPECT_EQ(RunOk("resume_process", {{"id", id}})["changed"], false);
  const pid_t pid = RunOk("get_process_info", {{"id", id}})["pid"];
  EXPECT_NE(ReadProcStat(pid)->state, 'T');
}

TEST_F(ProcessOpsTest, ResumeProcessCompensatesSuspend) {
  auto suspend = engine_->registry().Find("suspend_process");
  ASSERT_TRUE(suspend && suspend->op.compensation);
  EXPECT_EQ(suspend->op.compensation->operation, "resume_process");
  ExpectError(Run("resume_process", {{"id", "nope"}}), "process.not_found", "id");
}

}  // namespace
}  // namespace arsenal
