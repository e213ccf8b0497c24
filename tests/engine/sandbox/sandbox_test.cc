// arsenal::Sandbox and RunSandboxed: one-shot runs, long-lived start/exec/stop/destroy, results
// (exit code, signal, output capture, timeout), errors and states.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "sandbox_test_util.h"

namespace arsenal {
namespace {

using sandbox_testing::ProbeArgv;
using namespace std::chrono_literals;

class SandboxApiTest : public sandbox_testing::SandboxTest {};

SandboxSpec Defaults() { return *SandboxSpec::FromJson(Json::object()); }

// Directories named after this process's sandboxes in the v1 memory hierarchy (leak checks).
std::vector<std::string> OwnSandboxCgroups() {
  std::vector<std::string> out;
  auto layout = policies::DetectCgroupLayout();
  if (!layout || !layout->v1_mounts.contains("memory")) return out;
  std::string dir = layout->v1_mounts.at("memory") + layout->own_v1.at("memory");
  std::string prefix = "arsenal-" + std::to_string(::getpid()) + "-";
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().filename().string().starts_with(prefix)) out.push_back(e.path());
  }
  return out;
}

TEST_F(SandboxApiTest, OneShotTrue) {
  auto r = RunSandboxed(Defaults(), {"/bin/true"});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->signal, 0);
  EXPECT_FALSE(r->oom);
  EXPECT_FALSE(r->timed_out);
  EXPECT_TRUE(r->Success());
  EXPECT_GT(r->wall_time.count(), 0);
}

TEST_F(SandboxApiTest, CapturesOutputAndExitCode) {
  auto r = RunSandboxed(Defaults(), {"/bin/sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_FALSE(r->Success());
  Json j = r->ToJson();
  EXPECT_EQ(j["stdout"], "out\n");
  EXPECT_EQ(j["exit_code"], 3);
}

TEST_F(SandboxApiTest, SignalIsToldApartFromExitCode) {
  auto killed = RunSandboxed(Defaults(), ProbeArgv({"signal", "15"}));
  ASSERT_TRUE(killed) << killed.error().ToString();
  EXPECT_EQ(killed->signal, SIGTERM);
  EXPECT_EQ(killed->exit_code, 128 + SIGTERM);
  auto exited = RunSandboxed(Defaults(), ProbeArgv({"exit", "137"}));
  ASSERT_TRUE(exited) << exited.error().ToString();
  EXPECT_EQ(exited->signal, 0);
  EXPECT_EQ(exited->exit_code, 137);
}

TEST_F(SandboxApiTest, StdinDataAndEnvOverrides) {
  RunOptions o;
  o.stdin_data = "hello sandbox\n";
  o.env["EXTRA"] = "1";
  auto r = RunSandboxed(*SandboxSpecBuilder().Env("A", "b").Build(),
                        {"/bin/sh", "-c", "cat; echo $A$EXTRA"}, o);
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->out, "hello sandbox\nb1\n");
}

TEST_F(SandboxApiTest, OutputIsBoundedAndDrained) {
  auto spec = SandboxSpecBuilder().OutputLimit(1024).Build();
  ASSERT_TRUE(spec);
  auto r = RunSandboxed(*spec, ProbeArgv({"print-bytes", "300000"}));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->exit_code, 0);  // the writer was never blocked
  EXPECT_EQ(r->out.size(), 1024u);
  EXPECT_TRUE(r->out_truncated);
  EXPECT_FALSE(r->err_truncated);
}

TEST_F(SandboxApiTest, TimeoutKillsTheSandbox) {
  auto spec = SandboxSpecBuilder().Timeout(300ms).Build();
  ASSERT_TRUE(spec);
  auto start = std::chrono::steady_clock::now();
  auto r = RunSandboxed(*spec, {"/bin/sh", "-c", "sleep 30 & sleep 30"});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->signal, SIGKILL);
  EXPECT_EQ(r->exit_code, 128 + SIGKILL);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_GE(r->wall_time, 300ms);
}

TEST_F(SandboxApiTest, TimeoutWithCgroupKillsEverything) {
  ARSENAL_REQUIRE_CGROUPS();
  auto spec = SandboxSpecBuilder().Timeout(300ms).Pids(32).Memory(64 << 20).Build();
  ASSERT_TRUE(spec);
  auto box = Sandbox::Create(*spec);
  ASSERT_TRUE(box) << box.error().ToString();
  auto r = (*box)->Run({"/bin/sh", "-c", "sleep 30 & sleep 30 & wait"});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->timed_out);
  EXPECT_TRUE((*box)->Pids().empty());
  EXPECT_EQ((*box)->state(), SandboxState::kStopped);
}

TEST_F(SandboxApiTest, OnlyStdioAndOnlyGivenEnvironment) {
  ::setenv("ARSENAL_HOST_SECRET", "leak", 1);
  auto fds = RunSandboxed(Defaults(), ProbeArgv({"fds"}));
  ASSERT_TRUE(fds) << fds.error().ToString();
  EXPECT_EQ(fds->out, "0 1 2\n");
  auto env = RunSandboxed(*SandboxSpecBuilder().Env("ONLY", "this").Build(), ProbeArgv({"env"}));
  ASSERT_TRUE(env) << env.error().ToString();
  EXPECT_EQ(env->out, "ONLY=this\n");
  ::unsetenv("ARSENAL_HOST_SECRET");
}

TEST_F(SandboxApiTest, SetupErrorsAreTypedAndLeaveTheSandboxUsable) {
  auto box = Sandbox::Create(Defaults());
  ASSERT_TRUE(box) << box.error().ToString();
  auto r = (*box)->Run({"/nonexistent/program"});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), "sandbox.exec_failed");
  EXPECT_FALSE(r.error().hint().empty());
  EXPECT_EQ((*box)->state(), SandboxState::kCreated);
  auto ok = (*box)->Run({"/bin/true"});
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_EQ((*box)->state(), SandboxState::kStopped);
  EXPECT_FALSE((*box)->Run({}));
  auto cwd = (*box)->Run({"/bin/true"}, {.cwd = "/nonexistent-dir"});
  ASSERT_FALSE(cwd);
  EXPECT_EQ(cwd.error().details().value("step", ""), "cwd");
}

TEST_F(SandboxApiTest, LongLivedStartExecStopDestroy) {
  ARSENAL_REQUIRE_CGROUPS();
  auto spec = SandboxSpecBuilder().Tmpfs("/mnt", 8 << 20).Memory(64 << 20).Pids(32).Build();
  ASSERT_TRUE(spec) << spec.error().ToString();
  auto made = Sandbox::Create(*spec);
  ASSERT_TRUE(made) << made.error().ToString();
  Sandbox& box = **made;
  EXPECT_EQ(box.state(), SandboxState::kCreated);
  EXPECT_FALSE(box.Exec({"/bin/true"}));  // not started
  auto started = box.Start();
  ASSERT_TRUE(started) << started.error().ToString();
  EXPECT_EQ(box.state(), SandboxState::kRunning);
  EXPECT_NE(box.init_pid(), 0);
  EXPECT_EQ(box.Pids().size(), 1u);      // the holding PID 1
  EXPECT_FALSE(box.Run({"/bin/true"}));  // one command at a time in one-shot mode

  // State persists across execs: they share the namespaces (the same tmpfs).
  auto w = box.Exec({"/bin/sh", "-c", "echo persisted > /mnt/f"});
  ASSERT_TRUE(w) << w.error().ToString();
  EXPECT_EQ(w->exit_code, 0);
  auto r = box.Exec({"/bin/cat", "/mnt/f"});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->out, "persisted\n");
  auto pid = box.Exec(ProbeArgv({"pid"}));
  ASSERT_TRUE(pid);
  EXPECT_NE(pid->out.find("ppid=0"), std::string::npos) << pid->out;  // parent is outside
  auto hostname = box.Exec(ProbeArgv({"hostname"}));
  ASSERT_TRUE(hostname);
  EXPECT_EQ(hostname->out, "sandbox\n");
  auto usage = box.Usage();
  ASSERT_TRUE(usage) << usage.error().ToString();
  EXPECT_TRUE(usage->has_cgroup);
  EXPECT_GT(usage->memory_peak, 0u);
  EXPECT_GE(usage->pids_current, 1u);

  auto timed = box.Exec({"/bin/sleep", "30"}, {.timeout = 200ms});
  ASSERT_TRUE(timed) << timed.error().ToString();
  EXPECT_TRUE(timed->timed_out);
  EXPECT_EQ(timed->signal, SIGKILL);
  EXPECT_EQ(box.state(), SandboxState::kRunning);  // an exec's timeout kills only the command

  ASSERT_TRUE(box.Stop());
  EXPECT_EQ(box.state(), SandboxState::kStopped);
  EXPECT_TRUE(box.Pids().empty());
  EXPECT_FALSE(box.Exec({"/bin/true"}));
  auto restarted = box.Start();  // a stopped sandbox starts again, with fresh namespaces
  ASSERT_TRUE(restarted) << restarted.error().ToString();
  auto gone = box.Exec({"/bin/cat", "/mnt/f"});
  ASSERT_TRUE(gone);
  EXPECT_NE(gone->exit_code, 0);
  EXPECT_FALSE(OwnSandboxCgroups().empty());
  ASSERT_TRUE(box.Destroy());
  EXPECT_EQ(box.state(), SandboxState::kDestroyed);
  EXPECT_TRUE(box.Destroy());  // idempotent
  EXPECT_FALSE(box.Start());
  EXPECT_TRUE(OwnSandboxCgroups().empty());
}

TEST_F(SandboxApiTest, InitExitIsNoticed) {
  auto made = Sandbox::Create(Defaults());
  ASSERT_TRUE(made);
  ASSERT_TRUE((*made)->Start());
  EXPECT_FALSE((*made)->CheckInitExited());
  ASSERT_EQ(::kill((*made)->init_pid(), SIGTERM), 0);
  for (int i = 0; i < 200 && !(*made)->CheckInitExited(); ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ((*made)->state(), SandboxState::kStopped);
}

TEST_F(SandboxApiTest, ExecsRunConcurrently) {
  auto made = Sandbox::Create(Defaults());
  ASSERT_TRUE(made);
  ASSERT_TRUE((*made)->Start());
  std::vector<std::unique_ptr<SandboxProcess>> procs;
  for (int i = 0; i < 4; ++i) {
    auto p = (*made)->LaunchExec({"/bin/sh", "-c", "sleep 0.2; echo " + std::to_string(i)});
    ASSERT_TRUE(p) << p.error().ToString();
    procs.push_back(std::move(*p));
  }
  auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 4; ++i) {
    auto r = procs[static_cast<size_t>(i)]->Wait();
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_EQ(r->out, std::to_string(i) + "\n");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST_F(SandboxApiTest, DestroyWhileCommandRunsKillsIt) {
  ARSENAL_REQUIRE_CGROUPS();
  auto made = Sandbox::Create(*SandboxSpecBuilder().Pids(16).Build());
  ASSERT_TRUE(made);
  auto p = (*made)->Launch({"/bin/sleep", "30"});
  ASSERT_TRUE(p) << p.error().ToString();
  EXPECT_EQ((*made)->state(), SandboxState::kRunning);
  ASSERT_TRUE((*made)->Destroy());
  auto r = (*p)->Wait();
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->signal, SIGKILL);
  EXPECT_EQ((*made)->state(), SandboxState::kDestroyed);
}

TEST_F(SandboxApiTest, CreateFailsCleanlyOnBadSpec) {
  auto before = OwnSandboxCgroups();
  SandboxSpec spec = Defaults();
  spec.limits.memory_bytes = 10;  // edited by hand: Create validates again
  auto box = Sandbox::Create(spec);
  ASSERT_FALSE(box);
  EXPECT_EQ(box.error().details().value("field", ""), "limits.memory");
  EXPECT_EQ(OwnSandboxCgroups(), before);
}

}  // namespace
}  // namespace arsenal
