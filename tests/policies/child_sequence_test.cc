// The whole child-side sequence in the documented order, ending in a real exec: what the spawn
// code does between clone and exec (here after a plain fork).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "arsenal/policies/capabilities.h"
#include "arsenal/policies/child.h"
#include "arsenal/policies/landlock.h"
#include "arsenal/policies/rlimits.h"
#include "arsenal/policies/seccomp.h"

namespace arsenal::policies {
namespace {

namespace fs = std::filesystem;

// Applies every policy and execs argv; returns the wait status. Exit codes 90+ name the step.
int RunConfined(const char* const argv[], const RlimitList& limits, uint64_t caps, int landlock_fd,
                const SeccompProgram& program) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (ApplyRlimits(limits) != 0) ::_exit(91);
    if (ApplyCapabilities(caps) != 0) ::_exit(92);
    if (SetNoNewPrivs() != 0) ::_exit(93);
    if (ApplyLandlock(landlock_fd) != 0) ::_exit(94);
    if (landlock_fd >= 0) ::close(landlock_fd);
    if (ApplySeccomp(program.filter.data(), program.filter.size(), program.flags) != 0) {
      ::_exit(95);
    }
    ::execv(argv[0], const_cast<char* const*>(argv));
    ::_exit(96);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

TEST(ChildSequence, AllPoliciesThenExec) {
  auto program = CompileSeccomp(DefaultSeccompProfile(), 0);
  ASSERT_TRUE(program.has_value()) << program.error().ToString();
  RlimitSpec rspec;
  rspec.nofile = RlimitValue{64, 64};
  rspec.core = RlimitValue{0, 0};
  auto limits = BuildRlimits(rspec);
  ASSERT_TRUE(limits.has_value());

  char tmpl[] = "/tmp/arsenal-seq-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  fs::path secret = fs::path(tmpl) / "secret";
  std::ofstream(secret) << "secret";

  LandlockSpec lspec;
  for (const char* dir : {"/usr", "/lib", "/lib64", "/bin", "/etc"}) {
    lspec.paths.push_back({dir, landlock::kRead | landlock::kExecute, /*optional=*/true});
  }
  lspec.paths.push_back({"/dev/null", landlock::kReadFile | landlock::kWriteFile});
  auto ruleset = BuildLandlockRuleset(lspec);
  ASSERT_TRUE(ruleset.has_value()) << ruleset.error().ToString();

  const char* ok_argv[] = {"/bin/sh", "-c", "cat /etc/hostname >/dev/null && exit 7", nullptr};
  int status = RunConfined(ok_argv, *limits, 0, ruleset->fd.get(), **program);
  EXPECT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 7);

  std::string cat_secret = "cat " + secret.string() + " >/dev/null 2>&1 || exit 3";
  const char* denied_argv[] = {"/bin/sh", "-c", cat_secret.c_str(), nullptr};
  status = RunConfined(denied_argv, *limits, 0, ruleset->fd.get(), **program);
  EXPECT_TRUE(WIFEXITED(status)) << status;
  if (ruleset->fd.valid()) {
    EXPECT_EQ(WEXITSTATUS(status), 3);  // Landlock denies the read outside the allowed paths
  }

  // Seccomp and the dropped caps survive exec: unshare(1) fails inside.
  const char* unshare_argv[] = {"/usr/bin/unshare", "-m", "true", nullptr};
  if (::access(unshare_argv[0], X_OK) == 0) {
    status = RunConfined(unshare_argv, *limits, 0, ruleset->fd.get(), **program);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << status;
  }
  fs::remove_all(tmpl);
}

}  // namespace
}  // namespace arsenal::policies
