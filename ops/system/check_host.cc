// Operation check_host: which kernel features sandboxes rely on are present here, and for each
// missing one what it costs and how to fix it. Backs `arsenal check`.
#include <algorithm>

#include "arsenal/engine/engine.h"
#include "arsenal/namespaces/features.h"
#include "arsenal/policies/features.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

bool Has(const std::vector<std::string>& list, std::string_view name) {
  return std::find(list.begin(), list.end(), name) != list.end();
}

// One row of the report. `impact` and `fix` are only reported when the feature is missing.
Json Feature(std::string name, bool present, std::string detail, std::string impact,
             std::string fix, bool required = false) {
  Json row = {{"name", std::move(name)},
              {"present", present},
              {"required", required},
              {"detail", std::move(detail)}};
  if (!present) {
    row["impact"] = std::move(impact);
    row["fix"] = std::move(fix);
  }
  return row;
}

Result<Json> Handle(OperationContext& /*ctx*/, const Json& /*params*/) {
  const auto& kernel = ns::DetectKernelFeatures();
  const auto policy = policies::DetectPolicyFeatures();
  const bool v2 = policy.cgroup_backend == policies::CgroupVersion::kV2;
  const auto& controllers = v2 ? policy.cgroup_v2_controllers : policy.cgroup_v1_controllers;
  const std::string backend = !policy.cgroup_backend ? "none" : (v2 ? "cgroup v2" : "cgroup v1");
  const std::string enable_fix =
      v2 ? "enable it for delegation: echo +CONTROLLER > /sys/fs/cgroup/cgroup.subtree_control"
         : "mount the v1 hierarchy: mount -t cgroup -o CONTROLLER cgroup "
           "/sys/fs/cgroup/CONTROLLER";
  auto controller = [&](const std::string& name, const std::string& impact) {
    std::string fix = enable_fix;
    for (size_t pos; (pos = fix.find("CONTROLLER")) != std::string::npos;) {
      fix.replace(pos, 10, name);
    }
    return Feature("cgroup." + name, Has(controllers, name), backend + " controller " + name,
                   impact, fix);
  };

  Json features = Json::array();
  features.push_back(Feature("clone3", kernel.clone3, "clone3(2) with CLONE_PIDFD",
                             "no sandbox can be created", "run Linux 5.5 or newer", true));
  features.push_back(Feature("pidfd", kernel.pidfd, "pidfds (waitid P_PIDFD, pidfd_send_signal)",
                             "processes cannot be managed without pid-reuse races",
                             "run Linux 5.4 or newer", true));
  features.push_back(Feature(
      "user_namespaces", kernel.user_namespaces,
      kernel.user_namespaces ? "user namespaces can be created" : kernel.user_namespaces_detail,
      "sandboxes cannot map root inside to an unprivileged id outside; the default spec fails",
      "allow them: sysctl -w user.max_user_namespaces=15000 (and on Debian/Ubuntu "
      "kernel.unprivileged_userns_clone=1, kernel.apparmor_restrict_unprivileged_userns=0)",
      true));
  features.push_back(Feature("setns_pidfd", kernel.setns_pidfd,
                             "setns(2) through a pidfd, joining several namespaces at once",
                             "execute_in_sandbox cannot join a running sandbox",
                             "run Linux 5.8 or newer"));
  features.push_back(Feature("time_namespace", kernel.time_namespace, "CLONE_NEWTIME",
                             "sandboxes share the host's monotonic and boot clocks",
                             "run Linux 5.6 or newer built with CONFIG_TIME_NS"));
  features.push_back(Feature("cgroup_namespace", kernel.cgroup_namespace, "CLONE_NEWCGROUP",
                             "a sandbox can see the host's cgroup paths",
                             "run a kernel built with CONFIG_CGROUPS"));
  features.push_back(Feature(
      "cgroups", policy.cgroup_backend.has_value(),
      "mode " + std::string(policies::CgroupModeName(policy.cgroup_mode)) + ", backend " + backend,
      "no resource limit (memory, pids, cpu) can be enforced",
      "mount cgroup2 at /sys/fs/cgroup (or the v1 controllers)", true));
  features.push_back(controller("memory", "memory limits and OOM reporting are unavailable"));
  features.push_back(controller("pids", "fork bombs cannot be capped (pids limit)"));
  features.push_back(controller("cpu", "cpu quota and weight cannot be set"));
  if (v2) {
    features.push_back(controller("io", "io limits cannot be set"));
  } else {
    features.push_back(
        controller("freezer", "sandboxed processes are paused with SIGSTOP, not frozen"));
  }
  features.push_back(Feature("seccomp_filter", policy.seccomp_filter,
                             "seccomp BPF filters (libseccomp " + policy.libseccomp_version + ")",
                             "no system call filtering: sandboxes refuse to start by default",
                             "run a kernel built with CONFIG_SECCOMP_FILTER", true));
  features.push_back(Feature("seccomp_user_notification", policy.seccomp_user_notif,
                             "SECCOMP_RET_USER_NOTIF",
                             "profiles cannot defer system calls to the supervisor",
                             "run Linux 5.0 or newer with libseccomp 2.5 or newer"));
  features.push_back(Feature(
      "landlock", policy.landlock_abi > 0, "Landlock ABI " + std::to_string(policy.landlock_abi),
      "filesystem rules rely on the mount namespace alone (no Landlock defence in depth)",
      "boot a kernel with CONFIG_SECURITY_LANDLOCK and landlock in the lsm= list"));
  features.push_back(Feature("landlock_network", policy.landlock_abi >= 4,
                             "Landlock TCP bind/connect rules (ABI 4+)",
                             "network rules rely on the network namespace alone",
                             "run Linux 6.7 or newer with Landlock enabled"));

  Json missing = Json::array();
  bool ready = true;
  for (const auto& f : features) {
    if (f["present"].get<bool>()) continue;
    missing.push_back(f["name"]);
    if (f["required"].get<bool>()) ready = false;
  }
  Json raw = policy.ToJson();
  raw["namespaces"] = {{"clone3", kernel.clone3},
                       {"pidfd", kernel.pidfd},
                       {"user_namespaces", kernel.user_namespaces},
                       {"setns_pidfd", kernel.setns_pidfd},
                       {"time_namespace", kernel.time_namespace},
                       {"cgroup_namespace", kernel.cgroup_namespace}};
  return Json{{"ready", ready}, {"missing", missing}, {"features", features}, {"raw", raw}};
}

Operation Make() {
  Operation op;
  op.name = "check_host";
  op.family = "system";
  op.summary =
      "Report which kernel features sandboxes rely on are present, and how to fix missing ones";
  op.params_schema = {{"type", "object"}, {"properties", Json::object()}};
  op.result_schema = {
      {"type", "object"},
      {"properties",
       {{"ready", {{"type", "boolean"}, {"description", "every required feature is present"}}},
        {"missing", {{"type", "array"}, {"items", {{"type", "string"}}}}},
        {"features",
         {{"type", "array"},
          {"items",
           {{"type", "object"},
            {"properties",
             {{"name", {{"type", "string"}}},
              {"present", {{"type", "boolean"}}},
              {"required", {{"type", "boolean"}}},
              {"detail", {{"type", "string"}}},
              {"impact", {{"type", "string"}}},
              {"fix", {{"type", "string"}}}}},
            {"required", {"name", "present", "required", "detail"}}}}}},
        {"raw", {{"type", "object"}}}}},
      {"required", {"ready", "missing", "features", "raw"}}};
  op.permission = "system.read";
  op.http_method = "GET";
  op.http_path = "/api/v1/system/check";
  op.idempotent = true;
  op.cli_command = {"check"};
  op.examples = {{{"summary", "check this host"}, {"params", Json::object()}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
