// The plain launcher (engine/process/plain_spawn.cc) in both of its modes: the descriptor handoff
// (the child starts from an empty table and fetches its stdio with pidfd_getfd) and the copied
// table (config process.spawn_fd_handoff=false).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <sstream>
#include <vector>

#include "arsenal/base/unique_fd.h"
#include "arsenal/engine/engine.h"
#include "arsenal/engine/process_table.h"
#include "process_test_helper.h"

namespace arsenal {
namespace {

using namespace std::chrono_literals;

class ProcessSpawnTest : public ::testing::TestWithParam<bool> {
 protected:
  static std::unique_ptr<Engine> MakeEngine(bool handoff) {
    auto engine = Engine::Create({.config = {{"process", {{"spawn_fd_handoff", handoff}}}}});
    return engine ? std::move(*engine) : nullptr;
  }
};

using testing::Sh;

// However many descriptors the daemon holds, the child sees only 0-2 (and the one ls opens).
TEST_P(ProcessSpawnTest, ChildSeesOnlyItsStdioWhileTheDaemonHoldsManyDescriptors) {
  auto engine = MakeEngine(GetParam());
  ASSERT_TRUE(engine);
  auto& table = engine->Service<ProcessTable>();
  std::vector<UniqueFd> held;
  for (int i = 0; i < 300; ++i) held.emplace_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  ProcessSpec spec = Sh("ls /proc/self/fd | sort -n | tr '\\n' ' '; echo err >&2");
  auto p = table.Start(spec);
  ASSERT_TRUE(p) << p.error().ToString();
  ASSERT_TRUE(table.Wait(p->id, 5s));
  EXPECT_EQ(table.ReadOutput(p->id, OutputStream::kStdout, 0, 1000)->data, "0 1 2 3 ");
  EXPECT_EQ(table.ReadOutput(p->id, OutputStream::kStderr, 0, 1000)->data, "err\n");
}

void CatchSignal(int) {}

// The child starts with default dispositions whatever the daemon catches or ignores, leads its
// own process group, stays in the daemon's session and has no controlling terminal.
TEST_P(ProcessSpawnTest, ChildIsDetachedAndStartsWithDefaultSignals) {
  auto engine = MakeEngine(GetParam());
  ASSERT_TRUE(engine);
  auto& table = engine->Service<ProcessTable>();
  struct sigaction caught {};
  caught.sa_handler = CatchSignal;
  sigemptyset(&caught.sa_mask);
  struct sigaction old_usr1 {};
  struct sigaction old_usr2 {};
  ASSERT_EQ(::sigaction(SIGUSR1, &caught, &old_usr1), 0);
  struct sigaction ignored {};
  ignored.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGUSR2, &ignored, &old_usr2), 0);
  ProcessSpec spec;
  spec.argv = {"/bin/cat", "/proc/self/status", "/proc/self/stat"};
  auto p = table.Start(spec);
  ::sigaction(SIGUSR1, &old_usr1, nullptr);
  ::sigaction(SIGUSR2, &old_usr2, nullptr);
  ASSERT_TRUE(p) << p.error().ToString();
  ASSERT_TRUE(table.Wait(p->id, 5s));
  const std::string out = table.ReadOutput(p->id, OutputStream::kStdout, 0, 100000)->data;
  EXPECT_NE(out.find("SigIgn:\t0000000000000000\n"), std::string::npos) << out;
  EXPECT_NE(out.find("SigCgt:\t0000000000000000\n"), std::string::npos) << out;
  // After the command name in /proc/<pid>/stat: state, parent, process group, session, tty.
  std::istringstream stat(out.substr(out.rfind(')') + 1));
  std::string state;
  pid_t ppid = 0, pgrp = 0, session = 0;
  int tty = -1;
  stat >> state >> ppid >> pgrp >> session >> tty;
  EXPECT_EQ(pgrp, p->pid);
  EXPECT_EQ(session, ::getsid(0));
  EXPECT_EQ(tty, 0);
}

// A daemon started from a terminal has it as its controlling terminal; its children must not
// (they could read the operator's keystrokes or write over the session). Run in a forked copy of
// the test that becomes a session leader with a fresh pseudo-terminal as its terminal.
TEST_P(ProcessSpawnTest, ChildCannotOpenTheDaemonsControllingTerminal) {
  const bool handoff = GetParam();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int code = 20;
    if (::setsid() < 0) ::_exit(code);
    const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) ::_exit(21);
    const char* name = ::ptsname(master);
    // A session leader without a terminal acquires the first one it opens without O_NOCTTY.
    const int slave = name == nullptr ? -1 : ::open(name, O_RDWR | O_CLOEXEC);
    const int own = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
    if (slave < 0 || own < 0) ::_exit(22);  // the daemon side does have a terminal
    ::close(own);
    {
      auto engine = MakeEngine(handoff);
      if (engine) {
        auto& table = engine->Service<ProcessTable>();
        code = 23;
        auto p = table.Start(
            Sh("if (exec 3</dev/tty) 2>/dev/null; then echo has-tty; else echo no-tty; fi; "
               "set -- $(cut -d')' -f2 /proc/$$/stat); echo \"tty=$5\""));
        if (p && table.Wait(p->id, 5s)) {
          auto out = table.ReadOutput(p->id, OutputStream::kStdout, 0, 100);
          code = out && out->data == "no-tty\ntty=0\n" ? 0 : 24;
        }
      }
    }
    ::_exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST_P(ProcessSpawnTest, ExecFailureIsReportedWithTheStep) {
  auto engine = MakeEngine(GetParam());
  ASSERT_TRUE(engine);
  auto& table = engine->Service<ProcessTable>();
  // Executable to stat/access, but the kernel cannot run it (no interpreter line, not ELF).
  char path[] = "/tmp/arsenal-spawn-XXXXXX";
  UniqueFd fd(::mkstemp(path));
  ASSERT_TRUE(fd);
  ASSERT_EQ(::write(fd.get(), "\x01\x02garbage", 9), 9);
  fd.Reset();
  ::chmod(path, 0755);
  ProcessSpec spec;
  spec.argv = {path};
  auto p = table.Start(spec);
  ::unlink(path);
  ASSERT_FALSE(p);
  EXPECT_EQ(p.error().code(), "process.spawn_failed");
  EXPECT_NE(p.error().message().find("execve"), std::string::npos) << p.error().ToString();
  EXPECT_EQ(table.size(), 0u);
}

// A daemon started with 0-2 closed gets its pipes in those slots; the child must still end up
// with stdin, stdout and stderr in the right places. Run in a forked copy of the test so the
// test runner's own stdio stays untouched.
TEST_P(ProcessSpawnTest, StdioIsRightWhenTheDaemonHasItsOwnStdioClosed) {
  const bool handoff = GetParam();
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(0);
    ::close(1);
    ::close(2);
    int code = 10;
    {
      auto engine = MakeEngine(handoff);
      if (engine) {
        auto& table = engine->Service<ProcessTable>();
        ProcessSpec spec = Sh("read x; echo \"$x-out\"; echo \"$x-err\" >&2");
        spec.stdin_mode = StdinMode::kPipe;
        spec.stdin_data = "in\n";
        spec.close_stdin = true;
        code = 11;
        if (auto p = table.Start(spec); p && table.Wait(p->id, 5s)) {
          code = 12;
          auto out = table.ReadOutput(p->id, OutputStream::kStdout, 0, 100);
          auto err = table.ReadOutput(p->id, OutputStream::kStderr, 0, 100);
          if (out && err && out->data == "in-out\n" && err->data == "in-err\n") code = 0;
        }
      }
    }
    ::_exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, ProcessSpawnTest, ::testing::Values(true, false),
                         [](const auto& info) {
                           return info.param ? std::string("Handoff") : std::string("CopiedTable");
                         });

}  // namespace
}  // namespace arsenal
