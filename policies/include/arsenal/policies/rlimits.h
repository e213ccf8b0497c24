// Resource limits (setrlimit) of a sandbox: typed spec, validation, and the list the child
// applies with ApplyRlimits() (arsenal/policies/child.h).
//
// Purpose: the spec names limits by their sandbox-spec names (nofile, nproc, core, fsize, stack,
// as, cpu). BuildRlimits validates them in the parent against the current limits, because the
// child cannot report a friendly error: without CAP_SYS_RESOURCE (absent on many hosts,
// including CI) a hard limit can only be lowered, so a spec that raises one is rejected up front.
//
// Units: nofile/nproc are counts, core/fsize/stack/as are bytes, cpu is seconds. kRlimInfinity
// means unlimited.
//
// Security: limits are per process (nproc per user); cgroup limits (cgroup.h) bound the sandbox
// as a whole. Use both.
#pragma once

#include <sys/resource.h>

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "arsenal/base/result.h"

namespace arsenal::policies {

inline constexpr uint64_t kRlimInfinity = RLIM_INFINITY;

struct RlimitValue {
  uint64_t soft = 0;
  uint64_t hard = 0;
};

struct RlimitSpec {
  std::optional<RlimitValue> nofile;
  std::optional<RlimitValue> nproc;
  std::optional<RlimitValue> core;
  std::optional<RlimitValue> fsize;
  std::optional<RlimitValue> stack;
  std::optional<RlimitValue> as;
  std::optional<RlimitValue> cpu;
};

// Parses {"nofile": 1024, "core": {"soft": 0, "hard": 0}, "as": "unlimited", ...}: a number or
// "unlimited" sets soft = hard. Unknown keys and wrong types are rejected (rlimit.unknown_field,
// rlimit.wrong_type; details.field names the key).
Result<RlimitSpec> ParseRlimitSpec(const Json& json);

using RlimitList = std::vector<std::pair<int /*RLIMIT_**/, struct rlimit>>;

// Validates and converts. Errors (validation): rlimit.soft_above_hard, and
// rlimit.above_hard_limit when a hard limit exceeds the caller's current hard limit and the caller
// lacks CAP_SYS_RESOURCE (the message names the resource, both values, and the hint says to lower
// the limit). Order of the list is fixed: nofile, nproc, core, fsize, stack, as, cpu.
Result<RlimitList> BuildRlimits(const RlimitSpec& spec);

}  // namespace arsenal::policies
