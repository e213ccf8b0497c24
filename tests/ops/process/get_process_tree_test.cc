#include "ops_fixture.h"

namespace arsenal {
namespace {

using testing::Eventually;
using testing::HelperSpec;
using testing::OutputContains;
using testing::PidGone;

TEST_F(ProcessOpsTest, GetProcessTreeOfAForkHierarchy) {
  ProcessSpec spec = HelperSpec("tree");
  spec.supervisor = "sup-9";
  auto started = table().Start(spec);
  ASSERT_TRUE(started);
  ASSERT_TRUE(Eventually([&] { return OutputContains(table(), started->id, "ready"); }));
  Json tree = RunOk("get_process_tree", {{"id", started->id}});
  EXPECT_EQ(tree["pid"], started->pid);
  EXPECT_EQ(tree["supervisor"], "sup-9");
  ASSERT_EQ(tree["children"].size(), 2u);
  size_t grandchildren = 0;
  for (const auto& c : tree["children"]) grandchildren += c["children"].size();
  EXPECT_EQ(grandchildren, 1u);
  Json by_pid = RunOk("get_process_tree", {{"pid", started->pid}});
  EXPECT_EQ(by_pid["id"], started->id);
  RunOk("kill_process", {{"id", started->id}, {"signal", "KILL"}, {"process_group", true}});
  for (const auto& c : tree["children"]) {
    EXPECT_TRUE(Eventually([&] { return PidGone(c["pid"].get<pid_t>()); }));
  }
}

TEST_F(ProcessOpsTest, GetProcessTreeBadInput) {
  ExpectError(Run("get_process_tree", {{"id", "p-31337"}}), "process.not_found", "id");
  ExpectError(Run("get_process_tree", {{"pid", 999999}}), "process.not_found", "pid");
  ExpectError(Run("get_process_tree", {{"pid", -3}}), "operation.invalid_params", "pid");
  ExpectError(Run("get_process_tree", {{"sandbox", "sb-x"}}), "sandbox.not_found", "sandbox");
  ExpectError(Run("get_process_tree", {{"pid", 1}, {"id", "p-1"}}), "process.invalid_root", "id");
  Json self = RunOk("get_process_tree", Json::object());
  EXPECT_EQ(self["pid"], ::getpid());
}

}  // namespace
}  // namespace arsenal
