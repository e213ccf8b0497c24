// Helper programs for process tests. The test binary re-executes itself (/proc/self/exe) with
// ARSENAL_PROCESS_TEST_HELPER=<mode>; a static initializer in one test file of each binary calls
// RunProcessTestHelperIfRequested() before GoogleTest starts, runs the mode and exits.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "arsenal/engine/process_table.h"

namespace arsenal::testing {

inline void HelperWrite(int fd, const char* s) {
  [[maybe_unused]] ssize_t n = ::write(fd, s, strlen(s));
}

inline int RunHelperMode(const char* mode) {
  if (strcmp(mode, "syscall_loop") == 0) {
    // A fixed syscall pattern for trace tests: openat, write, close, clock_nanosleep. "ready"
    // tells the test that the dynamic loader and libc start-up are over.
    HelperWrite(1, "ready\n");
    for (;;) {
      int fd = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
      [[maybe_unused]] ssize_t n = ::write(fd, "x", 1);
      ::close(fd);
      struct timespec ts = {0, 2 * 1000 * 1000};
      ::clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
    }
  }
  if (strcmp(mode, "ignore_term") == 0) {
    ::signal(SIGTERM, SIG_IGN);
    HelperWrite(1, "ready\n");
    for (;;) ::pause();
  }
  if (strcmp(mode, "tree") == 0) {
    // root -> {a -> {a1}, b}; every process pauses; root prints "ready" once all exist.
    int ready[2];
    if (::pipe(ready) != 0) return 2;
    if (::fork() == 0) {
      if (::fork() == 0) {
        HelperWrite(ready[1], "1");
        for (;;) ::pause();
      }
      for (;;) ::pause();
    }
    if (::fork() == 0) {
      HelperWrite(ready[1], "1");
      for (;;) ::pause();
    }
    char buf[2];
    size_t got = 0;
    while (got < 2) {
      ssize_t n = ::read(ready[0], buf + got, 2 - got);
      if (n <= 0) return 3;
      got += static_cast<size_t>(n);
    }
    HelperWrite(1, "ready\n");
    for (;;) ::pause();
  }
  if (strcmp(mode, "spew") == 0) {  // 5000 bytes: 'a'..'z' cycling, then exit
    char buf[5000];
    for (int i = 0; i < 5000; ++i) buf[i] = static_cast<char>('a' + i % 26);
    [[maybe_unused]] ssize_t n = ::write(1, buf, sizeof(buf));
    return 0;
  }
  return 100;
}

inline int RunProcessTestHelperIfRequested() {
  if (const char* mode = ::getenv("ARSENAL_PROCESS_TEST_HELPER")) ::_exit(RunHelperMode(mode));
  return 0;
}

// A spec that runs this test binary in helper `mode`.
// /bin/sh -c SCRIPT.
inline ProcessSpec Sh(const std::string& script) {
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", script};
  return spec;
}

inline ProcessSpec HelperSpec(const std::string& mode) {
  ProcessSpec spec;
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  spec.argv = {std::string(self, n > 0 ? static_cast<size_t>(n) : 0)};
  spec.env = {{"ARSENAL_PROCESS_TEST_HELPER", mode}};
  spec.name = "helper-" + mode;
  return spec;
}

// Polls `pred` (test-side only) until it holds or `timeout` passes.
inline bool Eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return pred();
}

// True once the captured stdout of `id` contains `text`.
inline bool OutputContains(ProcessTable& table, const std::string& id, const std::string& text) {
  auto chunk = table.ReadOutput(id, OutputStream::kStdout, 0, 1 << 20);
  return chunk && chunk->data.find(text) != std::string::npos;
}

// True when `pid` no longer exists (not even as a zombie).
inline bool PidGone(pid_t pid) { return ::kill(pid, 0) != 0 && errno == ESRCH; }

}  // namespace arsenal::testing
