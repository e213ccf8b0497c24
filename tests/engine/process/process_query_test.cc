// get_process_info, get_process_tree and trace_process at the engine level.
#include <gtest/gtest.h>
#include <sys/prctl.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "arsenal/engine/engine.h"
#include "arsenal/engine/process_info.h"
#include "arsenal/engine/process_inspect.h"
#include "arsenal/engine/process_table.h"
#include "arsenal/engine/process_trace.h"
#include "process_test_helper.h"

namespace arsenal {
namespace {

using namespace std::chrono_literals;
using testing::Eventually;
using testing::HelperSpec;
using testing::OutputContains;
using testing::PidGone;

class ProcessQueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto engine = Engine::Create();
    ASSERT_TRUE(engine) << engine.error().ToString();
    engine_ = std::move(*engine);
    table_ = &engine_->Service<ProcessTable>();
  }

  ProcessSnapshot StartOk(ProcessSpec spec) {
    auto started = table_->Start(std::move(spec));
    EXPECT_TRUE(started) << started.error().ToString();
    return started ? *started : ProcessSnapshot{};
  }

  ProcessSnapshot Sleeper() {
    ProcessSpec spec;
    spec.argv = {"/bin/sleep", "60"};
    return StartOk(spec);
  }

  std::unique_ptr<Engine> engine_;
  ProcessTable* table_ = nullptr;
};

TEST_F(ProcessQueryTest, InfoCombinesTableAndKernelViews) {
  ProcessSpec spec;
  spec.argv = {"/bin/sleep", "60"};
  spec.stdin_mode = StdinMode::kPipe;
  spec.labels = {{"team", "web"}};
  auto p = StartOk(spec);
  ASSERT_TRUE(table_->WriteStdin(p.id, "abc"));  // sleep never reads it
  ASSERT_TRUE(Eventually([&] {
    auto info = GetProcessInfo(*table_, p.id);
    return info && (*info)["stdin"]["in_pipe_bytes"] == 3;
  }));
  auto info = GetProcessInfo(*table_, p.id);
  ASSERT_TRUE(info) << info.error().ToString();
  const Json& j = *info;
  EXPECT_EQ(j["id"], p.id);
  EXPECT_EQ(j["state"], "running");
  EXPECT_EQ(j["labels"]["team"], "web");
  EXPECT_EQ(j["stdin"]["queued_bytes"], 0);
  EXPECT_EQ(j["stdout"]["mode"], "capture");
  EXPECT_EQ(j["stdout"]["unread_in_pipe_bytes"], 0);
  const Json& os = j["os"];
  ASSERT_TRUE(os.is_object()) << j.dump(2);
  EXPECT_EQ(os["pid"], p.pid);
  EXPECT_EQ(os["ppid"], ::getpid());
  EXPECT_EQ(os["threads"], 1);
  // RSS counters are per-CPU approximations: they may read 0 right after exec, so wait a little.
  ASSERT_TRUE(Eventually([&] {
    auto again = GetProcessInfo(*table_, p.id);
    return again && (*again)["os"]["memory"]["rss_bytes"].get<uint64_t>() > 0;
  }));
  EXPECT_TRUE(os["memory"].contains("peak_rss_bytes"));
  EXPECT_TRUE(os["memory"]["cgroup"].contains("usage_bytes")) << os["memory"].dump();
  EXPECT_TRUE(os["cpu"].contains("user_ms"));
  EXPECT_EQ(os["open_fds"], 3);
  EXPECT_EQ(os["seccomp"]["mode"], "disabled");
  EXPECT_TRUE(os["namespaces"]["pid"].get<std::string>().starts_with("pid:["));
  EXPECT_TRUE(os["cgroups"].contains("memory"));
  EXPECT_EQ(os["cmdline"], Json({"/bin/sleep", "60"}));
  const auto& caps = os["capabilities"]["effective"]["names"];
  EXPECT_NE(std::find(caps.begin(), caps.end(), "cap_sys_admin"), caps.end());

  // Pending signals: a stopped process keeps SIGUSR1 pending.
  ASSERT_TRUE(table_->Suspend(p.id));
  ASSERT_TRUE(table_->Signal(p.id, SIGUSR1));
  auto stopped = GetProcessInfo(*table_, p.id);
  ASSERT_TRUE(stopped);
  EXPECT_EQ((*stopped)["state"], "suspended");
  EXPECT_EQ((*stopped)["os"]["os_state"], "stopped");
  EXPECT_EQ((*stopped)["os"]["signals"]["pending"], Json({"SIGUSR1"}));
  ASSERT_TRUE(table_->Kill(p.id, {.signal = SIGKILL}));

  auto exited = GetProcessInfo(*table_, p.id);
  ASSERT_TRUE(exited);
  EXPECT_EQ((*exited)["state"], "exited");
  EXPECT_TRUE((*exited)["os"].is_null());
  EXPECT_EQ((*exited)["exit"]["signal_name"], "SIGKILL");

  auto missing = GetProcessInfo(*table_, "p-424242");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), "process.not_found");
}

TEST_F(ProcessQueryTest, HostInfoReadsAnyPid) {
  auto info = GetHostProcessInfo(::getpid());
  ASSERT_TRUE(info) << info.error().ToString();
  EXPECT_EQ((*info)["managed"], false);
  EXPECT_GE((*info)["os"]["threads"].get<int>(), 2);  // engine threads
  auto gone = GetHostProcessInfo(999999);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), "process.not_found");
}

TEST_F(ProcessQueryTest, TreeOfASmallForkHierarchy) {
  ProcessSpec spec = HelperSpec("tree");
  spec.supervisor = "sup-tree";
  auto p = StartOk(spec);
  ASSERT_TRUE(Eventually([&] { return OutputContains(*table_, p.id, "ready"); }));
  auto tree = GetProcessTree(*table_, {.id = p.id});
  ASSERT_TRUE(tree) << tree.error().ToString();
  const Json& root = *tree;
  EXPECT_EQ(root["pid"], p.pid);
  EXPECT_EQ(root["id"], p.id);
  EXPECT_EQ(root["supervisor"], "sup-tree");
  ASSERT_EQ(root["children"].size(), 2u) << root.dump(2);
  std::vector<size_t> grandchildren;
  std::vector<pid_t> all = {p.pid};
  for (const auto& child : root["children"]) {
    EXPECT_EQ(child["ppid"], p.pid);
    EXPECT_FALSE(child.contains("id"));  // not managed
    grandchildren.push_back(child["children"].size());
    all.push_back(child["pid"]);
    for (const auto& g : child["children"]) {
      EXPECT_EQ(g["ppid"], child["pid"]);
      EXPECT_TRUE(g["children"].empty());
      all.push_back(g["pid"]);
    }
  }
  std::sort(grandchildren.begin(), grandchildren.end());
  EXPECT_EQ(grandchildren, (std::vector<size_t>{0, 1}));

  // The daemon's own tree contains the managed root, annotated.
  auto daemon = GetProcessTree(*table_, {});
  ASSERT_TRUE(daemon);
  bool found = false;
  for (const auto& child : (*daemon)["children"]) found |= child.value("id", "") == p.id;
  EXPECT_TRUE(found);

  // Killing the group leaves nothing behind: the orphans are re-parented to us and reaped.
  auto killed = table_->Kill(p.id, {.signal = SIGKILL, .process_group = true});
  ASSERT_TRUE(killed) << killed.error().ToString();
  for (pid_t pid : all) EXPECT_TRUE(Eventually([&] { return PidGone(pid); })) << pid;

  auto bad = GetProcessTree(*table_, {.pid = 999999});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), "process.not_found");
  EXPECT_EQ(bad.error().details()["field"], "pid");
  auto sandbox = GetProcessTree(*table_, {.sandbox = "sb-1"});
  ASSERT_FALSE(sandbox);
  EXPECT_EQ(sandbox.error().code(), "sandbox.not_found");
}

bool ContainsInOrder(const std::vector<SyscallRecord>& records,
                     const std::vector<std::string>& pattern) {
  for (size_t i = 0; i + pattern.size() <= records.size(); ++i) {
    bool match = true;
    for (size_t k = 0; k < pattern.size() && match; ++k) match = records[i + k].name == pattern[k];
    if (match) return true;
  }
  return false;
}

TEST_F(ProcessQueryTest, TraceRecordsTheKnownSyscallSequenceAndDetaches) {
  auto p = StartOk(HelperSpec("syscall_loop"));
  ASSERT_TRUE(Eventually([&] { return OutputContains(*table_, p.id, "ready"); }));
  auto trace = TraceProcess(*table_, p.id, {.duration = 500ms, .max_syscalls = 100000});
  ASSERT_TRUE(trace) << trace.error().ToString();
  EXPECT_EQ(trace->stopped_because, "duration");
  EXPECT_TRUE(trace->detached);
  EXPECT_EQ(trace->threads_traced, 1u);
  ASSERT_GE(trace->records.size(), 8u);
  EXPECT_TRUE(ContainsInOrder(trace->records, {"openat", "write", "close", "clock_nanosleep"}))
      << trace->ToJson().dump();
  for (size_t i = 0; i + 1 < trace->records.size(); ++i) {
    const auto& r = trace->records[i];
    EXPECT_EQ(r.tid, p.pid);
    EXPECT_LE(r.time_ns, trace->records[i + 1].time_ns);
    if (r.name == "write") {
      EXPECT_EQ(r.args[2], 1u);  // one byte
      EXPECT_EQ(r.ret, 1);
    }
    if (r.name == "openat") {
      EXPECT_GE(*r.ret, 0);
    }
    if (r.ret) {
      EXPECT_GE(r.duration_ns, 0);
    }
  }
  const Json j = trace->records.front().ToJson();
  for (const char* key : {"time_ns", "tid", "syscall", "args", "ret", "duration_us"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  // Detached cleanly: still running, no tracer, and traceable again.
  auto status = ReadProcStat(p.pid);
  ASSERT_TRUE(status);
  EXPECT_NE(status->state, 't');
  EXPECT_EQ(table_->Get(p.id)->state, ProcessState::kRunning);
  std::ifstream proc_status("/proc/" + std::to_string(p.pid) + "/status");
  std::string line;
  while (std::getline(proc_status, line)) {
    if (line.starts_with("TracerPid:")) {
      EXPECT_EQ(line, "TracerPid:\t0");
    }
  }
  auto again = TraceProcess(*table_, p.id, {.duration = 1000ms, .max_syscalls = 10});
  ASSERT_TRUE(again) << again.error().ToString();
  EXPECT_EQ(again->stopped_because, "count");
  EXPECT_GE(again->records.size(), 10u);
  EXPECT_LE(again->records.size(), 11u);
  ASSERT_TRUE(table_->Kill(p.id, {.signal = SIGKILL}));
}

TEST_F(ProcessQueryTest, TraceOfAnIdleProcessHonoursTheDeadline) {
  auto p = Sleeper();
  std::this_thread::sleep_for(30ms);
  const auto start = std::chrono::steady_clock::now();
  auto trace = TraceProcess(*table_, p.id, {.duration = 150ms, .max_syscalls = 100});
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(trace) << trace.error().ToString();
  EXPECT_EQ(trace->stopped_because, "duration");
  EXPECT_GE(took, 150ms);
  EXPECT_LT(took, 3s);
  EXPECT_TRUE(trace->detached);
  // Detaching interrupted its nanosleep; the kernel restarts it and it keeps sleeping.
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(table_->Get(p.id)->state, ProcessState::kRunning);
  EXPECT_EQ(ReadProcStat(p.pid)->state, 'S');
}

TEST_F(ProcessQueryTest, TraceReportsAnExitDuringTheTrace) {
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", "sleep 0.2; exit 3"};
  auto p = StartOk(spec);
  auto trace = TraceProcess(*table_, p.id, {.duration = 5000ms, .max_syscalls = 100000});
  ASSERT_TRUE(trace) << trace.error().ToString();
  EXPECT_EQ(trace->stopped_because, "exited");
  auto status = table_->Wait(p.id, 5s);
  ASSERT_TRUE(status) << status.error().ToString();
  EXPECT_EQ(status->code, 3);
  EXPECT_TRUE(Eventually([&] { return PidGone(p.pid); }));
}

TEST_F(ProcessQueryTest, TraceRejectsBadInput) {
  auto p = Sleeper();
  auto negative = TraceProcess(*table_, p.id, {.duration = -5ms});
  ASSERT_FALSE(negative);
  EXPECT_EQ(negative.error().code(), "process.invalid_trace");
  EXPECT_EQ(negative.error().details()["field"], "duration_ms");
  auto zero = TraceProcess(*table_, p.id, {.duration = 100ms, .max_syscalls = 0});
  ASSERT_FALSE(zero);
  EXPECT_EQ(zero.error().details()["field"], "max_syscalls");
  auto missing = TraceProcess(*table_, "p-999", {});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), "process.not_found");
  auto self = TracePid(::getpid(), {});
  ASSERT_FALSE(self);
  ASSERT_TRUE(table_->Suspend(p.id));
  auto suspended = TraceProcess(*table_, p.id, {});
  ASSERT_FALSE(suspended);
  EXPECT_EQ(suspended.error().code(), "process.not_running");
}

TEST(SyscallNameTest, ResolvesThroughLibseccomp) {
  constexpr uint32_t kAuditArchX86_64 = 0xC000003E;
  EXPECT_EQ(SyscallName(kAuditArchX86_64, 257), "openat");
  EXPECT_EQ(SyscallName(kAuditArchX86_64, 1), "write");
  EXPECT_EQ(SyscallName(kAuditArchX86_64, 99999), "syscall_99999");
}

}  // namespace
}  // namespace arsenal
