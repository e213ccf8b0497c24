// The policy artifacts applied by the child: capabilities, no_new_privs, rlimits, seccomp,
// Landlock, and the reaper's own confinement.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <sys/syscall.h>

#include <cstddef>

#include "arsenal/base/syscalls.h"
#include "test_util.h"

namespace arsenal::ns {
namespace {

using ::testing::HasSubstr;
using testing::ProbeSpec;
using testing::RunCaptured;

class PolicyTest : public testing::SandboxTest {};

TEST_F(PolicyTest, DefaultDropsEveryCapabilityAndSetsNoNewPrivs) {
  auto out = RunCaptured(ProbeSpec({"caps"}));
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->out, "CapEff=0000000000000000 CapBnd=0000000000000000 CapAmb=0000000000000000\n");
  out = RunCaptured(ProbeSpec({"nnp"}));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->out, "NoNewPrivs=1\n");
  out = RunCaptured(ProbeSpec({"raw-socket"}));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status.code, 1);
  EXPECT_THAT(out->out, HasSubstr("EPERM"));
  out = RunCaptured(ProbeSpec({"mount", "/tmp"}));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status.code, 1);
  EXPECT_THAT(out->out, HasSubstr("EPERM"));
}

TEST_F(PolicyTest, KeptCapabilityWorks) {
  SpawnSpec spec = ProbeSpec({"raw-socket"});
  spec.policy.keep_caps = uint64_t{1} << CAP_NET_RAW;
  auto out = RunCaptured(spec);
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->status.code, 0) << out->out;
  spec.argv = {testing::ProbePath(), "caps"};
  out = RunCaptured(spec);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->out, "CapEff=0000000000002000 CapBnd=0000000000002000 CapAmb=0000000000002000\n");
}

TEST_F(PolicyTest, WorkloadCannotPtraceOrKillItsReaper) {
  auto out = RunCaptured(ProbeSpec({"ptrace", "1"}));
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->status.code, 1);
  EXPECT_THAT(out->out, HasSubstr("EPERM"));
  // SIGKILL from inside the namespace is ignored by its PID 1.
  out = RunCaptured(ProbeSpec({"kill", "1", "9"}));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status.code, 0);
}

TEST_F(PolicyTest, RlimitsAreApplied) {
  SpawnSpec spec = ProbeSpec({"rlimit-nofile"});
  spec.policy.rlimits = {{RLIMIT_NOFILE, {64, 128}}};
  auto out = RunCaptured(spec);
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->out, "soft=64 hard=128\n");
}

TEST_F(PolicyTest, RaisingAnRlimitFailsClosed) {
  SpawnSpec spec = ProbeSpec({"rlimit-nofile"});
  spec.policy.rlimits = {{RLIMIT_NOFILE, {RLIM_INFINITY, RLIM_INFINITY}}};
  auto proc = Spawn(spec);
  ASSERT_FALSE(proc);
  EXPECT_EQ(proc.error().details().value("step", ""), "rlimits");
  EXPECT_EQ(proc.error().details().value("errno_name", ""), "EPERM");
}

std::vector<sock_filter> DenyUname() {
  return {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_uname, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
}

TEST_F(PolicyTest, SeccompFilterIsInstalled) {
  SpawnSpec spec = ProbeSpec({"hostname"});
  spec.policy.seccomp_bpf = DenyUname();
  auto out = RunCaptured(spec);
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->status.code, 1);
  EXPECT_THAT(out->out, HasSubstr("EPERM"));
}

TEST_F(PolicyTest, SeccompWithoutNoNewPrivsFailsClosed) {
  SpawnSpec spec = ProbeSpec({"hostname"});
  spec.policy.seccomp_bpf = DenyUname();
  spec.policy.no_new_privs = false;
  auto proc = Spawn(spec);
  ASSERT_FALSE(proc);
  EXPECT_EQ(proc.error().details().value("step", ""), "seccomp");
  EXPECT_EQ(proc.error().details().value("errno_name", ""), "EACCES");
}

TEST_F(PolicyTest, InvalidSeccompProgramFailsClosed) {
  SpawnSpec spec = ProbeSpec({"exit", "0"});
  spec.policy.seccomp_bpf = {BPF_STMT(0xffff, 0)};
  auto proc = Spawn(spec);
  ASSERT_FALSE(proc);
  EXPECT_EQ(proc.error().details().value("step", ""), "seccomp");
  EXPECT_EQ(proc.error().details().value("errno_name", ""), "EINVAL");
}

TEST_F(PolicyTest, LandlockRulesetIsEnforced) {
  int abi = sys::LandlockCreateRuleset(nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi < 1) GTEST_SKIP() << "Landlock is not available";
  struct landlock_ruleset_attr attr = {};
  attr.handled_access_fs = LANDLOCK_ACCESS_FS_READ_FILE;
  UniqueFd ruleset(sys::LandlockCreateRuleset(&attr, sizeof(attr), 0));
  ASSERT_TRUE(ruleset.valid());
  // Executing the (static) probe needs read access to it.
  const std::string probe_dir = std::filesystem::path(testing::ProbePath()).parent_path();
  UniqueFd dir(::open(probe_dir.c_str(), O_PATH | O_CLOEXEC));
  struct landlock_path_beneath_attr rule = {};
  rule.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE;
  rule.parent_fd = dir.get();
  ASSERT_EQ(sys::LandlockAddRule(ruleset.get(), LANDLOCK_RULE_PATH_BENEATH, &rule, 0), 0);
  SpawnSpec spec = ProbeSpec({"read-file", "/etc/passwd"});
  spec.policy.landlock_ruleset_fd = ruleset.get();
  auto out = RunCaptured(spec);
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->status.code, 1);
  EXPECT_THAT(out->out, HasSubstr("EACCES"));
  // The ruleset fd itself is not leaked into the workload.
  spec.argv = {testing::ProbePath(), "fds"};
  out = RunCaptured(spec);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->out, "0 1 2\n");
}

}  // namespace
}  // namespace arsenal::ns
