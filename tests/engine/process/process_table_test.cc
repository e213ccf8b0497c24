#include "arsenal/engine/process_table.h"

#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/prctl.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>

#include "arsenal/base/syscalls.h"
#include "arsenal/engine/engine.h"
#include "arsenal/engine/process_checkpoint.h"
#include "arsenal/engine/process_inspect.h"
#include "process_test_helper.h"

namespace arsenal {
namespace {

// Helper programs run from this binary (see process_test_helper.h).
[[maybe_unused]] const int kHelper = testing::RunProcessTestHelperIfRequested();

using namespace std::chrono_literals;
using testing::Eventually;
using testing::HelperSpec;
using testing::OutputContains;
using testing::PidGone;
using testing::Sh;

class ProcessTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto engine = Engine::Create();
    ASSERT_TRUE(engine) << engine.error().ToString();
    engine_ = std::move(*engine);
    table_ = &engine_->Service<ProcessTable>();
  }

  ProcessSnapshot StartOk(ProcessSpec spec, StartOptions options = {}) {
    auto started = table_->Start(std::move(spec), std::move(options));
    EXPECT_TRUE(started) << started.error().ToString();
    return started ? *started : ProcessSnapshot{};
  }

  std::unique_ptr<Engine> engine_;
  ProcessTable* table_ = nullptr;
};

TEST_F(ProcessTableTest, StartsAndReportsExitCode) {
  auto p = StartOk(Sh("exit 3"));
  EXPECT_EQ(p.id, "p-1");
  EXPECT_GT(p.pid, 0);
  EXPECT_EQ(p.name, "sh");
  auto status = table_->Wait(p.id, 5s);
  ASSERT_TRUE(status) << status.error().ToString();
  EXPECT_EQ(status->code, 3);
  EXPECT_EQ(status->signal, 0);
  auto snap = table_->Get(p.id);
  ASSERT_TRUE(snap);
  EXPECT_EQ(snap->state, ProcessState::kExited);
  EXPECT_TRUE(Eventually([&] { return PidGone(p.pid); }));  // reaped, not a zombie
}

TEST_F(ProcessTableTest, CapturesStdoutAndStderrSeparately) {
  auto p = StartOk(Sh("echo out; echo err >&2"));
  ASSERT_TRUE(table_->Wait(p.id, 5s));
  auto out = table_->ReadOutput(p.id, OutputStream::kStdout, 0, 1024);
  auto err = table_->ReadOutput(p.id, OutputStream::kStderr, 0, 1024);
  ASSERT_TRUE(out && err);
  EXPECT_EQ(out->data, "out\n");
  EXPECT_EQ(err->data, "err\n");
  EXPECT_EQ(out->end_offset, 4u);
}

TEST_F(ProcessTableTest, RingBufferKeepsTheTailAndCountsDropped) {
  ProcessSpec spec = HelperSpec("spew");
  spec.stdout_spec.ring_bytes = 1024;
  auto p = StartOk(spec);
  ASSERT_TRUE(table_->Wait(p.id, 5s));
  ASSERT_TRUE(Eventually(
      [&] { return table_->ReadOutput(p.id, OutputStream::kStdout, 0, 1)->end_offset == 5000; }));
  auto chunk = table_->ReadOutput(p.id, OutputStream::kStdout, 0, 1 << 20);
  ASSERT_TRUE(chunk);
  EXPECT_EQ(chunk->data.size(), 1024u);
  EXPECT_EQ(chunk->start_offset, 5000u - 1024u);
  EXPECT_EQ(chunk->dropped, 5000u - 1024u);
  EXPECT_EQ(chunk->data[0], static_cast<char>('a' + (5000 - 1024) % 26));
  auto later = table_->ReadOutput(p.id, OutputStream::kStdout, 4990, 100);
  ASSERT_TRUE(later);
  EXPECT_EQ(later->data.size(), 10u);
  EXPECT_EQ(later->dropped, 0u);
}

TEST_F(ProcessTableTest, OutputIsAlsoWrittenToTheLogFile) {
  const auto log = engine_->state_dir() / "out.log";
  ProcessSpec spec = Sh("echo to-log");
  spec.stdout_spec.log_file = log.string();
  auto p = StartOk(spec);
  ASSERT_TRUE(table_->Wait(p.id, 5s));
  std::ifstream in(log);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "to-log");
}

TEST_F(ProcessTableTest, StdinPipeDeliversDataAndEof) {
  ProcessSpec spec;
  spec.argv = {"/bin/cat"};
  spec.stdin_mode = StdinMode::kPipe;
  spec.stdin_data = "hello ";
  auto p = StartOk(spec);
  ASSERT_TRUE(table_->WriteStdin(p.id, "world"));
  ASSERT_TRUE(table_->CloseStdin(p.id));
  auto status = table_->Wait(p.id, 5s);
  ASSERT_TRUE(status) << status.error().ToString();
  EXPECT_EQ(status->code, 0);
  EXPECT_EQ(table_->ReadOutput(p.id, OutputStream::kStdout, 0, 100)->data, "hello world");
}

TEST_F(ProcessTableTest, EnvironmentIsNotInheritedByDefault) {
  ::setenv("ARSENAL_TEST_SECRET", "leak", 1);
  ProcessSpec spec = Sh("echo \"[$ARSENAL_TEST_SECRET][$FOO][$PATH]\"");
  spec.env = {{"FOO", "bar"}};
  auto p = StartOk(spec);
  ASSERT_TRUE(table_->Wait(p.id, 5s));
  EXPECT_EQ(table_->ReadOutput(p.id, OutputStream::kStdout, 0, 1000)->data,
            "[][bar][/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin]\n");
  ::unsetenv("ARSENAL_TEST_SECRET");
}

TEST_F(ProcessTableTest, ChildGetsOnlyStdioAndItsCwd) {
  ProcessSpec spec = Sh("ls /proc/self/fd | sort -n | tr '\\n' ' '; pwd");
  spec.cwd = "/tmp";
  auto p = StartOk(spec);
  ASSERT_TRUE(table_->Wait(p.id, 5s));
  // 0-2, plus the fd ls itself opens for the directory; nothing inherited (10, 251, ...).
  EXPECT_EQ(table_->ReadOutput(p.id, OutputStream::kStdout, 0, 1000)->data, "0 1 2 3 /tmp\n");
}

TEST_F(ProcessTableTest, MissingExecutableAndBadCwdAreValidationErrors) {
  ProcessSpec spec;
  spec.argv = {"no-such-program-xyz"};
  auto missing = table_->Start(spec);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), "process.executable_not_found");
  EXPECT_EQ(missing.error().details()["field"], "argv[0]");
  spec.argv = {"/bin/true"};
  spec.cwd = "/no/such/dir";
  auto bad_cwd = table_->Start(spec);
  ASSERT_FALSE(bad_cwd);
  EXPECT_EQ(bad_cwd.error().code(), "process.invalid_cwd");
  EXPECT_EQ(table_->size(), 0u);
}

TEST_F(ProcessTableTest, ExitIsDeliveredToTheStartCallbackOnTheLoop) {
  std::promise<std::pair<ProcessEvent, std::thread::id>> got;
  StartOptions options;
  options.on_event = [&](const ProcessEvent& e) { got.set_value({e, std::this_thread::get_id()}); };
  auto p = StartOk(Sh("exit 7"), std::move(options));
  auto future = got.get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  auto [event, thread] = future.get();
  EXPECT_EQ(event.kind, ProcessEventKind::kExit);
  EXPECT_EQ(event.id, p.id);
  ASSERT_TRUE(event.exit);
  EXPECT_EQ(event.exit->code, 7);
  EXPECT_NE(thread, std::this_thread::get_id());
}

TEST_F(ProcessTableTest, SubscribingAfterTheExitReplaysIt) {
  auto p = StartOk(Sh("exit 0"));
  ASSERT_TRUE(table_->Wait(p.id, 5s));
  std::promise<ProcessEvent> got;
  auto sub = table_->Subscribe(p.id, static_cast<uint32_t>(ProcessEventKind::kExit),
                               [&](const ProcessEvent& e) { got.set_value(e); });
  ASSERT_TRUE(sub);
  auto future = got.get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(future.get().exit->code, 0);
  EXPECT_TRUE(table_->Unsubscribe(*sub));
  EXPECT_FALSE(table_->Unsubscribe(*sub));
}

TEST_F(ProcessTableTest, ExitEventsReachTheEventBus) {
  std::promise<Event> got;
  std::atomic<bool> once{false};
  engine_->events().Attach("arsenal.process.exit", [&](const Event& e) {
    if (!once.exchange(true)) got.set_value(e);
  });
  auto p = StartOk(Sh("exit 4"));
  auto future = got.get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  Event e = future.get();
  EXPECT_EQ(e.metadata["id"], p.id);
  EXPECT_EQ(e.measurements["exit_code"], 4);
  EXPECT_EQ(e.measurements["pid"], p.pid);
}

TEST_F(ProcessTableTest, KillWithGraceEndsWithTheSignal) {
  ProcessSpec spec;
  spec.argv = {"/bin/sleep", "60"};
  auto p = StartOk(spec);
  auto outcome = table_->Kill(
      p.id, {.signal = SIGTERM, .grace = 5s, .requested_by = "test", .reason = "unit test"});
  ASSERT_TRUE(outcome) << outcome.error().ToString();
  EXPECT_EQ(outcome->how, "exited_after_signal");
  EXPECT_EQ(outcome->exit.signal, SIGTERM);
  EXPECT_LT(outcome->waited_ms, 4000);
  // The termination is recorded with who asked and why.
  auto rows = engine_->store().Query(
      "SELECT requested_by, reason, how FROM process_terminations WHERE process_id = ?1", {p.id});
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0]["requested_by"], "test");
  EXPECT_EQ((*rows)[0]["reason"], "unit test");
  EXPECT_EQ((*rows)[0]["how"], "exited_after_signal");
}

TEST_F(ProcessTableTest, KillEscalatesToSigkillAfterTheGracePeriod) {
  auto p = StartOk(HelperSpec("ignore_term"));
  ASSERT_TRUE(Eventually([&] { return OutputContains(*table_, p.id, "ready"); }));
  const auto started = std::chrono::steady_clock::now();
  auto outcome = table_->Kill(p.id, {.signal = SIGTERM, .grace = 200ms});
  ASSERT_TRUE(outcome) << outcome.error().ToString();
  EXPECT_EQ(outcome->how, "killed_after_grace");
  EXPECT_EQ(outcome->exit.signal, SIGKILL);
  EXPECT_GE(std::chrono::steady_clock::now() - started, 200ms);
}

TEST_F(ProcessTableTest, KillingAnExitedProcessIsAnIdempotentSuccess) {
  auto p = StartOk(Sh("exit 5"));
  ASSERT_TRUE(table_->Wait(p.id, 5s));
  for (int i = 0; i < 2; ++i) {
    auto outcome = table_->Kill(p.id, {});
    ASSERT_TRUE(outcome) << outcome.error().ToString();
    EXPECT_EQ(outcome->how, "already_exited");
    EXPECT_EQ(outcome->exit.code, 5);
  }
}

TEST_F(ProcessTableTest, KillRejectsUnknownIdsBadSignalsAndNegativeGrace) {
  auto unknown = table_->Kill("p-999", {});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), "process.not_found");
  EXPECT_EQ(unknown.error().details()["field"], "id");
  auto garbage = table_->Kill("not-an-id", {});
  ASSERT_FALSE(garbage);
  EXPECT_EQ(garbage.error().code(), "process.not_found");
  ProcessSpec spec;
  spec.argv = {"/bin/sleep", "60"};
  auto p = StartOk(spec);
  auto bad_signal = table_->Kill(p.id, {.signal = 0});
  ASSERT_FALSE(bad_signal);
  EXPECT_EQ(bad_signal.error().code(), "process.invalid_signal");
  EXPECT_EQ(bad_signal.error().details()["field"], "signal");
  auto bad_signal2 = table_->Kill(p.id, {.signal = 999});
  ASSERT_FALSE(bad_signal2);
  EXPECT_EQ(bad_signal2.error().code(), "process.invalid_signal");
  auto negative = table_->Kill(p.id, {.grace = -5ms});
  ASSERT_FALSE(negative);
  EXPECT_EQ(negative.error().code(), "process.invalid_grace");
  EXPECT_EQ(negative.error().details()["field"], "grace_ms");
  EXPECT_EQ(table_->Get(p.id)->state, ProcessState::kRunning);  // none of them touched it
}

TEST_F(ProcessTableTest, SuspendAndResumeAreIdempotent) {
  ProcessSpec spec;
  spec.argv = {"/bin/sleep", "60"};
  auto p = StartOk(spec);
  EXPECT_EQ(table_->Suspend(p.id), true);
  EXPECT_EQ(table_->Suspend(p.id), false);
  EXPECT_EQ(ReadProcStat(p.pid)->state, 'T');
  EXPECT_EQ(table_->Get(p.id)->state, ProcessState::kSuspended);
  EXPECT_EQ(table_->Resume(p.id), true);
  EXPECT_EQ(table_->Resume(p.id), false);
  EXPECT_NE(ReadProcStat(p.pid)->state, 'T');
  EXPECT_EQ(table_->Get(p.id)->state, ProcessState::kRunning);
  // A suspended process can still be killed with a grace period (it is continued first).
  ASSERT_TRUE(table_->Suspend(p.id));
  auto outcome = table_->Kill(p.id, {.signal = SIGTERM, .grace = 5s});
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->how, "exited_after_signal");
  auto after = table_->Suspend(p.id);
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code(), "process.not_running");
}

// Makes the next pid the kernel hands out equal `pid` (as CRIU does), then spawns /bin/sleep.
// Returns the new process's pid, or 0 when another process on the machine took the pid first.
pid_t SpawnWithPid(pid_t pid) {
  std::ofstream last("/proc/sys/kernel/ns_last_pid");
  if (!last) return 0;
  last << (pid - 1);
  last.close();
  pid_t child = 0;
  char arg0[] = "/bin/sleep", arg1[] = "60";
  char* argv[] = {arg0, arg1, nullptr};
  char* envp[] = {nullptr};
  if (::posix_spawn(&child, "/bin/sleep", nullptr, nullptr, argv, envp) != 0) return 0;
  if (child != pid) {
    ::kill(child, SIGKILL);
    ::waitpid(child, nullptr, 0);
    return 0;
  }
  return child;
}

TEST_F(ProcessTableTest, AStaleIdNeverSignalsAProcessThatReusedItsPid) {
  auto p = StartOk(Sh("exit 0"));
  ASSERT_TRUE(table_->Wait(p.id, 5s));
  ASSERT_TRUE(Eventually([&] { return PidGone(p.pid); }));
  pid_t reused = 0;
  for (int attempt = 0; attempt < 20 && reused == 0; ++attempt) reused = SpawnWithPid(p.pid);
  if (reused == 0) GTEST_SKIP() << "could not get pid " << p.pid << " reassigned (busy machine)";
  auto claim = table_->ClaimChild(reused);  // ours to reap, not the orphan reaper's
  // Every path that signals by id must leave the new holder of the pid alone.
  auto kill = table_->Kill(p.id, {.signal = SIGKILL, .grace = 0ms});
  ASSERT_TRUE(kill);
  EXPECT_EQ(kill->how, "already_exited");
  auto sig = table_->Signal(p.id, SIGKILL);
  ASSERT_FALSE(sig);
  EXPECT_EQ(sig.error().code(), "process.not_running");
  auto suspend = table_->Suspend(p.id);
  ASSERT_FALSE(suspend);
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(PidGone(reused));
  EXPECT_NE(ReadProcStat(reused)->state, 'T');
  EXPECT_NE(ReadProcStat(reused)->state, 'Z');
  ::kill(reused, SIGKILL);
  ::waitpid(reused, nullptr, 0);
}

TEST_F(ProcessTableTest, RestartKeepsTheIdWithANewPidAndCountsRestarts) {
  ProcessSpec spec;
  spec.argv = {"/bin/sleep", "60"};
  spec.labels = {{"role", "worker"}};
  auto p = StartOk(spec);
  auto restarted = table_->Restart(p.id, {});
  ASSERT_TRUE(restarted) << restarted.error().ToString();
  EXPECT_EQ(restarted->id, p.id);
  EXPECT_NE(restarted->pid, p.pid);
  EXPECT_EQ(restarted->restarts, 1u);
  EXPECT_EQ(restarted->state, ProcessState::kRunning);
  EXPECT_EQ(restarted->labels.at("role"), "worker");
  EXPECT_TRUE(Eventually([&] { return PidGone(p.pid); }));
  // The new instance's exit is tracked as usual.
  auto outcome = table_->Kill(p.id, {.signal = SIGKILL});
  ASSERT_TRUE(outcome);
  EXPECT_EQ(outcome->exit.signal, SIGKILL);
  // Restarting an exited process starts it again.
  auto again = table_->Restart(p.id, {});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->restarts, 2u);
}

TEST_F(ProcessTableTest, RestartWithPreservedStateNeedsCriu) {
  const CheckpointSupport support = ProbeCheckpointSupport();
  if (support.supported)
    GTEST_SKIP() << "criu check passes here; the unsupported path is not reachable";
  EXPECT_FALSE(support.reason.empty());
  ProcessSpec spec;
  spec.argv = {"/bin/sleep", "60"};
  auto p = StartOk(spec);
  auto restarted = table_->Restart(p.id, {.preserve_state = true});
  ASSERT_FALSE(restarted);
  EXPECT_EQ(restarted.error().code(), "process.checkpoint_unsupported");
  EXPECT_EQ(restarted.error().category(), ErrorCategory::kUnsupported);
  EXPECT_EQ(restarted.error().details()["reason"], support.reason);
  EXPECT_EQ(table_->Get(p.id)->pid, p.pid);  // untouched
  EXPECT_EQ(table_->Get(p.id)->state, ProcessState::kRunning);
}

TEST_F(ProcessTableTest, RestartWithPreservedStateThroughCriu) {
  const CheckpointSupport support = ProbeCheckpointSupport();
  if (!support.supported) GTEST_SKIP() << "checkpoint/restore unavailable: " << support.reason;
  ProcessSpec spec =
      Sh("i=0; while :; do i=$((i+1)); echo $i > /tmp/arsenal-criu-counter; sleep 0.05; done");
  spec.stdout_spec.mode = OutputMode::kNull;
  spec.stderr_spec.mode = OutputMode::kNull;
  auto p = StartOk(spec);
  std::this_thread::sleep_for(300ms);
  auto restarted = table_->Restart(p.id, {.preserve_state = true});
  ASSERT_TRUE(restarted) << restarted.error().ToString();
  EXPECT_EQ(restarted->restarts, 1u);
  ASSERT_TRUE(table_->Kill(p.id, {.signal = SIGKILL}));
}

TEST_F(ProcessTableTest, OrphanedGrandchildrenAreReaped) {
  int subreaper = 0;
  ::prctl(PR_GET_CHILD_SUBREAPER, &subreaper, 0, 0, 0);
  EXPECT_EQ(subreaper, 1);
  // The shell exits at once; its background child outlives it and is re-parented to us.
  auto p = StartOk(Sh("sleep 0.3 & echo $!"));
  ASSERT_TRUE(table_->Wait(p.id, 5s));
  ASSERT_TRUE(Eventually([&] { return OutputContains(*table_, p.id, "\n"); }));
  const pid_t orphan = std::stoi(table_->ReadOutput(p.id, OutputStream::kStdout, 0, 100)->data);
  auto st = ReadProcStat(orphan);
  ASSERT_TRUE(st) << "orphan already gone";
  EXPECT_EQ(st->ppid, ::getpid());
  EXPECT_TRUE(Eventually([&] { return PidGone(orphan); }, 5s)) << "orphan left as a zombie";
}

TEST_F(ProcessTableTest, SandboxOptionWithoutASandboxServiceIsSandboxNotFound) {
  ProcessSpec spec;
  spec.argv = {"/bin/true"};
  spec.sandbox = SandboxRef{"sb-1", nullptr};
  auto started = table_->Start(spec);
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().code(), "sandbox.not_found");
  EXPECT_EQ(started.error().details()["field"], "sandbox");
}

// A stand-in for the sandbox service: spawns plainly and records freeze/thaw.
class FakeControl : public ProcessControl {
 public:
  explicit FakeControl(pid_t pid) : pid_(pid) {}
  Status Freeze() override {
    ++freezes;
    ::kill(pid_, SIGSTOP);
    return {};
  }
  Status Thaw() override {
    ++thaws;
    ::kill(pid_, SIGCONT);
    return {};
  }
  std::atomic<int> freezes{0};
  std::atomic<int> thaws{0};

 private:
  pid_t pid_;
};

class FakeSandboxLauncher : public SandboxLauncher {
 public:
  Result<LaunchedChild> Launch(const ProcessSpec& spec, const ChildStdio& stdio) override {
    if (spec.sandbox->id != "sb-1") {
      return Fail(NotFoundError("sandbox.not_found", "no sandbox " + spec.sandbox->id));
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, stdio.in, 0);
    posix_spawn_file_actions_adddup2(&actions, stdio.out, 1);
    posix_spawn_file_actions_adddup2(&actions, stdio.err, 2);
    std::vector<char*> argv;
    for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    char* envp[] = {nullptr};
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return Fail(ErrnoError("test.spawn", "posix_spawn", argv[0], rc));
    LaunchedChild child;
    child.pid = pid;
    child.pidfd = UniqueFd(sys::PidfdOpen(pid, 0));
    child.sandbox_id = "sb-1";
    control = std::make_shared<FakeControl>(pid);
    child.control = control;
    return child;
  }
  Result<pid_t> SandboxRootPid(const std::string&) override { return ::getpid(); }
  std::shared_ptr<FakeControl> control;
};

TEST_F(ProcessTableTest, SandboxedProcessesGoThroughTheLauncherAndTheFreezer) {
  auto launcher = std::make_shared<FakeSandboxLauncher>();
  table_->SetSandboxLauncher(launcher);
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", "echo inside; sleep 60"};
  spec.sandbox = SandboxRef{"sb-1", nullptr};
  auto p = StartOk(spec);
  EXPECT_EQ(p.sandbox_id, "sb-1");
  ASSERT_TRUE(Eventually([&] { return OutputContains(*table_, p.id, "inside"); }));
  EXPECT_EQ(table_->Suspend(p.id), true);
  EXPECT_EQ(table_->Suspend(p.id), false);
  EXPECT_EQ(launcher->control->freezes, 1);
  EXPECT_EQ(table_->Resume(p.id), true);
  EXPECT_EQ(launcher->control->thaws, 1);
  spec.sandbox = SandboxRef{"sb-404", nullptr};
  auto missing = table_->Start(spec);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), "sandbox.not_found");
  ASSERT_TRUE(table_->Kill(p.id, {.signal = SIGKILL}));
}

TEST_F(ProcessTableTest, AdoptTakesOverAChildCreatedElsewhere) {
  int out[2];
  ASSERT_EQ(::pipe2(out, O_CLOEXEC), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  char arg0[] = "/bin/sh", arg1[] = "-c", arg2[] = "echo adopted; exit 9";
  char* argv[] = {arg0, arg1, arg2, nullptr};
  char* envp[] = {nullptr};
  pid_t pid = 0;
  auto claim = table_->ClaimChild(0);  // claims are per pid; this one only exercises the API
  ASSERT_EQ(posix_spawn(&pid, "/bin/sh", &actions, nullptr, argv, envp), 0);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  AdoptRequest request;
  request.child.pid = pid;
  request.child.pidfd = UniqueFd(sys::PidfdOpen(pid, 0));
  request.stdout_pipe = UniqueFd(out[0]);
  request.spec.argv = {"/bin/sh"};
  request.spec.name = "adopted";
  auto p = table_->Adopt(std::move(request));
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_EQ(p->name, "adopted");
  auto status = table_->Wait(p->id, 5s);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->code, 9);
  EXPECT_TRUE(Eventually([&] { return OutputContains(*table_, p->id, "adopted"); }));
}

TEST_F(ProcessTableTest, SamplingEmitsResourceSamples) {
  ProcessSpec spec;
  spec.argv = {"/bin/sleep", "60"};
  std::promise<ProcessEvent> got;
  std::atomic<bool> once{false};
  StartOptions options;
  options.event_mask = static_cast<uint32_t>(ProcessEventKind::kSample);
  options.on_event = [&](const ProcessEvent& e) {
    if (!once.exchange(true)) got.set_value(e);
  };
  auto p = StartOk(spec, std::move(options));
  ASSERT_TRUE(table_->SetSampling(p.id, 20ms));
  auto future = got.get_future();
  ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
  ProcessEvent sample = future.get();
  EXPECT_EQ(sample.kind, ProcessEventKind::kSample);
  EXPECT_TRUE(sample.data["rss_bytes"].is_number());
  auto bad = table_->SetSampling(p.id, -1ms);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().details()["field"], "sample_interval_ms");
}

TEST(ProcessTableShutdownTest, DestroyingTheEngineKillsAndReapsManagedProcesses) {
  pid_t pid = 0;
  {
    auto engine = Engine::Create();
    ASSERT_TRUE(engine);
    auto& table = (*engine)->Service<ProcessTable>();
    ProcessSpec spec;
    spec.argv = {"/bin/sleep", "60"};
    auto p = table.Start(spec);
    ASSERT_TRUE(p);
    pid = p->pid;
  }
  auto st = ReadProcStat(pid);
  EXPECT_TRUE(PidGone(pid)) << (st ? st->comm + " " + st->state + " ppid " +
                                         std::to_string(st->ppid) + " me " +
                                         std::to_string(::getpid())
                                   : std::string());
  int subreaper = 1;
  ::prctl(PR_GET_CHILD_SUBREAPER, &subreaper, 0, 0, 0);
  EXPECT_EQ(subreaper, 0) << "the subreaper flag is restored with the last table";
}

TEST(ProcessSpecTest, ParsesTheJsonFormAndNamesBadFields) {
  auto spec = ProcessSpec::FromJson({{"argv", {"/bin/echo", "hi"}},
                                     {"env", {{"A", "1"}}},
                                     {"labels", {{"team", "web"}}},
                                     {"stdin", {{"data", "x"}, {"close", true}}},
                                     {"stdout", {{"mode", "capture"}, {"ring_bytes", 4096}}},
                                     {"stderr", "null"},
                                     {"sandbox", "sb-1"}});
  ASSERT_TRUE(spec) << spec.error().ToString();
  EXPECT_EQ(spec->argv.size(), 2u);
  EXPECT_EQ(spec->stdin_mode, StdinMode::kPipe);
  EXPECT_TRUE(spec->close_stdin);
  EXPECT_EQ(spec->stdout_spec.ring_bytes, 4096u);
  EXPECT_EQ(spec->stderr_spec.mode, OutputMode::kNull);
  EXPECT_EQ(spec->sandbox->id, "sb-1");
  auto round = ProcessSpec::FromJson(spec->ToJson());
  ASSERT_TRUE(round) << round.error().ToString();
  EXPECT_EQ(round->ToJson(), spec->ToJson());

  struct Case {
    Json json;
    std::string field;
  };
  for (const Case& c : std::vector<Case>{
           {Json::object(), "argv"},
           {{{"argv", Json::array()}}, "argv"},
           {{{"argv", {"/bin/true", 3}}}, "argv[1]"},
           {{{"argv", {"/bin/true"}}, {"env", {{"A=B", "x"}}}}, "env.A=B"},
           {{{"argv", {"/bin/true"}}, {"cwd", "relative"}}, "cwd"},
           {{{"argv", {"/bin/true"}}, {"stdout", {{"ring_bytes", 10}}}}, "stdout.ring_bytes"},
           {{{"argv", {"/bin/true"}}, {"stdout", "loud"}}, "stdout"},
           {{{"argv", {"/bin/true"}}, {"stdin", {{"bogus", 1}}}}, "stdin.bogus"},
           {{{"argv", {"/bin/true"}}, {"bogus", 1}}, "bogus"},
       }) {
    auto bad = ProcessSpec::FromJson(c.json);
    ASSERT_FALSE(bad) << c.json.dump();
    EXPECT_EQ(bad.error().code(), "process.invalid_spec");
    EXPECT_EQ(bad.error().details()["field"], c.field) << c.json.dump();
  }
}

}  // namespace
}  // namespace arsenal
