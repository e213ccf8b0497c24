// SpawnInto (execute_in_sandbox) and feature detection.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>

#include "test_util.h"

namespace arsenal::ns {
namespace {

using ::testing::HasSubstr;
using testing::ProbeSpec;
using testing::RunCaptured;

TEST(FeaturesTest, DetectsThisKernel) {
  const KernelFeatures& f = DetectKernelFeatures();
  // Everything Arsenal supports has clone3 with pidfds; report what else is there.
  EXPECT_TRUE(f.clone3);
  EXPECT_TRUE(f.pidfd);
  if (f.user_namespaces) {
    EXPECT_TRUE(f.user_namespaces_detail.empty());
  }
  EXPECT_EQ(&f, &DetectKernelFeatures());  // cached
  siginfo_t info = {};
  EXPECT_TRUE(::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD);
}

class SpawnIntoTest : public testing::SandboxTest {
 protected:
  void SetUp() override {
    testing::SandboxTest::SetUp();
    if (IsSkipped()) return;
    if (!DetectKernelFeatures().setns_pidfd) GTEST_SKIP() << "setns via pidfd needs kernel 5.8+";
  }
};

TEST_F(SpawnIntoTest, JoinsHostnameAndPidNamespace) {
  SpawnSpec target_spec = ProbeSpec({"sleep", "30"});
  target_spec.hostname = "joined-box";
  auto target = Spawn(target_spec);
  ASSERT_TRUE(target) << target.error().ToString();

  auto out = RunCaptured(ProbeSpec({"hostname"}), nullptr, target->pidfd());
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->out, "joined-box\n");

  out = RunCaptured(ProbeSpec({"pid"}), nullptr, target->pidfd());
  ASSERT_TRUE(out) << out.error().ToString();
  // Its parent (us) is outside the namespace.
  EXPECT_THAT(out->out, ::testing::MatchesRegex("pid=[3-9] ppid=0\n"));

  out = RunCaptured(ProbeSpec({"list-pids"}), nullptr, target->pidfd());
  ASSERT_TRUE(out);
  EXPECT_THAT(out->out, HasSubstr("1 2 "));

  out = RunCaptured(ProbeSpec({"ids"}), nullptr, target->pidfd());
  ASSERT_TRUE(out);
  EXPECT_EQ(out->out, "uid=0 gid=0 groups=0\n");

  // Same policy defaults as a new sandbox.
  out = RunCaptured(ProbeSpec({"caps"}), nullptr, target->pidfd());
  ASSERT_TRUE(out);
  EXPECT_THAT(out->out, HasSubstr("CapEff=0000000000000000"));
  out = RunCaptured(ProbeSpec({"fds"}), nullptr, target->pidfd());
  ASSERT_TRUE(out);
  EXPECT_EQ(out->out, "0 1 2\n");
  ASSERT_TRUE(target->Signal(SIGKILL));
  ASSERT_TRUE(target->Wait());
}

TEST_F(SpawnIntoTest, SeesTheSandboxFilesystem) {
  testing::TempDir dir;
  std::ofstream(dir.path() + "/inside") << "xyz";
  SpawnSpec target_spec = ProbeSpec({"sleep", "30"});
  target_spec.mounts = {MountSpec::Tmpfs("/mnt", 1 << 20),
                        MountSpec::BindReadOnly(dir.path(), "/mnt/data")};
  auto target = Spawn(target_spec);
  ASSERT_TRUE(target) << target.error().ToString();
  auto out = RunCaptured(ProbeSpec({"read-file", "/mnt/data/inside"}), nullptr, target->pidfd());
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->out, "ok 3 bytes\n");
}

TEST_F(SpawnIntoTest, HookRunsWithWorkloadPid) {
  auto target = Spawn(ProbeSpec({"sleep", "30"}));
  ASSERT_TRUE(target) << target.error().ToString();
  pid_t seen = 0;
  auto proc = SpawnInto(target->pidfd(), ProbeSpec({"exit", "5"}), [&](pid_t pid) -> Status {
    seen = pid;
    return {};
  });
  ASSERT_TRUE(proc) << proc.error().ToString();
  EXPECT_EQ(seen, proc->pid());
  auto status = proc->Wait();
  ASSERT_TRUE(status);
  EXPECT_EQ(status->code, 5);
}

TEST_F(SpawnIntoTest, ExitedTargetFailsAtSetns) {
  auto target = Spawn(ProbeSpec({"exit", "0"}));
  ASSERT_TRUE(target) << target.error().ToString();
  UniqueFd pidfd(::dup(target->pidfd()));
  ASSERT_TRUE(target->Wait());
  auto proc = SpawnInto(pidfd.get(), ProbeSpec({"exit", "0"}));
  ASSERT_FALSE(proc);
  EXPECT_EQ(proc.error().details().value("step", ""), "setns");
  siginfo_t info = {};
  EXPECT_TRUE(::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD);
}

TEST_F(SpawnIntoTest, ExecFailureIsReported) {
  auto target = Spawn(ProbeSpec({"sleep", "30"}));
  ASSERT_TRUE(target) << target.error().ToString();
  SpawnSpec spec;
  spec.argv = {"/nonexistent/arsenal-binary"};
  auto proc = SpawnInto(target->pidfd(), spec);
  ASSERT_FALSE(proc);
  EXPECT_EQ(proc.error().code(), "sandbox.exec_failed");
}

}  // namespace
}  // namespace arsenal::ns

namespace arsenal::ns {
namespace {

// CLONE_INTO_CGROUP with a cgroup2 directory (the unified hierarchy here has no controllers,
// which is enough to check placement). The cgroup is created under our own v2 cgroup.
TEST_F(SpawnIntoTest, CloneIntoCgroup2Directory) {
  std::ifstream self("/proc/self/cgroup");
  std::string line, v2_path;
  while (std::getline(self, line)) {
    if (line.starts_with("0::")) v2_path = line.substr(3);
  }
  const std::string mount = std::filesystem::exists("/sys/fs/cgroup/unified/cgroup.procs")
                                ? "/sys/fs/cgroup/unified"
                                : "/sys/fs/cgroup";
  if (v2_path.empty() || !std::filesystem::exists(mount + "/cgroup.procs")) {
    GTEST_SKIP() << "no cgroup2 hierarchy";
  }
  const std::string name = "arsenal-ns-test-" + std::to_string(::getpid());
  const std::string dir = mount + (v2_path == "/" ? "" : v2_path) + "/" + name;
  if (::mkdir(dir.c_str(), 0755) < 0) GTEST_SKIP() << "cannot create " << dir;
  {
    UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(dir_fd.valid());
    SpawnSpec spec = ProbeSpec({"sleep", "30"});
    spec.cgroup2_dir_fd = dir_fd.get();
    auto proc = Spawn(spec);
    ASSERT_TRUE(proc) << proc.error().ToString();
    std::ifstream procs(dir + "/cgroup.procs");
    std::string pids((std::istreambuf_iterator<char>(procs)), std::istreambuf_iterator<char>());
    EXPECT_THAT(pids, HasSubstr(std::to_string(proc->pid()) + "\n"));
  }
  EXPECT_EQ(::rmdir(dir.c_str()), 0) << dir;
}

}  // namespace
}  // namespace arsenal::ns
