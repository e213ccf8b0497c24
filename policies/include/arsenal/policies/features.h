// Which policy features the running kernel and libraries offer, for `arsenal check` and for
// choosing backends at start-up.
//
// Purpose: one typed snapshot of seccomp (filter mode, user notification, actions), Landlock
// ABI, capabilities and cgroup layout/controllers. Detection only probes (no filter is
// installed, no cgroup is created); it is cheap enough to run once per process start.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "arsenal/base/result.h"
#include "arsenal/policies/cgroup.h"

namespace arsenal::policies {

struct PolicyFeatures {
  // seccomp
  bool seccomp_filter = false;        // SECCOMP_SET_MODE_FILTER (probed via GET_ACTION_AVAIL)
  bool seccomp_kill_process = false;  // SECCOMP_RET_KILL_PROCESS
  bool seccomp_log = false;           // SECCOMP_RET_LOG
  bool seccomp_user_notif = false;    // SECCOMP_RET_USER_NOTIF, kernel side
  std::string libseccomp_version;     // "2.5.4"
  unsigned int libseccomp_api = 0;    // seccomp_api_get(); >= 6 supports notify + addfd
  // Landlock
  int landlock_abi = 0;  // 0 = unavailable
  // capabilities
  int last_capability = 0;
  // cgroups
  CgroupMode cgroup_mode = CgroupMode::kNone;
  std::vector<std::string> cgroup_v1_controllers;  // mounted v1 hierarchies
  std::vector<std::string> cgroup_v2_controllers;  // available at the v2 root
  std::optional<CgroupVersion> cgroup_backend;     // what MakeCgroupBackend would pick

  // {"seccomp": {...}, "landlock": {"abi": N}, "capabilities": {...}, "cgroups": {...}}
  Json ToJson() const;
};

// Probes everything. Never fails as a whole: a facility that cannot be probed is reported absent.
PolicyFeatures DetectPolicyFeatures();

}  // namespace arsenal::policies
