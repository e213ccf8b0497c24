// Helpers shared by the policies tests: run a function in a forked child and collect a small
// result, so tests can apply irreversible policies (seccomp, capabilities) without affecting
// the test process.
#pragma once

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <functional>

namespace arsenal::policies::testing {

// What a child reports: up to 16 integers (e.g. errno values of probes).
using ChildValues = std::array<long, 16>;

struct ChildOutcome {
  bool ok = false;  // exited 0 and reported
  int wait_status = 0;
  ChildValues values{};
};

// Forks; the child runs `body`, which fills values and returns 0 on success. The child _exits
// without running atexit handlers (the test process's gtest state must not run twice).
inline ChildOutcome RunInChild(const std::function<int(ChildValues&)>& body) {
  ChildOutcome outcome;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return outcome;
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return outcome;
  }
  if (pid == 0) {
    ::close(fds[0]);
    ChildValues values{};
    int rc = body(values);
    ssize_t n = ::write(fds[1], values.data(), sizeof(values));
    ::_exit(rc == 0 && n == static_cast<ssize_t>(sizeof(values)) ? 0 : 100 + rc % 100);
  }
  ::close(fds[1]);
  size_t got = 0;
  auto* out = reinterpret_cast<char*>(outcome.values.data());
  while (got < sizeof(outcome.values)) {
    ssize_t n = ::read(fds[0], out + got, sizeof(outcome.values) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fds[0]);
  while (::waitpid(pid, &outcome.wait_status, 0) < 0 && errno == EINTR) {
  }
  outcome.ok = got == sizeof(outcome.values) && WIFEXITED(outcome.wait_status) &&
               WEXITSTATUS(outcome.wait_status) == 0;
  return outcome;
}

// Runs a syscall-like expression and returns 0 on success or errno.
#define ARSENAL_PROBE(expr) ((expr) < 0 ? errno : 0)

}  // namespace arsenal::policies::testing
