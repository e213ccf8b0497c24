#include "arsenal/policies/landlock.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "arsenal/policies/child.h"
#include "test_util.h"

namespace arsenal::policies {
namespace {

namespace fs = std::filesystem;
using testing::ChildValues;
using testing::RunInChild;

class LandlockFsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/arsenal-landlock-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    fs::create_directories(root_ / "allowed");
    fs::create_directories(root_ / "denied");
    std::ofstream(root_ / "allowed/a") << "a";
    std::ofstream(root_ / "denied/b") << "b";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  fs::path root_;
};

int BindLoopback(uint16_t port) {
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return errno;
  int one = 1;
  ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int rc = ::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 ? 0 : errno;
  ::close(s);
  return rc;
}

TEST(LandlockAccess, ParsesNamesAndGroups) {
  auto bits = ParseLandlockAccess({"read", "execute"});
  ASSERT_TRUE(bits.has_value());
  EXPECT_EQ(*bits, landlock::kReadFile | landlock::kReadDir | landlock::kExecute);
  auto bad = ParseLandlockAccess({"read", "fly"}, "paths[0].access");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code(), "landlock.unknown_access");
  EXPECT_EQ(bad.error().details().value("field", ""), "paths[0].access[1]");
}

TEST(LandlockAccess, AbiTables) {
  EXPECT_EQ(landlock::FsRightsForAbi(0), 0u);
  EXPECT_EQ(landlock::FsRightsForAbi(1), (1u << 13) - 1);
  EXPECT_TRUE(landlock::FsRightsForAbi(2) & landlock::kRefer);
  EXPECT_FALSE(landlock::FsRightsForAbi(2) & landlock::kTruncate);
  EXPECT_TRUE(landlock::FsRightsForAbi(5) & landlock::kIoctlDev);
  EXPECT_EQ(landlock::NetRightsForAbi(3), 0u);
  EXPECT_EQ(landlock::NetRightsForAbi(4), landlock::kBindTcp | landlock::kConnectTcp);
  EXPECT_EQ(landlock::ScopesForAbi(5), 0u);
  EXPECT_NE(landlock::ScopesForAbi(6), 0u);
}

TEST(LandlockSpecParse, ParsesAndRejects) {
  auto spec = ParseLandlockSpec(Json::parse(R"({
      "paths": [{"path": "/usr", "access": ["read", "execute"]},
                {"path": "/opt/x", "access": ["write"], "optional": true}],
      "ports": [{"port": 8080, "access": ["bind"]}],
      "scopes": ["signal"], "required": true})"));
  ASSERT_TRUE(spec.has_value()) << spec.error().ToString();
  ASSERT_EQ(spec->paths.size(), 2u);
  EXPECT_TRUE(spec->paths[1].optional);
  ASSERT_EQ(spec->ports.size(), 1u);
  EXPECT_EQ(spec->ports[0].access, landlock::kBindTcp);
  EXPECT_FALSE(spec->scope_abstract_unix);
  EXPECT_TRUE(spec->scope_signal);
  EXPECT_EQ(spec->compat, LandlockCompat::kRequired);

  auto unknown = ParseLandlockSpec(Json::parse(R"({"paths": [{"path": "/x", "acess": []}]})"));
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code(), "landlock.unknown_field");
  EXPECT_EQ(unknown.error().details().value("field", ""), "landlock.paths[0].acess");
  auto relative = ParseLandlockSpec(Json::parse(R"({"paths": [{"path": "usr"}]})"));
  EXPECT_FALSE(relative.has_value());
}

TEST_F(LandlockFsTest, DeniesReadOutsideAllowedDir) {
  if (LandlockAbiVersion() < 1) GTEST_SKIP() << "Landlock is not available on this kernel";
  LandlockSpec spec;
  spec.paths.push_back({(root_ / "allowed").string(), landlock::kRead});
  auto ruleset = BuildLandlockRuleset(spec);
  ASSERT_TRUE(ruleset.has_value()) << ruleset.error().ToString();
  ASSERT_TRUE(ruleset->fd.valid());
  EXPECT_TRUE(ruleset->warnings.empty());
  std::string allowed = (root_ / "allowed/a").string();
  std::string denied = (root_ / "denied/b").string();
  auto outcome = RunInChild([&](ChildValues& v) {
    v[0] = SetNoNewPrivs();
    v[1] = ApplyLandlock(ruleset->fd.get());
    v[2] = ARSENAL_PROBE(::open(allowed.c_str(), O_RDONLY));
    v[3] = ARSENAL_PROBE(::open(denied.c_str(), O_RDONLY));
    v[4] = ARSENAL_PROBE(::open(allowed.c_str(), O_WRONLY));  // read-only rule
    return 0;
  });
  ASSERT_TRUE(outcome.ok);
  EXPECT_EQ(outcome.values[0], 0);
  EXPECT_EQ(outcome.values[1], 0);
  EXPECT_EQ(outcome.values[2], 0);
  EXPECT_EQ(outcome.values[3], EACCES);
  EXPECT_EQ(outcome.values[4], EACCES);
}

TEST_F(LandlockFsTest, FileRuleKeepsOnlyFileRights) {
  if (LandlockAbiVersion() < 1) GTEST_SKIP() << "Landlock is not available on this kernel";
  LandlockSpec spec;
  // "read" includes read_dir, which the kernel refuses on a file; the builder drops it.
  spec.paths.push_back({(root_ / "allowed/a").string(), landlock::kRead});
  auto ruleset = BuildLandlockRuleset(spec);
  ASSERT_TRUE(ruleset.has_value()) << ruleset.error().ToString();
}

TEST_F(LandlockFsTest, MissingPathIsAnErrorUnlessOptional) {
  if (LandlockAbiVersion() < 1) GTEST_SKIP() << "Landlock is not available on this kernel";
  LandlockSpec spec;
  spec.paths.push_back({(root_ / "nope").string(), landlock::kRead});
  auto missing = BuildLandlockRuleset(spec);
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), "landlock.path_not_found");
  spec.paths[0].optional = true;
  auto optional = BuildLandlockRuleset(spec);
  ASSERT_TRUE(optional.has_value());
  EXPECT_EQ(optional->warnings.size(), 1u);
}

TEST(Landlock, TcpBindRulesAndSignalScope) {
  if (LandlockAbiVersion() < 6) GTEST_SKIP() << "needs Landlock ABI 6 (TCP rules and scopes)";
  LandlockSpec spec;
  spec.restrict_fs = false;
  spec.ports.push_back({47011, landlock::kBindTcp});
  auto ruleset = BuildLandlockRuleset(spec);
  ASSERT_TRUE(ruleset.has_value()) << ruleset.error().ToString();
  EXPECT_EQ(ruleset->handled_fs, 0u);
  auto outcome = RunInChild([&](ChildValues& v) {
    v[0] = SetNoNewPrivs();
    v[1] = ApplyLandlock(ruleset->fd.get());
    v[2] = BindLoopback(47011);
    v[3] = BindLoopback(47012);
    v[4] = ARSENAL_PROBE(::kill(::getppid(), 0));
    return 0;
  });
  ASSERT_TRUE(outcome.ok);
  EXPECT_EQ(outcome.values[1], 0);
  EXPECT_NE(outcome.values[2], EACCES);
  EXPECT_EQ(outcome.values[3], EACCES);
  EXPECT_EQ(outcome.values[4], EPERM);  // the parent is outside the domain
}

TEST(Landlock, BestEffortAndRequiredOnOlderAbi) {
  if (LandlockAbiVersion() < 1) GTEST_SKIP() << "Landlock is not available on this kernel";
  LandlockSpec spec;
  spec.ports.push_back({80, landlock::kConnectTcp});
  auto best = BuildLandlockRuleset(spec, 3);
  ASSERT_TRUE(best.has_value()) << best.error().ToString();
  EXPECT_EQ(best->abi, 3);
  EXPECT_EQ(best->handled_net, 0u);
  EXPECT_EQ(best->scoped, 0u);
  EXPECT_FALSE(best->handled_fs & landlock::kIoctlDev);
  EXPECT_GE(best->warnings.size(), 2u);  // ioctl_dev, TCP, scopes
  spec.compat = LandlockCompat::kRequired;
  auto required = BuildLandlockRuleset(spec, 3);
  ASSERT_FALSE(required.has_value());
  EXPECT_EQ(required.error().code(), "landlock.unsupported");
  EXPECT_EQ(required.error().category(), ErrorCategory::kUnsupported);

  auto none = BuildLandlockRuleset(LandlockSpec{}, 0);
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->fd.valid());
  EXPECT_EQ(none->warnings.size(), 1u);
  EXPECT_EQ(ApplyLandlock(none->fd.get()), 0);  // no-op
  LandlockSpec must;
  must.compat = LandlockCompat::kRequired;
  auto refused = BuildLandlockRuleset(must, 0);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), "landlock.unsupported");
}

}  // namespace
}  // namespace arsenal::policies
