// Shared helpers for the sandbox tests: the probe helper program and kernel-feature skips.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "arsenal/engine/sandbox.h"
#include "arsenal/namespaces/features.h"
#include "arsenal/policies/cgroup.h"

namespace arsenal::sandbox_testing {

// tests/namespaces/helpers/probe.cc: a static program that reports what it could do inside a
// sandbox (see the comment at its top).
inline std::string Probe() { return ARSENAL_NS_PROBE; }

inline std::vector<std::string> ProbeArgv(std::vector<std::string> args) {
  std::vector<std::string> argv = {Probe()};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// The probe lives in the build tree: bind it read-only into sandboxes with a custom rootfs.
inline bool CgroupV1MemoryAvailable() {
  auto layout = policies::DetectCgroupLayout();
  return layout && layout->v1_mounts.contains("memory") && layout->v1_mounts.contains("pids");
}

class SandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto& f = ns::DetectKernelFeatures();
    if (!f.pidfd) GTEST_SKIP() << "clone3 with CLONE_PIDFD is not available";
    if (!f.user_namespaces) {
      GTEST_SKIP() << "user namespaces unusable: " << f.user_namespaces_detail;
    }
  }
};

}  // namespace arsenal::sandbox_testing

// Skips the calling test when the machine has no usable memory and pids cgroup controllers.
#define ARSENAL_REQUIRE_CGROUPS()                                     \
  do {                                                                \
    auto arsenal_layout_ = ::arsenal::policies::DetectCgroupLayout(); \
    if (!::arsenal::sandbox_testing::CgroupV1MemoryAvailable() &&     \
        !(arsenal_layout_ && arsenal_layout_->preferred)) {           \
      GTEST_SKIP() << "no usable cgroup memory/pids controllers";     \
    }                                                                 \
  } while (false)
