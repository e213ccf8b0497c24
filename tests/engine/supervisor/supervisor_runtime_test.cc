// Integration tests of SupervisorService with real processes: each strategy, each restart type,
// escalation up a three-level tree, shutdown order and timeouts, change_strategy during a crash
// storm, delete_child while restarting, persistence across a daemon restart, sandboxed children.
//
// Children are /bin/sleep or small /bin/sh loops started by the test's own engine; the test only
// ever signals processes of that engine, through the process table (pidfd).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "arsenal/engine/engine.h"
#include "arsenal/engine/process_table.h"
#include "arsenal/engine/sandbox_service.h"
#include "arsenal/engine/supervisor.h"

namespace arsenal::supervisor {
namespace {

using namespace std::chrono_literals;

Json Sleeper(const std::string& id, Json extra = Json::object()) {
  Json child = {{"id", id}, {"process", {{"argv", {"/bin/sleep", "1000"}}}}};
  for (auto& [k, v] : extra.items()) child[k] = v;
  return child;
}

// Exits 0 on SIGUSR1 and 3 on SIGUSR2; SIGKILL kills it.
Json Signalled(const std::string& id, Json extra = Json::object()) {
  Json child = {{"id", id},
                {"process",
                 {{"argv",
                   {"/bin/sh", "-c",
                    "trap 'exit 0' USR1; trap 'exit 3' USR2; while :; do sleep 0.02; done"}}}}};
  for (auto& [k, v] : extra.items()) child[k] = v;
  return child;
}

// Ignores SIGTERM.
Json Stubborn(const std::string& id, int64_t shutdown_ms) {
  return {{"id", id},
          {"shutdown", shutdown_ms},
          {"process", {{"argv", {"/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.02; done"}}}}};
}

// True once `pid` has `sig` in its /proc status mask `field` (SigCgt: caught, SigIgn: ignored),
// i.e. its shell has installed the trap.
bool SigMask(pid_t pid, const std::string& field, int sig) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field, 0) == 0) {
      return (std::stoull(line.substr(field.size()), nullptr, 16) >> (sig - 1)) & 1;
    }
  }
  return false;
}
bool Catches(pid_t pid, int sig) { return SigMask(pid, "SigCgt:", sig); }
bool Ignores(pid_t pid, int sig) { return SigMask(pid, "SigIgn:", sig); }

template <typename Pred>
bool WaitFor(Pred pred, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

// The children of this process (of any of its threads).
std::set<pid_t> OwnChildren() {
  std::set<pid_t> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream children(task.path() / "children");
    for (pid_t pid = 0; children >> pid;) out.insert(pid);
  }
  return out;
}

std::string PidNamespace(pid_t pid) {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/ns/pid", ec).string();
}

class SupervisorRuntimeTest : public ::testing::Test {
 protected:
  void SetUp() override { Open({}); }

  void Open(EngineOptions options) {
    auto engine = Engine::Create(std::move(options));
    ASSERT_TRUE(engine) << engine.error().ToString();
    engine_ = std::move(*engine);
    sup_ = &SupervisorService::Get(*engine_);
    table_ = sup_->process_table();
    ASSERT_NE(table_, nullptr);
  }

  std::map<std::string, ChildInfo> Children(const std::string& path) {
    auto children = sup_->WhichChildren(path);
    EXPECT_TRUE(children) << children.error().ToString();
    std::map<std::string, ChildInfo> out;
    if (children) {
      for (auto& c : *children) out[c.id] = c;
    }
    return out;
  }

  bool AllRunning(const std::string& path, size_t n) {
    auto children = sup_->WhichChildren(path);
    if (!children || children->size() != n) return false;
    for (const auto& c : *children) {
      if (c.state != ChildState::kRunning || (c.type == ChildType::kWorker && c.pid == 0)) {
        return false;
      }
    }
    return true;
  }

  void Kill(const ChildInfo& child, int sig = SIGKILL) {
    ASSERT_FALSE(child.process_id.empty()) << child.id << " is not running";
    ASSERT_TRUE(table_->Signal(child.process_id, sig));
  }

  // Waits until `child` runs with a pid other than `old_pid`.
  pid_t WaitRestarted(const std::string& path, const std::string& child, pid_t old_pid) {
    pid_t now = 0;
    WaitFor([&] {
      auto c = Children(path);
      if (!c.contains(child) || c[child].state != ChildState::kRunning) return false;
      now = c[child].pid;
      return now != 0 && now != old_pid;
    });
    return now;
  }

  size_t RunningProcesses() {
    size_t n = 0;
    for (const auto& p : table_->Snapshot()) n += p.state != ProcessState::kExited ? 1 : 0;
    return n;
  }

  std::unique_ptr<Engine> engine_;
  SupervisorService* sup_ = nullptr;
  ProcessTable* table_ = nullptr;
};

TEST_F(SupervisorRuntimeTest, OneForOneRestartsOnlyTheCrashedChild) {
  auto started = sup_->StartSupervisor({{"id", "s"},
                                        {"strategy", "one_for_one"},
                                        {"max_restarts", 5},
                                        {"children", {Sleeper("a"), Sleeper("b"), Sleeper("c")}}});
  ASSERT_TRUE(started) << started.error().ToString();
  auto before = Children("s");
  ASSERT_EQ(before.size(), 3u);
  for (auto& [id, c] : before) EXPECT_GT(c.pid, 0) << id;
  Kill(before["b"]);
  const pid_t b = WaitRestarted("s", "b", before["b"].pid);
  ASSERT_NE(b, 0);
  auto after = Children("s");
  EXPECT_EQ(after["a"].pid, before["a"].pid);
  EXPECT_EQ(after["c"].pid, before["c"].pid);
  EXPECT_EQ(after["b"].restart_count, 1u);
  EXPECT_EQ(after["a"].restart_count, 0u);
  EXPECT_EQ(after["b"].last_exit, "killed by SIGKILL");
}

TEST_F(SupervisorRuntimeTest, OneForAllRestartsAllChildren) {
  ASSERT_TRUE(sup_->StartSupervisor({{"id", "s"},
                                     {"strategy", "one_for_all"},
                                     {"max_restarts", 5},
                                     {"children", {Sleeper("a"), Sleeper("b"), Sleeper("c")}}}));
  auto before = Children("s");
  Kill(before["b"]);
  WaitRestarted("s", "b", before["b"].pid);
  ASSERT_TRUE(WaitFor([&] { return AllRunning("s", 3); }));
  auto after = Children("s");
  for (const auto& id : {"a", "b", "c"}) {
    EXPECT_NE(after[id].pid, before[id].pid) << id;
    EXPECT_EQ(after[id].restart_count, 1u) << id;
  }
  // The siblings were terminated, not left behind.
  for (const auto& id : {"a", "c"}) {
    auto old = table_->Get(before[id].process_id);
    ASSERT_TRUE(old);
    EXPECT_EQ(old->state, ProcessState::kExited) << id;
  }
}

TEST_F(SupervisorRuntimeTest, RestForOneRestartsLaterChildren) {
  ASSERT_TRUE(sup_->StartSupervisor(
      {{"id", "s"},
       {"strategy", "rest_for_one"},
       {"max_restarts", 5},
       {"children", {Sleeper("a"), Sleeper("b"), Sleeper("c"), Sleeper("d")}}}));
  auto before = Children("s");
  Kill(before["b"]);
  WaitRestarted("s", "b", before["b"].pid);
  ASSERT_TRUE(WaitFor([&] { return AllRunning("s", 4); }));
  auto after = Children("s");
  EXPECT_EQ(after["a"].pid, before["a"].pid);
  for (const auto& id : {"b", "c", "d"}) EXPECT_NE(after[id].pid, before[id].pid) << id;
}

TEST_F(SupervisorRuntimeTest, SimpleOneForOneDynamicChildren) {
  ASSERT_TRUE(sup_->StartSupervisor(
      {{"id", "pool"},
       {"strategy", "simple_one_for_one"},
       {"max_restarts", 5},
       {"children",
        {{{"id", "worker"}, {"restart", "transient"}, {"process", {{"argv", {"/bin/sleep"}}}}}}}}));
  EXPECT_TRUE(Children("pool").empty());
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto id = sup_->AddChild("pool", {{"args", {std::to_string(1000 + i)}}});
    ASSERT_TRUE(id) << id.error().ToString();
    ids.push_back(*id);
  }
  EXPECT_EQ(ids, (std::vector<std::string>{"worker-1", "worker-2", "worker-3"}));
  auto children = Children("pool");
  ASSERT_EQ(children.size(), 3u);
  Kill(children["worker-2"]);
  const pid_t pid = WaitRestarted("pool", "worker-2", children["worker-2"].pid);
  ASSERT_NE(pid, 0);
  // Restarted with its own arguments.
  std::string args;
  EXPECT_TRUE(WaitFor([&] {  // cmdline is empty while the new process is still in execve
    std::ifstream cmdline("/proc/" + std::to_string(pid) + "/cmdline");
    args.assign(std::istreambuf_iterator<char>(cmdline), {});
    return args.find("1001") != std::string::npos;
  })) << args;
  auto bad = sup_->AddChild("pool", {{"args", {1}}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().details()["field"], "args[0]");
}

TEST_F(SupervisorRuntimeTest, PermanentTransientTemporary) {
  ASSERT_TRUE(
      sup_->StartSupervisor({{"id", "s"},
                             {"max_restarts", 10},
                             {"children",
                              {Signalled("perm"), Signalled("trans", {{"restart", "transient"}}),
                               Signalled("trans2", {{"restart", "transient"}}),
                               Signalled("temp", {{"restart", "temporary"}})}}}));
  auto c = Children("s");
  for (auto& [id, info] : c) {
    ASSERT_TRUE(WaitFor([&] { return Catches(info.pid, SIGUSR2); })) << id;
  }
  Kill(c["perm"], SIGUSR1);    // normal exit: a permanent child is restarted anyway
  Kill(c["trans"], SIGUSR1);   // normal exit: not restarted
  Kill(c["trans2"], SIGUSR2);  // exit code 3: restarted
  Kill(c["temp"], SIGUSR2);    // never restarted, removed
  EXPECT_NE(WaitRestarted("s", "perm", c["perm"].pid), 0);
  EXPECT_NE(WaitRestarted("s", "trans2", c["trans2"].pid), 0);
  ASSERT_TRUE(WaitFor([&] {
    auto now = Children("s");
    return !now.contains("temp") && now["trans"].state == ChildState::kStopped;
  })) <<
      [&] {
        std::string out;
        for (auto& [id, c] : Children("s")) out += c.ToJson().dump() + "\n";
        return out;
      }();
  auto now = Children("s");
  EXPECT_EQ(now["trans"].pid, 0);
  EXPECT_EQ(now["trans"].last_exit, "exit code 0");
  EXPECT_EQ(now["trans2"].last_exit, "exit code 3");
  // A stopped transient child can be started again by hand.
  ASSERT_TRUE(sup_->RestartChild("s", "trans"));
  EXPECT_EQ(Children("s")["trans"].state, ChildState::kRunning);
}

TEST_F(SupervisorRuntimeTest, ShutdownInReverseOrderKillsAfterTimeout) {
  ASSERT_TRUE(sup_->StartSupervisor(
      {{"id", "s"},
       {"children",
        {Sleeper("a"), Stubborn("b", 300), Sleeper("c", {{"shutdown", "brutal_kill"}})}}}));
  auto c = Children("s");
  ASSERT_TRUE(WaitFor([&] { return Ignores(c["b"].pid, SIGTERM); }));
  std::map<std::string, std::string> child_of;
  for (auto& [id, info] : c) child_of[info.process_id] = id;
  std::mutex mu;
  std::vector<std::pair<std::string, std::chrono::steady_clock::time_point>> exits;
  std::map<std::string, ExitStatus> statuses;
  auto sub = table_->SubscribeAll(
      static_cast<uint32_t>(ProcessEventKind::kExit), [&](const ProcessEvent& e) {
        std::lock_guard lock(mu);
        if (!child_of.contains(e.id)) return;
        exits.emplace_back(child_of[e.id], std::chrono::steady_clock::now());
        statuses[child_of[e.id]] = *e.exit;
      });
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(sup_->StopSupervisor("s"));
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  table_->Unsubscribe(sub);
  std::lock_guard lock(mu);
  ASSERT_EQ(exits.size(), 3u);
  EXPECT_EQ(exits[0].first, "c");
  EXPECT_EQ(exits[1].first, "b");
  EXPECT_EQ(exits[2].first, "a");
  EXPECT_EQ(statuses["c"].signal, SIGKILL);  // brutal_kill
  EXPECT_EQ(statuses["b"].signal, SIGKILL);  // ignored SIGTERM, killed after its timeout
  EXPECT_EQ(statuses["a"].signal, SIGTERM);
  EXPECT_GE(exits[1].second - t0, 290ms);
  EXPECT_LT(elapsed, 3s);
  EXPECT_EQ(RunningProcesses(), 0u);
  auto list = sup_->List();
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["state"], "stopped");
}

TEST_F(SupervisorRuntimeTest, IntensityEscalatesUpThreeLevels) {
  // Each level allows one restart per minute; leaf restarts w, mid restarts leaf, root restarts
  // mid. Two crashes escalate the leaf, two leaf escalations escalate mid, two mid escalations
  // escalate root: 8 crashes in all.
  Json leaf = {{"max_restarts", 1}, {"max_seconds", 60}, {"children", {Sleeper("w")}}};
  Json mid = {{"max_restarts", 1},
              {"max_seconds", 60},
              {"children", {{{"id", "leaf"}, {"supervisor", "leafdef"}}}}};
  ASSERT_TRUE(
      sup_->StartSupervisor({{"id", "root"},
                             {"max_restarts", 1},
                             {"max_seconds", 60},
                             {"children", {Sleeper("other"), {{"id", "mid"}, {"supervisor", mid}}}},
                             {"definitions", {{"leafdef", leaf}}}}));
  ASSERT_TRUE(AllRunning("root/mid/leaf", 1));
  const pid_t other = Children("root")["other"].pid;
  int crashes = 0;
  for (; crashes < 20; ++crashes) {
    auto list = sup_->List();
    if (list.at(0)["state"] == "failed") break;
    ASSERT_TRUE(WaitFor(
        [&] { return AllRunning("root/mid/leaf", 1) || sup_->List().at(0)["state"] == "failed"; }));
    if (sup_->List().at(0)["state"] == "failed") break;
    auto w = Children("root/mid/leaf")["w"];
    Kill(w);
    WaitFor([&] {
      auto l = sup_->List();
      if (l.at(0)["state"] == "failed") return true;
      auto c = sup_->WhichChildren("root/mid/leaf");
      return c && c->size() == 1 && (*c)[0].pid != 0 && (*c)[0].pid != w.pid;
    });
  }
  EXPECT_EQ(crashes, 8);
  ASSERT_TRUE(WaitFor([&] { return sup_->List().at(0)["state"] == "failed"; }));
  EXPECT_EQ(sup_->List().at(0)["reason"], "reached_max_restart_intensity");
  EXPECT_EQ(RunningProcesses(), 0u);  // including the sibling "other"
  EXPECT_EQ(::kill(other, 0), -1);
  auto history = sup_->History("root");
  ASSERT_TRUE(history);
  std::map<std::string, int> escalations;
  for (const auto& e : *history) {
    if (e["event"] == "escalate") ++escalations[e["supervisor"].get<std::string>()];
  }
  EXPECT_EQ(escalations["root/mid/leaf"], 4);
  EXPECT_EQ(escalations["root/mid"], 2);
  EXPECT_EQ(escalations["root"], 1);
}

TEST_F(SupervisorRuntimeTest, ChangeStrategyDuringCrashStormMissesNoRestart) {
  Json children = Json::array();
  for (int i = 0; i < 5; ++i) children.push_back(Sleeper("c" + std::to_string(i)));
  ASSERT_TRUE(sup_->StartSupervisor(
      {{"id", "s"}, {"max_restarts", 100000}, {"max_seconds", 1}, {"children", children}}));
  std::atomic<bool> stop{false};
  std::atomic<int> kills{0};
  std::set<std::string> killed;
  std::thread storm([&] {
    std::mt19937 rng(1);
    for (int i = 0; i < 150; ++i) {
      auto c = sup_->WhichChildren("s");
      if (!c) continue;
      auto& victim = (*c)[rng() % c->size()];
      if (!victim.process_id.empty() && table_->Signal(victim.process_id, SIGKILL)) {
        ++kills;
        killed.insert(victim.process_id);
      }
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 3000));
    }
    stop = true;
  });
  const Strategy strategies[] = {Strategy::kOneForAll, Strategy::kRestForOne, Strategy::kOneForOne};
  int changes = 0;
  while (!stop) {
    ASSERT_TRUE(sup_->ChangeStrategy("s", strategies[changes % 3], std::nullopt));
    ++changes;
    std::this_thread::sleep_for(1ms);
  }
  storm.join();
  EXPECT_GT(changes, 10);
  EXPECT_GT(kills.load(), 50);
  // Every child runs again, none of them a killed process, and the supervisor never gave up.
  // (The last kills may still be in flight: wait until their exits have been handled.)
  ASSERT_TRUE(WaitFor([&] {
    if (!AllRunning("s", 5)) return false;
    for (auto& [id, c] : Children("s")) {
      if (killed.contains(c.process_id)) return false;
    }
    return true;
  }));
  EXPECT_EQ(sup_->List().at(0)["state"], "running");
  for (const auto& id : killed) {
    auto p = table_->Get(id);
    if (p) {
      EXPECT_EQ(p->state, ProcessState::kExited);
    }
  }
  // Each kill was seen: handled as a restart decision or consumed by a group restart.
  auto history = sup_->History("s");
  ASSERT_TRUE(history);
  int exits = 0;
  for (const auto& e : *history) exits += e["event"] == "exit" ? 1 : 0;
  EXPECT_LE(exits, kills.load());
  EXPECT_GT(exits, 0);
}

TEST_F(SupervisorRuntimeTest, DeleteChildWhileItIsRestarting) {
  ASSERT_TRUE(sup_->StartSupervisor(
      {{"id", "s"},
       {"max_restarts", 10},
       {"children",
        {Sleeper("a"), Sleeper("b", {{"backoff", {{"initial_ms", 600}, {"max_ms", 600}}}})}}}));
  auto c = Children("s");
  Kill(c["b"]);
  ASSERT_TRUE(WaitFor([&] { return Children("s")["b"].state == ChildState::kRestarting; }));
  EXPECT_GT(Children("s")["b"].restart_at_unix_ms, 0);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(sup_->DeleteChild("s", "b"));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 300ms);  // did not wait for the backoff
  EXPECT_FALSE(Children("s").contains("b"));
  std::this_thread::sleep_for(800ms);  // past the cancelled restart
  EXPECT_FALSE(Children("s").contains("b"));
  EXPECT_EQ(RunningProcesses(), 1u);
  auto missing = sup_->DeleteChild("s", "b");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), "supervisor.child_not_found");
}

TEST_F(SupervisorRuntimeTest, DeleteChildDuringGroupRestart) {
  ASSERT_TRUE(
      sup_->StartSupervisor({{"id", "s"},
                             {"strategy", "one_for_all"},
                             {"max_restarts", 10},
                             {"children", {Sleeper("a"), Stubborn("b", 400), Sleeper("c")}}}));
  auto c = Children("s");
  ASSERT_TRUE(WaitFor([&] { return Ignores(c["b"].pid, SIGTERM); }));
  Kill(c["c"]);  // one_for_all: b is being terminated (400 ms) when the delete arrives
  ASSERT_TRUE(WaitFor([&] { return Children("s")["b"].state == ChildState::kTerminating; }));
  ASSERT_TRUE(sup_->DeleteChild("s", "b"));
  EXPECT_FALSE(Children("s").contains("b"));
  ASSERT_TRUE(WaitFor([&] { return AllRunning("s", 2); }));
  EXPECT_EQ(RunningProcesses(), 2u);
}

TEST_F(SupervisorRuntimeTest, AddChildAndRunTimeBackoff) {
  ASSERT_TRUE(
      sup_->StartSupervisor({{"id", "s"}, {"max_restarts", 10}, {"children", {Sleeper("a")}}}));
  auto added = sup_->AddChild("s", Sleeper("b"));
  ASSERT_TRUE(added) << added.error().ToString();
  EXPECT_EQ(*added, "b");
  auto dup = sup_->AddChild("s", Sleeper("b"));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().code(), "supervisor.duplicate_child_id");
  auto broken = sup_->AddChild("s", {{"id", "x"}, {"process", {{"argv", {"/nonexistent/bin"}}}}});
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().code(), "supervisor.child_start_failed");
  EXPECT_FALSE(Children("s").contains("x"));
  // Backoff set at run time delays the next restart.
  ASSERT_TRUE(sup_->SetBackoff("s", "b", {{"initial_ms", 250}, {"max_ms", 1000}}));
  auto b = Children("s")["b"];
  EXPECT_EQ(b.backoff.initial_ms, 250);
  const auto t0 = std::chrono::steady_clock::now();
  Kill(b);
  WaitRestarted("s", "b", b.pid);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 240ms);
}

TEST_F(SupervisorRuntimeTest, BadSpecsStartNothing) {
  const Json bad[] = {
      {{"id", "s"}, {"children", {Sleeper("a"), Sleeper("a")}}},
      {{"id", "s"}, {"children", {Sleeper("a"), {{"id", "n"}, {"supervisor", "missing"}}}}},
      {{"id", "s"}, {"max_restarts", -1}, {"children", {Sleeper("a")}}},
      {{"id", "s"}, {"strategy", "all_for_one"}, {"children", {Sleeper("a")}}},
      {{"id", "s"},
       {"children", {Sleeper("a"), {{"id", "n"}, {"supervisor", "x"}}}},
       {"definitions", {{"x", {{"children", {{{"id", "y"}, {"supervisor", "x"}}}}}}}}},
  };
  for (const auto& spec : bad) {
    auto r = sup_->StartSupervisor(spec);
    ASSERT_FALSE(r) << spec.dump();
    EXPECT_EQ(r.error().category(), ErrorCategory::kValidation);
    EXPECT_FALSE(r.error().details().value("field", "").empty());
  }
  EXPECT_EQ(table_->size(), 0u);
  EXPECT_TRUE(sup_->List().empty());
}

TEST_F(SupervisorRuntimeTest, StartFailureTerminatesStartedChildren) {
  auto r = sup_->StartSupervisor(
      {{"id", "s"},
       {"children",
        {Sleeper("a"), Sleeper("b"), {{"id", "c"}, {"process", {{"argv", {"/nonexistent/x"}}}}}}}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), "supervisor.child_start_failed");
  EXPECT_EQ(r.error().details()["child"], "c");
  EXPECT_TRUE(r.error().details().contains("cause")) << r.error().ToString();
  EXPECT_TRUE(WaitFor([&] { return RunningProcesses() == 0; }));
  EXPECT_FALSE(sup_->WhichChildren("s"));
}

TEST_F(SupervisorRuntimeTest, TreeAsJsonDotAndSvg) {
  ASSERT_TRUE(sup_->StartSupervisor(
      {{"id", "web"},
       {"children",
        {Sleeper("api"),
         {{"id", "jobs"},
          {"supervisor", {{"strategy", "one_for_all"}, {"children", {Sleeper("q")}}}}}}}}));
  auto tree = sup_->Tree("web");
  ASSERT_TRUE(tree) << tree.error().ToString();
  EXPECT_EQ((*tree)["strategy"], "one_for_one");
  ASSERT_EQ((*tree)["children"].size(), 2u);
  EXPECT_EQ((*tree)["children"][1]["tree"]["path"], "web/jobs");
  EXPECT_EQ((*tree)["children"][1]["tree"]["children"][0]["id"], "q");
  auto dot = sup_->TreeDot("");
  ASSERT_TRUE(dot);
  EXPECT_NE(dot->find("digraph supervision"), std::string::npos);
  EXPECT_NE(dot->find("\"sup:web\" -> \"sup:web/jobs\""), std::string::npos) << *dot;
  if (::access("/usr/bin/dot", X_OK) != 0) GTEST_SKIP() << "graphviz (dot) not installed";
  auto svg = sup_->TreeSvg("web");
  ASSERT_TRUE(svg) << svg.error().ToString();
  EXPECT_NE(svg->find("<svg"), std::string::npos);
  EXPECT_NE(svg->find("jobs"), std::string::npos);
}

TEST_F(SupervisorRuntimeTest, HistoryAndDefinitionsSurviveADaemonRestart) {
  const std::string dir = ::testing::TempDir() + "arsenal-sup-" + std::to_string(::getpid());
  std::filesystem::remove_all(dir);
  Open({.state_dir = dir});
  ASSERT_TRUE(
      sup_->StartSupervisor({{"id", "s"}, {"max_restarts", 10}, {"children", {Sleeper("a")}}}));
  auto a = Children("s")["a"];
  Kill(a);
  WaitRestarted("s", "a", a.pid);
  ASSERT_TRUE(sup_->AddChild("s", Sleeper("b")));
  sup_->FlushStore();

  // A process left running by a "crashed" daemon: recorded as a live child, not ours any more.
  pid_t orphan = ::fork();
  if (orphan == 0) {
    ::execl("/bin/sleep", "sleep", "1000", nullptr);
    ::_exit(127);
  }
  ASSERT_GT(orphan, 0);
  std::this_thread::sleep_for(50ms);
  std::ifstream stat("/proc/" + std::to_string(orphan) + "/stat");
  std::string line;
  std::getline(stat, line);
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::vector<std::string> f;
  for (std::string x; rest >> x;) f.push_back(x);
  ASSERT_TRUE(engine_->store().Run(
      "INSERT INTO supervisor_live_children(supervisor, child, pid, start_ticks, process_id) "
      "VALUES ('s', 'ghost', ?1, ?2, 'p-0')",
      {orphan, std::stoll(f[19])}));

  engine_.reset();  // daemon stops: children terminated, definition kept "running"
  Open({.state_dir = dir});
  // The orphan was killed. We forked it, but the engine's process table is a subreaper that may
  // reap it first: accept "gone" or "zombie", and reap it if it is still ours.
  ASSERT_TRUE(WaitFor([&] {
    std::ifstream s("/proc/" + std::to_string(orphan) + "/stat");
    std::string l;
    return !std::getline(s, l) || l.substr(l.rfind(')') + 2, 1) == "Z";
  }));
  int status = 0;
  if (::waitpid(orphan, &status, WNOHANG) == orphan) {
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  }
  // The supervisor is back with both children, and its history tells what happened before.
  ASSERT_TRUE(WaitFor([&] { return AllRunning("s", 2); }));
  auto history = sup_->History("s");
  ASSERT_TRUE(history);
  std::set<std::string> events;
  for (const auto& e : *history) events.insert(e["event"].get<std::string>());
  EXPECT_TRUE(events.contains("exit"));
  EXPECT_TRUE(events.contains("restart"));
  EXPECT_TRUE(events.contains("add"));
  EXPECT_TRUE(events.contains("orphan_killed"));
  engine_.reset();
  std::filesystem::remove_all(dir);
}

TEST_F(SupervisorRuntimeTest, SandboxedChild) {
  // SupervisorService::Get wires the sandbox launcher, so no sandbox operation needs to run first.
  ASSERT_NE(table_->sandbox_launcher(), nullptr);
  ASSERT_TRUE(sup_->StartSupervisor(
      {{"id", "s"},
       {"max_restarts", 5},
       {"children",
        {Sleeper("plain"),
         {{"id", "boxed"},
          {"process", {{"argv", {"/bin/sleep", "1000"}}, {"sandbox", Json::object()}}}}}}}));
  auto c = Children("s");
  EXPECT_TRUE(c["boxed"].sandboxed);
  Kill(c["boxed"]);
  EXPECT_NE(WaitRestarted("s", "boxed", c["boxed"].pid), 0);
  EXPECT_EQ(Children("s")["plain"].pid, c["plain"].pid);
}

// A restart joins the standby sandbox prepared in the background: a fresh sandbox (its own pid
// namespace, an empty tmpfs, nothing the crashed instance left), never the crashed one's. The
// standby goes with the supervisor.
TEST_F(SupervisorRuntimeTest, SandboxedRestartJoinsAFreshStandby) {
  SandboxService& sandboxes = SandboxService::Get(*engine_);
  const std::set<pid_t> before = OwnChildren();
  const Json script = {"/bin/sh", "-c",
                       "if [ -e /tmp/mark ]; then echo reused; fi; : > /tmp/mark; echo up; "
                       "exec sleep 1000"};
  ASSERT_TRUE(sup_->StartSupervisor(
      {{"id", "s"},
       {"max_restarts", 5},
       {"children",
        {{{"id", "boxed"},
          {"process",
           {{"argv", script},
            {"sandbox", {{"mounts", {{{"type", "tmpfs"}, {"target", "/tmp"}}}}}}}}}}}}));
  ASSERT_TRUE(WaitFor([&] { return sandboxes.standbys_ready() == 1; }));
  auto output = [&](const std::string& process_id) {
    auto chunk = table_->ReadOutput(process_id, OutputStream::kStdout, 0, 4096);
    return chunk ? chunk->data : std::string();
  };
  const ChildInfo first = Children("s")["boxed"];
  ASSERT_TRUE(WaitFor([&] { return output(first.process_id) == "up\n"; }));
  const std::string first_ns = PidNamespace(first.pid);
  ASSERT_FALSE(first_ns.empty());
  Kill(first);
  ASSERT_NE(WaitRestarted("s", "boxed", first.pid), 0);
  const ChildInfo second = Children("s")["boxed"];
  ASSERT_TRUE(WaitFor([&] { return output(second.process_id) == "up\n"; }))
      << output(second.process_id);
  EXPECT_NE(PidNamespace(second.pid), first_ns);

  engine_->events().Flush();
  const auto created = engine_->events().Since(0, "arsenal.sandbox.created").events;
  ASSERT_EQ(created.size(), 2u);
  EXPECT_EQ(created[0].metadata.value("standby", true), false);
  EXPECT_EQ(created[1].metadata.value("standby", false), true);
  EXPECT_TRUE(WaitFor([&] { return sandboxes.standbys_ready() == 1; }));  // the next one

  ASSERT_TRUE(sup_->StopSupervisor("s"));
  EXPECT_EQ(sandboxes.standbys_ready(), 0u);
  // No standby's PID 1, and no crashed sandbox's, outlives the supervisor.
  EXPECT_TRUE(WaitFor([&] { return OwnChildren() == before; })) << [&] {
    std::string extra;
    for (pid_t p : OwnChildren()) {
      std::ifstream cmd("/proc/" + std::to_string(p) + "/stat");
      std::string c;
      std::getline(cmd, c);
      extra += std::to_string(p) + ":" + c + (before.contains(p) ? "(before) " : " ");
    }
    return extra;
  }();
}

// supervisor.sandbox_standby false: no standby is kept, and every restart creates its sandbox.
TEST_F(SupervisorRuntimeTest, SandboxStandbyCanBeTurnedOff) {
  engine_.reset();
  EngineOptions options;
  options.config = {{"supervisor", {{"sandbox_standby", false}}}};
  Open(std::move(options));
  SandboxService& sandboxes = SandboxService::Get(*engine_);
  ASSERT_TRUE(sup_->StartSupervisor(
      {{"id", "s"},
       {"max_restarts", 5},
       {"children",
        {{{"id", "boxed"},
          {"process", {{"argv", {"/bin/sleep", "1000"}}, {"sandbox", Json::object()}}}}}}}));
  const ChildInfo first = Children("s")["boxed"];
  Kill(first);
  ASSERT_NE(WaitRestarted("s", "boxed", first.pid), 0);
  EXPECT_EQ(sandboxes.standbys_ready(), 0u);
  engine_->events().Flush();
  const auto created = engine_->events().Since(0, "arsenal.sandbox.created").events;
  ASSERT_EQ(created.size(), 2u);
  for (const auto& e : created) EXPECT_EQ(e.metadata.value("standby", true), false);
  ASSERT_TRUE(sup_->StopSupervisor("s"));
}

// A restart into a standby whose program has gone fails with the command's own error
// (sandbox.exec_failed, naming the program), as a fresh sandbox's would.
TEST_F(SupervisorRuntimeTest, SandboxedRestartOfAVanishedProgramReportsExecFailed) {
  SandboxService& sandboxes = SandboxService::Get(*engine_);
  char dir_template[] = "/tmp/arsenal-standby-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::filesystem::path dir = dir_template;
  const std::filesystem::path program = dir / "run.sh";
  {
    std::ofstream out(program);
    out << "#!/bin/sh\nexec sleep 1000\n";
  }
  std::filesystem::permissions(
      program, std::filesystem::perms::owner_all | std::filesystem::perms::group_read |
                   std::filesystem::perms::group_exec | std::filesystem::perms::others_read |
                   std::filesystem::perms::others_exec);
  std::filesystem::permissions(
      dir, std::filesystem::perms::others_read | std::filesystem::perms::others_exec,
      std::filesystem::perm_options::add);
  ASSERT_TRUE(sup_->StartSupervisor(
      {{"id", "s"},
       {"max_restarts", 5},
       {"children",
        {{{"id", "boxed"},
          {"process", {{"argv", {program.string()}}, {"sandbox", Json::object()}}}}}}}));
  ASSERT_TRUE(WaitFor([&] { return sandboxes.standbys_ready() == 1; }));
  std::filesystem::remove(program);
  auto restarted = sup_->RestartChild("s", "boxed");
  ASSERT_FALSE(restarted);
  EXPECT_NE(restarted.error().ToJson().dump().find("sandbox.exec_failed"), std::string::npos)
      << restarted.error().ToString();
  ASSERT_TRUE(sup_->StopSupervisor("s"));
  std::filesystem::remove_all(dir);
}

// A sandboxed child is no process-group leader in the daemon's view, so the supervisor's
// group-wide SIGTERM and SIGKILL must reach it through its pidfd; before, they signalled no one
// and each child was given up on after the table's 10 s kill timeout.
TEST_F(SupervisorRuntimeTest, StoppingTheSupervisorStopsSandboxedChildrenAtOnce) {
  ASSERT_TRUE(sup_->StartSupervisor(
      {{"id", "s"},
       {"children",
        {{{"id", "term"},
          {"process", {{"argv", {"/bin/sleep", "1000"}}, {"sandbox", Json::object()}}}},
         {{"id", "kill"},
          {"shutdown", "brutal_kill"},
          {"process", {{"argv", {"/bin/sleep", "1000"}}, {"sandbox", Json::object()}}}}}}}));
  auto c = Children("s");
  ASSERT_TRUE(c["term"].sandboxed);
  ASSERT_TRUE(c["kill"].sandboxed);
  std::map<std::string, std::string> child_of;
  for (auto& [id, info] : c) child_of[info.process_id] = id;
  std::mutex mu;
  std::map<std::string, ExitStatus> statuses;
  auto sub = table_->SubscribeAll(static_cast<uint32_t>(ProcessEventKind::kExit),
                                  [&](const ProcessEvent& e) {
                                    std::lock_guard lock(mu);
                                    if (child_of.contains(e.id)) statuses[child_of[e.id]] = *e.exit;
                                  });
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(sup_->StopSupervisor("s"));
  const auto elapsed = std::chrono::steady_clock::now() - t0;
  table_->Unsubscribe(sub);
  std::lock_guard lock(mu);
  ASSERT_EQ(statuses.size(), 2u);
  EXPECT_EQ(statuses["kill"].signal, SIGKILL);
  // The sandbox's PID 1 forwarded SIGTERM to sleep and reported how sleep ended: the table shows
  // the workload's end, not PID 1's exit code (128 + SIGTERM).
  EXPECT_EQ(statuses["term"].signal, SIGTERM) << statuses["term"].ToJson().dump();
  EXPECT_LT(elapsed, 5s);  // the default shutdown timeout is 5 s, the kill timeout 10 s
}

}  // namespace
}  // namespace arsenal::supervisor
