// Landlock: unprivileged filesystem, TCP-port and IPC-scope restrictions (parent side).
//
// Purpose: the parent builds a Landlock ruleset from the sandbox spec and hands the ruleset fd
// to the child, which calls ApplyLandlock(fd) (arsenal/policies/child.h) after SetNoNewPrivs()
// and before seccomp. The fd is opened O_CLOEXEC and is not needed after landlock_restrict_self;
// the child closes it (or exec does).
//
// ABI: the kernel's Landlock ABI is detected at run time (landlock_create_ruleset with
// LANDLOCK_CREATE_RULESET_VERSION). Rights are defined here for ABI 1-7 because the installed
// headers may be older than the kernel:
//   1: filesystem rights; 2: REFER; 3: TRUNCATE; 4: TCP bind/connect; 5: IOCTL_DEV;
//   6: scopes (abstract unix sockets, signals); 7: audit logging flags (no new rights).
// Everything the detected ABI supports is "handled" (denied unless a rule allows it), subject to
// the spec's opt-outs. With kBestEffort, rights the ABI lacks are dropped and each drop is
// recorded in `warnings`; with kRequired the build fails with landlock.unsupported instead.
//
// Security: Landlock only ever removes access. Without Landlock (ABI 0) and best effort, the
// returned ruleset has no fd and ApplyLandlock(-1) is a no-op: the sandbox then relies on its
// mount namespace and seccomp alone, which the warning records.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arsenal/base/result.h"
#include "arsenal/base/unique_fd.h"

namespace arsenal::policies {

namespace landlock {
// Filesystem access rights (LANDLOCK_ACCESS_FS_*), kernel bit values.
inline constexpr uint64_t kExecute = 1ULL << 0;
inline constexpr uint64_t kWriteFile = 1ULL << 1;
inline constexpr uint64_t kReadFile = 1ULL << 2;
inline constexpr uint64_t kReadDir = 1ULL << 3;
inline constexpr uint64_t kRemoveDir = 1ULL << 4;
inline constexpr uint64_t kRemoveFile = 1ULL << 5;
inline constexpr uint64_t kMakeChar = 1ULL << 6;
inline constexpr uint64_t kMakeDir = 1ULL << 7;
inline constexpr uint64_t kMakeReg = 1ULL << 8;
inline constexpr uint64_t kMakeSock = 1ULL << 9;
inline constexpr uint64_t kMakeFifo = 1ULL << 10;
inline constexpr uint64_t kMakeBlock = 1ULL << 11;
inline constexpr uint64_t kMakeSym = 1ULL << 12;
inline constexpr uint64_t kRefer = 1ULL << 13;     // ABI 2
inline constexpr uint64_t kTruncate = 1ULL << 14;  // ABI 3
inline constexpr uint64_t kIoctlDev = 1ULL << 15;  // ABI 5
// Rights that apply to a regular file (a rule on a non-directory may only use these).
inline constexpr uint64_t kFileRights = kExecute | kWriteFile | kReadFile | kTruncate | kIoctlDev;
// Convenience groups for specs.
inline constexpr uint64_t kRead = kReadFile | kReadDir;
inline constexpr uint64_t kWrite = kWriteFile | kRemoveDir | kRemoveFile | kMakeChar | kMakeDir |
                                   kMakeReg | kMakeSock | kMakeFifo | kMakeBlock | kMakeSym |
                                   kRefer | kTruncate;
// Network rights (LANDLOCK_ACCESS_NET_*), ABI 4.
inline constexpr uint64_t kBindTcp = 1ULL << 0;
inline constexpr uint64_t kConnectTcp = 1ULL << 1;
// Scopes (LANDLOCK_SCOPE_*), ABI 6.
inline constexpr uint64_t kScopeAbstractUnixSocket = 1ULL << 0;
inline constexpr uint64_t kScopeSignal = 1ULL << 1;
// landlock_restrict_self flags, ABI 7.
inline constexpr uint32_t kLogSameExecOff = 1U << 0;
inline constexpr uint32_t kLogNewExecOn = 1U << 1;
inline constexpr uint32_t kLogSubdomainsOff = 1U << 2;

// What each ABI version knows.
uint64_t FsRightsForAbi(int abi);
uint64_t NetRightsForAbi(int abi);
uint64_t ScopesForAbi(int abi);
}  // namespace landlock

// The running kernel's Landlock ABI version; 0 when Landlock is absent or disabled.
int LandlockAbiVersion();

// Parses access names: "read", "write", "execute" (groups) and the individual rights
// "read_file", "write_file", "read_dir", "remove_dir", "remove_file", "make_char", "make_dir",
// "make_reg", "make_sock", "make_fifo", "make_block", "make_sym", "refer", "truncate",
// "ioctl_dev". landlock.unknown_access (validation) names `field`[i].
Result<uint64_t> ParseLandlockAccess(const std::vector<std::string>& names,
                                     std::string_view field = "access");

struct LandlockPathRule {
  std::string path;       // absolute; the rule covers the file or the whole directory tree
  uint64_t access = 0;    // landlock::k* fs rights
  bool optional = false;  // a missing path is skipped (with a warning) instead of an error
};

struct LandlockPortRule {
  uint16_t port = 0;
  uint64_t access = 0;  // landlock::kBindTcp and/or kConnectTcp
};

enum class LandlockCompat {
  kBestEffort,  // use what the kernel has, record the rest as warnings
  kRequired,    // any missing feature is an error (landlock.unsupported)
};

struct LandlockSpec {
  std::vector<LandlockPathRule> paths;
  std::vector<LandlockPortRule> ports;
  // Opt-outs, each an explicit choice; by default every right the ABI knows is restricted.
  bool restrict_fs = true;
  bool restrict_tcp = true;
  bool scope_abstract_unix = true;
  bool scope_signal = true;
  LandlockCompat compat = LandlockCompat::kBestEffort;
};

// Parses {"paths": [{"path": "/usr", "access": ["read", "execute"], "optional": false}],
// "ports": [{"port": 8080, "access": ["bind", "connect"]}], "restrict_fs": true,
// "restrict_tcp": true, "scopes": ["abstract_unix_socket", "signal"], "required": false}.
// Unknown fields are rejected (landlock.unknown_field).
Result<LandlockSpec> ParseLandlockSpec(const Json& json);

struct LandlockRuleset {
  UniqueFd fd;  // invalid when Landlock is unavailable (best effort)
  int abi = 0;  // the ABI the ruleset was built for
  uint64_t handled_fs = 0;
  uint64_t handled_net = 0;
  uint64_t scoped = 0;
  std::vector<std::string> warnings;
};

// Builds the ruleset. `abi_limit` caps the ABI used (for tests and for pinning behaviour); the
// result uses min(detected, abi_limit). Errors: landlock.unsupported (kRequired and a feature is
// missing; category unsupported), landlock.path_not_found, landlock.rule_failed,
// landlock.create_failed (kernel errors, naming the path or port).
Result<LandlockRuleset> BuildLandlockRuleset(const LandlockSpec& spec,
                                             std::optional<int> abi_limit = std::nullopt);

}  // namespace arsenal::policies
