#include "module_ops_fixture.h"

namespace arsenal {
namespace {

class RollbackModuleTest : public ModuleOpsTest,
                           public ::testing::WithParamInterface<const char*> {};

TEST_P(RollbackModuleTest, RollsBackToANamedVersionWithTheStateMigrated) {
  if (GetParam() == std::string("sandboxed")) SKIP_IF_NO_SANDBOX();
  RunOk("load_module", {{"name", "c"}, {"path", ARSENAL_COUNTER_V1}, {"mode", GetParam()}});
  Call("c", "incr", "a");
  RunOk("reload_module", {{"name", "c"}, {"path", ARSENAL_COUNTER_V2}});
  Call("c", "incr", "a");
  Json out = RunOk("rollback_module", {{"name", "c"}, {"version", "1.0.0"}});
  EXPECT_EQ(out["version"], "1.0.0");
  EXPECT_EQ(out["previous_version"], "2.0.0");
  EXPECT_EQ(Call("c", "incr", "a"), "3 v1");
  ExpectError(Run("rollback_module", {{"name", "c"}, {"version", "1.0.0"}}),
              "module.already_current", "");
  ExpectError(Run("rollback_module", {{"name", "c"}, {"version", "7.0.0"}}),
              "module.version_not_found", "");
  ExpectError(Run("rollback_module", {{"name", "c"}, {"version", "../x"}}),
              "operation.invalid_params", "version");
}

INSTANTIATE_TEST_SUITE_P(Modes, RollbackModuleTest, ::testing::Values("in_process", "sandboxed"));

}  // namespace
}  // namespace arsenal
