// Private helpers shared by the cgroup v1 and v2 backends.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arsenal/base/result.h"
#include "arsenal/policies/cgroup.h"

namespace arsenal::policies::internal {

// Whole-file read of a (small) cgroupfs file.
Result<std::string> ReadCgroupFile(const std::string& path);
// One write() of `value` (cgroupfs parses each write as one command). `create` for plain trees.
Status WriteCgroupFile(const std::string& path, std::string_view value, bool create = false);
// "key value" lines (memory.events, cpu.stat, memory.oom_control).
std::optional<uint64_t> KeyValue(std::string_view text, std::string_view key);
std::optional<uint64_t> ParseU64(std::string_view text);
std::vector<pid_t> ParsePids(std::string_view text);
Status CheckCgroupName(const std::string& name);
// Polls `done` with backoff (0.5 ms doubling to 20 ms) until it returns true or `timeout`.
bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout);
std::string JoinPath(std::string_view a, std::string_view b);
// Sends SIGKILL to each pid via a pidfd (no PID-reuse race once the pidfd is open).
void KillPids(const std::vector<pid_t>& pids);
// Linux (seen on 6.18) SIGKILLs every child cloned with CLONE_INTO_CGROUP into a cgroup whose
// cgroup.kill was ever written (the fork path compares the target's kill sequence with the
// parent's). OpenCloneIntoFd refuses such a cgroup with this error so callers attach instead.
Error KilledCloneIntoError(const std::string& dir);
// Fills what `options` leaves to detection (empty mounts or parents; the cgroup2 companion when
// use_unified and no unified_mount) from `layout`; a layout with no cgroup2 mount beside the v1
// hierarchies turns use_unified off.
void CompleteV1Options(CgroupV1Options& options, const CgroupLayout& layout);

}  // namespace arsenal::policies::internal
