#include "module_ops_fixture.h"

namespace arsenal {
namespace {

TEST_F(ModuleOpsTest, ReloadsOneModuleOfAHostAndMovesTheOthersWithTheirState) {
  SKIP_IF_NO_SANDBOX();
  RunOk("load_module", {{"name", "counter"}, {"path", ARSENAL_COUNTER_V1}, {"host", "plugins"}});
  RunOk("load_module", {{"name", "other"}, {"path", ARSENAL_COUNTER_V1}, {"host", "plugins"}});
  Call("counter", "incr", "a");
  Call("other", "incr", "b");
  const pid_t before = service().Host("plugins")->pid;
  Json out = RunOk("hot_reload_sandbox",
                   {{"host", "plugins"}, {"modules", {{"counter", ARSENAL_COUNTER_V2}}}});
  ASSERT_EQ(out["modules"].size(), 2u);
  EXPECT_EQ(out["modules"][0]["name"], "counter");
  EXPECT_EQ(out["modules"][0]["version"], "2.0.0");
  EXPECT_EQ(out["modules"][1]["version"], "1.0.0");
  EXPECT_NE(out["host"]["pid"], before);
  EXPECT_EQ(out["host"]["restarts"], 0);
  EXPECT_EQ(Call("counter", "incr", "a"), "2 v2");
  EXPECT_EQ(Call("other", "incr", "b"), "2 v1");
  // No modules: a fresh host with the same versions and state.
  out = RunOk("hot_reload_sandbox", {{"host", "plugins"}});
  EXPECT_EQ(Call("counter", "get", "a"), "2");
}

TEST_F(ModuleOpsTest, HotReloadSandboxNamesWhatIsWrong) {
  SKIP_IF_NO_SANDBOX();
  ExpectError(Run("hot_reload_sandbox", {{"host", "nope"}}), "module.host_not_found", "host");
  RunOk("load_module", {{"name", "counter"}, {"path", ARSENAL_COUNTER_V1}, {"host", "plugins"}});
  RunOk("load_module", {{"name", "local"}, {"path", ARSENAL_COUNTER_V1}, {"mode", "in_process"}});
  ExpectError(Run("hot_reload_sandbox",
                  {{"host", "plugins"}, {"modules", {{"local", ARSENAL_COUNTER_V2}}}}),
              "module.not_found", "modules.local");
  ExpectError(
      Run("hot_reload_sandbox", {{"host", "plugins"}, {"modules", {{"counter", "relative.so"}}}}),
      "module.invalid_path", "modules.counter");
  ExpectError(Run("hot_reload_sandbox",
                  {{"host", "plugins"}, {"modules", {{"counter", ARSENAL_COUNTER_V3_BROKEN}}}}),
              "module.create_failed", "");
  EXPECT_EQ(Call("counter", "incr", "a"), "1 v1");
}

}  // namespace
}  // namespace arsenal
