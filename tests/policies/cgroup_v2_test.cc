#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "arsenal/policies/cgroup.h"

namespace arsenal::policies {
namespace {

namespace fs = std::filesystem;

std::string ReadFileText(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteText(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

// A fake cgroup2 tree in a temp dir: root/parent with the files the kernel would provide.
class FakeCgroupV2Test : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/arsenal-fake-cgroup-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    fs::create_directories(root_ / "daemon");
    WriteText(root_ / "daemon/cgroup.controllers", "cpuset cpu io memory pids\n");
    WriteText(root_ / "daemon/cgroup.subtree_control", "");
    CgroupV2Options options;
    options.root = root_.string();
    options.parent = "daemon";
    options.plain_directory = true;
    auto backend = MakeCgroupV2Backend(options);
    ASSERT_TRUE(backend.has_value()) << backend.error().ToString();
    backend_ = std::move(*backend);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  fs::path root_;
  std::unique_ptr<CgroupBackend> backend_;
};

TEST_F(FakeCgroupV2Test, CreateWritesEveryLimit) {
  CgroupLimits limits;
  limits.memory_bytes = 64u << 20;
  limits.memory_swap_bytes = 96u << 20;
  limits.cpu_quota_us = 50000;
  limits.cpu_period_us = 100000;
  limits.cpu_weight = 200;
  limits.pids_max = 64;
  limits.io.push_back(IoDeviceLimit{8, 0, 1048576, std::nullopt, std::nullopt, 100});
  auto cg = backend_->Create("sb-1", limits);
  ASSERT_TRUE(cg.has_value()) << cg.error().ToString();
  fs::path dir = root_ / "daemon/sb-1";
  EXPECT_EQ((*cg)->Paths(), std::vector<std::string>{dir.string()});
  EXPECT_EQ(ReadFileText(root_ / "daemon/cgroup.subtree_control"), " +memory +pids +cpu +io");
  EXPECT_EQ(ReadFileText(dir / "memory.max"), "67108864");
  EXPECT_EQ(ReadFileText(dir / "memory.swap.max"), std::to_string(32u << 20));
  EXPECT_EQ(ReadFileText(dir / "memory.oom.group"), "1");
  EXPECT_EQ(ReadFileText(dir / "cpu.max"), "50000 100000");
  EXPECT_EQ(ReadFileText(dir / "cpu.weight"), "200");
  EXPECT_EQ(ReadFileText(dir / "pids.max"), "64");
  EXPECT_EQ(ReadFileText(dir / "io.max"), "8:0 rbps=1048576 wiops=100");

  CgroupLimits unlimited;
  unlimited.memory_bytes = kCgroupUnlimited;
  unlimited.cpu_quota_us = kCgroupUnlimited;
  unlimited.pids_max = kCgroupUnlimited;
  ASSERT_TRUE((*cg)->SetLimits(unlimited).has_value());
  EXPECT_EQ(ReadFileText(dir / "memory.max"), "max");
  EXPECT_EQ(ReadFileText(dir / "memory.swap.max"), "0");  // no memory_swap: swap disabled
  EXPECT_EQ(ReadFileText(dir / "cpu.max"), "max 100000");
  EXPECT_EQ(ReadFileText(dir / "pids.max"), "max");
}

TEST_F(FakeCgroupV2Test, StatsAttachFreezeKillDestroy) {
  auto cg = backend_->Create("sb-2", {});
  ASSERT_TRUE(cg.has_value()) << cg.error().ToString();
  fs::path dir = root_ / "daemon/sb-2";
  WriteText(dir / "memory.current", "1048576\n");
  WriteText(dir / "memory.peak", "2097152\n");
  WriteText(dir / "pids.current", "3\n");
  WriteText(dir / "cpu.stat", "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n");
  WriteText(dir / "memory.events", "low 0\nhigh 0\nmax 4\noom 2\noom_kill 1\noom_group_kill 1\n");
  auto stats = (*cg)->ReadStats();
  ASSERT_TRUE(stats.has_value()) << stats.error().ToString();
  EXPECT_EQ(stats->memory_current, 1048576u);
  EXPECT_EQ(stats->memory_peak, 2097152u);
  EXPECT_EQ(stats->pids_current, 3u);
  EXPECT_EQ(stats->cpu_usage_ns, 1500000u);
  EXPECT_EQ(stats->oom_kills, 1u);

  ASSERT_TRUE((*cg)->Attach(4242).has_value());
  EXPECT_EQ(ReadFileText(dir / "cgroup.procs"), "4242");

  WriteText(dir / "cgroup.events", "populated 1\nfrozen 1\n");
  ASSERT_TRUE((*cg)->Freeze().has_value());
  EXPECT_EQ(ReadFileText(dir / "cgroup.freeze"), "1");
  WriteText(dir / "cgroup.events", "populated 1\nfrozen 0\n");
  ASSERT_TRUE((*cg)->Thaw().has_value());
  EXPECT_EQ(ReadFileText(dir / "cgroup.freeze"), "0");

  auto clone_into = (*cg)->OpenCloneIntoFd();
  ASSERT_TRUE(clone_into.has_value());

  // The "kernel" emptied the group after cgroup.kill.
  WriteText(dir / "cgroup.kill", "");
  WriteText(dir / "cgroup.procs", "");
  ASSERT_TRUE((*cg)->KillAll(std::chrono::milliseconds(100)).has_value());
  EXPECT_EQ(ReadFileText(dir / "cgroup.kill"), "1");

  auto oom = (*cg)->OpenOomEventFd();
  ASSERT_TRUE(oom.has_value()) << oom.error().ToString();
  // Children cloned into a cgroup after its cgroup.kill are killed by the kernel: refused.
  auto after_kill = (*cg)->OpenCloneIntoFd();
  ASSERT_FALSE(after_kill.has_value());
  EXPECT_EQ(after_kill.error().code(), "cgroup.clone_into_unavailable");

  ASSERT_TRUE((*cg)->Destroy().has_value());
  EXPECT_FALSE(fs::exists(dir));
}

TEST_F(FakeCgroupV2Test, KillAllTimesOutWhenProcessesRemain) {
  auto cg = backend_->Create("sb-3", {});
  ASSERT_TRUE(cg.has_value());
  fs::path dir = root_ / "daemon/sb-3";
  // A pid that cannot be signalled by us and never leaves the fake cgroup.procs.
  WriteText(dir / "cgroup.procs", "999999999\n");
  auto killed = (*cg)->KillAll(std::chrono::milliseconds(50));
  ASSERT_FALSE(killed.has_value());
  EXPECT_EQ(killed.error().code(), "cgroup.timeout");
  WriteText(dir / "cgroup.procs", "");
}

TEST_F(FakeCgroupV2Test, RejectsDuplicatesAndBadLimits) {
  auto first = backend_->Create("sb-4", {});
  ASSERT_TRUE(first.has_value());
  auto dup = backend_->Create("sb-4", {});
  ASSERT_FALSE(dup.has_value());
  EXPECT_EQ(dup.error().code(), "cgroup.exists");
  EXPECT_TRUE(fs::exists(root_ / "daemon/sb-4"));
  CgroupLimits bad;
  bad.cpu_weight = 20000;
  auto invalid = backend_->Create("sb-5", bad);
  ASSERT_FALSE(invalid.has_value());
  EXPECT_EQ(invalid.error().code(), "cgroup.invalid_limit");
  EXPECT_FALSE(fs::exists(root_ / "daemon/sb-5"));
}

TEST(CgroupV2Backend, MissingRootIsUnavailable) {
  CgroupV2Options options;
  options.root = "/nonexistent/cgroup2";
  options.parent = "x";
  auto backend = MakeCgroupV2Backend(options);
  ASSERT_FALSE(backend.has_value());
  EXPECT_EQ(backend.error().code(), "cgroup.unavailable");
}

// Real cgroup v2 with controllers: runs only where the kernel delegates them.
TEST(CgroupV2Real, LifecycleWithRealControllers) {
  auto layout = DetectCgroupLayout();
  ASSERT_TRUE(layout.has_value());
  if (layout->preferred != CgroupVersion::kV2) {
    GTEST_SKIP() << "cgroup v2 memory/pids/cpu controllers are not available here (mode "
                 << CgroupModeName(layout->mode) << ")";
  }
  auto backend = MakeCgroupBackend();
  ASSERT_TRUE(backend.has_value()) << backend.error().ToString();
  CgroupLimits limits;
  limits.memory_bytes = 64u << 20;
  limits.pids_max = 16;
  auto cg = (*backend)->Create("arsenal-v2-" + std::to_string(::getpid()), limits);
  ASSERT_TRUE(cg.has_value()) << cg.error().ToString();
  pid_t pid = ::fork();
  if (pid == 0) {
    ::pause();
    ::_exit(0);
  }
  ASSERT_TRUE((*cg)->Attach(pid).has_value());
  auto stats = (*cg)->ReadStats();
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->pids_current, 1u);
  ASSERT_TRUE((*cg)->KillAll(std::chrono::seconds(5)).has_value());
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status));
  ASSERT_TRUE((*cg)->Destroy().has_value());
}

}  // namespace
}  // namespace arsenal::policies
