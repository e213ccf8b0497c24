// Leak test: 1000 create/execute/destroy cycles through the engine's SandboxService leave no
// cgroup, mount, process, fd or temp dir behind. The test checks all five itself.
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

#include "arsenal/engine/engine.h"
#include "arsenal/engine/sandbox_service.h"
#include "sandbox_test_util.h"

namespace arsenal {
namespace {

struct HostSnapshot {
  std::set<std::string> cgroups;  // sandbox cgroup dirs of this process, in every hierarchy
  size_t mounts = 0;              // lines of /proc/self/mountinfo
  std::set<int> fds;
  std::set<std::string> tmp_entries;  // sandbox-related entries of /tmp
  size_t children = 0;                // live or zombie children of this process
};

std::set<std::string> SandboxCgroups() {
  std::set<std::string> out;
  auto layout = policies::DetectCgroupLayout();
  if (!layout) return out;
  const std::string prefix = "arsenal-" + std::to_string(::getpid()) + "-";
  std::vector<std::string> dirs;
  for (const auto& [controller, mount] : layout->v1_mounts) {
    auto own = layout->own_v1.find(controller);
    dirs.push_back(mount + (own == layout->own_v1.end() ? "" : own->second));
  }
  if (!layout->v2_mount.empty()) dirs.push_back(layout->v2_mount + layout->own_v2);
  for (const auto& dir : dirs) {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
      if (e.path().filename().string().starts_with(prefix)) out.insert(e.path());
    }
  }
  return out;
}

size_t Children() {
  // /proc/self/task/*/children lists the live and zombie children of each thread.
  size_t n = 0;
  std::error_code ec;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task", ec)) {
    std::ifstream in(task.path() / "children");
    std::string pid;
    while (in >> pid) ++n;
  }
  return n;
}

HostSnapshot Snapshot() {
  HostSnapshot s;
  s.cgroups = SandboxCgroups();
  std::ifstream mi("/proc/self/mountinfo");
  std::string line;
  while (std::getline(mi, line)) ++s.mounts;
  DIR* d = ::opendir("/proc/self/fd");
  int self = ::dirfd(d);
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;
    int fd = std::atoi(e->d_name);
    if (fd != self) s.fds.insert(fd);
  }
  ::closedir(d);
  // Only names a sandbox of this process could have created: other test binaries may run in
  // parallel and use /tmp too.
  const std::string pid = std::to_string(::getpid());
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/tmp", ec)) {
    std::string name = e.path().filename();
    if (name.find(pid) != std::string::npos || name.starts_with("arsenal-sb")) {
      s.tmp_entries.insert(name);
    }
  }
  s.children = Children();
  return s;
}

class LeakTest : public sandbox_testing::SandboxTest {};

TEST_F(LeakTest, ThousandCreateExecuteDestroyCyclesLeaveNothingBehind) {
  ARSENAL_REQUIRE_CGROUPS();
  constexpr int kCycles = 1000;
  auto engine = Engine::Create();
  ASSERT_TRUE(engine) << engine.error().ToString();
  SandboxService& service = SandboxService::Get(**engine);
  auto spec = SandboxSpecBuilder().Memory(32 << 20).Pids(16).Tmpfs("/tmp", 1 << 20).Build();
  ASSERT_TRUE(spec) << spec.error().ToString();
  // One warm-up cycle so lazily created process-wide state (the seccomp cache, the cgroup
  // backend, the service's monitor) exists before the baseline.
  {
    auto box = service.Create(*spec, "leak-test");
    ASSERT_TRUE(box) << box.error().ToString();
    ASSERT_TRUE(service.Destroy(box->id, "leak-test"));
  }
  const HostSnapshot before = Snapshot();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kCycles; ++i) {
    auto box = service.Create(*spec, "leak-test");
    ASSERT_TRUE(box) << "cycle " << i << ": " << box.error().ToString();
    auto r = service.Execute(box->id, {{"/bin/sh", "-c", "echo x > /tmp/f; cat /tmp/f"}, {}, "t"});
    ASSERT_TRUE(r) << "cycle " << i << ": " << r.error().ToString();
    ASSERT_EQ(r->out, "x\n") << "cycle " << i;
    auto destroyed = service.Destroy(box->id, "leak-test");
    ASSERT_TRUE(destroyed) << "cycle " << i << ": " << destroyed.error().ToString();
    ASSERT_EQ(destroyed->state, SandboxState::kDestroyed);
  }
  const auto elapsed = std::chrono::steady_clock::now() - start;
  const HostSnapshot after = Snapshot();
  EXPECT_EQ(after.cgroups, before.cgroups);
  EXPECT_TRUE(after.cgroups.empty());
  EXPECT_EQ(after.mounts, before.mounts);
  // No descriptor opened by the cycles survives them (one the process held before may have been
  // closed meanwhile by a component that finished its start-up).
  std::vector<int> new_fds;
  std::set_difference(after.fds.begin(), after.fds.end(), before.fds.begin(), before.fds.end(),
                      std::back_inserter(new_fds));
  EXPECT_TRUE(new_fds.empty()) << ::testing::PrintToString(new_fds);
  EXPECT_EQ(after.tmp_entries, before.tmp_entries);
  EXPECT_EQ(after.children, 0u);
  RecordProperty("cycles", kCycles);
  RecordProperty(
      "ms_per_cycle",
      static_cast<int>(std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count() /
                       kCycles / 1000));
  std::printf("[ leak     ] %d cycles in %.1f s (%.2f ms per cycle)\n", kCycles,
              std::chrono::duration<double>(elapsed).count(),
              std::chrono::duration<double, std::milli>(elapsed).count() / kCycles);
}

}  // namespace
}  // namespace arsenal
