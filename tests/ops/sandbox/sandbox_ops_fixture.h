// Shared fixture of the sandbox operation tests: an in-memory engine and helpers that call
// operations as root and check results.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "arsenal/engine/engine.h"
#include "arsenal/namespaces/features.h"

namespace arsenal::sandbox_ops_testing {

class SandboxOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto& f = ns::DetectKernelFeatures();
    if (!f.pidfd || !f.user_namespaces) GTEST_SKIP() << "needs pidfds and user namespaces";
    auto engine = Engine::Create();
    ASSERT_TRUE(engine) << engine.error().ToString();
    engine_ = std::move(*engine);
  }

  Result<Json> Call(const std::string& op, const Json& params) {
    return engine_->Execute(op, params, Principal::Root());
  }

  // Calls and expects success.
  Json Ok(const std::string& op, const Json& params) {
    auto r = Call(op, params);
    EXPECT_TRUE(r) << op << ": " << r.error().ToString();
    return r ? *r : Json();
  }

  std::string CreateRunning(Json spec = Json::object()) {
    Json r = Ok("create_sandbox", {{"spec", spec}});
    EXPECT_EQ(r.value("state", ""), "running") << r.dump();
    return r.value("id", "");
  }

  std::unique_ptr<Engine> engine_;
};

}  // namespace arsenal::sandbox_ops_testing
