#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "arsenal/base/cleanup.h"
#include "arsenal/base/syscalls.h"
#include "arsenal/policies/cgroup.h"

namespace arsenal::policies {
namespace {

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool DirExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string UniqueName(const char* prefix) {
  return std::string(prefix) + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(std::random_device{}() % 100000);
}

// A forked child that blocks until released (or killed). Reaped by the destructor.
class WaitingChild {
 public:
  // `body` runs after the release byte arrives.
  explicit WaitingChild(void (*body)() = nullptr) {
    if (::pipe(fds_) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(fds_[1]);
      char c;
      if (::read(fds_[0], &c, 1) != 1) ::_exit(0);
      if (body) body();
      ::pause();
      ::_exit(0);
    }
    ::close(fds_[0]);
  }
  ~WaitingChild() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      Wait();
    }
    ::close(fds_[1]);
  }
  pid_t pid() const { return pid_; }
  void Release() { (void)!::write(fds_[1], "x", 1); }
  int Wait() {
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    reaped_ = true;
    return status;
  }

 private:
  int fds_[2] = {-1, -1};
  pid_t pid_ = -1;
  bool reaped_ = false;
};

class CgroupV1Test : public ::testing::Test {
 protected:
  void SetUp() override {
    auto layout = DetectCgroupLayout();
    ASSERT_TRUE(layout.has_value()) << layout.error().ToString();
    if (!layout->v1_mounts.contains("memory")) GTEST_SKIP() << "no cgroup v1 memory hierarchy";
    if (::geteuid() != 0) GTEST_SKIP() << "cgroup v1 tests need root";
    layout_ = *layout;
    auto backend = MakeCgroupV1Backend();
    ASSERT_TRUE(backend.has_value()) << backend.error().ToString();
    backend_ = std::move(*backend);
  }
  CgroupLayout layout_;
  std::unique_ptr<CgroupBackend> backend_;
};

TEST(CgroupLayout, DetectsThisMachine) {
  auto layout = DetectCgroupLayout();
  ASSERT_TRUE(layout.has_value()) << layout.error().ToString();
  if (layout->mode == CgroupMode::kNone) GTEST_SKIP() << "no cgroups mounted";
  EXPECT_TRUE(layout->preferred.has_value());
  if (!layout->v1_mounts.empty()) {
    EXPECT_TRUE(layout->own_v1.contains("memory") || !layout->v1_mounts.contains("memory"));
  }
}

TEST(CgroupLayout, ParsesHybridAndUnified) {
  const char* mountinfo =
      "30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
      "31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw,nsdelegate\n"
      "33 30 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
      "34 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n";
  const char* self = "4:memory:/process_api/abc\n2:cpu,cpuacct:/\n0::/\n";
  CgroupLayout hybrid = ParseCgroupLayout(mountinfo, self, "hugetlb\n");
  EXPECT_EQ(hybrid.mode, CgroupMode::kHybrid);
  EXPECT_EQ(hybrid.v2_mount, "/sys/fs/cgroup/unified");
  EXPECT_EQ(hybrid.v1_mounts["memory"], "/sys/fs/cgroup/memory");
  EXPECT_EQ(hybrid.v1_mounts["cpuacct"], "/sys/fs/cgroup/cpu,cpuacct");
  EXPECT_EQ(hybrid.own_v1["memory"], "/process_api/abc");
  EXPECT_EQ(hybrid.own_v1["cpu"], "/");
  EXPECT_EQ(hybrid.preferred, CgroupVersion::kV1);

  CgroupLayout unified =
      ParseCgroupLayout("31 25 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
                        "0::/user.slice/app\n", "cpuset cpu io memory hugetlb pids rdma\n");
  EXPECT_EQ(unified.mode, CgroupMode::kUnified);
  EXPECT_EQ(unified.own_v2, "/user.slice/app");
  EXPECT_EQ(unified.preferred, CgroupVersion::kV2);
  EXPECT_EQ(CgroupModeName(unified.mode), "unified");
}

TEST(CgroupLimitsSpec, ParsesAndValidates) {
  auto l = ParseCgroupLimits(Json::parse(
      R"({"memory": 33554432, "memory_swap": "max", "cpu_quota_us": 50000,
          "cpu_weight": 100, "pids": 64, "io": [{"major": 8, "minor": 0, "read_bps": 1048576}]})"));
  ASSERT_TRUE(l.has_value()) << l.error().ToString();
  EXPECT_EQ(l->memory_bytes, 33554432u);
  EXPECT_EQ(l->memory_swap_bytes, kCgroupUnlimited);
  EXPECT_EQ(l->pids_max, 64u);
  ASSERT_EQ(l->io.size(), 1u);
  EXPECT_EQ(l->io[0].read_bps, 1048576u);

  auto unknown = ParseCgroupLimits(Json::parse(R"({"memroy": 1})"));
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code(), "cgroup.unknown_field");
  auto swap_below = ParseCgroupLimits(Json::parse(R"({"memory": 1048576, "memory_swap": 4096})"));
  ASSERT_FALSE(swap_below.has_value());
  EXPECT_EQ(swap_below.error().code(), "cgroup.invalid_limit");
  EXPECT_FALSE(ParseCgroupLimits(Json::parse(R"({"cpu_weight": 0})")).has_value());
  EXPECT_FALSE(ParseCgroupLimits(Json::parse(R"({"pids": -1})")).has_value());

  EXPECT_EQ(CpuWeightToShares(100), 2u + (99u * 262142u) / 9999u);
  EXPECT_EQ(CpuWeightToShares(1), 2u);
  EXPECT_EQ(CpuWeightToShares(10000), 262144u);
  EXPECT_EQ(CpuSharesToWeight(262144), 10000u);
}

TEST_F(CgroupV1Test, CreateLimitAttachStatKillDestroyLeavesNothing) {
  CgroupLimits limits;
  limits.memory_bytes = 64u << 20;
  limits.pids_max = 32;
  limits.cpu_quota_us = 50000;
  limits.cpu_period_us = 100000;
  limits.cpu_weight = 200;
  std::string name = UniqueName("arsenal-test");
  auto cg = backend_->Create(name, limits);
  ASSERT_TRUE(cg.has_value()) << cg.error().ToString();
  std::vector<std::string> paths = (*cg)->Paths();
  ASSERT_FALSE(paths.empty());
  std::string mem_dir;
  for (const auto& p : paths) {
    EXPECT_TRUE(DirExists(p)) << p;
    if (p.starts_with(layout_.v1_mounts["memory"] + "/")) mem_dir = p;
  }
  ASSERT_FALSE(mem_dir.empty());
  // Nested under this process's own memory cgroup, not at the hierarchy root.
  EXPECT_EQ(mem_dir, layout_.v1_mounts["memory"] +
                         (layout_.own_v1["memory"] == "/" ? "" : layout_.own_v1["memory"]) + "/" +
                         name);
  EXPECT_EQ(ReadText(mem_dir + "/memory.limit_in_bytes"), "67108864\n");
  if (layout_.v1_mounts.contains("pids")) {
    std::string pids_dir = layout_.v1_mounts["pids"] +
                           (layout_.own_v1["pids"] == "/" ? "" : layout_.own_v1["pids"]) + "/" +
                           name;
    EXPECT_EQ(ReadText(pids_dir + "/pids.max"), "32\n");
  }
  if (layout_.v1_mounts.contains("cpu")) {
    std::string cpu_dir = layout_.v1_mounts["cpu"] +
                          (layout_.own_v1["cpu"] == "/" ? "" : layout_.own_v1["cpu"]) + "/" + name;
    EXPECT_EQ(ReadText(cpu_dir + "/cpu.cfs_quota_us"), "50000\n");
    EXPECT_EQ(ReadText(cpu_dir + "/cpu.shares"), std::to_string(CpuWeightToShares(200)) + "\n");
  }

  WaitingChild child;
  ASSERT_GT(child.pid(), 0);
  ASSERT_TRUE((*cg)->Attach(child.pid()).has_value());
  auto procs = (*cg)->Processes();
  ASSERT_TRUE(procs.has_value());
  EXPECT_EQ(*procs, std::vector<pid_t>{child.pid()});
  child.Release();
  auto stats = (*cg)->ReadStats();
  ASSERT_TRUE(stats.has_value()) << stats.error().ToString();
  if (layout_.v1_mounts.contains("pids")) {
    EXPECT_EQ(stats->pids_current, 1u);
  }
  EXPECT_EQ(stats->oom_kills, 0u);

  if (layout_.v1_mounts.contains("freezer")) {
    ASSERT_TRUE((*cg)->Freeze().has_value());
    ASSERT_TRUE((*cg)->Thaw().has_value());
  }
  // Limits can be changed after creation (memory below and above the old memsw value).
  CgroupLimits more;
  more.memory_bytes = 128u << 20;
  ASSERT_TRUE((*cg)->SetLimits(more).has_value());
  EXPECT_EQ(ReadText(mem_dir + "/memory.limit_in_bytes"), "134217728\n");

  auto killed = (*cg)->KillAll(std::chrono::seconds(5));
  ASSERT_TRUE(killed.has_value()) << killed.error().ToString();
  int status = child.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ASSERT_TRUE((*cg)->Destroy().has_value());
  for (const auto& p : paths) EXPECT_FALSE(DirExists(p)) << p;
  EXPECT_TRUE((*cg)->Destroy().has_value());  // idempotent
}

// A group for limits only: just the memory and pids hierarchies, no freezer and no cgroup2
// companion; it still limits, kills everything and goes away.
TEST_F(CgroupV1Test, LimitedControllersOnlyCreatesJustThoseHierarchies) {
  if (!layout_.v1_mounts.contains("pids")) GTEST_SKIP() << "no v1 pids hierarchy here";
  CgroupLimits limits;
  limits.memory_bytes = 64u << 20;
  limits.pids_max = 16;
  std::string name = UniqueName("arsenal-limited");
  auto cg = backend_->Create(name, limits, CgroupCreateOptions{.limited_controllers_only = true});
  ASSERT_TRUE(cg.has_value()) << cg.error().ToString();
  std::vector<std::string> paths = (*cg)->Paths();
  ASSERT_EQ(paths.size(), 2u);
  for (const auto& p : paths) {
    EXPECT_TRUE(p.starts_with(layout_.v1_mounts["memory"] + "/") ||
                p.starts_with(layout_.v1_mounts["pids"] + "/"))
        << p;
  }
  for (const char* other : {"freezer", "blkio", "cpu"}) {
    if (!layout_.v1_mounts.contains(other)) continue;
    const std::string own = layout_.own_v1[other] == "/" ? "" : layout_.own_v1[other];
    EXPECT_FALSE(DirExists(layout_.v1_mounts[other] + own + "/" + name)) << other;
  }
  EXPECT_EQ((*cg)->OpenSelfAttachFds()->size(), 2u);
  EXPECT_FALSE((*cg)->OpenCloneIntoFd().has_value());
  auto freeze = (*cg)->Freeze();
  ASSERT_FALSE(freeze.has_value());
  EXPECT_EQ(freeze.error().code(), "cgroup.unsupported");

  WaitingChild child;
  ASSERT_GT(child.pid(), 0);
  ASSERT_TRUE((*cg)->Attach(child.pid()).has_value());
  EXPECT_EQ(*(*cg)->Processes(), std::vector<pid_t>{child.pid()});
  auto stats = (*cg)->ReadStats();
  ASSERT_TRUE(stats.has_value()) << stats.error().ToString();
  EXPECT_EQ(stats->pids_current, 1u);
  child.Release();
  ASSERT_TRUE((*cg)->KillAll(std::chrono::seconds(5)).has_value());
  int status = child.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ASSERT_TRUE((*cg)->Destroy().has_value());
  for (const auto& p : paths) EXPECT_FALSE(DirExists(p)) << p;
}

TEST_F(CgroupV1Test, DestructorKillsAndRemoves) {
  std::vector<std::string> paths;
  WaitingChild child;
  {
    auto cg = backend_->Create(UniqueName("arsenal-test"), {});
    ASSERT_TRUE(cg.has_value()) << cg.error().ToString();
    paths = (*cg)->Paths();
    ASSERT_TRUE((*cg)->Attach(child.pid()).has_value());
  }
  int status = child.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  for (const auto& p : paths) EXPECT_FALSE(DirExists(p)) << p;
}

// Destroy skips the pid reads when a KillAll has just found the group empty; a process that
// joins after that must still be killed, or rmdir would fail (or, worse, succeed elsewhere).
TEST_F(CgroupV1Test, DestroyKillsWhatJoinedAfterAnEmptyKillAll) {
  auto cg = backend_->Create(UniqueName("arsenal-late"), {});
  ASSERT_TRUE(cg.has_value()) << cg.error().ToString();
  const std::vector<std::string> paths = (*cg)->Paths();
  ASSERT_TRUE((*cg)->KillAll(std::chrono::seconds(5)).has_value());  // empty: nothing to kill
  WaitingChild by_attach;
  ASSERT_GT(by_attach.pid(), 0);
  ASSERT_TRUE((*cg)->Attach(by_attach.pid()).has_value());
  ASSERT_TRUE((*cg)->KillAll(std::chrono::seconds(5)).has_value());
  int status = by_attach.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

  // Now empty again; a child moves itself in through the self-attach fds.
  auto fds = (*cg)->OpenSelfAttachFds();
  ASSERT_TRUE(fds.has_value()) << fds.error().ToString();
  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    for (const auto& fd : *fds) (void)!::write(fd.get(), "0", 1);
    (void)!::write(ready[1], "y", 1);
    ::pause();
    ::_exit(0);
  }
  ASSERT_GT(pid, 0);
  // Whatever fails below, the child (which holds the test's stdout) is not left paused.
  Cleanup reap([pid] {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  });
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1);
  ::close(ready[0]);
  ASSERT_TRUE((*cg)->Destroy().has_value());
  reap.Cancel();
  status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  for (const auto& p : paths) EXPECT_FALSE(DirExists(p)) << p;
}

// MakeCgroupBackend detects the layout once and hands it to the v1 backend: the groups it makes
// are the ones a self-detecting v1 backend makes, cgroup2 companion included on a hybrid layout.
TEST_F(CgroupV1Test, PreferredBackendMakesTheSameGroupsAsTheV1Backend) {
  if (layout_.preferred != CgroupVersion::kV1) GTEST_SKIP() << "this layout prefers cgroup v2";
  auto preferred = MakeCgroupBackend();
  ASSERT_TRUE(preferred.has_value()) << preferred.error().ToString();
  ASSERT_EQ((*preferred)->version(), CgroupVersion::kV1);
  const std::string name = UniqueName("arsenal-pref");
  auto a = (*preferred)->Create(name, {});
  ASSERT_TRUE(a.has_value()) << a.error().ToString();
  std::vector<std::string> via_preferred = (*a)->Paths();
  ASSERT_TRUE((*a)->Destroy().has_value());
  auto b = backend_->Create(name, {});
  ASSERT_TRUE(b.has_value()) << b.error().ToString();
  EXPECT_EQ(via_preferred, (*b)->Paths());
  if (layout_.mode == CgroupMode::kHybrid) {
    EXPECT_TRUE(via_preferred.back().starts_with(layout_.v2_mount + "/")) << via_preferred.back();
  }
}

TEST_F(CgroupV1Test, RejectsBadNamesAndDuplicates) {
  auto bad = backend_->Create("../escape", {});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), "cgroup.invalid_name");
  std::string name = UniqueName("arsenal-test");
  auto first = backend_->Create(name, {});
  ASSERT_TRUE(first.has_value());
  auto second = backend_->Create(name, {});
  ASSERT_FALSE(second.has_value());
  EXPECT_EQ(second.error().code(), "cgroup.exists");
  EXPECT_EQ(second.error().category(), ErrorCategory::kConflict);
  // The failed duplicate must not have removed the first one's directories.
  for (const auto& p : (*first)->Paths()) EXPECT_TRUE(DirExists(p)) << p;
}

TEST_F(CgroupV1Test, MemoryHogIsOomKilledAndReported) {
  CgroupLimits limits;
  limits.memory_bytes = 32u << 20;
  auto cg = backend_->Create(UniqueName("arsenal-oom"), limits);
  ASSERT_TRUE(cg.has_value()) << cg.error().ToString();
  auto event = (*cg)->OpenOomEventFd();
  ASSERT_TRUE(event.has_value()) << event.error().ToString();

  WaitingChild hog([] {
    // Touch 256 MiB, page by page, so the charge exceeds the 32 MiB limit.
    const size_t size = 256u << 20;
    auto* p = static_cast<char*>(
        ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (p == MAP_FAILED) ::_exit(3);
    for (size_t i = 0; i < size; i += 4096) p[i] = 1;
    ::_exit(4);  // not reached when the limit holds
  });
  ASSERT_TRUE((*cg)->Attach(hog.pid()).has_value());
  hog.Release();
  int status = hog.Wait();
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;

  struct pollfd pfd {
    event->get(), POLLIN, 0
  };
  EXPECT_EQ(::poll(&pfd, 1, 5000), 1);
  uint64_t count = 0;
  EXPECT_EQ(::read(event->get(), &count, sizeof(count)), static_cast<ssize_t>(sizeof(count)));
  EXPECT_GE(count, 1u);
  auto stats = (*cg)->ReadStats();
  ASSERT_TRUE(stats.has_value());
  EXPECT_GE(stats->oom_kills, 1u);
  EXPECT_GE(stats->memory_peak, 30u << 20);
  ASSERT_TRUE((*cg)->Destroy().has_value());
}

TEST_F(CgroupV1Test, HybridCompanionTakesCloneIntoAndKill) {
  if (layout_.mode != CgroupMode::kHybrid) GTEST_SKIP() << "needs a hybrid cgroup layout";
  CgroupLimits limits;
  limits.pids_max = 8;
  std::string name = UniqueName("arsenal-hybrid");
  auto cg = backend_->Create(name, limits);
  ASSERT_TRUE(cg.has_value()) << cg.error().ToString();
  std::vector<std::string> paths = (*cg)->Paths();
  std::string unified = paths.back();
  ASSERT_TRUE(unified.starts_with(layout_.v2_mount + "/")) << unified;
  auto dirfd = (*cg)->OpenCloneIntoFd();
  ASSERT_TRUE(dirfd.has_value()) << dirfd.error().ToString();

  // clone3 straight into the cgroup2 companion; the child waits until the v1 attach is done.
  int sync[2];
  ASSERT_EQ(::pipe2(sync, O_CLOEXEC), 0);
  struct clone_args args {};
  args.flags = CLONE_INTO_CGROUP;
  args.exit_signal = SIGCHLD;
  args.cgroup = static_cast<uint64_t>(dirfd->get());
  pid_t pid = sys::Clone3(&args, sizeof(args));
  if (pid == 0) {
    char c;
    ::close(sync[1]);
    (void)!::read(sync[0], &c, 1);
    ::pause();
    ::_exit(0);
  }
  ASSERT_GT(pid, 0) << std::strerror(errno);
  ::close(sync[0]);
  std::string self = ReadText("/proc/" + std::to_string(pid) + "/cgroup");
  EXPECT_NE(self.find("0::" + layout_.own_v2 + (layout_.own_v2 == "/" ? "" : "/") + name),
            std::string::npos)
      << self;
  ASSERT_TRUE((*cg)->Attach(pid).has_value());  // v1 limits
  (void)!::write(sync[1], "x", 1);
  ::close(sync[1]);
  auto stats = (*cg)->ReadStats();
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->pids_current, 1u);
  ASSERT_TRUE((*cg)->KillAll(std::chrono::seconds(5)).has_value());
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ASSERT_TRUE((*cg)->Destroy().has_value());
  for (const auto& p : paths) EXPECT_FALSE(DirExists(p)) << p;
}

TEST_F(CgroupV1Test, SelfAttachFdsLetAChildMoveItself) {
  CgroupLimits limits;
  limits.pids_max = 8;
  auto cg = backend_->Create(UniqueName("arsenal-selfattach"), limits);
  ASSERT_TRUE(cg.has_value()) << cg.error().ToString();
  auto fds = (*cg)->OpenSelfAttachFds();
  ASSERT_TRUE(fds.has_value()) << fds.error().ToString();
  ASSERT_FALSE(fds->empty());
  int ready[2];
  ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
  struct clone_args args {};
  args.exit_signal = SIGCHLD;
  pid_t pid = sys::Clone3(&args, sizeof(args));
  if (pid == 0) {
    char ok = 'y';
    for (const auto& fd : *fds) {
      if (::write(fd.get(), "0", 1) != 1) ok = 'n';
    }
    (void)!::write(ready[1], &ok, 1);
    ::pause();
    ::_exit(0);
  }
  ASSERT_GT(pid, 0);
  ::close(ready[1]);
  char ok = 0;
  ASSERT_EQ(::read(ready[0], &ok, 1), 1);
  ::close(ready[0]);
  EXPECT_EQ(ok, 'y');
  auto procs = (*cg)->Processes();
  ASSERT_TRUE(procs.has_value());
  EXPECT_EQ(*procs, std::vector<pid_t>{pid});
  ASSERT_TRUE((*cg)->KillAll(std::chrono::seconds(5)).has_value());
  ::waitpid(pid, nullptr, 0);
  if (layout_.mode == CgroupMode::kHybrid) {
    // cgroup.kill was written to the companion: the kernel would kill children cloned into it.
    auto clone_into = (*cg)->OpenCloneIntoFd();
    ASSERT_FALSE(clone_into.has_value());
    EXPECT_EQ(clone_into.error().code(), "cgroup.clone_into_unavailable");
  }
  ASSERT_TRUE((*cg)->Destroy().has_value());
}

TEST_F(CgroupV1Test, CloneIntoIsUnsupportedOnPureV1) {
  CgroupV1Options options;
  options.use_unified = false;
  auto backend = MakeCgroupV1Backend(options);
  ASSERT_TRUE(backend.has_value());
  auto cg = (*backend)->Create(UniqueName("arsenal-test"), {});
  ASSERT_TRUE(cg.has_value());
  auto fd = (*cg)->OpenCloneIntoFd();
  ASSERT_FALSE(fd.has_value());
  EXPECT_EQ(fd.error().code(), "cgroup.unsupported");
}

}  // namespace
}  // namespace arsenal::policies
