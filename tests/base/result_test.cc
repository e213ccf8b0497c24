#include "arsenal/base/result.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include "arsenal/base/cleanup.h"
#include "arsenal/base/unique_fd.h"

namespace arsenal {
namespace {

Result<int> Half(int x) {
  if (x % 2 != 0) return Fail(ValidationError("math.odd", "odd input", "x"));
  return x / 2;
}

Result<int> Quarter(int x) {
  ARSENAL_ASSIGN_OR_RETURN(int h, Half(x));
  ARSENAL_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckEven(int x) {
  ARSENAL_TRY(Half(x));
  return {};
}

TEST(ResultTest, PropagatesValuesAndErrors) {
  EXPECT_EQ(Quarter(8).value(), 2);
  auto r = Quarter(6);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), "math.odd");
  EXPECT_EQ(r.error().details()["field"], "x");
  EXPECT_TRUE(CheckEven(4).has_value());
  EXPECT_FALSE(CheckEven(5).has_value());
}

TEST(ResultTest, CategoriesMapToHttpStatusAndBack) {
  const std::pair<ErrorCategory, int> cases[] = {
      {ErrorCategory::kValidation, 400},      {ErrorCategory::kNotFound, 404},
      {ErrorCategory::kConflict, 409},        {ErrorCategory::kPermission, 403},
      {ErrorCategory::kUnauthenticated, 401}, {ErrorCategory::kResourceExhausted, 429},
      {ErrorCategory::kUnavailable, 503},     {ErrorCategory::kTimeout, 504},
      {ErrorCategory::kUnsupported, 501},     {ErrorCategory::kInternal, 500}};
  for (auto [category, status] : cases) {
    EXPECT_EQ(HttpStatus(category), status);
    EXPECT_EQ(CategoryFromName(CategoryName(category)), category);
  }
  EXPECT_EQ(CategoryFromName("bogus"), ErrorCategory::kInternal);
}

TEST(ResultTest, RetryableDefaultsFollowCategory) {
  EXPECT_TRUE(Error(ErrorCategory::kUnavailable, "x.y", "m").retryable());
  EXPECT_TRUE(Error(ErrorCategory::kTimeout, "x.y", "m").retryable());
  EXPECT_FALSE(Error(ErrorCategory::kValidation, "x.y", "m").retryable());
  EXPECT_FALSE(Error(ErrorCategory::kUnavailable, "x.y", "m").WithRetryable(false).retryable());
}

TEST(ResultTest, NestFieldReRootsTheFieldUnderThePrefix) {
  Error nested = ValidationError("limit.bad", "too big").WithDetail("field", "memory");
  EXPECT_EQ(std::move(nested).NestField("sandbox.limits").details()["field"],
            "sandbox.limits.memory");
  Error bare = ValidationError("spec.bad", "bad");
  bare.NestField("sandbox");
  EXPECT_EQ(bare.details()["field"], "sandbox");
  Error odd = ValidationError("spec.bad", "bad").WithDetail("field", 3);  // not a name: replaced
  EXPECT_EQ(odd.NestField("sandbox").details()["field"], "sandbox");
  EXPECT_EQ(odd.message(), "bad");  // the message is left alone
}

TEST(ResultTest, JsonRoundTripKeepsEveryField) {
  Error e = Error(ErrorCategory::kConflict, "sandbox.exists", "sandbox sb-1 exists")
                .WithHint("pick another id")
                .WithDetail("id", "sb-1")
                .AddContext("create_sandbox");
  Json j = e.ToJson();
  EXPECT_EQ(j["category"], "conflict");
  EXPECT_EQ(j["message"], "create_sandbox: sandbox sb-1 exists");
  Error back = Error::FromJson(j);
  EXPECT_EQ(back.code(), "sandbox.exists");
  EXPECT_EQ(back.category(), ErrorCategory::kConflict);
  EXPECT_EQ(back.hint(), "pick another id");
  EXPECT_EQ(back.details()["id"], "sb-1");
  EXPECT_EQ(back.message(), e.message());
  EXPECT_EQ(back.ToString(),
            "sandbox.exists: create_sandbox: sandbox sb-1 exists (hint: pick another id)");
  EXPECT_FALSE(Error(ErrorCategory::kInternal, "a.b", "m").ToJson().contains("hint"));
}

TEST(ResultTest, ErrnoErrorNamesSyscallObjectAndErrno) {
  Error e = ErrnoError("cgroup.create_failed", "mkdir", "/sys/fs/cgroup/memory/x", EACCES);
  EXPECT_EQ(e.category(), ErrorCategory::kPermission);
  EXPECT_NE(e.message().find("mkdir(/sys/fs/cgroup/memory/x)"), std::string::npos);
  EXPECT_NE(e.message().find("EACCES"), std::string::npos);
  EXPECT_EQ(e.details()["errno"], EACCES);
  EXPECT_EQ(e.details()["syscall"], "mkdir");
  EXPECT_FALSE(e.hint().empty());
  EXPECT_EQ(ErrnoError("x.y", "open", "/a", ENOENT).category(), ErrorCategory::kNotFound);
  EXPECT_EQ(ErrnoError("x.y", "clone3", "", ENOSYS).category(), ErrorCategory::kUnsupported);
  EXPECT_EQ(ErrnoError("x.y", "fork", "", EAGAIN).category(), ErrorCategory::kResourceExhausted);
  Error unknown = ErrnoError("x.y", "ioctl", "fd 3", 4095);
  EXPECT_EQ(unknown.category(), ErrorCategory::kInternal);
  EXPECT_EQ(unknown.details()["errno_name"], "E4095");
}

TEST(CleanupTest, RunsUnlessCancelled) {
  int runs = 0;
  {
    Cleanup c([&] { ++runs; });
  }
  EXPECT_EQ(runs, 1);
  {
    Cleanup c([&] { ++runs; });
    c.Cancel();
  }
  EXPECT_EQ(runs, 1);
  {
    Cleanup c([&] { ++runs; });
    c.Invoke();
    c.Invoke();
  }
  EXPECT_EQ(runs, 2);
}

TEST(UniqueFdTest, ClosesOnDestructionAndMove) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  {
    UniqueFd a(fds[0]);
    UniqueFd b(std::move(a));
    EXPECT_FALSE(a.valid());
    EXPECT_EQ(b.get(), fds[0]);
  }
  EXPECT_EQ(fcntl(fds[0], F_GETFD), -1);
  UniqueFd w(fds[1]);
  int raw = w.Release();
  EXPECT_FALSE(w.valid());
  EXPECT_EQ(close(raw), 0);
}

}  // namespace
}  // namespace arsenal
