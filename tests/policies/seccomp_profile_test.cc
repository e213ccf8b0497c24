#include "arsenal/policies/seccomp_profile.h"

#include <gtest/gtest.h>
#include <linux/capability.h>

#include <string>

namespace arsenal::policies {
namespace {

// Parses `json` and expects a validation error with `code` naming `field`.
void ExpectInvalid(const std::string& json, const std::string& code, const std::string& field) {
  auto p = ParseSeccompProfile(json);
  ASSERT_FALSE(p.has_value()) << json;
  EXPECT_EQ(p.error().code(), code) << p.error().ToString();
  EXPECT_EQ(p.error().category(), ErrorCategory::kValidation);
  if (!field.empty()) {
    EXPECT_EQ(p.error().details().value("field", ""), field) << p.error().ToString();
    EXPECT_NE(p.error().message().find(field), std::string::npos) << p.error().message();
  }
}

TEST(SeccompProfileParse, ParsesEveryField) {
  auto p = ParseSeccompProfile(R"({
    "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 38,
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
    "flags": ["SECCOMP_FILTER_FLAG_LOG"],
    "syscalls": [
      {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "comment": "io"},
      {"name": "personality", "action": "SCMP_ACT_ALLOW",
       "args": [{"index": 0, "value": 8, "valueTwo": 0, "op": "SCMP_CMP_EQ"}]},
      {"names": ["clone"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
       "args": [{"index": 0, "value": 2114060288, "valueTwo": 5, "op": "SCMP_CMP_MASKED_EQ"}],
       "includes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["amd64"], "minKernel": "4.8"},
       "excludes": {"caps": ["sys_ptrace"]}}
    ]})");
  ASSERT_TRUE(p.has_value()) << p.error().ToString();
  EXPECT_EQ(p->default_action, SeccompAction::kErrno);
  EXPECT_EQ(p->default_errno_ret, 38u);
  ASSERT_EQ(p->architectures.size(), 2u);
  ASSERT_EQ(p->syscalls.size(), 3u);
  EXPECT_EQ(p->syscalls[0].names, (std::vector<std::string>{"read", "write"}));
  EXPECT_EQ(p->syscalls[1].names, (std::vector<std::string>{"personality"}));
  const auto& clone = p->syscalls[2];
  EXPECT_EQ(clone.errno_ret, 13u);
  ASSERT_EQ(clone.args.size(), 1u);
  EXPECT_EQ(clone.args[0].op, SeccompCompareOp::kMaskedEq);
  EXPECT_EQ(clone.args[0].value, 2114060288u);
  EXPECT_EQ(clone.args[0].value_two, 5u);
  EXPECT_EQ(clone.includes.caps, std::vector<int>{CAP_SYS_ADMIN});
  EXPECT_EQ(clone.includes.arches, std::vector<std::string>{"amd64"});
  ASSERT_TRUE(clone.includes.min_kernel.has_value());
  EXPECT_EQ(*clone.includes.min_kernel, (KernelVersion{4, 8}));
  EXPECT_EQ(clone.excludes.caps, std::vector<int>{CAP_SYS_PTRACE});
}

TEST(SeccompProfileParse, RejectsInvalidJson) {
  ExpectInvalid("{\"defaultAction\": ", "seccomp.invalid_json", "");
  ExpectInvalid("[]", "seccomp.wrong_type", "(root)");
}

TEST(SeccompProfileParse, RejectsUnknownFields) {
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_ALLOW", "defaultActoin": 1})",
                "seccomp.unknown_field", "defaultActoin");
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
      {"names": ["read"], "action": "SCMP_ACT_ALLOW", "arg": []}]})",
                "seccomp.unknown_field", "syscalls[1].arg");
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["read"], "action": "SCMP_ACT_ALLOW",
       "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ", "valu2": 3}]}]})",
                "seccomp.unknown_field", "syscalls[0].args[0].valu2");
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"kernel": "4.8"}}]})",
                "seccomp.unknown_field", "syscalls[0].includes.kernel");
}

TEST(SeccompProfileParse, RejectsWrongTypes) {
  ExpectInvalid(R"({"defaultAction": 3})", "seccomp.wrong_type", "defaultAction");
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": {}})", "seccomp.wrong_type",
                "syscalls");
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": "read", "action": "SCMP_ACT_ALLOW"}]})",
                "seccomp.wrong_type", "syscalls[0].names");
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["read", 7], "action": "SCMP_ACT_ALLOW"}]})",
                "seccomp.wrong_type", "syscalls[0].names[1]");
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["read"], "action": "SCMP_ACT_ALLOW",
       "args": [{"index": -1, "value": 1, "op": "SCMP_CMP_EQ"}]}]})",
                "seccomp.wrong_type", "syscalls[0].args[0].index");
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": "EPERM"})",
                "seccomp.wrong_type", "defaultErrnoRet");
}

TEST(SeccompProfileParse, RejectsUnknownSyscallNames) {
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
      {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
      {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
      {"names": ["write", "wirte"], "action": "SCMP_ACT_ALLOW"}]})",
                "seccomp.unknown_syscall", "syscalls[3].names[1]");
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"name": "opn", "action": "SCMP_ACT_ALLOW"}]})",
                "seccomp.unknown_syscall", "syscalls[0].name");
}

TEST(SeccompProfileParse, RejectsUnknownActionsOperatorsArchesCaps) {
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_DENY"})", "seccomp.unknown_action", "defaultAction");
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["read"], "action": "ALLOW"}]})",
                "seccomp.unknown_action", "syscalls[0].action");
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["read"], "action": "SCMP_ACT_ALLOW",
       "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_LIKE"}]}]})",
                "seccomp.unknown_operator", "syscalls[0].args[0].op");
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_Z80"]})",
                "seccomp.unknown_arch", "architectures[0]");
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd46"]}}]})",
                "seccomp.unknown_arch", "syscalls[0].includes.arches[0]");
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["read"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMN"]}}]})",
                "seccomp.unknown_capability", "syscalls[0].excludes.caps[0]");
}

TEST(SeccompProfileParse, RejectsInvalidValues) {
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["read"], "action": "SCMP_ACT_ALLOW",
       "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]})",
                "seccomp.invalid_value", "syscalls[0].args[0].index");
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["read"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4"}}]})",
                "seccomp.invalid_value", "syscalls[0].includes.minKernel");
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["read"], "name": "read", "action": "SCMP_ACT_ALLOW"}]})",
                "seccomp.invalid_value", "syscalls[0].name");
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["read"], "action": "SCMP_ACT_ALLOW", "errnoRet": 1}]})",
                "seccomp.invalid_value", "syscalls[0].errnoRet");
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"],
      "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]})",
                "seccomp.invalid_value", "archMap");
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_FAST"]})",
                "seccomp.invalid_value", "flags[0]");
}

TEST(SeccompProfileParse, RejectsMissingFields) {
  ExpectInvalid(R"({"syscalls": []})", "seccomp.missing_field", "defaultAction");
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"]}]})",
                "seccomp.missing_field", "syscalls[0].action");
  ExpectInvalid(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "op": "SCMP_CMP_EQ"}]}]})",
                "seccomp.missing_field", "syscalls[0].args[0].value");
}

TEST(SeccompProfileParse, DockerDefaultProfileLoadsUnchanged) {
  auto p = LoadSeccompProfileFile(ARSENAL_DOCKER_PROFILE);
  ASSERT_TRUE(p.has_value()) << p.error().ToString();
  EXPECT_EQ(p->default_action, SeccompAction::kErrno);
  EXPECT_EQ(p->default_errno_ret, 1u);
  EXPECT_EQ(p->arch_map.size(), 8u);
  EXPECT_EQ(p->syscalls.size(), 31u);
  EXPECT_GT(p->syscalls[0].names.size(), 300u);
}

TEST(SeccompProfileParse, MissingFileIsNotFound) {
  auto p = LoadSeccompProfileFile("/nonexistent/profile.json");
  ASSERT_FALSE(p.has_value());
  EXPECT_EQ(p.error().code(), "seccomp.read_failed");
  EXPECT_EQ(p.error().category(), ErrorCategory::kNotFound);
}

TEST(SeccompProfileParse, BuiltInDefaultProfileParses) {
  const SeccompProfile& p = DefaultSeccompProfile();
  EXPECT_EQ(p.default_action, SeccompAction::kErrno);
  EXPECT_TRUE(p.architectures.empty());  // native ABI only
  EXPECT_TRUE(p.arch_map.empty());
  EXPECT_FALSE(DefaultSeccompProfileJson().empty());
}

TEST(SeccompProfileParse, KernelVersionAndArch) {
  KernelVersion v = RunningKernelVersion();
  EXPECT_GE(v.major, 3);
  EXPECT_NE(NativeGoArch(), "unknown");
}

}  // namespace
}  // namespace arsenal::policies
