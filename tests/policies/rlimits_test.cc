#include "arsenal/policies/rlimits.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "arsenal/policies/child.h"
#include "test_util.h"

namespace arsenal::policies {
namespace {

using testing::ChildValues;
using testing::RunInChild;

TEST(Rlimits, ParsesNumbersObjectsAndUnlimited) {
  auto spec = ParseRlimitSpec(
      Json::parse(R"({"nofile": 64, "core": {"soft": 0, "hard": 0}, "cpu": "unlimited"})"));
  ASSERT_TRUE(spec.has_value()) << spec.error().ToString();
  ASSERT_TRUE(spec->nofile.has_value());
  EXPECT_EQ(spec->nofile->soft, 64u);
  EXPECT_EQ(spec->nofile->hard, 64u);
  EXPECT_EQ(spec->core->hard, 0u);
  EXPECT_EQ(spec->cpu->soft, kRlimInfinity);
  EXPECT_FALSE(spec->as.has_value());
}

TEST(Rlimits, RejectsBadSpecs) {
  auto unknown = ParseRlimitSpec(Json::parse(R"({"nofiles": 1})"));
  ASSERT_FALSE(unknown.has_value());
  EXPECT_EQ(unknown.error().code(), "rlimit.unknown_field");
  EXPECT_EQ(unknown.error().details().value("field", ""), "rlimits.nofiles");
  auto wrong = ParseRlimitSpec(Json::parse(R"({"nproc": -1})"));
  ASSERT_FALSE(wrong.has_value());
  EXPECT_EQ(wrong.error().code(), "rlimit.wrong_type");
  auto half = ParseRlimitSpec(Json::parse(R"({"nproc": {"soft": 1}})"));
  ASSERT_FALSE(half.has_value());
  EXPECT_EQ(half.error().code(), "rlimit.missing_field");

  RlimitSpec inverted;
  inverted.nofile = RlimitValue{100, 10};
  auto built = BuildRlimits(inverted);
  ASSERT_FALSE(built.has_value());
  EXPECT_EQ(built.error().code(), "rlimit.soft_above_hard");
}

TEST(Rlimits, RejectsRaisingTheHardLimit) {
  struct rlimit cur {};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &cur), 0);
  if (cur.rlim_max == RLIM_INFINITY) GTEST_SKIP() << "hard NOFILE is unlimited here";
  RlimitSpec spec;
  spec.nofile = RlimitValue{cur.rlim_max + 1, cur.rlim_max + 1};
  auto built = BuildRlimits(spec);
  if (built.has_value()) GTEST_SKIP() << "this process has CAP_SYS_RESOURCE";
  EXPECT_EQ(built.error().code(), "rlimit.above_hard_limit");
  EXPECT_NE(built.error().message().find("nofile"), std::string::npos);
  EXPECT_NE(built.error().hint().find(std::to_string(cur.rlim_max)), std::string::npos);
}

TEST(Rlimits, AppliedInChild) {
  RlimitSpec spec;
  spec.nofile = RlimitValue{16, 16};
  spec.core = RlimitValue{0, 0};
  spec.fsize = RlimitValue{4096, 4096};
  auto list = BuildRlimits(spec);
  ASSERT_TRUE(list.has_value()) << list.error().ToString();
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].first, RLIMIT_NOFILE);
  auto outcome = RunInChild([&](ChildValues& v) {
    v[0] = ApplyRlimits(*list);
    struct rlimit r {};
    ::getrlimit(RLIMIT_NOFILE, &r);
    v[1] = static_cast<long>(r.rlim_cur);
    // Opening more than 16 descriptors must fail with EMFILE.
    v[2] = 0;
    for (int i = 0; i < 32; ++i) {
      if (::open("/dev/null", O_RDONLY) < 0) {
        v[2] = errno;
        break;
      }
    }
    ::getrlimit(RLIMIT_CORE, &r);
    v[3] = static_cast<long>(r.rlim_max);
    return 0;
  });
  ASSERT_TRUE(outcome.ok);
  EXPECT_EQ(outcome.values[0], 0);
  EXPECT_EQ(outcome.values[1], 16);
  EXPECT_EQ(outcome.values[2], EMFILE);
  EXPECT_EQ(outcome.values[3], 0);
}

}  // namespace
}  // namespace arsenal::policies
