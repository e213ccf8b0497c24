// Process operations on processes that run inside sandboxes: suspension through the cgroup
// freezer, OOM events, the process tree of a sandbox, and the sandbox and cpu_ms list filters.
#include <signal.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <tuple>

#include "arsenal/engine/process_table.h"
#include "sandbox_ops_fixture.h"

namespace arsenal {
namespace {

using SandboxedProcessTest = sandbox_ops_testing::SandboxOpsTest;

template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

// Whether the kernel reports the cgroup of `pid` as frozen: freezer.state on a v1 freezer
// hierarchy, "frozen 1" in cgroup.events on v2. Empty when neither can be read.
std::optional<bool> CgroupFrozen(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
  std::string line, v2_path;
  while (std::getline(in, line)) {
    const auto first = line.find(':');
    const auto second = line.find(':', first + 1);
    if (first == std::string::npos || second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    const std::string path = line.substr(second + 1);
    if (controllers == "freezer") {
      std::ifstream state("/sys/fs/cgroup/freezer" + path + "/freezer.state");
      std::string value;
      if (state >> value) return value == "FROZEN";
    }
    if (controllers.empty()) v2_path = path;
  }
  for (const char* mount : {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"}) {
    std::ifstream events(std::string(mount) + v2_path + "/cgroup.events");
    std::string key, value;
    while (events >> key >> value) {
      if (key == "frozen") return value == "1";
    }
  }
  return std::nullopt;
}

bool TreeContainsPid(const Json& node, pid_t pid) {
  if (node.value("pid", 0) == pid) return true;
  for (const auto& child : node.value("children", Json::array())) {
    if (TreeContainsPid(child, pid)) return true;
  }
  return false;
}

// A process with its own (inline) sandbox is suspended with the cgroup freezer, so everything it
// forked stops with it. (A command joined to a shared sandbox gets SIGSTOP instead: freezing the
// shared cgroup would suspend its neighbours.)
TEST_F(SandboxedProcessTest, SuspendFreezesTheSandboxCgroupAndResumeThawsIt) {
  Json started =
      Ok("start_process", {{"argv", {"/bin/sh", "-c", "while :; do echo x; sleep 0.01; done"}},
                           {"sandbox", {{"limits", {{"pids", 16}}}}}});
  const std::string id = started["id"];
  const pid_t pid = started["pid"];
  auto& table = engine_->Service<ProcessTable>();
  auto written = [&] {
    return table.ReadOutput(id, OutputStream::kStdout, 0, 1).value().end_offset;
  };
  ASSERT_TRUE(Eventually([&] { return written() > 0; }));

  EXPECT_EQ(Ok("suspend_process", {{"id", id}})["state"], "suspended");
  if (CgroupFrozen(pid).has_value()) {
    EXPECT_TRUE(Eventually([&] { return CgroupFrozen(pid) == true; }))
        << "suspend of a sandboxed process uses the cgroup freezer";
  }
  // Suspending again succeeds and changes nothing.
  EXPECT_EQ(Ok("suspend_process", {{"id", id}})["state"], "suspended");
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let a last write drain
  const uint64_t at_suspend = written();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(written(), at_suspend) << "a frozen process made progress";

  EXPECT_EQ(Ok("resume_process", {{"id", id}})["state"], "running");
  EXPECT_EQ(Ok("resume_process", {{"id", id}})["state"], "running");
  EXPECT_TRUE(Eventually([&] { return written() > at_suspend; })) << "no progress after resume";
  if (CgroupFrozen(pid).has_value()) {
    EXPECT_EQ(CgroupFrozen(pid), false);
  }
  Ok("kill_process", {{"id", id}, {"signal", "KILL"}});
}

TEST_F(SandboxedProcessTest, AnOomKillInASandboxIsAnOomEvent) {
  // The hog waits so that the monitor is subscribed before the OOM killer strikes; the doubling
  // string reaches the 32 MiB limit within a few steps.
  Json started =
      Ok("start_process", {{"argv", {"/bin/sh", "-c", "sleep 0.5; x=a; while :; do x=$x$x; done"}},
                           {"sandbox", {{"limits", {{"memory", "32M"}, {"pids", 8}}}}}});
  const std::string id = started["id"];
  Json events =
      Ok("monitor_process", {{"id", id}, {"duration_ms", 20000}, {"events", {"oom", "exit"}}});
  std::vector<std::string> kinds;
  for (const auto& e : events["events"]) kinds.push_back(e["kind"]);
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "oom"), kinds.end()) << events.dump();
  EXPECT_NE(std::find(kinds.begin(), kinds.end(), "exit"), kinds.end()) << events.dump();
  Json info = Ok("get_process_info", {{"id", id}});
  EXPECT_EQ(info["state"], "exited") << info.dump();
  EXPECT_EQ(info["exit"]["signal"], SIGKILL) << info.dump();
}

// The table reports how the workload ended, not how the sandbox's PID 1 translated it: an exit
// code stays an exit code (even 137), and a signal stays a signal.
TEST_F(SandboxedProcessTest, TheExitIsTheWorkloadsNotItsPid1s) {
  for (const auto& [script, code, signal] :
       {std::tuple{"exit 137", 137, 0}, std::tuple{"exit 3", 3, 0},
        std::tuple{"kill -SEGV $$", -1, SIGSEGV}}) {
    Json started =
        Ok("start_process", {{"argv", {"/bin/sh", "-c", script}}, {"sandbox", Json::object()}});
    Json events = Ok("monitor_process",
                     {{"id", started["id"]}, {"duration_ms", 20000}, {"events", {"exit"}}});
    ASSERT_FALSE(events["events"].empty()) << script;
    Json info = Ok("get_process_info", {{"id", started["id"]}});
    ASSERT_EQ(info["state"], "exited") << script << ": " << info.dump();
    if (signal == 0) {
      EXPECT_EQ(info["exit"]["code"], code) << script << ": " << info.dump();
      EXPECT_TRUE(info["exit"]["signal"].is_null()) << script << ": " << info.dump();
    } else {
      EXPECT_EQ(info["exit"]["signal"], signal) << script << ": " << info.dump();
    }
  }
}

TEST_F(SandboxedProcessTest, TheTreeOfASandboxHoldsItsProcesses) {
  const std::string sandbox = CreateRunning({{"limits", {{"pids", 16}}}});
  Json started = Ok("start_process", {{"argv", {"/bin/sleep", "60"}}, {"sandbox", sandbox}});
  const pid_t pid = started["pid"];
  Json tree = Ok("get_process_tree", {{"sandbox", sandbox}});
  EXPECT_NE(tree.value("pid", 0), ::getpid()) << "the tree is rooted in the sandbox, not the host";
  EXPECT_TRUE(TreeContainsPid(tree, pid)) << tree.dump();
  Ok("kill_process", {{"id", started["id"]}, {"signal", "KILL"}});
  Ok("destroy_sandbox", {{"id", sandbox}});
}

TEST_F(SandboxedProcessTest, ListFiltersBySandboxAndCpuTime) {
  const std::string sandbox = CreateRunning({{"limits", {{"pids", 16}}}});
  Json boxed = Ok("start_process", {{"argv", {"/bin/sleep", "60"}}, {"sandbox", sandbox}});
  Json spinner = Ok("start_process", {{"argv", {"/bin/sh", "-c", "while :; do :; done"}}});
  Json sleeper = Ok("start_process", {{"argv", {"/bin/sleep", "60"}}});

  Json in_sandbox = Ok("list_processes", {{"filter", {{"sandbox", sandbox}}}});
  ASSERT_EQ(in_sandbox["items"].size(), 1u) << in_sandbox.dump();
  EXPECT_EQ(in_sandbox["items"][0]["id"], boxed["id"]);

  ASSERT_TRUE(Eventually([&] {
    return !Ok("list_processes", {{"filter", {{"cpu_ms", {{"gt", 100}}}}}})["items"].empty();
  }));
  Json busy = Ok("list_processes", {{"filter", {{"cpu_ms", {{"gt", 100}}}}}});
  ASSERT_EQ(busy["items"].size(), 1u) << busy.dump();
  EXPECT_EQ(busy["items"][0]["id"], spinner["id"]);
  EXPECT_GT(busy["items"][0]["cpu_ms"].get<int64_t>(), 100);

  for (const Json* p : {&boxed, &spinner, &sleeper}) {
    Ok("kill_process", {{"id", (*p)["id"]}, {"signal", "KILL"}});
  }
  Ok("destroy_sandbox", {{"id", sandbox}});
}

}  // namespace
}  // namespace arsenal
