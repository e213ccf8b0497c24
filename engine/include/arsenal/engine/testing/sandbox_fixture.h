// SandboxFixture: a GoogleTest fixture that gives every test its own throwaway sandbox.
//
// Purpose: the test-harness use of Arsenal. A test derives from SandboxFixture (or a subclass
// that overrides Spec()), runs commands with Run()/RunOk(), and never cleans up: the sandbox is
// created and started in SetUp() and destroyed in TearDown(), which GoogleTest runs even when
// the test body failed or threw, so no process, cgroup or mount outlives the test. TearDown also
// fails the test if anything of the sandbox is left (a process in its cgroup).
//
// Header-only: link arsenal::engine and GTest (any gtest_main). Every test of a fixture gets a
// fresh sandbox (fresh namespaces, tmpfs and cgroup); commands within one test share it (files
// written to its tmpfs by one Run() are seen by the next).
//
// Defaults (override Spec()): the strict sandbox defaults (no network, no capabilities, the
// built-in seccomp profile, the host root read-only) plus a 64 MiB tmpfs on /tmp, 256 MiB of
// memory, 128 tasks, a 60 s timeout per command and PATH=/usr/local/bin:/usr/bin:/bin.
//
// Skips (GTEST_SKIP with the reason) when the kernel lacks clone3 with pidfds or user
// namespaces.
//
// Example:
//   class MyToolTest : public arsenal::testing::SandboxFixture {
//    protected:
//     arsenal::SandboxSpecBuilder Spec() override {
//       return SandboxFixture::Spec().BindReadOnly(TOOL_DIR, "/opt/tool").Memory(64 << 20);
//     }
//   };
//   TEST_F(MyToolTest, PrintsVersion) {
//     auto r = RunOk({"/opt/tool/bin/tool", "--version"});
//     EXPECT_EQ(r.out, "tool 1.0\n");
//   }
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "arsenal/engine/sandbox.h"
#include "arsenal/namespaces/features.h"

namespace arsenal::testing {

class SandboxFixture : public ::testing::Test {
 protected:
  // The spec each test's sandbox is built from.
  virtual SandboxSpecBuilder Spec() {
    return SandboxSpecBuilder()
        .Tmpfs("/tmp", 64ULL << 20)
        .Memory(256ULL << 20)
        .Pids(128)
        .Timeout(std::chrono::seconds(60))
        .Env("PATH", "/usr/local/bin:/usr/bin:/bin");
  }

  void SetUp() override {
    const auto& features = ns::DetectKernelFeatures();
    if (!features.pidfd) GTEST_SKIP() << "clone3 with CLONE_PIDFD is not available";
    if (!features.user_namespaces) {
      GTEST_SKIP() << "user namespaces are unusable: " << features.user_namespaces_detail;
    }
    auto box = Sandbox::Create(Spec());
    ASSERT_TRUE(box) << "creating the test sandbox: " << box.error().ToString();
    sandbox_ = std::move(*box);
    auto started = sandbox_->Start();
    ASSERT_TRUE(started) << "starting the test sandbox: " << started.error().ToString();
  }

  void TearDown() override {
    if (!sandbox_) return;
    auto destroyed = sandbox_->Destroy();
    EXPECT_TRUE(destroyed) << "destroying the test sandbox: " << destroyed.error().ToString();
    EXPECT_TRUE(sandbox_->Pids().empty()) << "processes left in the test sandbox";
    sandbox_.reset();
  }

  // Runs argv in this test's sandbox. An Error means it could not be started.
  Result<SandboxResult> Run(const std::vector<std::string>& argv, const RunOptions& options = {}) {
    return sandbox_->Exec(argv, options);
  }

  // Runs argv and records a test failure unless it started, exited 0 and was neither killed nor
  // timed out; returns the result either way (empty when it could not start).
  SandboxResult RunOk(const std::vector<std::string>& argv, const RunOptions& options = {}) {
    auto r = Run(argv, options);
    if (!r) {
      ADD_FAILURE() << "could not run " << argv[0] << ": " << r.error().ToString();
      return {};
    }
    EXPECT_TRUE(r->Success()) << argv[0] << ": exit " << r->exit_code << ", signal " << r->signal
                              << (r->oom ? ", oom" : "") << (r->timed_out ? ", timed out" : "")
                              << "\nstdout:\n"
                              << r->out << "\nstderr:\n"
                              << r->err;
    return *r;
  }

  // Runs a shell script (sh -c).
  SandboxResult Shell(const std::string& script, const RunOptions& options = {}) {
    return RunOk({"/bin/sh", "-c", script}, options);
  }

  Sandbox& sandbox() { return *sandbox_; }

 private:
  std::unique_ptr<Sandbox> sandbox_;
};

}  // namespace arsenal::testing
