#include "../../../ops/module/module_ops.h"
#include "module_ops_fixture.h"

namespace arsenal {
namespace {

TEST_F(ModuleOpsTest, CallsTakeTextOrBase64Input) {
  RunOk("load_module", {{"name", "c"}, {"path", ARSENAL_COUNTER_V1}, {"mode", "in_process"}});
  Json out = RunOk("call_module", {{"name", "c"}, {"method", "incr"}, {"input", "k"}});
  EXPECT_EQ(out, (Json{{"name", "c"}, {"method", "incr"}, {"output", "1 v1"}}));
  out = RunOk("call_module", {{"name", "c"}, {"method", "incr"}, {"input_base64", "aw=="}});
  EXPECT_EQ(out["output"], "2 v1");
  ExpectError(Run("call_module", {{"name", "c"}, {"method", "nope"}}), "module.no_such_method", "");
  ExpectError(
      Run("call_module", {{"name", "c"}, {"method", "incr"}, {"input", std::string("\x01", 1)}}),
      "module.call_failed", "");
  ExpectError(Run("call_module", {{"name", "c"}, {"method", ""}}), "operation.invalid_params",
              "method");
}

TEST_F(ModuleOpsTest, SandboxedCrashesAndTimeoutsAreRetryableErrors) {
  SKIP_IF_NO_SANDBOX();
  RunOk("load_module",
        {{"name", "evil"}, {"path", ARSENAL_HOSTILE}, {"sandbox", {{"call_timeout_ms", 300}}}});
  auto crashed = Run("call_module", {{"name", "evil"}, {"method", "crash"}});
  ExpectError(crashed, "module.host_crashed", "");
  EXPECT_TRUE(crashed.error().retryable());
  EXPECT_EQ(crashed.error().http_status(), 503);
  auto spun = Run("call_module", {{"name", "evil"}, {"method", "spin"}});
  ExpectError(spun, "module.call_timeout", "");
  EXPECT_EQ(spun.error().http_status(), 504);
  EXPECT_EQ(Call("evil", "ping"), "pong");
  Json hosts = RunOk("list_modules", {{"include_hosts", true}})["hosts"];
  EXPECT_EQ(hosts[0]["restarts"], 2);
  EXPECT_EQ(hosts[0]["last_exit"]["reason"], "timeout");
}

TEST(ModuleBytesTest, OutputIsTextWhenItIsUtf8AndBase64Otherwise) {
  using ops::module::IsUtf8;
  EXPECT_TRUE(IsUtf8("plain"));
  EXPECT_TRUE(IsUtf8("\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
  EXPECT_FALSE(IsUtf8("\xff"));
  EXPECT_FALSE(IsUtf8("\xc3"));              // truncated
  EXPECT_FALSE(IsUtf8("\xc0\xaf"));          // overlong
  EXPECT_FALSE(IsUtf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(IsUtf8("\xf4\x90\x80\x80"));  // above U+10FFFF
  Json out = Json::object();
  ops::module::PutBytes(out, "output", std::string("\x00\xff\x01", 3));
  EXPECT_EQ(out, (Json{{"output_base64", "AP8B"}}));
  auto back = ops::module::DecodeBase64("AP8B", "f");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, std::string("\x00\xff\x01", 3));
  EXPECT_EQ(*ops::module::DecodeBase64("YQ==", "f"), "a");
  EXPECT_EQ(*ops::module::DecodeBase64("", "f"), "");
  EXPECT_FALSE(ops::module::DecodeBase64("YQ=", "f"));
}

}  // namespace
}  // namespace arsenal
