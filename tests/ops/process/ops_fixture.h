// Shared fixture for the process operation tests: an engine and Execute() shorthands.
#pragma once

#include <gtest/gtest.h>

#include "../../engine/process/process_test_helper.h"
#include "arsenal/engine/engine.h"
#include "arsenal/engine/process_table.h"

namespace arsenal {

class ProcessOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto engine = Engine::Create();
    ASSERT_TRUE(engine) << engine.error().ToString();
    engine_ = std::move(*engine);
  }

  Result<Json> Run(std::string_view op, const Json& params) {
    return engine_->Execute(op, params, Principal::Root());
  }

  Json RunOk(std::string_view op, const Json& params) {
    auto out = Run(op, params);
    EXPECT_TRUE(out) << op << " " << params.dump() << ": " << out.error().ToString();
    return out ? *out : Json::object();
  }

  // Starts `argv` and returns its id.
  std::string Start(const Json& argv, Json extra = Json::object()) {
    extra["argv"] = argv;
    return RunOk("start_process", extra).value("id", "");
  }

  std::string StartSleeper() { return Start({"/bin/sleep", "60"}); }

  // Checks a failed call: code and the field named in details.
  void ExpectError(const Result<Json>& out, const std::string& code, const std::string& field) {
    ASSERT_FALSE(out);
    EXPECT_EQ(out.error().code(), code) << out.error().ToString();
    if (!field.empty()) {
      EXPECT_EQ(out.error().details().value("field", ""), field) << out.error().ToString();
    }
  }

  ProcessTable& table() { return engine_->Service<ProcessTable>(); }

  std::unique_ptr<Engine> engine_;
};

}  // namespace arsenal
