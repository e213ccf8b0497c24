// Capabilities a sandbox keeps: name parsing and the CAP_* bitmask (parent side, libcap).
//
// Purpose: a sandbox spec lists the capabilities to keep ("CAP_NET_ADMIN" or "net_admin"; the
// default is none). The parent turns the list into a `uint64_t` bitmask of CAP_* numbers
// (bit N = capability N); the child applies it with ApplyCapabilities() (arsenal/policies/child.h),
// which drops everything else from the bounding, permitted, effective and inheritable sets and
// clears the ambient set.
//
// The same mask drives seccomp profile `includes.caps`/`excludes.caps` evaluation, so the filter
// and the capability sets always agree (as Docker evaluates them against the bounding set).
//
// Security: an unknown name is an error, never ignored. Keeping CAP_SYS_ADMIN also widens the
// built-in seccomp profile (mount, unshare, setns); that is the documented, explicit way to weaken
// the default.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "arsenal/base/result.h"

namespace arsenal::policies {

constexpr uint64_t CapBit(int cap) { return cap >= 0 && cap < 64 ? (uint64_t{1} << cap) : 0; }

// "CAP_NET_ADMIN", "cap_net_admin", "net_admin" and "NET_ADMIN" all give CAP_NET_ADMIN (12).
// Error capability.unknown (validation) for names libcap does not know.
Result<int> ParseCapabilityName(std::string_view name);

// Parses a list into a mask. The error names the offending entry ("caps[2]").
Result<uint64_t> ParseCapabilityList(const std::vector<std::string>& names,
                                     std::string_view field = "caps");

// "CAP_NET_ADMIN" for 12; "CAP_<n>" for numbers libcap has no name for.
std::string CapabilityName(int cap);
// Names of the bits set in `mask`, ascending.
std::vector<std::string> CapabilityNames(uint64_t mask);

// Highest capability number the running kernel knows (/proc/sys/kernel/cap_last_cap via libcap).
int LastCapability();

// Capability sets of the calling thread, for checks and tests.
struct CapabilityState {
  uint64_t effective = 0;
  uint64_t permitted = 0;
  uint64_t inheritable = 0;
  uint64_t bounding = 0;
  uint64_t ambient = 0;
};
Result<CapabilityState> CurrentCapabilities();

}  // namespace arsenal::policies
