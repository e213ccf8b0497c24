// Shared helpers for the namespaces tests: run a sandboxed command and capture its stdout.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "arsenal/namespaces/features.h"
#include "arsenal/namespaces/spawn.h"

namespace arsenal::ns::testing {

inline const char* ProbePath() { return ARSENAL_NS_PROBE; }

struct RunOutput {
  ExitStatus status;
  std::string out;
};

// Spawns `spec` (into `target_pidfd`'s namespaces when >= 0) with stdout on a pipe, reads
// everything, waits.
inline Result<RunOutput> RunCaptured(SpawnSpec spec, const ParentHook& hook = nullptr,
                                     int target_pidfd = -1) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) < 0) return Fail(InternalError("test.pipe", "pipe2"));
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  spec.stdout_fd = write_end.get();
  auto proc = target_pidfd >= 0 ? SpawnInto(target_pidfd, spec, hook) : Spawn(spec, hook);
  write_end.Reset();
  if (!proc) return Fail(proc.error());
  RunOutput out;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(read_end.get(), buf, sizeof(buf))) > 0) out.out.append(buf, size_t(n));
  ARSENAL_ASSIGN_OR_RETURN(out.status, proc->Wait());
  return out;
}

inline SpawnSpec ProbeSpec(std::vector<std::string> args) {
  SpawnSpec spec;
  spec.argv = {ProbePath()};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  return spec;
}

// A temp directory removed (recursively) at the end of the test.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/arsenal-ns-test-XXXXXX";
    path_ = ::mkdtemp(tmpl);
    ::chmod(path_.c_str(), 0755);  // searchable by the sandbox's unprivileged outside uid
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class SandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const KernelFeatures& f = DetectKernelFeatures();
    if (!f.pidfd) GTEST_SKIP() << "clone3 with CLONE_PIDFD is not available";
    if (!f.user_namespaces) {
      GTEST_SKIP() << "user namespaces unusable: " << f.user_namespaces_detail;
    }
  }
};

}  // namespace arsenal::ns::testing
