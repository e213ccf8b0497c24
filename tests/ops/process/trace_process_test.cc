#include "ops_fixture.h"

namespace arsenal {
namespace {

using testing::HelperSpec;

TEST_F(ProcessOpsTest, TraceProcessReturnsStructuredRecordsInOrder) {
  auto started = table().Start(HelperSpec("syscall_loop"));
  ASSERT_TRUE(started);
  ASSERT_TRUE(
      testing::Eventually([&] { return testing::OutputContains(table(), started->id, "ready"); }));
  Json out = RunOk("trace_process", {{"id", started->id}, {"duration_ms", 500}});
  EXPECT_EQ(out["stopped_because"], "duration");
  EXPECT_EQ(out["detached"], true);
  std::vector<std::string> names;
  for (const auto& r : out["records"]) names.push_back(r["syscall"]);
  const std::vector<std::string> expected = {"openat", "write", "close", "clock_nanosleep"};
  EXPECT_NE(std::search(names.begin(), names.end(), expected.begin(), expected.end()), names.end())
      << out.dump();
  const Json& first = out["records"][0];
  for (const char* key : {"time_ns", "tid", "syscall", "args", "ret", "error", "duration_us"}) {
    EXPECT_TRUE(first.contains(key)) << key;
  }
  EXPECT_EQ(RunOk("get_process_info", {{"id", started->id}})["state"], "running");
}

TEST_F(ProcessOpsTest, TraceProcessBadInput) {
  const auto id = StartSleeper();
  ExpectError(Run("trace_process", {{"id", "p-1000"}}), "process.not_found", "id");
  ExpectError(Run("trace_process", {{"id", id}, {"duration_ms", -10}}), "operation.invalid_params",
              "duration_ms");
  ExpectError(Run("trace_process", {{"id", id}, {"max_syscalls", 0}}), "operation.invalid_params",
              "max_syscalls");
}

}  // namespace
}  // namespace arsenal
