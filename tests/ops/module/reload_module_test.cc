#include "module_ops_fixture.h"

namespace arsenal {
namespace {

class ReloadModuleTest : public ModuleOpsTest, public ::testing::WithParamInterface<const char*> {};

TEST_P(ReloadModuleTest, StateSurvivesV1ToV2AndBrokenV3LeavesV2Serving) {
  if (GetParam() == std::string("sandboxed")) SKIP_IF_NO_SANDBOX();
  RunOk("load_module", {{"name", "c"}, {"path", ARSENAL_COUNTER_V1}, {"mode", GetParam()}});
  for (int i = 0; i < 3; ++i) Call("c", "incr", "a");
  Json out = RunOk("reload_module", {{"name", "c"}, {"path", ARSENAL_COUNTER_V2}});
  EXPECT_EQ(out["version"], "2.0.0");
  EXPECT_EQ(out["previous_version"], "1.0.0");
  EXPECT_EQ(out["reloads"], 1);
  EXPECT_EQ(Call("c", "get", "a"), "3");
  EXPECT_EQ(Call("c", "updates", "a"), "3");
  EXPECT_EQ(Call("c", "incr", "a"), "4 v2");
  ExpectError(Run("reload_module", {{"name", "c"}, {"path", ARSENAL_COUNTER_V3_BROKEN}}),
              "module.create_failed", "");
  ExpectError(Run("reload_module", {{"name", "c"}, {"path", "not/absolute.so"}}),
              "module.invalid_path", "path");
  EXPECT_EQ(Call("c", "get", "a"), "4");
  EXPECT_EQ(RunOk("list_modules", Json::object())["items"][0]["version"], "2.0.0");
}

INSTANTIATE_TEST_SUITE_P(Modes, ReloadModuleTest, ::testing::Values("in_process", "sandboxed"));

TEST_F(ModuleOpsTest, ReloadIsCompensatedByRollingBack) {
  const Operation* op = &engine_->registry().Find("reload_module")->op;
  ASSERT_TRUE(op->compensation);
  EXPECT_EQ(op->compensation->operation, "rollback_module");
  EXPECT_EQ(op->compensation->params({{"name", "c"}, {"path", "/x.so"}},
                                     {{"name", "c"}, {"previous_version", "1.0.0"}}),
            (Json{{"name", "c"}, {"version", "1.0.0"}}));
}

}  // namespace
}  // namespace arsenal
