// The sandboxed plugin host, for real: namespaces, seccomp, Landlock and a cgroup memory limit
// around arsenal-plugin-host, reload by host handover, supervision, and the hostile plugin.
#include "arsenal/hotreload/plugin_host.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "hotreload_test_util.h"

namespace arsenal::hotreload::testing {
namespace {

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

// The host process itself: the only child of the sandbox's init (the pid PluginHost reports).
pid_t HostWorkload(pid_t init) {
  std::string children =
      ReadText("/proc/" + std::to_string(init) + "/task/" + std::to_string(init) + "/children");
  return children.empty() ? 0 : static_cast<pid_t>(std::stol(children));
}

int MappingsIn(pid_t pid, const std::string& needle) {
  std::istringstream maps(ReadText("/proc/" + std::to_string(pid) + "/maps"));
  int count = 0;
  for (std::string line; std::getline(maps, line);) {
    if (line.find(needle) != std::string::npos) ++count;
  }
  return count;
}

bool Exists(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

class PluginHostTest : public ModuleTest {
 protected:
  void SetUp() override {
#if defined(__SANITIZE_ADDRESS__)
    GTEST_SKIP() << "the sanitizer runtime in arsenal-plugin-host needs syscalls and /proc reads "
                    "that its seccomp and Landlock policy deny";
#endif
    ModuleTest::SetUp();
  }
  PluginHostOptions Options() {
    PluginHostOptions options;
    options.host_binary = ARSENAL_PLUGIN_HOST;
    options.modules_dir = root_ / "sandboxed";
    options.memory_limit_bytes = 64u << 20;
    options.call_timeout = std::chrono::milliseconds(3000);
    options.stderr_fd = 2;  // the host's own diagnostics end up in the test log
    return options;
  }
  PluginHost& Host(PluginHostOptions options) {
    auto created = PluginHost::Create("plugins", std::move(options));
    EXPECT_TRUE(created) << created.error().ToString();
    if (!created) std::abort();
    host_ = std::move(*created);
    return *host_;
  }
  PluginHost& Host() { return Host(Options()); }
  void TearDown() override {
    host_.reset();
    ModuleTest::TearDown();
  }

  std::unique_ptr<PluginHost> host_;
};

TEST_F(PluginHostTest, RunsAModuleInAnIsolatedProcessWithAMemoryLimit) {
  auto& host = Host();
  ASSERT_OK(host.Load("counter", ARSENAL_COUNTER_V1));
  auto out = host.Call("counter", "incr", "a");
  ASSERT_OK(out);
  EXPECT_EQ(*out, "1 v1");
  PluginHostInfo info = host.HostInfo();
  ASSERT_TRUE(info.running);
  EXPECT_EQ(info.modules, std::vector<std::string>{"counter"});
  pid_t worker = HostWorkload(info.pid);
  ASSERT_GT(worker, 0);
  for (const char* ns : {"user", "pid", "net", "mnt", "ipc", "uts", "cgroup"}) {
    char mine[64] = {}, theirs[64] = {};
    ASSERT_GT(::readlink(("/proc/self/ns/" + std::string(ns)).c_str(), mine, sizeof(mine)), 0);
    ASSERT_GT(::readlink(("/proc/" + std::to_string(worker) + "/ns/" + ns).c_str(), theirs,
                         sizeof(theirs)),
              0);
    EXPECT_STRNE(mine, theirs) << ns;
  }
  std::string status = ReadText("/proc/" + std::to_string(worker) + "/status");
  EXPECT_NE(status.find("Seccomp:\t2"), std::string::npos);
  EXPECT_NE(status.find("NoNewPrivs:\t1"), std::string::npos);
  EXPECT_NE(status.find("CapEff:\t0000000000000000"), std::string::npos);
  // Two filters: the start profile and the seal.
  EXPECT_NE(status.find("Seccomp_filters:\t2"), std::string::npos) << status;
  // The memory cgroup carries the limit (paths in /proc/<pid>/cgroup are relative to the
  // reader's cgroup namespace, which for this test is the host's).
  std::istringstream cgroups(ReadText("/proc/" + std::to_string(worker) + "/cgroup"));
  std::string limit;
  for (std::string line; std::getline(cgroups, line);) {
    auto at = line.find(":memory:");
    if (at != std::string::npos) {
      limit = ReadText("/sys/fs/cgroup/memory" + line.substr(at + 8) + "/memory.limit_in_bytes");
    }
  }
  if (!limit.empty()) {
    EXPECT_EQ(std::stoull(limit), 64u << 20);
  } else {
    ADD_FAILURE() << "no v1 memory cgroup (cgroup v2 hosts: check memory.max)";
  }
  // The engine never mapped the module.
  EXPECT_EQ(MappingsOf("counter@"), 0);
  EXPECT_EQ(MappingsOf("hotreload_counter_v1"), 0);
}

TEST_F(PluginHostTest, StateSurvivesReloadFromV1ToV2ByHostHandover) {
  auto& host = Host();
  ASSERT_OK(host.Load("counter", ARSENAL_COUNTER_V1));
  for (int i = 0; i < 3; ++i) ASSERT_OK(host.Call("counter", "incr", "a"));
  pid_t old_pid = host.HostInfo().pid;
  auto reloaded = host.Reload({{"counter", ARSENAL_COUNTER_V2}});
  ASSERT_OK(reloaded);
  ASSERT_EQ(reloaded->size(), 1u);
  EXPECT_EQ((*reloaded)[0].current.version, "2.0.0");
  EXPECT_EQ((*reloaded)[0].host, "plugins");
  EXPECT_GT((*reloaded)[0].last_swap_ns, 0u);
  EXPECT_EQ(*host.Call("counter", "get", "a"), "3");
  EXPECT_EQ(*host.Call("counter", "updates", "a"), "3");
  EXPECT_EQ(*host.Call("counter", "incr", "a"), "4 v2");
  PluginHostInfo info = host.HostInfo();
  EXPECT_NE(info.pid, old_pid);
  EXPECT_FALSE(Exists(old_pid)) << "the old host was stopped";
  EXPECT_EQ(info.restarts, 0u);
  auto versions = host.Versions("counter");
  ASSERT_OK(versions);
  ASSERT_EQ(versions->size(), 2u);
  EXPECT_EQ((*versions)[0].version, "2.0.0");
  EXPECT_TRUE((*versions)[0].serving);
  EXPECT_EQ((*versions)[1].version, "1.0.0");
}

TEST_F(PluginHostTest, BrokenV3RollsBackWithV2ServingAndStateIntact) {
  auto& host = Host();
  ASSERT_OK(host.Load("counter", ARSENAL_COUNTER_V1));
  ASSERT_OK(host.Call("counter", "incr", "a"));
  ASSERT_OK(host.Reload({{"counter", ARSENAL_COUNTER_V2}}));
  ASSERT_OK(host.Call("counter", "incr", "a"));
  pid_t serving = host.HostInfo().pid;
  EXPECT_ERROR_CODE(host.Reload({{"counter", ARSENAL_COUNTER_V3_BROKEN}}), "module.create_failed");
  EXPECT_ERROR_CODE(host.Reload({{"counter", ARSENAL_COUNTER_V3_UNHEALTHY}}),
                    "module.health_check_failed");
  EXPECT_EQ(host.HostInfo().pid, serving) << "the old host kept serving";
  EXPECT_EQ(*host.Call("counter", "get", "a"), "2");
  EXPECT_EQ(*host.Call("counter", "incr", "a"), "3 v2");
  auto info = host.Info("counter");
  ASSERT_OK(info);
  EXPECT_EQ(info->current.version, "2.0.0");
  // Rolling back to 1.0.0 migrates the state through v2's snapshot(wanted = 1).
  auto rolled = host.Rollback("counter", "1.0.0");
  ASSERT_OK(rolled);
  EXPECT_EQ(rolled->current.version, "1.0.0");
  EXPECT_EQ(*host.Call("counter", "incr", "a"), "4 v1");
  EXPECT_ERROR_CODE(host.Rollback("counter", "1.0.0"), "module.already_current");
  EXPECT_ERROR_CODE(host.Rollback("counter", "9.9.9"), "module.version_not_found");
}

TEST_F(PluginHostTest, BadFilesGiveClearErrorsAndThePreviousVersionKeepsServing) {
  auto& host = Host();
  ASSERT_OK(host.Load("counter", ARSENAL_GARBAGE_STATE));
  ASSERT_OK(host.Call("counter", "incr", ""));
  std::filesystem::path text = root_ / "notes.txt";
  std::ofstream(text) << "not a module\n";
  EXPECT_ERROR_CODE(host.Reload({{"counter", text}}), "module.not_elf");
  EXPECT_ERROR_CODE(host.Reload({{"counter", ARSENAL_WRONG_ABI}}), "module.abi_mismatch");
  EXPECT_ERROR_CODE(host.Reload({{"counter", ARSENAL_NO_ENTRY}}), "module.missing_entry_point");
  EXPECT_ERROR_CODE(host.Reload({{"counter", ARSENAL_COUNTER_V1}}), "module.bad_state");
  EXPECT_ERROR_CODE(host.Reload({{"counter", root_ / "missing.so"}}), "module.io");
  EXPECT_ERROR_CODE(host.Reload({{"counter", root_}}), "module.not_elf");
  EXPECT_ERROR_CODE(host.Load("other", text), "module.not_elf");
  EXPECT_ERROR_CODE(host.Load("counter", ARSENAL_COUNTER_V1), "module.exists");
  EXPECT_EQ(*host.Call("counter", "incr", ""), "2 garbage");
  EXPECT_EQ(host.HostInfo().restarts, 0u);
}

TEST_F(PluginHostTest, HostileReadsAndWritesOfHostFilesAreDenied) {
  auto& host = Host();
  ASSERT_OK(host.Load("hostile", ARSENAL_HOSTILE));
  pid_t pid = host.HostInfo().pid;
  for (const char* path : {"/etc/passwd", "/etc/shadow", "/proc/1/environ", "/root/.bashrc"}) {
    auto read = host.Call("hostile", "read_file", path);
    ASSERT_FALSE(read) << path << " was readable: " << read->substr(0, 40);
    EXPECT_EQ(read.error().code(), "module.call_failed") << read.error().ToString();
    EXPECT_NE(read.error().message().find("Permission denied"), std::string::npos)
        << read.error().ToString();
  }
  // The module file itself is not reachable either (it came as bytes).
  EXPECT_FALSE(host.Call("hostile", "read_file", ARSENAL_HOSTILE));
  std::string target = (root_ / "owned").string();
  ASSERT_EQ(::chmod(root_.c_str(), 0777), 0);
  auto wrote = host.Call("hostile", "write_file", target);
  EXPECT_FALSE(wrote);
  EXPECT_FALSE(std::filesystem::exists(target));
  EXPECT_FALSE(host.Call("hostile", "write_file", "/tmp/arsenal-hostile-owned"));
  EXPECT_FALSE(std::filesystem::exists("/tmp/arsenal-hostile-owned"));
  EXPECT_EQ(*host.Call("hostile", "ping", ""), "pong");
  EXPECT_EQ(host.HostInfo().pid, pid) << "denials are errors, not crashes";
}

TEST_F(PluginHostTest, ForkBombIsRefusedBySeccomp) {
  auto& host = Host();
  ASSERT_OK(host.Load("hostile", ARSENAL_HOSTILE));
  pid_t pid = host.HostInfo().pid;
  auto bomb = host.Call("hostile", "fork_bomb", "confirm");
  ASSERT_OK(bomb);
  EXPECT_EQ(*bomb, "fork failed");
  EXPECT_EQ(ReadText("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children"),
            std::to_string(HostWorkload(pid)) + " ")
      << "only the host itself runs in the sandbox";
  EXPECT_EQ(*host.Call("hostile", "ping", ""), "pong");
  EXPECT_EQ(host.HostInfo().restarts, 0u);
}

TEST_F(PluginHostTest, SpinningModuleIsKilledByTheCallTimeoutAndTheHostRestarted) {
  auto options = Options();
  options.call_timeout = std::chrono::milliseconds(300);
  auto& host = Host(options);
  ASSERT_OK(host.Load("counter", ARSENAL_COUNTER_V1,
                      {.initial_state = "a=7\n", .initial_state_version = 1}));
  ASSERT_OK(host.Load("hostile", ARSENAL_HOSTILE));
  pid_t before = host.HostInfo().pid;
  auto start = std::chrono::steady_clock::now();
  auto spun = host.Call("hostile", "spin", "");
  ASSERT_FALSE(spun);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(spun.error().code(), "module.call_timeout");
  EXPECT_TRUE(spun.error().retryable());
  EXPECT_EQ(spun.error().details()["reason"], "timeout");
  EXPECT_EQ(spun.error().details()["restarted"], true);
  PluginHostInfo info = host.HostInfo();
  EXPECT_EQ(info.restarts, 1u);
  EXPECT_NE(info.pid, before);
  EXPECT_FALSE(Exists(before));
  ASSERT_TRUE(info.last_exit);
  EXPECT_EQ(info.last_exit->reason, "timeout");
  EXPECT_EQ(info.last_exit->during, "call hostile.spin");
  EXPECT_EQ(*host.Call("hostile", "ping", ""), "pong");
  EXPECT_EQ(*host.Call("counter", "get", "a"), "7") << "restarted from the load-time state";
}

TEST_F(PluginHostTest, CrashRestartsTheHostFromTheLastSnapshot) {
  auto& host = Host();
  ASSERT_OK(host.Load("counter", ARSENAL_COUNTER_V2));
  ASSERT_OK(host.Load("hostile", ARSENAL_HOSTILE));
  ASSERT_OK(host.Call("counter", "incr", "a"));
  ASSERT_OK(host.Call("counter", "incr", "a"));
  ASSERT_OK(host.Snapshot("counter"));  // the checkpoint: a = 2
  ASSERT_OK(host.Call("counter", "incr", "a"));
  auto crashed = host.Call("hostile", "crash", "");
  ASSERT_FALSE(crashed);
  EXPECT_EQ(crashed.error().code(), "module.host_crashed") << crashed.error().ToString();
  EXPECT_TRUE(crashed.error().retryable());
  EXPECT_EQ(crashed.error().details()["signal"], SIGSEGV);
  EXPECT_EQ(crashed.error().details()["exit_code"], 128 + SIGSEGV);
  EXPECT_EQ(*host.Call("counter", "get", "a"), "2");
  EXPECT_EQ(*host.Call("counter", "incr", "a"), "3 v2");
  EXPECT_EQ(host.HostInfo().restarts, 1u);
  EXPECT_EQ(host.Info("counter")->current.version, "2.0.0");
}

TEST_F(PluginHostTest, CheckpointsEveryCallLoseNothingInACrash) {
  auto options = Options();
  options.checkpoint_every_calls = 1;
  auto& host = Host(options);
  ASSERT_OK(host.Load("counter", ARSENAL_COUNTER_V1));
  ASSERT_OK(host.Load("hostile", ARSENAL_HOSTILE));
  for (int i = 0; i < 5; ++i) ASSERT_OK(host.Call("counter", "incr", "a"));
  EXPECT_FALSE(host.Call("hostile", "crash", ""));
  EXPECT_EQ(*host.Call("counter", "get", "a"), "5");
}

TEST_F(PluginHostTest, MemoryHogIsKilledByTheCgroupAndReportedAsOom) {
  auto& host = Host();  // 64 MiB
  ASSERT_OK(host.Load("hostile", ARSENAL_HOSTILE));
  ASSERT_OK(host.Call("hostile", "alloc", "8"));
  auto hog = host.Call("hostile", "alloc", "256");
  ASSERT_FALSE(hog);
  EXPECT_EQ(hog.error().code(), "module.host_crashed") << hog.error().ToString();
  EXPECT_EQ(hog.error().details()["oom"], true) << hog.error().ToString();
  EXPECT_EQ(*host.Call("hostile", "ping", ""), "pong");
  EXPECT_EQ(host.HostInfo().restarts, 1u);
}

TEST_F(PluginHostTest, TooManyCrashesFailTheHostUntilAReload) {
  auto options = Options();
  options.max_restarts = 1;
  auto& host = Host(options);
  ASSERT_OK(host.Load("hostile", ARSENAL_HOSTILE));
  EXPECT_ERROR_CODE(host.Call("hostile", "crash", ""), "module.host_crashed");
  auto second = host.Call("hostile", "crash", "");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().details()["restarted"], false);
  EXPECT_ERROR_CODE(host.Call("hostile", "ping", ""), "module.host_failed");
  EXPECT_TRUE(host.HostInfo().failed);
  EXPECT_FALSE(host.HostInfo().running);
  ASSERT_OK(host.Reload({}));  // a fresh host from the checkpoints
  EXPECT_EQ(*host.Call("hostile", "ping", ""), "pong");
  EXPECT_FALSE(host.HostInfo().failed);
}

TEST_F(PluginHostTest, AModuleThatCrashesWhileLoadingIsNotKept) {
  auto& host = Host();
  ASSERT_OK(host.Load("counter", ARSENAL_COUNTER_V1));
  ASSERT_OK(host.Call("counter", "incr", "a"));
  ASSERT_OK(host.Snapshot("counter"));
  EXPECT_ERROR_CODE(host.Load("broken", ARSENAL_COUNTER_V3_BROKEN), "module.create_failed");
  EXPECT_FALSE(host.Contains("broken"));
  EXPECT_EQ(*host.Call("counter", "get", "a"), "1");
}

TEST_F(PluginHostTest, UnloadLeavesNoMappingOfTheModuleInTheHost) {
  auto& host = Host();
  ASSERT_OK(host.Load("counter", ARSENAL_COUNTER_V1));
  ASSERT_OK(host.Load("hostile", ARSENAL_HOSTILE));
  pid_t worker = HostWorkload(host.HostInfo().pid);
  ASSERT_GT(worker, 0);
  EXPECT_GT(MappingsIn(worker, "memfd:arsenal-module:counter"), 0);
  ASSERT_OK(host.Unload("counter"));
  EXPECT_EQ(MappingsIn(worker, "memfd:arsenal-module:counter"), 0);
  EXPECT_GT(MappingsIn(worker, "memfd:arsenal-module:hostile"), 0);
  EXPECT_ERROR_CODE(host.Call("counter", "get", "a"), "module.not_found");
  EXPECT_EQ(FilesIn(root_ / "sandboxed"), 1u) << "only the hostile module's file remains";
  ASSERT_OK(host.Unload("hostile"));
  EXPECT_EQ(FilesIn(root_ / "sandboxed"), 0u);
}

TEST_F(PluginHostTest, ReloadsUnderConcurrentCallsLoseNoCallAndNoState) {
  auto& host = Host();
  ASSERT_OK(host.Load("counter", ARSENAL_COUNTER_V2));
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0};
  std::vector<std::thread> callers;
  std::vector<std::string> failures;
  std::mutex failures_mu;
  for (int t = 0; t < 2; ++t) {
    callers.emplace_back([&, t] {
      std::string key = "k" + std::to_string(t);
      int64_t expected = 0;
      while (!stop.load()) {
        auto out = host.Call("counter", "incr", key);
        if (!out || *out != std::to_string(++expected) + " v2") {
          std::lock_guard lock(failures_mu);
          failures.push_back(out ? *out : out.error().ToString());
          return;
        }
        answered.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 10; ++i) {
    ASSERT_OK(host.Reload({{"counter", i % 2 == 0 ? ARSENAL_COUNTER_V2B : ARSENAL_COUNTER_V2}}));
  }
  stop = true;
  for (auto& caller : callers) caller.join();
  EXPECT_TRUE(failures.empty()) << failures.front();
  int64_t total = std::stoll(*host.Call("counter", "get", "k0")) +
                  std::stoll(*host.Call("counter", "get", "k1"));
  EXPECT_EQ(total, answered.load());
  EXPECT_EQ(host.Info("counter")->reloads, 10u);
}

// Busy-polling on or off changes nothing but latency: the sealed host's seccomp filter allows
// what it polls with, and answers, crashes and restarts are the same.
TEST_F(PluginHostTest, CallsAreTheSameWithAndWithoutBusyPolling) {
  for (int spin_us : {0, 1000}) {
    SCOPED_TRACE("spin_budget " + std::to_string(spin_us) + " us");
    auto options = Options();
    options.spin_budget = std::chrono::microseconds(spin_us);
    auto& host = Host(options);
    ASSERT_OK(host.Load("counter", ARSENAL_COUNTER_V2));
    ASSERT_OK(host.Load("hostile", ARSENAL_HOSTILE));
    for (int i = 1; i <= 300; ++i) {
      auto out = host.Call("counter", "incr", "k");
      ASSERT_TRUE(out) << out.error().ToString();
      ASSERT_EQ(*out, std::to_string(i) + " v2");
    }
    ASSERT_OK(host.Snapshot("counter"));
    EXPECT_ERROR_CODE(host.Call("hostile", "crash", ""), "module.host_crashed");
    EXPECT_EQ(*host.Call("counter", "get", "k"), "300");
    EXPECT_EQ(host.HostInfo().restarts, 1u);
    host_.reset();
  }
}

TEST_F(PluginHostTest, RefusesBadOptions) {
  auto options = Options();
  options.host_binary = "relative/arsenal-plugin-host";
  EXPECT_ERROR_CODE(PluginHost::Create("p", options), "module.bad_options");
  options = Options();
  options.memory_limit_bytes = 1024;
  EXPECT_ERROR_CODE(PluginHost::Create("p", options), "module.bad_options");
  EXPECT_ERROR_CODE(PluginHost::Create("../p", Options()), "module.bad_options");
  options = Options();
  options.spin_budget = std::chrono::microseconds(1001);
  EXPECT_ERROR_CODE(PluginHost::Create("p", options), "module.bad_options");
  options = Options();
  options.host_binary = "/bin/true";  // not a plugin host: it never answers the seal
  EXPECT_ERROR_CODE(PluginHost::Create("p", options), "module.sandbox_failed");
}

}  // namespace
}  // namespace arsenal::hotreload::testing
