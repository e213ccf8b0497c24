#include "arsenal/hotreload/module_manager.h"

#include <gtest/gtest.h>

#include <regex>

#include "hotreload_test_util.h"

namespace arsenal::hotreload {
namespace {

using testing::FilesIn;
using testing::MappingsOf;
using testing::ModuleTest;

TEST_F(ModuleTest, LoadsAndCallsAModule) {
  auto& manager = Manager();
  auto info = manager.Load("counter", ARSENAL_COUNTER_V1);
  ASSERT_OK(info);
  EXPECT_EQ(info->name, "counter");
  EXPECT_EQ(info->module_name, "counter");
  EXPECT_EQ(info->current.version, "1.0.0");
  EXPECT_EQ(info->current.state_version, 1u);
  EXPECT_EQ(info->current.sha256.size(), 64u);

  EXPECT_EQ(manager.Call("counter", "incr", "a").value(), "1 v1");
  EXPECT_EQ(manager.Call("counter", "incr", "a").value(), "2 v1");
  EXPECT_EQ(manager.Call("counter", "get", "a").value(), "2");
  EXPECT_EQ(manager.Call("counter", "noop", "").value(), "");
  EXPECT_EQ(manager.Info("counter")->calls, 4u);
}

TEST_F(ModuleTest, CopiesEachVersionToAContentAddressedFile) {
  auto& manager = Manager();
  auto info = manager.Load("counter", ARSENAL_COUNTER_V1);
  ASSERT_OK(info);
  const auto& file = info->current.file;
  EXPECT_EQ(file.parent_path(), std::filesystem::absolute(modules_dir_));
  EXPECT_TRUE(
      std::regex_match(file.filename().string(), std::regex(R"(counter@1\.0\.0-[0-9a-f]{16}\.so)")))
      << file;
  EXPECT_EQ(file.filename().string().substr(14, 16), info->current.sha256.substr(0, 16));
  EXPECT_TRUE(std::filesystem::exists(file));
  EXPECT_GT(MappingsOf(file.string()), 0) << "the copy, not the source, is what is mapped";
  EXPECT_EQ(MappingsOf(ARSENAL_COUNTER_V1), 0);
}

TEST_F(ModuleTest, TwoVersionsLiveSideBySide) {
  auto& manager = Manager();
  ASSERT_OK(manager.Load("old", ARSENAL_COUNTER_V1));
  ASSERT_OK(manager.Load("new", ARSENAL_COUNTER_V2));
  // Same for the same file under two names: each load has its own mapping and state.
  ASSERT_OK(manager.Load("old2", ARSENAL_COUNTER_V1));
  EXPECT_EQ(manager.Call("old", "incr", "k").value(), "1 v1");
  EXPECT_EQ(manager.Call("new", "incr", "k").value(), "1 v2");
  EXPECT_EQ(manager.Call("old2", "incr", "k").value(), "1 v1");
  EXPECT_EQ(manager.Call("old", "incr", "k").value(), "2 v1");
  auto list = manager.List();
  ASSERT_EQ(list.size(), 3u);
  EXPECT_EQ(list[0].name, "new");
  EXPECT_EQ(list[1].name, "old");
  EXPECT_EQ(list[2].name, "old2");
}

TEST_F(ModuleTest, StateSurvivesReloadFromV1ToV2) {
  auto& manager = Manager();
  ASSERT_OK(manager.Load("counter", ARSENAL_COUNTER_V1));
  for (int i = 0; i < 5; ++i) ASSERT_OK(manager.Call("counter", "incr", "a"));
  ASSERT_OK(manager.Call("counter", "incr", "b"));

  auto info = manager.Reload("counter", ARSENAL_COUNTER_V2);
  ASSERT_OK(info);
  EXPECT_EQ(info->current.version, "2.0.0");
  EXPECT_EQ(info->reloads, 1u);
  EXPECT_GT(info->last_swap_ns, 0u);
  EXPECT_EQ(manager.Call("counter", "get", "a").value(), "5");
  EXPECT_EQ(manager.Call("counter", "get", "b").value(), "1");
  // v2 migrated the format-1 state: updates start at the value.
  EXPECT_EQ(manager.Call("counter", "updates", "a").value(), "5");
  EXPECT_EQ(manager.Call("counter", "incr", "a").value(), "6 v2");
  EXPECT_EQ(manager.Call("counter", "updates", "a").value(), "6");
}

TEST_F(ModuleTest, InitialStateIsHandedToCreate) {
  auto& manager = Manager();
  LoadOptions options;
  options.initial_state = "a=41\n";
  options.initial_state_version = 1;
  ASSERT_OK(manager.Load("counter", ARSENAL_COUNTER_V2, options));
  EXPECT_EQ(manager.Call("counter", "incr", "a").value(), "42 v2");
  auto snapshot = manager.Snapshot("counter");
  ASSERT_OK(snapshot);
  EXPECT_EQ(snapshot->version, 2u);
  EXPECT_EQ(snapshot->bytes, "counter-state 2\na 42 42\n");
}

TEST_F(ModuleTest, BrokenV3RollsBackWithV2ServingAndStateIntact) {
  auto& manager = Manager();
  ASSERT_OK(manager.Load("counter", ARSENAL_COUNTER_V1));
  for (int i = 0; i < 3; ++i) ASSERT_OK(manager.Call("counter", "incr", "a"));
  ASSERT_OK(manager.Reload("counter", ARSENAL_COUNTER_V2));
  ASSERT_OK(manager.Call("counter", "incr", "a"));

  auto files_before = FilesIn(modules_dir_);
  EXPECT_ERROR_CODE(manager.Reload("counter", ARSENAL_COUNTER_V3_BROKEN), "module.create_failed");
  EXPECT_EQ(manager.Info("counter")->current.version, "2.0.0");
  EXPECT_EQ(manager.Call("counter", "incr", "a").value(), "5 v2");
  EXPECT_EQ(manager.Call("counter", "updates", "a").value(), "5");

  EXPECT_ERROR_CODE(manager.Reload("counter", ARSENAL_COUNTER_V3_UNHEALTHY),
                    "module.health_check_failed");
  EXPECT_EQ(manager.Call("counter", "incr", "a").value(), "6 v2");

  // The failed versions left neither a file nor a mapping, and are not in the history.
  EXPECT_EQ(FilesIn(modules_dir_), files_before);
  EXPECT_EQ(MappingsOf("counter@3.0.0"), 0);
  EXPECT_EQ(MappingsOf(".incoming-"), 0);
  auto versions = manager.Versions("counter");
  ASSERT_OK(versions);
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].version, "2.0.0");
  EXPECT_TRUE((*versions)[0].serving);
  EXPECT_EQ((*versions)[1].version, "1.0.0");
  EXPECT_FALSE((*versions)[1].serving);
}

TEST_F(ModuleTest, RollbackToAnEarlierVersionMigratesState) {
  auto& manager = Manager();
  ASSERT_OK(manager.Load("counter", ARSENAL_COUNTER_V1));
  ASSERT_OK(manager.Call("counter", "incr", "a"));
  ASSERT_OK(manager.Reload("counter", ARSENAL_COUNTER_V2));
  ASSERT_OK(manager.Call("counter", "incr", "a"));
  ASSERT_OK(manager.Call("counter", "incr", "b"));

  auto info = manager.Rollback("counter", "1.0.0");
  ASSERT_OK(info);
  EXPECT_EQ(info->current.version, "1.0.0");
  // v2 wrote format 1 because v1 asked for it.
  EXPECT_EQ(info->current.state_version, 1u);
  EXPECT_EQ(manager.Call("counter", "incr", "a").value(), "3 v1");
  EXPECT_EQ(manager.Call("counter", "get", "b").value(), "1");

  auto versions = manager.Versions("counter");
  ASSERT_OK(versions);
  ASSERT_EQ(versions->size(), 3u);
  EXPECT_EQ((*versions)[0].version, "1.0.0");
  EXPECT_EQ((*versions)[1].version, "2.0.0");
  EXPECT_EQ((*versions)[2].version, "1.0.0");
  EXPECT_EQ((*versions)[0].file, (*versions)[2].file);

  EXPECT_ERROR_CODE(manager.Rollback("counter", "1.0.0"), "module.already_current");
  EXPECT_ERROR_CODE(manager.Rollback("counter", "0.1.0"), "module.version_not_found");
  // And forward again by the same operation.
  ASSERT_OK(manager.Rollback("counter", "2.0.0"));
  EXPECT_EQ(manager.Call("counter", "incr", "a").value(), "4 v2");
}

TEST_F(ModuleTest, HistoryIsBoundedAndDroppedFilesAreDeleted) {
  ManagerOptions options;
  options.history_depth = 2;
  auto& manager = Manager(options);
  ASSERT_OK(manager.Load("counter", ARSENAL_COUNTER_V1));
  ASSERT_OK(manager.Reload("counter", ARSENAL_COUNTER_V2));
  ASSERT_OK(manager.Reload("counter", ARSENAL_COUNTER_V2B));
  auto versions = manager.Versions("counter");
  ASSERT_OK(versions);
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].version, "2.0.1");
  EXPECT_EQ((*versions)[1].version, "2.0.0");
  EXPECT_EQ(FilesIn(modules_dir_), 2u);
  EXPECT_ERROR_CODE(manager.Rollback("counter", "1.0.0"), "module.version_not_found");
}

TEST_F(ModuleTest, UnloadLeavesNoMappingAndNoFile) {
  auto& manager = Manager();
  ASSERT_OK(manager.Load("counter", ARSENAL_COUNTER_V1));
  ASSERT_OK(manager.Reload("counter", ARSENAL_COUNTER_V2));
  auto handle = manager.Handle("counter");
  ASSERT_OK(handle);
  EXPECT_GT(MappingsOf(modules_dir_.string()), 0);

  ASSERT_OK(manager.Unload("counter"));
  EXPECT_EQ(MappingsOf(modules_dir_.string()), 0);
  EXPECT_EQ(FilesIn(modules_dir_), 0u);
  EXPECT_ERROR_CODE(manager.Call("counter", "get", "a"), "module.not_found");
  EXPECT_ERROR_CODE(handle->Call("get", "a"), "module.not_found");
  EXPECT_ERROR_CODE(manager.Unload("counter"), "module.not_found");
  EXPECT_TRUE(manager.List().empty());
  // The name is free again.
  ASSERT_OK(manager.Load("counter", ARSENAL_COUNTER_V2));
  EXPECT_EQ(manager.Call("counter", "get", "a").value(), "0");
}

TEST_F(ModuleTest, DestroyingTheManagerUnloadsEverything) {
  auto& manager = Manager();
  ASSERT_OK(manager.Load("a", ARSENAL_COUNTER_V1));
  ASSERT_OK(manager.Load("b", ARSENAL_COUNTER_V2));
  manager_.reset();
  EXPECT_EQ(MappingsOf(modules_dir_.string()), 0);
  EXPECT_EQ(FilesIn(modules_dir_), 0u);
}

TEST_F(ModuleTest, HandleCallsTheServingVersionAcrossReloads) {
  auto& manager = Manager();
  ASSERT_OK(manager.Load("counter", ARSENAL_COUNTER_V1));
  auto handle = manager.Handle("counter");
  ASSERT_OK(handle);
  EXPECT_EQ(handle->name(), "counter");
  EXPECT_EQ(handle->Call("incr", "x").value(), "1 v1");
  ASSERT_OK(manager.Reload("counter", ARSENAL_COUNTER_V2));
  EXPECT_EQ(handle->Call("incr", "x").value(), "2 v2");
}

TEST_F(ModuleTest, CallErrorsCarryTheModulesMessage) {
  auto& manager = Manager();
  ASSERT_OK(manager.Load("counter", ARSENAL_COUNTER_V1));
  EXPECT_ERROR_CODE(manager.Call("counter", "frobnicate", ""), "module.no_such_method");
  auto bad_key = manager.Call("counter", "incr", "a=b");
  ASSERT_FALSE(bad_key.has_value());
  EXPECT_EQ(bad_key.error().code(), "module.call_failed");
  EXPECT_NE(bad_key.error().message().find("invalid key"), std::string::npos);
  EXPECT_ERROR_CODE(manager.Call("nope", "get", "a"), "module.not_found");
  EXPECT_TRUE(manager.Health("counter").has_value());
}

TEST_F(ModuleTest, SnapshotAndHealthOfMissingModules) {
  auto& manager = Manager();
  EXPECT_ERROR_CODE(manager.Snapshot("nope"), "module.not_found");
  EXPECT_ERROR_CODE(manager.Health("nope"), "module.not_found");
  EXPECT_ERROR_CODE(manager.Versions("nope"), "module.not_found");
  EXPECT_ERROR_CODE(manager.Reload("nope", ARSENAL_COUNTER_V1), "module.not_found");
  EXPECT_ERROR_CODE(manager.Rollback("nope", "1.0.0"), "module.not_found");
}

}  // namespace
}  // namespace arsenal::hotreload
