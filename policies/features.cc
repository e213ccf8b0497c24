#include "arsenal/policies/features.h"

#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arsenal/policies/capabilities.h"
#include "arsenal/policies/landlock.h"

#ifndef SECCOMP_GET_ACTION_AVAIL
#define SECCOMP_GET_ACTION_AVAIL 2
#endif
#ifndef SECCOMP_RET_USER_NOTIF
#define SECCOMP_RET_USER_NOTIF 0x7fc00000U
#endif

namespace arsenal::policies {
namespace {

bool ActionAvailable(uint32_t action) {
  return ::syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action) == 0;
}

}  // namespace

PolicyFeatures DetectPolicyFeatures() {
  PolicyFeatures f;
  f.seccomp_filter = ActionAvailable(SECCOMP_RET_ALLOW);
  f.seccomp_kill_process = ActionAvailable(SECCOMP_RET_KILL_PROCESS);
  f.seccomp_log = ActionAvailable(SECCOMP_RET_LOG);
  f.seccomp_user_notif = ActionAvailable(SECCOMP_RET_USER_NOTIF);
  const scmp_version* v = seccomp_version();
  f.libseccomp_version =
      std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->micro);
  f.libseccomp_api = seccomp_api_get();
  f.landlock_abi = LandlockAbiVersion();
  f.last_capability = LastCapability();
  if (auto layout = DetectCgroupLayout()) {
    f.cgroup_mode = layout->mode;
    for (const auto& [controller, mount] : layout->v1_mounts) {
      f.cgroup_v1_controllers.push_back(controller);
    }
    f.cgroup_v2_controllers = layout->v2_controllers;
    f.cgroup_backend = layout->preferred;
  }
  return f;
}

Json PolicyFeatures::ToJson() const {
  Json backend = nullptr;
  if (cgroup_backend) backend = *cgroup_backend == CgroupVersion::kV2 ? "v2" : "v1";
  return Json{
      {"seccomp",
       {{"filter", seccomp_filter},
        {"kill_process", seccomp_kill_process},
        {"log", seccomp_log},
        {"user_notif", seccomp_user_notif},
        {"libseccomp_version", libseccomp_version},
        {"libseccomp_api", libseccomp_api}}},
      {"landlock", {{"abi", landlock_abi}, {"available", landlock_abi > 0}}},
      {"capabilities", {{"last_cap", last_capability}}},
      {"cgroups",
       {{"mode", std::string(CgroupModeName(cgroup_mode))},
        {"v1_controllers", cgroup_v1_controllers},
        {"v2_controllers", cgroup_v2_controllers},
        {"backend", backend}}},
  };
}

}  // namespace arsenal::policies
