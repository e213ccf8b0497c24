#include <signal.h>

#include "module_ops_fixture.h"

namespace arsenal {
namespace {

TEST_F(ModuleOpsTest, UnloadOfAnInProcessModuleLeavesNoMapping) {
  RunOk("load_module", {{"name", "local"}, {"path", ARSENAL_COUNTER_V1}, {"mode", "in_process"}});
  EXPECT_GT(Mappings("counter@1.0.0-"), 0);
  Json out = RunOk("unload_module", {{"name", "local"}});
  EXPECT_EQ(out, (Json{{"name", "local"}, {"unloaded", true}}));
  EXPECT_EQ(Mappings("counter@1.0.0-"), 0);
  ExpectError(Run("call_module", {{"name", "local"}, {"method", "get"}}), "module.not_found", "");
  ExpectError(Run("unload_module", {{"name", "local"}}), "module.not_found", "");
}

TEST_F(ModuleOpsTest, UnloadingTheLastModuleOfAHostStopsIt) {
  SKIP_IF_NO_SANDBOX();
  RunOk("load_module", {{"name", "a"}, {"path", ARSENAL_COUNTER_V1}, {"host", "h"}});
  RunOk("load_module", {{"name", "b"}, {"path", ARSENAL_COUNTER_V1}, {"host", "h"}});
  auto host = service().Host("h");
  ASSERT_TRUE(host);
  const pid_t pid = host->pid;
  RunOk("unload_module", {{"name", "a"}});
  EXPECT_EQ(::kill(pid, 0), 0) << "b still runs there";
  EXPECT_EQ(Call("b", "incr", "x"), "1 v1");
  RunOk("unload_module", {{"name", "b"}});
  EXPECT_FALSE(service().Host("h"));
  EXPECT_NE(::kill(pid, 0), 0) << "the host process is gone";
  EXPECT_EQ(Mappings("counter@"), 0) << "the engine never mapped the sandboxed module";
}

}  // namespace
}  // namespace arsenal
