// ModuleService: configuration, mode bookkeeping and host lifetime, through its C++ API.
#include "arsenal/engine/module_service.h"

#include <gtest/gtest.h>
#include <signal.h>

#include "arsenal/engine/engine.h"

namespace arsenal {
namespace {

std::unique_ptr<Engine> MakeEngine(Json config) {
  EngineOptions options;
  options.config = std::move(config);
  auto engine = Engine::Create(options);
  EXPECT_TRUE(engine) << engine.error().ToString();
  return engine ? std::move(*engine) : nullptr;
}

Json HostConfig(Json extra = Json::object()) {
  Json modules = {{"plugin_host", ARSENAL_PLUGIN_HOST}};
  modules.update(extra);
  return {{"modules", modules}};
}

TEST(ModuleServiceTest, ABadConfigurationIsReportedByEveryCallNamingTheSetting) {
  struct Case {
    Json modules;
    std::string field;
  };
  std::vector<Case> cases = {
      {{{"bogus", 1}}, "modules.bogus"},
      {{{"dir", "relative"}}, "modules.dir"},
      {{{"history_depth", 0}}, "modules.history_depth"},
      {{{"plugin_host", "/nonexistent/arsenal-plugin-host"}}, "modules.plugin_host"},
      {{{"sandbox", {{"memory_bytes", 1024}}}}, "modules.sandbox.memory_bytes"},
      {{{"sandbox", {{"call_timeout_ms", -5}}}}, "modules.sandbox.call_timeout_ms"},
      {{{"sandbox", {{"swap", 1}}}}, "modules.sandbox.swap"},
      {{{"sandbox", {{"spin_budget_us", 1001}}}}, "modules.sandbox.spin_budget_us"},
      {{{"sandbox", {{"spin_budget_us", -1}}}}, "modules.sandbox.spin_budget_us"},
  };
  for (const auto& c : cases) {
    auto engine = MakeEngine({{"modules", c.modules}});
    ASSERT_TRUE(engine);
    auto& service = engine->Service<ModuleService>();
    auto loaded = service.Load({.name = "m", .path = ARSENAL_COUNTER_V1});
    ASSERT_FALSE(loaded) << c.field;
    EXPECT_EQ(loaded.error().code(), "module.bad_config") << c.field;
    EXPECT_EQ(loaded.error().details().value("field", ""), c.field);
  }
}

TEST(ModuleServiceTest, SandboxedLoadsNeedThePluginHost) {
  ::setenv("ARSENAL_PLUGIN_HOST", "", 1);
  auto engine = MakeEngine(Json::object());
  ASSERT_TRUE(engine);
  auto& service = engine->Service<ModuleService>();
  // The test binary's directory has no arsenal-plugin-host.
  auto loaded = service.Load({.name = "m", .path = ARSENAL_COUNTER_V1});
  ASSERT_FALSE(loaded);
  EXPECT_EQ(loaded.error().code(), "module.plugin_host_not_found");
  // In-process modules do not.
  ASSERT_TRUE(
      service.Load({.name = "m", .path = ARSENAL_COUNTER_V1, .mode = ModuleMode::kInProcess}));
  EXPECT_EQ(*service.Call("m", "incr", "x"), "1 v1");
  ::unsetenv("ARSENAL_PLUGIN_HOST");
}

TEST(ModuleServiceTest, ModesShareOneNamespaceAndHostsLiveAsLongAsTheirModules) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "sandboxed modules do not run in sanitizer builds (the host's policy denies "
                  "the sanitizer runtime's syscalls)";
#endif
  auto engine = MakeEngine(HostConfig({{"sandbox", {{"memory_bytes", 48u << 20}}}}));
  ASSERT_TRUE(engine);
  auto& service = engine->Service<ModuleService>();
  ASSERT_TRUE(service.Load({.name = "a", .path = ARSENAL_COUNTER_V1, .host = "h"}));
  ASSERT_TRUE(service.Load({.name = "b", .path = ARSENAL_COUNTER_V2, .host = "h"}));
  auto again =
      service.Load({.name = "a", .path = ARSENAL_COUNTER_V1, .mode = ModuleMode::kInProcess});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code(), "module.exists");
  auto hosts = service.Hosts();
  ASSERT_EQ(hosts.size(), 1u);
  EXPECT_EQ(hosts[0].memory_limit_bytes, 48u << 20) << "the configured default";
  Json json = ModuleService::ToJson(hosts[0]);
  EXPECT_EQ(json["modules"], (Json{"a", "b"}));
  EXPECT_FALSE(json.contains("last_exit"));
  auto snapshot = service.Snapshot("b");
  ASSERT_TRUE(snapshot);
  EXPECT_EQ(snapshot->version, 2u);
  ASSERT_TRUE(service.Unload("a"));
  ASSERT_TRUE(service.Unload("b"));
  EXPECT_TRUE(service.Hosts().empty());
  EXPECT_FALSE(std::filesystem::exists(engine->state_dir() / "modules" / "hosts" / "h"));
}

TEST(ModuleServiceTest, ASpinBudgetOfZeroMakesTheEngineSleepForEveryReply) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "sandboxed modules do not run in sanitizer builds (the host's policy denies "
                  "the sanitizer runtime's syscalls)";
#endif
  for (int budget : {0, 1000}) {
    auto engine = MakeEngine(HostConfig({{"sandbox", {{"spin_budget_us", budget}}}}));
    ASSERT_TRUE(engine);
    auto& service = engine->Service<ModuleService>();
    ASSERT_TRUE(service.Load({.name = "m", .path = ARSENAL_COUNTER_V1, .host = "h"}));
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(service.Call("m", "incr", "x"));
    auto host = service.Host("h");
    ASSERT_TRUE(host) << host.error().ToString();
    const auto& polling = host->polling;
    if (budget == 0) {
      EXPECT_EQ(polling.hits + polling.misses, 0u) << "no wait may poll with a budget of 0";
    } else {
      // Polling happens only while the two ends run on different CPUs; either way every wait
      // is accounted for.
      EXPECT_GT(polling.hits + polling.misses + polling.same_cpu + polling.backed_off, 0u);
    }
    ASSERT_TRUE(service.Unload("m"));
  }
}

TEST(ModuleServiceTest, EngineShutdownStopsEveryPluginHost) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "sandboxed modules do not run in sanitizer builds (the host's policy denies "
                  "the sanitizer runtime's syscalls)";
#endif
  auto engine = MakeEngine(HostConfig());
  ASSERT_TRUE(engine);
  ASSERT_TRUE(engine->Service<ModuleService>().Load({.name = "a", .path = ARSENAL_COUNTER_V1}));
  pid_t pid = engine->Service<ModuleService>().Hosts().at(0).pid;
  ASSERT_EQ(::kill(pid, 0), 0);
  engine.reset();
  EXPECT_NE(::kill(pid, 0), 0);
}

}  // namespace
}  // namespace arsenal
