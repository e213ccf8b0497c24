// Seccomp profiles in the Docker/OCI JSON format, parsed into typed structs.
//
// Purpose: a sandbox's seccomp policy is described by a profile in the format Docker and the OCI
// runtime spec use (https://docs.docker.com/engine/security/seccomp/): a default action, optional
// architectures (or Docker's archMap), and syscall rules with optional argument conditions and
// `includes`/`excludes` filters on kept capabilities, architecture and minimum kernel version.
// Docker's own default profile loads unchanged. See docs/seccomp-profiles.md.
//
// Parsing is strict: unknown fields, wrong JSON types, unknown syscall names, actions, operators,
// architectures and capability names are rejected with a validation Error whose message and
// `details.field` name the JSON path (`syscalls[3].names[1]`). Nothing here touches the kernel.
//
// Security: a profile is an allowlist only when its defaultAction denies. ParseSeccompProfile
// does not judge how permissive a profile is; DefaultSeccompProfile() is the built-in profile that
// a sandbox gets when it names none (documented in docs/seccomp-profiles.md).
//
// Example:
//   ARSENAL_ASSIGN_OR_RETURN(auto profile, arsenal::policies::LoadSeccompProfileFile(path));
//   ARSENAL_ASSIGN_OR_RETURN(auto program, arsenal::policies::CompileSeccomp(profile, keep_caps));
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arsenal/base/result.h"

namespace arsenal::policies {

// SCMP_ACT_* names. kKillThread is also spelled SCMP_ACT_KILL.
enum class SeccompAction {
  kKillProcess,
  kKillThread,
  kTrap,
  kErrno,
  kTrace,
  kAllow,
  kLog,
  kNotify,
};

// SCMP_CMP_* names.
enum class SeccompCompareOp { kNe, kLt, kLe, kEq, kGe, kGt, kMaskedEq };

// One argument condition. For kMaskedEq `value` is the mask and `value_two` the expected value:
// (arg & value) == value_two.
struct SeccompArg {
  uint32_t index = 0;  // 0..5
  uint64_t value = 0;
  uint64_t value_two = 0;
  SeccompCompareOp op = SeccompCompareOp::kEq;
};

// A kernel version "major.minor" as used by minKernel.
struct KernelVersion {
  int major = 0;
  int minor = 0;
  auto operator<=>(const KernelVersion&) const = default;
};

// `includes` / `excludes`. Capabilities are CAP_* numbers; arches are Go architecture names as
// Docker uses them ("amd64", "arm64", "x86", "x32", "s390x", ...).
struct SeccompFilter {
  std::vector<int> caps;
  std::vector<std::string> arches;
  std::optional<KernelVersion> min_kernel;
  bool empty() const { return caps.empty() && arches.empty() && !min_kernel; }
};

struct SeccompSyscallRule {
  std::vector<std::string> names;  // each resolvable by libseccomp on at least one architecture
  SeccompAction action = SeccompAction::kErrno;
  std::optional<uint32_t> errno_ret;  // for kErrno (default EPERM) and kTrace
  std::vector<SeccompArg> args;       // all must match (AND); see docs for repeated indexes
  std::string comment;
  SeccompFilter includes;  // the rule applies only if every listed condition holds
  SeccompFilter excludes;  // the rule is dropped if any listed condition holds
};

// Docker's archMap entry: when `architecture` is the native one, it and its sub-architectures
// are added to the filter.
struct SeccompArchMapEntry {
  uint32_t architecture = 0;  // SCMP_ARCH_* token
  std::vector<uint32_t> sub_architectures;
};

struct SeccompProfile {
  SeccompAction default_action = SeccompAction::kErrno;
  std::optional<uint32_t> default_errno_ret;  // default EPERM
  std::vector<uint32_t> architectures;  // SCMP_ARCH_* tokens; mutually exclusive with arch_map
  std::vector<SeccompArchMapEntry> arch_map;
  // seccomp(2) filter flags by name: SECCOMP_FILTER_FLAG_TSYNC, _LOG, _SPEC_ALLOW.
  std::vector<std::string> flags;
  std::string listener_path;      // OCI; unsupported by CompileSeccomp (needs a notify listener)
  std::string listener_metadata;  // OCI
  std::vector<SeccompSyscallRule> syscalls;
};

// Parses a profile from JSON text. Errors: seccomp.invalid_json, seccomp.unknown_field,
// seccomp.wrong_type, seccomp.missing_field, seccomp.unknown_syscall, seccomp.unknown_action,
// seccomp.unknown_operator, seccomp.unknown_arch, seccomp.unknown_capability,
// seccomp.invalid_value; all of category validation with details.field set.
Result<SeccompProfile> ParseSeccompProfile(std::string_view json_text);

// Reads and parses a profile file. Adds seccomp.read_failed (not_found/permission) on I/O errors.
Result<SeccompProfile> LoadSeccompProfileFile(const std::string& path);

// The built-in profile (policies/profiles/default.json, embedded at build time), parsed once.
// At least as strict as Docker's default; see docs/seccomp-profiles.md for every choice.
const SeccompProfile& DefaultSeccompProfile();
// Its JSON text, for `arsenal` commands that print or export it.
std::string_view DefaultSeccompProfileJson();

// Names used in profiles, for messages and serialisation.
std::string_view SeccompActionName(SeccompAction action);
std::string_view SeccompCompareOpName(SeccompCompareOp op);
// "SCMP_ARCH_X86_64" for a SCMP_ARCH_* token; empty when unknown.
std::string_view SeccompArchName(uint32_t token);
// Docker/Go name of the architecture this process runs on ("amd64", "arm64", ...).
std::string_view NativeGoArch();
// Version of the running kernel (uname), e.g. {6, 18}.
KernelVersion RunningKernelVersion();

}  // namespace arsenal::policies
