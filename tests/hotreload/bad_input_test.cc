// Every bad input gets its own error code, leaves nothing behind, and never disturbs the version
// that is serving.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <future>
#include <thread>

#include "arsenal/hotreload/module_manager.h"
#include "hotreload_test_util.h"

namespace arsenal::hotreload {
namespace {

using testing::FilesIn;
using testing::MappingsOf;
using testing::ModuleTest;

class BadInputTest : public ModuleTest {
 protected:
  // Loads counter v1 with a=3 so each case can check that it still serves with its state.
  void LoadServing(ModuleManager& manager) {
    ASSERT_OK(manager.Load("counter", ARSENAL_COUNTER_V1));
    for (int i = 0; i < 3; ++i) ASSERT_OK(manager.Call("counter", "incr", "a"));
  }
  void ExpectStillServing(ModuleManager& manager, int* expected) {
    ++*expected;
    EXPECT_EQ(manager.Call("counter", "incr", "a").value(), std::to_string(*expected) + " v1");
    EXPECT_EQ(manager.Info("counter")->current.version, "1.0.0");
  }
  void ExpectNothingLeft(size_t files) {
    EXPECT_EQ(MappingsOf(".incoming-"), 0);
    EXPECT_EQ(FilesIn(modules_dir_), files);
  }
  std::filesystem::path WriteFile(const std::string& name, const std::string& content) {
    auto path = root_ / name;
    std::ofstream(path) << content;
    return path;
  }
};

TEST_F(BadInputTest, EachBadReloadGivesItsErrorAndTheOldVersionKeepsServing) {
  auto& manager = Manager();
  LoadServing(manager);
  int a = 3;
  size_t files = FilesIn(modules_dir_);

  struct Case {
    std::filesystem::path path;
    std::string code;
  };
  std::vector<Case> cases = {
      {WriteFile("text.so", "this is not a shared object, just some text\n"), "module.not_elf"},
      {WriteFile("short.so",
                 "\x7f"
                 "ELF"),
       "module.not_elf"},
      {"/bin/true", "module.load_failed"},  // a PIE executable: ELF, ET_DYN, refused by dlopen
      {ARSENAL_WRONG_ABI, "module.abi_mismatch"},
      {ARSENAL_NO_ENTRY, "module.missing_entry_point"},
      {ARSENAL_COUNTER_V3_BROKEN, "module.create_failed"},
      {ARSENAL_COUNTER_V3_UNHEALTHY, "module.health_check_failed"},
      {ARSENAL_HOSTILE, "module.name_mismatch"},
      {root_ / "missing.so", "module.io"},
      {root_, "module.not_elf"},  // a directory
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.path.string());
    auto result = manager.Reload("counter", c.path);
    EXPECT_ERROR_CODE(result, c.code);
    EXPECT_FALSE(result.error().message().empty());
    ExpectStillServing(manager, &a);
    ExpectNothingLeft(files);
  }
  EXPECT_EQ(manager.Versions("counter")->size(), 1u);
  EXPECT_EQ(manager.Info("counter")->reloads, 0u);
}

TEST_F(BadInputTest, FailedLoadsLeaveNoMappingAndNoFile) {
  auto& manager = Manager();
  for (const char* path : {ARSENAL_WRONG_ABI, ARSENAL_NO_ENTRY, ARSENAL_COUNTER_V3_BROKEN,
                           ARSENAL_COUNTER_V3_UNHEALTHY}) {
    SCOPED_TRACE(path);
    EXPECT_FALSE(manager.Load("counter", path).has_value());
    EXPECT_EQ(MappingsOf(modules_dir_.string()), 0);
    EXPECT_EQ(FilesIn(modules_dir_), 0u);
    EXPECT_ERROR_CODE(manager.Call("counter", "get", "a"), "module.not_found");
  }
  EXPECT_TRUE(manager.List().empty());
}

TEST_F(BadInputTest, GarbageStateIsRefusedAndTheGarbageVersionKeepsServing) {
  auto& manager = Manager();
  ASSERT_OK(manager.Load("counter", ARSENAL_GARBAGE_STATE));
  ASSERT_OK(manager.Call("counter", "incr", ""));
  size_t files = FilesIn(modules_dir_);

  auto result = manager.Reload("counter", ARSENAL_COUNTER_V1);
  EXPECT_ERROR_CODE(result, "module.bad_state");
  EXPECT_EQ(result.error().details().value("state_version", 0), 1);
  EXPECT_ERROR_CODE(manager.Reload("counter", ARSENAL_COUNTER_V2), "module.bad_state");
  EXPECT_EQ(manager.Call("counter", "incr", "").value(), "2 garbage");
  ExpectNothingLeft(files);

  ASSERT_OK(manager.Call("counter", "mode", "fail"));
  EXPECT_ERROR_CODE(manager.Reload("counter", ARSENAL_COUNTER_V1), "module.snapshot_failed");
  EXPECT_EQ(manager.Call("counter", "incr", "").value(), "3 garbage");
  ExpectNothingLeft(files);
}

TEST_F(BadInputTest, OversizedStateIsRefused) {
  ManagerOptions options;
  options.max_state_bytes = 1u << 20;
  auto& manager = Manager(options);
  ASSERT_OK(manager.Load("counter", ARSENAL_GARBAGE_STATE));
  ASSERT_OK(manager.Call("counter", "mode", "oversize"));  // snapshot is 2 MiB
  auto result = manager.Reload("counter", ARSENAL_COUNTER_V1);
  EXPECT_ERROR_CODE(result, "module.bad_state");
  EXPECT_EQ(result.error().details().value("state_bytes", 0u), 2u << 20);
  EXPECT_ERROR_CODE(manager.Snapshot("counter"), "module.bad_state");
  EXPECT_EQ(manager.Call("counter", "incr", "").value(), "1 garbage");
}

TEST_F(BadInputTest, LoadRefusesBadNamesDuplicatesAndOversizedFiles) {
  ManagerOptions options;
  options.max_module_bytes = 4096;
  auto& manager = Manager(options);
  EXPECT_ERROR_CODE(manager.Load("../evil", ARSENAL_COUNTER_V1), "module.bad_name");
  EXPECT_ERROR_CODE(manager.Load("", ARSENAL_COUNTER_V1), "module.bad_name");
  EXPECT_ERROR_CODE(manager.Load("counter", ARSENAL_COUNTER_V1), "module.too_large");
  manager_.reset();

  auto& roomy = Manager();
  ASSERT_OK(roomy.Load("counter", ARSENAL_COUNTER_V1));
  EXPECT_ERROR_CODE(roomy.Load("counter", ARSENAL_COUNTER_V2), "module.exists");
  EXPECT_EQ(roomy.Info("counter")->current.version, "1.0.0");
}

TEST_F(BadInputTest, RefusesAModulesDirOthersCanWrite) {
  std::filesystem::create_directories(modules_dir_);
  ASSERT_EQ(::chmod(modules_dir_.c_str(), 0777), 0);
  ManagerOptions options;
  options.modules_dir = modules_dir_;
  EXPECT_ERROR_CODE(ModuleManager::Create(options), "module.insecure_dir");
  options.modules_dir = "";
  EXPECT_ERROR_CODE(ModuleManager::Create(options), "module.bad_options");
  options.modules_dir = modules_dir_;
  options.history_depth = 0;
  ASSERT_EQ(::chmod(modules_dir_.c_str(), 0700), 0);
  EXPECT_ERROR_CODE(ModuleManager::Create(options), "module.bad_options");
}

TEST_F(BadInputTest, CreateRemovesLeftoversOfInterruptedLoads) {
  std::filesystem::create_directories(modules_dir_);
  ASSERT_EQ(::chmod(modules_dir_.c_str(), 0700), 0);
  std::ofstream(modules_dir_ / ".incoming-abcdef.so") << "partial";
  Manager();
  EXPECT_EQ(FilesIn(modules_dir_), 0u);
}

TEST_F(BadInputTest, ReloadWaitsForInFlightCallsAndGivesUpAfterTheQuiesceTimeout) {
  ManagerOptions options;
  options.quiesce_timeout = std::chrono::milliseconds(100);
  auto& manager = Manager(options);
  LoadServing(manager);

  // A call that outlives the quiesce timeout: the reload gives up, the call completes on v1.
  auto slow =
      std::async(std::launch::async, [&] { return manager.Call("counter", "sleep", "600"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_ERROR_CODE(manager.Reload("counter", ARSENAL_COUNTER_V2), "module.busy");
  EXPECT_TRUE(slow.get().has_value());
  int a = 3;
  ExpectStillServing(manager, &a);
  EXPECT_EQ(MappingsOf("counter@2.0.0"), 0);

  // A call shorter than the timeout: the reload waits for it, then switches.
  slow = std::async(std::launch::async, [&] { return manager.Call("counter", "sleep", "50"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_OK(manager.Reload("counter", ARSENAL_COUNTER_V2));
  EXPECT_TRUE(slow.get().has_value());
  EXPECT_EQ(manager.Call("counter", "incr", "a").value(), "5 v2");
}

}  // namespace
}  // namespace arsenal::hotreload
