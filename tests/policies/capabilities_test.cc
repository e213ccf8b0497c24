#include "arsenal/policies/capabilities.h"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "arsenal/policies/child.h"
#include "test_util.h"

namespace arsenal::policies {
namespace {

using testing::ChildValues;
using testing::RunInChild;

TEST(Capabilities, ParsesEverySpelling) {
  for (const char* name : {"CAP_NET_ADMIN", "cap_net_admin", "net_admin", "NET_ADMIN"}) {
    auto cap = ParseCapabilityName(name);
    ASSERT_TRUE(cap.has_value()) << name;
    EXPECT_EQ(*cap, CAP_NET_ADMIN) << name;
  }
  EXPECT_EQ(ParseCapabilityName("CAP_CHOWN").value_or(-1), 0);
  EXPECT_EQ(ParseCapabilityName("sys_admin").value_or(-1), CAP_SYS_ADMIN);
}

TEST(Capabilities, RejectsUnknownNames) {
  for (const char* name : {"CAP_NET_ADMN", "", "12", "cap_", "CAP_ALL"}) {
    auto cap = ParseCapabilityName(name);
    ASSERT_FALSE(cap.has_value()) << name;
    EXPECT_EQ(cap.error().code(), "capability.unknown");
    EXPECT_EQ(cap.error().category(), ErrorCategory::kValidation);
  }
  auto list = ParseCapabilityList({"chown", "bogus"}, "spec.caps");
  ASSERT_FALSE(list.has_value());
  EXPECT_EQ(list.error().details().value("field", ""), "spec.caps[1]");
}

TEST(Capabilities, MaskAndNamesRoundTrip) {
  auto mask = ParseCapabilityList({"CAP_NET_BIND_SERVICE", "kill", "CAP_SYS_ADMIN"});
  ASSERT_TRUE(mask.has_value());
  EXPECT_EQ(*mask, CapBit(CAP_NET_BIND_SERVICE) | CapBit(CAP_KILL) | CapBit(CAP_SYS_ADMIN));
  EXPECT_EQ(CapabilityNames(*mask),
            (std::vector<std::string>{"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_ADMIN"}));
  EXPECT_EQ(CapabilityName(CAP_NET_ADMIN), "CAP_NET_ADMIN");
  EXPECT_EQ(CapBit(64), 0u);
  EXPECT_GE(LastCapability(), CAP_AUDIT_READ);
}

TEST(Capabilities, ApplyKeepsOnlyTheMask) {
  auto before = CurrentCapabilities();
  ASSERT_TRUE(before.has_value());
  if (!(before->effective & CapBit(CAP_SETPCAP))) GTEST_SKIP() << "needs CAP_SETPCAP";
  const uint64_t keep = CapBit(CAP_NET_BIND_SERVICE) | CapBit(CAP_KILL);
  auto outcome = RunInChild([&](ChildValues& v) {
    v[0] = ApplyCapabilities(keep);
    auto s = CurrentCapabilities();
    if (!s) return 1;
    v[1] = static_cast<long>(s->effective);
    v[2] = static_cast<long>(s->permitted);
    v[3] = static_cast<long>(s->inheritable);
    v[4] = static_cast<long>(s->bounding);
    v[5] = static_cast<long>(s->ambient);
    // A dropped capability is really gone: chown to another uid needs CAP_CHOWN.
    v[6] = ARSENAL_PROBE(::chown("/proc/self/fd/0", 12345, -1));
    // Re-raising a dropped capability fails.
    v[7] = ApplyCapabilities(keep | CapBit(CAP_SYS_ADMIN));
    return 0;
  });
  ASSERT_TRUE(outcome.ok);
  EXPECT_EQ(outcome.values[0], 0);
  EXPECT_EQ(static_cast<uint64_t>(outcome.values[1]), keep);
  EXPECT_EQ(static_cast<uint64_t>(outcome.values[2]), keep);
  EXPECT_EQ(static_cast<uint64_t>(outcome.values[3]), keep);
  EXPECT_EQ(static_cast<uint64_t>(outcome.values[4]), keep);
  EXPECT_EQ(static_cast<uint64_t>(outcome.values[5]), keep);
  EXPECT_NE(outcome.values[6], 0);
  EXPECT_NE(outcome.values[7], 0);
}

TEST(Capabilities, KeptCapsSurviveExecForNonRoot) {
  auto before = CurrentCapabilities();
  ASSERT_TRUE(before.has_value());
  if (!(before->effective & CapBit(CAP_SETUID))) GTEST_SKIP() << "needs CAP_SETUID";
  const uint64_t keep = CapBit(CAP_NET_BIND_SERVICE);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(fds[1], 1);
    // Keep permitted caps across setuid so we can apply the mask as a non-root user.
    ::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
    if (::setresgid(65534, 65534, 65534) != 0 || ::setresuid(65534, 65534, 65534) != 0) _exit(2);
    // Effective was cleared by setuid; ApplyCapabilities re-raises it from permitted.
    if (ApplyCapabilities(keep) != 0) _exit(4);
    ::execl("/bin/grep", "grep", "^CapEff", "/proc/self/status", nullptr);
    _exit(5);
  }
  ::close(fds[1]);
  char buf[256] = {};
  ssize_t n = ::read(fds[0], buf, sizeof(buf) - 1);
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  ASSERT_GT(n, 0);
  EXPECT_NE(std::string(buf).find("0000000000000400"), std::string::npos) << buf;
}

TEST(NoNewPrivs, IsSetInChild) {
  auto outcome = RunInChild([](ChildValues& v) {
    v[0] = SetNoNewPrivs();
    v[1] = ::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
    return 0;
  });
  ASSERT_TRUE(outcome.ok);
  EXPECT_EQ(outcome.values[0], 0);
  EXPECT_EQ(outcome.values[1], 1);
}

}  // namespace
}  // namespace arsenal::policies
