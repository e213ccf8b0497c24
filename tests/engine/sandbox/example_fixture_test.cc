// An example of the test-harness use, written the way an outside project would use Arsenal:
// only the public fixture header, a fixture per kind of sandbox, plain GoogleTest assertions.
#include <arsenal/engine/testing/sandbox_fixture.h>

#include <string>

namespace {

// Each test gets a fresh sandbox with the fixture's defaults (64 MiB tmpfs on /tmp, 256 MiB,
// 128 tasks, no network).
using ScriptTest = arsenal::testing::SandboxFixture;

TEST_F(ScriptTest, ShellScriptWritesAndReadsItsTmpfs) {
  Shell("printf 'a\\nb\\nc\\n' > /tmp/lines");
  auto r = Shell("wc -l < /tmp/lines");
  EXPECT_EQ(r.out, "3\n");
}

TEST_F(ScriptTest, EachTestStartsClean) {
  auto r = Run({"/bin/sh", "-c", "ls /tmp | wc -l"});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->out, "0\n");
}

TEST_F(ScriptTest, TheHostIsReadOnlyAndOffline) {
  auto write = Run({"/bin/sh", "-c", "echo x > /etc/arsenal-example"});
  ASSERT_TRUE(write);
  EXPECT_NE(write->exit_code, 0);
  auto hostname = Shell("hostname");
  EXPECT_EQ(hostname.out, "sandbox\n");
}

// A fixture with tighter limits for a test of resource behaviour.
class TightLimitsTest : public arsenal::testing::SandboxFixture {
 protected:
  arsenal::SandboxSpecBuilder Spec() override {
    return SandboxFixture::Spec().Pids(8).Timeout(std::chrono::seconds(2));
  }
};

TEST_F(TightLimitsTest, ForkingIsCapped) {
  auto r = Run({"/bin/sh", "-c", "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 5 & done; wait"});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->err.find("fork") != std::string::npos || r->exit_code != 0 || r->timed_out)
      << r->err;
}

TEST_F(TightLimitsTest, SlowCommandsTimeOut) {
  auto r = Run({"/bin/sleep", "10"});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->timed_out);
}

}  // namespace
