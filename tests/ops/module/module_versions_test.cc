#include "module_ops_fixture.h"

namespace arsenal {
namespace {

TEST_F(ModuleOpsTest, VersionsListTheHistoryNewestFirst) {
  RunOk("load_module", {{"name", "c"}, {"path", ARSENAL_COUNTER_V1}, {"mode", "in_process"}});
  RunOk("reload_module", {{"name", "c"}, {"path", ARSENAL_COUNTER_V2}});
  Json out = RunOk("module_versions", {{"name", "c"}});
  ASSERT_EQ(out["versions"].size(), 2u);
  EXPECT_EQ(out["versions"][0]["version"], "2.0.0");
  EXPECT_EQ(out["versions"][0]["serving"], true);
  EXPECT_EQ(out["versions"][0]["state_version"], 2);
  EXPECT_EQ(out["versions"][1]["version"], "1.0.0");
  EXPECT_EQ(out["versions"][1]["serving"], false);
  ExpectError(Run("module_versions", {{"name", "nope"}}), "module.not_found", "");
}

}  // namespace
}  // namespace arsenal
