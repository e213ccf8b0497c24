#include <sys/stat.h>

#include "module_ops_fixture.h"

namespace arsenal {
namespace {

TEST_F(ModuleOpsTest, LoadsSandboxedByDefaultAndInProcessOnRequest) {
  SKIP_IF_NO_SANDBOX();
  ASSERT_NE(engine_->registry().Find("load_module"), nullptr);
  Json sandboxed = RunOk("load_module", {{"name", "plugin"}, {"path", ARSENAL_COUNTER_V1}});
  EXPECT_EQ(sandboxed["mode"], "sandboxed");
  EXPECT_EQ(sandboxed["host"], "plugin");
  EXPECT_EQ(sandboxed["module_name"], "counter");
  EXPECT_EQ(sandboxed["version"], "1.0.0");
  EXPECT_EQ(sandboxed["sha256"].get<std::string>().size(), 64u);
  Json local = RunOk("load_module", {{"name", "local"},
                                     {"path", ARSENAL_COUNTER_V1},
                                     {"mode", "in_process"},
                                     {"initial_state", "a=41\n"},
                                     {"initial_state_version", 1}});
  EXPECT_EQ(local["mode"], "in_process");
  EXPECT_FALSE(local.contains("host"));
  EXPECT_EQ(Call("local", "incr", "a"), "42 v1");
  EXPECT_EQ(Call("plugin", "incr", "a"), "1 v1");
  // Binary initial state.
  RunOk("load_module", {{"name", "b64"},
                        {"path", ARSENAL_COUNTER_V1},
                        {"mode", "in_process"},
                        {"initial_state_base64", "YT05Cg=="},  // "a=9\n"
                        {"initial_state_version", 1}});
  EXPECT_EQ(Call("b64", "get", "a"), "9");
}

TEST_F(ModuleOpsTest, UntrustedPathsAreCheckedAndTheFieldIsNamed) {
  SKIP_IF_NO_SANDBOX();
  std::filesystem::path text = dir_ / "notes.txt";
  std::ofstream(text) << "not a module\n";
  std::filesystem::path fifo = dir_ / "fifo.so";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  for (const auto& mode : {"sandboxed", "in_process"}) {
    SCOPED_TRACE(mode);
    ExpectError(Run("load_module", {{"name", "m"}, {"path", "relative/x.so"}, {"mode", mode}}),
                "module.invalid_path", "path");
    ExpectError(Run("load_module", {{"name", "m"}, {"path", dir_ / "missing.so"}, {"mode", mode}}),
                "module.file_not_found", "path");
    ExpectError(Run("load_module", {{"name", "m"}, {"path", dir_}, {"mode", mode}}),
                "module.not_elf", "path");
    ExpectError(Run("load_module", {{"name", "m"}, {"path", text}, {"mode", mode}}),
                "module.not_elf", "path");
    ExpectError(Run("load_module", {{"name", "m"}, {"path", "/dev/zero"}, {"mode", mode}}),
                "module.not_elf", "path");
    ExpectError(Run("load_module", {{"name", "m"}, {"path", fifo}, {"mode", mode}}),
                "module.not_elf", "path");
    // An ELF executable passes the header check; dlopen() refuses it.
    ExpectError(Run("load_module", {{"name", "m"}, {"path", "/bin/true"}, {"mode", mode}}),
                "module.load_failed", "path");
  }
  EXPECT_TRUE(service().List().empty());
}

TEST_F(ModuleOpsTest, RejectsBadParams) {
  auto unknown = Run("load_module", {{"name", "m"}, {"path", ARSENAL_COUNTER_V1}, {"bogus", 1}});
  ExpectError(unknown, "operation.invalid_params", "bogus");
  ExpectError(Run("load_module", {{"name", "../m"}, {"path", ARSENAL_COUNTER_V1}}),
              "operation.invalid_params", "name");
  ExpectError(Run("load_module", {{"name", "m"},
                                  {"path", ARSENAL_COUNTER_V1},
                                  {"mode", "in_process"},
                                  {"sandbox", {{"memory_bytes", 64u << 20}}}}),
              "module.invalid_params", "sandbox");
  ExpectError(Run("load_module", {{"name", "m"},
                                  {"path", ARSENAL_COUNTER_V1},
                                  {"initial_state", "a"},
                                  {"initial_state_base64", "YQ=="}}),
              "module.invalid_params", "initial_state_base64");
  ExpectError(Run("load_module",
                  {{"name", "m"}, {"path", ARSENAL_COUNTER_V1}, {"initial_state_base64", "%%%"}}),
              "module.invalid_base64", "initial_state_base64");
}

TEST_F(ModuleOpsTest, NamesAreUniqueAcrossModesAndHostSettingsAreFixedAtCreation) {
  SKIP_IF_NO_SANDBOX();
  RunOk("load_module", {{"name", "a"}, {"path", ARSENAL_COUNTER_V1}, {"mode", "in_process"}});
  ExpectError(Run("load_module", {{"name", "a"}, {"path", ARSENAL_COUNTER_V1}}), "module.exists",
              "name");
  RunOk("load_module", {{"name", "b"},
                        {"path", ARSENAL_COUNTER_V1},
                        {"host", "shared"},
                        {"sandbox", {{"memory_bytes", 32u << 20}, {"call_timeout_ms", 1000}}}});
  ExpectError(Run("load_module", {{"name", "c"},
                                  {"path", ARSENAL_COUNTER_V2},
                                  {"host", "shared"},
                                  {"sandbox", {{"memory_bytes", 64u << 20}}}}),
              "module.host_exists", "sandbox");
  Json c = RunOk("load_module", {{"name", "c"}, {"path", ARSENAL_COUNTER_V2}, {"host", "shared"}});
  EXPECT_EQ(c["host"], "shared");
  auto host = service().Host("shared");
  ASSERT_TRUE(host);
  EXPECT_EQ(host->memory_limit_bytes, 32u << 20);
  EXPECT_EQ(host->modules, (std::vector<std::string>{"b", "c"}));
}

TEST_F(ModuleOpsTest, LoadIsCompensatedByUnload) {
  const Operation* op = &engine_->registry().Find("load_module")->op;
  ASSERT_TRUE(op->compensation);
  EXPECT_EQ(op->compensation->operation, "unload_module");
  EXPECT_EQ(op->compensation->params({{"name", "m"}, {"path", "/x.so"}}, Json::object()),
            (Json{{"name", "m"}}));
}

}  // namespace
}  // namespace arsenal
