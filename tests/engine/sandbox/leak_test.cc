// Leak test: 1000 create/execute/destroy cycles (four callers at once) through the engine's
// SandboxService leave no cgroup, mount, process, fd or temp dir behind. The test checks all five
// itself.
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

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
  // Four callers at once, as a daemon's API threads would be: the cycles overlap, so a leak that
  // needs two sandboxes alive together (a shared cgroup parent, the monitor's watch set) shows
  // too, and the cycles' waits on the kernel (namespace and cgroup teardown) overlap.
  constexpr int kWorkers = 4;
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  std::mutex first_failure_mu;
  std::string first_failure;
  auto fail = [&](int cycle, const std::string& what) {
    std::lock_guard lock(first_failure_mu);
    if (!failed.exchange(true)) first_failure = "cycle " + std::to_string(cycle) + ": " + what;
  };
  auto worker = [&] {
    for (int i = next++; i < kCycles && !failed; i = next++) {
      auto box = service.Create(*spec, "leak-test");
      if (!box) return fail(i, "create: " + box.error().ToString());
      auto r =
          service.Execute(box->id, {{"/bin/sh", "-c", "echo x > /tmp/f; cat /tmp/f"}, {}, "t"});
      if (!r) fail(i, "execute: " + r.error().ToString());
      if (r && r->out != "x\n") fail(i, "execute printed '" + r->out + "'");
      auto destroyed = service.Destroy(box->id, "leak-test");
      if (!destroyed) return fail(i, "destroy: " + destroyed.error().ToString());
      if (destroyed->state != SandboxState::kDestroyed) return fail(i, "not destroyed");
    }
  };
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) workers.emplace_back(worker);
  for (auto& t : workers) t.join();
  ASSERT_FALSE(failed) << first_failure;
  ASSERT_GE(next.load(), kCycles);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  HostSnapshot after = Snapshot();
  // No descriptor opened by the cycles survives them (one the process held before may have been
  // closed meanwhile by a component that finished its start-up). The engine's background work
  // may hold one for a moment when the snapshot is taken (the process table scans
  // /proc/self/task for orphans 20 ms after a SIGCHLD), so the set gets two seconds to settle: a
  // leaked descriptor never closes.
  auto new_fds_of = [&](const HostSnapshot& now) {
    std::vector<int> fds;
    std::set_difference(now.fds.begin(), now.fds.end(), before.fds.begin(), before.fds.end(),
                        std::back_inserter(fds));
    return fds;
  };
  for (int i = 0; i < 100 && !new_fds_of(after).empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    after = Snapshot();
  }
  EXPECT_EQ(after.cgroups, before.cgroups);
  EXPECT_TRUE(after.cgroups.empty());
  EXPECT_EQ(after.mounts, before.mounts);
  const std::vector<int> new_fds = new_fds_of(after);
  std::string described;
  for (int fd : new_fds) {
    char target[256] = {};
    const std::string link = "/proc/self/fd/" + std::to_string(fd);
    const ssize_t n = ::readlink(link.c_str(), target, sizeof(target) - 1);
    described += std::to_string(fd) + " -> " + (n > 0 ? std::string(target, n) : "?") + "; ";
  }
  EXPECT_TRUE(new_fds.empty()) << described;
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
