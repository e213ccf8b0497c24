// Spawn options used by long-lived sandboxes and fast one-shots: an idle PID 1 that only holds
// the namespaces, PID 1's report of the workload's raw wait status, the child moving itself into
// cgroups through caller-opened fds, and rusage on Wait.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>

#include "test_util.h"

namespace arsenal::ns {
namespace {

using testing::ProbeSpec;
using testing::RunCaptured;

class SpawnOptionsTest : public testing::SandboxTest {};

TEST_F(SpawnOptionsTest, IdleInitHoldsNamespacesUntilSigterm) {
  SpawnSpec spec;
  spec.idle_init = true;
  spec.hostname = "idle";
  auto init = Spawn(spec);  // no argv, no program needed
  ASSERT_TRUE(init) << init.error().ToString();
  for (int i = 0; i < 3; ++i) {
    auto out = RunCaptured(ProbeSpec({"hostname"}), nullptr, init->pidfd());
    ASSERT_TRUE(out) << out.error().ToString();
    EXPECT_EQ(out->out, "idle\n");
  }
  // An orphan inside is reaped by the idle PID 1 (no zombie piles up).
  auto orphan = RunCaptured(ProbeSpec({"pid"}), nullptr, init->pidfd());
  ASSERT_TRUE(orphan);
  ASSERT_TRUE(init->Signal(SIGTERM));
  auto status = init->Wait();
  ASSERT_TRUE(status) << status.error().ToString();
  EXPECT_FALSE(status->signaled);
  EXPECT_EQ(status->code, 0);
}

TEST_F(SpawnOptionsTest, IdleInitNeedsAPidNamespace) {
  SpawnSpec spec;
  spec.idle_init = true;
  spec.namespaces.pid = false;
  auto init = Spawn(spec);
  ASSERT_FALSE(init);
  EXPECT_EQ(init.error().details()["field"], "namespaces.pid");
}

// PID 1 exits 128+N for a workload killed by signal N; the status fd tells it from "exit 128+N".
TEST_F(SpawnOptionsTest, StatusFdReportsTheRawWaitStatus) {
  for (auto [args, signaled, value] :
       {std::tuple{std::vector<std::string>{"signal", "15"}, true, SIGTERM},
        std::tuple{std::vector<std::string>{"exit", "143"}, false, 143}}) {
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    UniqueFd read_end(fds[0]), write_end(fds[1]);
    SpawnSpec spec = ProbeSpec(args);
    spec.status_fd = write_end.get();
    auto proc = Spawn(spec);
    write_end.Reset();
    ASSERT_TRUE(proc) << proc.error().ToString();
    struct rusage usage = {};
    auto status = proc->Wait(&usage);
    ASSERT_TRUE(status);
    EXPECT_EQ(status->code, 143);  // PID 1's own exit code is the same either way
    int raw = -1;
    ASSERT_EQ(::read(read_end.get(), &raw, sizeof(raw)), static_cast<ssize_t>(sizeof(raw)));
    EXPECT_EQ(WIFSIGNALED(raw), signaled);
    EXPECT_EQ(signaled ? WTERMSIG(raw) : WEXITSTATUS(raw), value);
    EXPECT_GT(usage.ru_maxrss, 0);  // includes the reaped workload
  }
}

TEST_F(SpawnOptionsTest, StatusFdDoesNotReachTheWorkload) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  SpawnSpec spec = ProbeSpec({"fds"});
  spec.status_fd = write_end.get();
  auto out = RunCaptured(spec);
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->out, "0 1 2\n");
}

// The child writes "0" to the caller's fds first thing; a pipe stands in for a cgroup `tasks`
// file here (the real thing is tested through policies' OpenSelfAttachFds and the sandbox
// tests).
TEST_F(SpawnOptionsTest, CgroupJoinFdsAreWrittenBeforeSetupAndClosed) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  SpawnSpec spec = ProbeSpec({"fds"});
  spec.cgroup_join_fds = {write_end.get()};
  auto out = RunCaptured(spec);
  write_end.Reset();
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->out, "0 1 2\n");
  char buf[8] = {};
  EXPECT_EQ(::read(read_end.get(), buf, sizeof(buf)), 1);
  EXPECT_EQ(buf[0], '0');
}

TEST_F(SpawnOptionsTest, FailingCgroupJoinKillsTheChild) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  SpawnSpec spec = ProbeSpec({"fds"});
  spec.cgroup_join_fds = {read_end.get()};  // not writable: EBADF
  auto proc = Spawn(spec);
  ASSERT_FALSE(proc);
  EXPECT_EQ(proc.error().details()["step"], "cgroup_join");
  EXPECT_FALSE(proc.error().hint().empty());
}

}  // namespace
}  // namespace arsenal::ns
