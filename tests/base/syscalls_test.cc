// base/syscalls: the helpers that run between clone and exec.
#include "arsenal/base/syscalls.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>

namespace arsenal {
namespace {

void Handler(int) {}

// Runs `body` in a forked child and returns its exit code (or -1 when it did not exit).
template <typename Body>
int InChild(Body body) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

bool IsDefault(int sig) {
  struct sigaction current {};
  return ::sigaction(sig, nullptr, &current) == 0 && current.sa_handler == SIG_DFL;
}

TEST(ResetSignalDispositionsTest, CaughtAndIgnoredSignalsBecomeDefault) {
  EXPECT_EQ(InChild([] {
              struct sigaction caught {};
              caught.sa_handler = Handler;
              sigemptyset(&caught.sa_mask);
              if (::sigaction(SIGUSR1, &caught, nullptr) != 0) return 10;
              if (::sigaction(SIGRTMIN + 3, &caught, nullptr) != 0) return 11;
              if (::signal(SIGUSR2, SIG_IGN) == SIG_ERR) return 12;
              if (::signal(SIGPIPE, SIG_IGN) == SIG_ERR) return 13;
              if (IsDefault(SIGUSR1) || IsDefault(SIGUSR2)) return 14;
              sys::ResetSignalDispositions();
              if (!IsDefault(SIGUSR1)) return 1;
              if (!IsDefault(SIGRTMIN + 3)) return 2;
              if (!IsDefault(SIGUSR2)) return 3;
              if (!IsDefault(SIGPIPE)) return 4;
              for (int sig = 1; sig <= 31; ++sig) {  // 32 and 33 belong to glibc
                if (sig != SIGKILL && sig != SIGSTOP && !IsDefault(sig)) return 100 + sig;
              }
              return 0;
            }),
            0);
}

// Without a procfs /proc the dispositions cannot be read, and every signal is reset instead.
TEST(ResetSignalDispositionsTest, WithoutProcEverySignalIsReset) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to unshare a mount namespace";
  EXPECT_EQ(InChild([] {
              if (::unshare(CLONE_NEWNS) != 0) return 20;
              if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 21;
              // An ordinary directory over /proc: files there must not be believed.
              if (::mount("tmpfs", "/proc", "tmpfs", 0, nullptr) != 0) return 22;
              if (::mkdir("/proc/self", 0755) != 0) return 23;
              FILE* fake = std::fopen("/proc/self/status", "w");
              if (fake == nullptr) return 24;
              std::fputs("Name:\tx\nSigIgn:\t0000000000000000\nSigCgt:\t0000000000000000\n", fake);
              std::fclose(fake);
              struct sigaction caught {};
              caught.sa_handler = Handler;
              sigemptyset(&caught.sa_mask);
              if (::sigaction(SIGUSR1, &caught, nullptr) != 0) return 25;
              if (::signal(SIGTERM, SIG_IGN) == SIG_ERR) return 26;
              sys::ResetSignalDispositions();
              if (!IsDefault(SIGUSR1)) return 1;
              if (!IsDefault(SIGTERM)) return 2;
              return 0;
            }),
            0);
}

}  // namespace
}  // namespace arsenal
