#include "module_ops_fixture.h"

namespace arsenal {
namespace {

TEST_F(ModuleOpsTest, ListsBothModesWithFiltersAndHosts) {
  SKIP_IF_NO_SANDBOX();
  RunOk("load_module", {{"name", "b-local"}, {"path", ARSENAL_COUNTER_V1}, {"mode", "in_process"}});
  RunOk("load_module", {{"name", "a-plugin"}, {"path", ARSENAL_COUNTER_V2}});
  Json all = RunOk("list_modules", Json::object());
  ASSERT_EQ(all["items"].size(), 2u);
  EXPECT_EQ(all["items"][0]["name"], "a-plugin");
  EXPECT_EQ(all["items"][0]["mode"], "sandboxed");
  EXPECT_EQ(all["items"][1]["name"], "b-local");
  EXPECT_FALSE(all.contains("hosts"));
  Json sandboxed = RunOk("list_modules", {{"filter", {{"mode", "in_process"}}}});
  ASSERT_EQ(sandboxed["items"].size(), 1u);
  EXPECT_EQ(sandboxed["items"][0]["name"], "b-local");
  Json with_hosts = RunOk("list_modules", {{"include_hosts", true}, {"sort", "-version"}});
  EXPECT_EQ(with_hosts["items"][0]["version"], "2.0.0");
  ASSERT_EQ(with_hosts["hosts"].size(), 1u);
  EXPECT_EQ(with_hosts["hosts"][0]["name"], "a-plugin");
  EXPECT_EQ(with_hosts["hosts"][0]["running"], true);
  EXPECT_EQ(with_hosts["hosts"][0]["memory_limit_bytes"], 64u << 20);
  ExpectError(Run("list_modules", {{"filter", {{"pid", 1}}}}), "operation.invalid_params",
              "filter.pid");
}

}  // namespace
}  // namespace arsenal
