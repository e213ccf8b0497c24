// Shared fixture for the module operation tests: an engine configured with the plugin host built
// beside the tests, and Execute() shorthands.
#pragma once

// Sandboxed modules are skipped in sanitizer builds: the sanitizer runtime in arsenal-plugin-host
// needs syscalls and /proc reads that the host's seccomp and Landlock policy deny.
#define SKIP_IF_NO_SANDBOX()                                                                 \
  do {                                                                                       \
    if (SkipSandboxed()) GTEST_SKIP() << "sandboxed modules do not run in sanitizer builds"; \
  } while (false)

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "arsenal/engine/engine.h"
#include "arsenal/engine/module_service.h"

namespace arsenal {

class ModuleOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (std::filesystem::temp_directory_path() / "arsenal-module-ops-XXXXXX");
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    EngineOptions options;
    options.config = {{"modules",
                       {{"plugin_host", ARSENAL_PLUGIN_HOST},
                        {"sandbox", {{"memory_bytes", 64u << 20}, {"call_timeout_ms", 3000}}}}}};
    auto engine = Engine::Create(options);
    ASSERT_TRUE(engine) << engine.error().ToString();
    engine_ = std::move(*engine);
  }
  void TearDown() override {
    engine_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  // True (and the test skipped) when sandboxed modules cannot run in this build.
  bool SkipSandboxed() {
#if defined(__SANITIZE_ADDRESS__)
    return true;
#else
    return false;
#endif
  }

  Result<Json> Run(std::string_view op, const Json& params) {
    return engine_->Execute(op, params, Principal::Root());
  }

  Json RunOk(std::string_view op, const Json& params) {
    auto out = Run(op, params);
    EXPECT_TRUE(out) << op << " " << params.dump() << ": " << out.error().ToString();
    return out ? *out : Json::object();
  }

  // Checks a failed call: code and the field named in details.
  void ExpectError(const Result<Json>& out, const std::string& code, const std::string& field) {
    ASSERT_FALSE(out) << out->dump();
    EXPECT_EQ(out.error().code(), code) << out.error().ToString();
    if (!field.empty()) {
      EXPECT_EQ(out.error().details().value("field", ""), field) << out.error().ToString();
    }
  }

  std::string Call(const std::string& name, const std::string& method,
                   const std::string& input = "") {
    return RunOk("call_module", {{"name", name}, {"method", method}, {"input", input}})
        .value("output", "<no output>");
  }

  // Lines of /proc/self/maps that mention `needle`.
  static int Mappings(const std::string& needle) {
    std::ifstream maps("/proc/self/maps");
    int count = 0;
    for (std::string line; std::getline(maps, line);) {
      if (line.find(needle) != std::string::npos) ++count;
    }
    return count;
  }

  ModuleService& service() { return engine_->Service<ModuleService>(); }

  std::filesystem::path dir_;
  std::unique_ptr<Engine> engine_;
};

}  // namespace arsenal
