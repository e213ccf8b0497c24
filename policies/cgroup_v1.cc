// cgroup v1 backend: plain cgroupfs I/O (mkdir, one write per limit file, rmdir).
//
// libcgroup was used for create/limit/delete before; its cgroup_init() alone costs ~6 ms of CPU
// per process (it scans every mount and controller), more than a whole bwrap run, and its create
// chowns every file of every controller: too slow for one-shot sandboxes (`arsenal run`). The
// files written here are the documented cgroup v1 interface (docs/decisions.md).
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <set>

#include "arsenal/base/cleanup.h"
#include "arsenal/base/log.h"
#include "arsenal/policies/cgroup.h"
#include "cgroup_internal.h"

namespace arsenal::policies {
namespace {

using internal::JoinPath;
using internal::ReadCgroupFile;
using internal::WriteCgroupFile;

// One v1 hierarchy this sandbox lives in (controllers co-mounted there share the directory).
struct Hierarchy {
  std::vector<std::string> controllers;
  std::string mount;  // e.g. /sys/fs/cgroup/memory
  std::string rel;    // relative to mount, e.g. process_api/<id>/sb-1
  std::string Dir() const { return JoinPath(mount, rel); }
  bool Has(std::string_view c) const {
    return std::find(controllers.begin(), controllers.end(), c) != controllers.end();
  }
};

constexpr const char* kWanted[] = {"memory", "cpu", "cpuacct", "pids", "freezer", "blkio"};

class CgroupV1 final : public Cgroup {
 public:
  CgroupV1(std::string name, std::vector<Hierarchy> hierarchies, std::string unified_dir)
      : Cgroup(std::move(name)),
        hier_(std::move(hierarchies)),
        unified_dir_(std::move(unified_dir)) {}

  ~CgroupV1() override {
    if (auto s = Destroy(); !s) {
      log::Get("cgroup")->warn("destroying cgroup {} failed: {}", name(), s.error().ToString());
    }
  }

  CgroupVersion version() const override { return CgroupVersion::kV1; }

  std::vector<std::string> Paths() const override {
    std::vector<std::string> out;
    for (const auto& h : hier_) out.push_back(h.Dir());
    if (unified_created_) out.push_back(unified_dir_);
    return out;
  }

  // Creates every hierarchy's directory; the destructor removes what was created on failure.
  Status CreateDirs() {
    for (const auto& h : hier_) {
      struct stat st {};
      if (::stat(h.Dir().c_str(), &st) == 0) {
        return Fail(ConflictError("cgroup.exists", "cgroup " + h.Dir() + " already exists")
                        .WithHint("pick another sandbox name, or destroy the stale cgroup"));
      }
    }
    for (auto& h : hier_) {
      if (::mkdir(h.Dir().c_str(), 0755) < 0) {
        const int err = errno;
        if (err == EEXIST) {
          return Fail(ConflictError("cgroup.exists", "cgroup " + h.Dir() + " already exists")
                          .WithHint("pick another sandbox name, or destroy the stale cgroup"));
        }
        return Fail(ErrnoError("cgroup.create_failed", "mkdir", h.Dir(), err)
                        .WithHint("creating cgroups needs root (or a delegated subtree)"));
      }
      created_.push_back(&h);
    }
    if (!unified_dir_.empty()) {
      // Plain mkdir, controller-less: nothing is enabled in the v2 root.
      if (::mkdir(unified_dir_.c_str(), 0755) == 0) {
        unified_created_ = true;
      } else if (errno == EEXIST) {
        return Fail(ConflictError("cgroup.exists", "cgroup " + unified_dir_ + " already exists")
                        .WithHint("pick another sandbox name, or destroy the stale cgroup"));
      } else {
        log::Get("cgroup")->warn(
            "cgroup2 companion {} not created ({}): no cgroup.kill or "
            "CLONE_INTO_CGROUP for {}",
            unified_dir_, std::strerror(errno), name());
      }
    }
    return {};
  }

  Status SetLimits(const CgroupLimits& l) override {
    ARSENAL_TRY(ValidateCgroupLimits(l));
    auto v1 = [](uint64_t v) {
      return v == kCgroupUnlimited ? std::string("-1") : std::to_string(v);
    };
    if (l.memory_bytes) {
      ARSENAL_ASSIGN_OR_RETURN(const Hierarchy* m, Need("memory", "memory"));
      bool memsw = Exists(*m, "memory.memsw.limit_in_bytes");
      if (l.memory_swap_bytes && !memsw && *l.memory_swap_bytes != *l.memory_bytes) {
        return Fail(UnsupportedError("cgroup.unsupported",
                                     "memory+swap limit: this kernel has no swap accounting "
                                     "(memory.memsw.limit_in_bytes is missing)")
                        .WithHint("boot with swapaccount=1, or omit memory_swap"));
      }
      // memsw must stay >= memory at every step: open it up first, then set both in order.
      if (memsw) ARSENAL_TRY(Set(*m, "memory", "memory.memsw.limit_in_bytes", "-1"));
      ARSENAL_TRY(Set(*m, "memory", "memory.limit_in_bytes", v1(*l.memory_bytes)));
      if (memsw) {
        uint64_t total = l.memory_swap_bytes.value_or(*l.memory_bytes);
        ARSENAL_TRY(Set(*m, "memory", "memory.memsw.limit_in_bytes", v1(total)));
      }
    }
    if (l.cpu_quota_us || l.cpu_period_us || l.cpu_weight) {
      ARSENAL_ASSIGN_OR_RETURN(const Hierarchy* c, Need("cpu", "cpu"));
      if (l.cpu_period_us || l.cpu_quota_us) {
        ARSENAL_TRY(
            Set(*c, "cpu", "cpu.cfs_period_us", std::to_string(l.cpu_period_us.value_or(100000))));
      }
      if (l.cpu_quota_us) ARSENAL_TRY(Set(*c, "cpu", "cpu.cfs_quota_us", v1(*l.cpu_quota_us)));
      if (l.cpu_weight) {
        ARSENAL_TRY(Set(*c, "cpu", "cpu.shares", std::to_string(CpuWeightToShares(*l.cpu_weight))));
      }
    }
    if (l.pids_max) {
      ARSENAL_ASSIGN_OR_RETURN(const Hierarchy* p, Need("pids", "pids"));
      ARSENAL_TRY(Set(*p, "pids", "pids.max",
                      *l.pids_max == kCgroupUnlimited ? "max" : std::to_string(*l.pids_max)));
    }
    if (!l.io.empty()) {
      ARSENAL_ASSIGN_OR_RETURN(const Hierarchy* b, Need("blkio", "io"));
      for (const auto& d : l.io) {
        std::string dev = std::to_string(d.major) + ":" + std::to_string(d.minor) + " ";
        auto put = [&](const char* file, const std::optional<uint64_t>& v) -> Status {
          if (!v) return {};
          return Set(*b, "blkio", file, dev + (*v == kCgroupUnlimited ? "0" : std::to_string(*v)));
        };
        ARSENAL_TRY(put("blkio.throttle.read_bps_device", d.read_bps));
        ARSENAL_TRY(put("blkio.throttle.write_bps_device", d.write_bps));
        ARSENAL_TRY(put("blkio.throttle.read_iops_device", d.read_iops));
        ARSENAL_TRY(put("blkio.throttle.write_iops_device", d.write_iops));
      }
    }
    return {};
  }

  Status Attach(pid_t pid) override {
    known_empty_ = false;
    std::vector<std::string> dirs = Paths();
    for (const auto& dir : dirs) {
      auto s = WriteCgroupFile(JoinPath(dir, "cgroup.procs"), std::to_string(pid));
      if (!s) return Fail(std::move(s).error().AddContext("attach pid " + std::to_string(pid)));
    }
    return {};
  }

  Result<std::vector<pid_t>> Processes() const override {
    std::set<pid_t> all;
    for (const auto& dir : Paths()) {
      ARSENAL_ASSIGN_OR_RETURN(auto text, ReadCgroupFile(JoinPath(dir, "cgroup.procs")));
      for (pid_t p : internal::ParsePids(text)) all.insert(p);
    }
    return std::vector<pid_t>(all.begin(), all.end());
  }

  Result<CgroupStats> ReadStats() const override {
    CgroupStats s;
    auto value = [](const Hierarchy* h, const char* file) -> Result<uint64_t> {
      ARSENAL_ASSIGN_OR_RETURN(auto text, ReadCgroupFile(JoinPath(h->Dir(), file)));
      return internal::ParseU64(text).value_or(0);
    };
    if (const Hierarchy* m = Find("memory")) {
      ARSENAL_ASSIGN_OR_RETURN(s.memory_current, value(m, "memory.usage_in_bytes"));
      ARSENAL_ASSIGN_OR_RETURN(s.memory_peak, value(m, "memory.max_usage_in_bytes"));
      ARSENAL_ASSIGN_OR_RETURN(auto oom, ReadCgroupFile(JoinPath(m->Dir(), "memory.oom_control")));
      s.oom_kills = internal::KeyValue(oom, "oom_kill").value_or(0);
    }
    if (const Hierarchy* c = Find("cpuacct")) {
      ARSENAL_ASSIGN_OR_RETURN(s.cpu_usage_ns, value(c, "cpuacct.usage"));
    }
    if (const Hierarchy* p = Find("pids")) {
      ARSENAL_ASSIGN_OR_RETURN(s.pids_current, value(p, "pids.current"));
    }
    return s;
  }

  Status Freeze() override { return SetFreezer("FROZEN"); }
  Status Thaw() override { return SetFreezer("THAWED"); }

  Status KillAll(std::chrono::milliseconds timeout) override {
    // Already empty (the usual case once a sandbox's PID 1 has exited): an empty group cannot
    // gain members except by an explicit attach, so skip the freeze round trip.
    if (auto now = Processes(); now && now->empty()) {
      known_empty_ = true;
      return {};
    }
    // Frozen tasks cannot fork or exit, so the pid list read while frozen is complete and no pid
    // in it can be reused before the signal is queued. SIGKILL takes effect at thaw.
    if (unified_created_) {
      // Atomic whole-group kill (5.14+); the v1 pass below then only confirms emptiness.
      (void)WriteCgroupFile(JoinPath(unified_dir_, "cgroup.kill"), "1");
      unified_killed_ = true;
    }
    bool frozen = Find("freezer") != nullptr && Freeze().has_value();
    auto pids = Processes();
    if (pids) internal::KillPids(*pids);
    if (frozen) ARSENAL_TRY(Thaw());
    bool empty = internal::WaitUntil(
        [&] {
          auto left = Processes();
          if (!left) return false;
          if (left->empty()) return true;
          internal::KillPids(*left);
          return false;
        },
        timeout);
    if (!empty) {
      return Fail(Error(ErrorCategory::kTimeout, "cgroup.timeout",
                        "processes of cgroup " + name() + " still alive after SIGKILL")
                      .WithHint("a process may be stuck in uninterruptible sleep (D state); "
                                "retry later"));
    }
    known_empty_ = true;
    return {};
  }

  Result<UniqueFd> OpenOomEventFd() override {
    ARSENAL_ASSIGN_OR_RETURN(const Hierarchy* m, Need("memory", "OOM events"));
    UniqueFd efd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!efd) return Fail(ErrnoError("cgroup.oom_event_failed", "eventfd", name(), errno));
    std::string control = JoinPath(m->Dir(), "memory.oom_control");
    UniqueFd ofd(::open(control.c_str(), O_RDONLY | O_CLOEXEC));
    if (!ofd) return Fail(ErrnoError("cgroup.oom_event_failed", "open", control, errno));
    // The kernel keeps its own reference to oom_control; ours can close after registering.
    ARSENAL_TRY(WriteCgroupFile(JoinPath(m->Dir(), "cgroup.event_control"),
                                std::to_string(efd.get()) + " " + std::to_string(ofd.get())));
    return efd;
  }

  Result<UniqueFd> OpenCloneIntoFd() const override {
    if (unified_killed_) return Fail(internal::KilledCloneIntoError(unified_dir_));
    if (unified_created_) {
      known_empty_ = false;
      UniqueFd fd(::open(unified_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (!fd) return Fail(ErrnoError("cgroup.open_failed", "open", unified_dir_, errno));
      return fd;
    }
    return Fail(UnsupportedError("cgroup.unsupported",
                                 "CLONE_INTO_CGROUP needs a cgroup2 directory; this is cgroup v1")
                    .WithHint("attach the child with Attach(pid) before it execs"));
  }

  Result<std::vector<UniqueFd>> OpenSelfAttachFds() const override {
    known_empty_ = false;
    std::vector<UniqueFd> fds;
    for (const auto& h : hier_) {
      std::string path = JoinPath(h.Dir(), "tasks");
      UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
      if (!fd) return Fail(ErrnoError("cgroup.open_failed", "open", path, errno));
      fds.push_back(std::move(fd));
    }
    return fds;
  }

  Status Destroy() override {
    if (destroyed_) return {};
    if (!created_.empty() || unified_created_) {
      // A populated group cannot be removed (and a process moved out would escape every
      // limit): kill everything first, unless a KillAll has just confirmed it empty.
      if (!known_empty_) ARSENAL_TRY(KillAll(std::chrono::seconds(5)));
    }
    while (!created_.empty()) {
      const Hierarchy* h = created_.back();
      // A fresh rmdir can see EBUSY for a moment after the last task exits.
      bool gone =
          internal::WaitUntil([&] { return ::rmdir(h->Dir().c_str()) == 0 || errno == ENOENT; },
                              std::chrono::milliseconds(500));
      if (!gone) {
        return Fail(ErrnoError("cgroup.destroy_failed", "rmdir", h->Dir(), errno));
      }
      created_.pop_back();
    }
    if (unified_created_) {
      bool gone =
          internal::WaitUntil([&] { return ::rmdir(unified_dir_.c_str()) == 0 || errno == ENOENT; },
                              std::chrono::milliseconds(500));
      if (!gone) return Fail(ErrnoError("cgroup.destroy_failed", "rmdir", unified_dir_, errno));
      unified_created_ = false;
    }
    destroyed_ = true;
    return {};
  }

 private:
  const Hierarchy* Find(std::string_view controller) const {
    for (const auto& h : hier_) {
      if (h.Has(controller)) return &h;
    }
    return nullptr;
  }

  Result<const Hierarchy*> Need(std::string_view controller, std::string_view what) const {
    if (const Hierarchy* h = Find(controller)) return h;
    return Fail(UnsupportedError("cgroup.unsupported",
                                 std::string(what) + " limits need the cgroup v1 " +
                                     std::string(controller) + " controller, which is not mounted")
                    .WithHint("mount it, or omit the limit"));
  }

  static bool Exists(const Hierarchy& h, const char* file) {
    return ::access(JoinPath(h.Dir(), file).c_str(), F_OK) == 0;
  }

  // One write per file, so the order of writes is ours and a failure names the exact file.
  Status Set(const Hierarchy& h, const char* controller, const char* file,
             const std::string& value) {
    (void)controller;
    auto s = WriteCgroupFile(JoinPath(h.Dir(), file), value);
    if (!s) {
      Error e = std::move(s).error();
      return Fail(Error(e.category(), "cgroup.limit_failed",
                        "setting " + JoinPath(h.Dir(), file) + " = " + value + ": " + e.message())
                      .WithDetail("file", JoinPath(h.Dir(), file))
                      .WithDetail("value", value)
                      .WithHint(e.hint().empty() ? "check the value against the kernel's limits"
                                                 : e.hint()));
    }
    return {};
  }

  Status SetFreezer(const char* state) {
    ARSENAL_ASSIGN_OR_RETURN(const Hierarchy* f, Need("freezer", "freeze"));
    std::string path = JoinPath(f->Dir(), "freezer.state");
    ARSENAL_TRY(WriteCgroupFile(path, state));
    bool done = internal::WaitUntil(
        [&] {
          auto now = ReadCgroupFile(path);
          return now && now->starts_with(state);
        },
        std::chrono::seconds(5));
    if (!done) {
      return Fail(Error(ErrorCategory::kTimeout, "cgroup.timeout",
                        "cgroup " + name() + " did not reach freezer state " + state));
    }
    return {};
  }

  std::vector<Hierarchy> hier_;
  std::vector<const Hierarchy*> created_;
  std::string unified_dir_;  // empty: no cgroup2 companion
  bool unified_created_ = false;
  bool unified_killed_ = false;  // cgroup.kill was written: no CLONE_INTO_CGROUP any more
  bool destroyed_ = false;
  // A KillAll found no process, and nothing has been handed a way in since (Attach, the
  // self-attach fds, the CLONE_INTO_CGROUP fd): an empty group gains members only that way.
  // Atomic: a sandbox may hand out attach fds for a launch on one thread while another destroys it.
  mutable std::atomic<bool> known_empty_{false};
};

class CgroupV1Backend final : public CgroupBackend {
 public:
  explicit CgroupV1Backend(CgroupV1Options options) : options_(std::move(options)) {}
  CgroupVersion version() const override { return CgroupVersion::kV1; }

  Result<std::unique_ptr<Cgroup>> Create(const std::string& name, const CgroupLimits& limits,
                                         const CgroupCreateOptions& create) override {
    ARSENAL_TRY(internal::CheckCgroupName(name));
    ARSENAL_TRY(ValidateCgroupLimits(limits));
    // Group wanted controllers by mount point: co-mounted controllers (cpu,cpuacct) share one
    // directory.
    std::vector<Hierarchy> hier;
    for (const char* c : kWanted) {
      if (create.limited_controllers_only && !Limits(limits, c)) continue;
      auto mount = options_.mounts.find(c);
      if (mount == options_.mounts.end()) continue;
      auto parent = options_.parents.find(c);
      std::string rel = JoinPath(parent == options_.parents.end() ? "/" : parent->second, name);
      while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
      auto same = std::find_if(hier.begin(), hier.end(),
                               [&](const Hierarchy& h) { return h.mount == mount->second; });
      if (same != hier.end()) {
        same->controllers.emplace_back(c);
      } else {
        hier.push_back(Hierarchy{{c}, mount->second, rel});
      }
    }
    std::string unified;
    if (options_.use_unified && !options_.unified_mount.empty() &&
        !create.limited_controllers_only) {
      unified = JoinPath(JoinPath(options_.unified_mount, options_.unified_parent), name);
    }
    auto cg = std::make_unique<CgroupV1>(name, std::move(hier), std::move(unified));
    // On failure the unique_ptr's destructor removes whatever was created.
    ARSENAL_TRY(cg->CreateDirs());
    ARSENAL_TRY(cg->SetLimits(limits));
    return std::unique_ptr<Cgroup>(std::move(cg));
  }

 private:
  // Whether `limits` set anything the v1 `controller` enforces.
  static bool Limits(const CgroupLimits& l, std::string_view controller) {
    if (controller == "memory") return l.memory_bytes || l.memory_swap_bytes;
    if (controller == "cpu") return l.cpu_quota_us || l.cpu_period_us || l.cpu_weight;
    if (controller == "pids") return l.pids_max.has_value();
    if (controller == "blkio") return !l.io.empty();
    return false;
  }

  CgroupV1Options options_;
};

}  // namespace

void internal::CompleteV1Options(CgroupV1Options& options, const CgroupLayout& layout) {
  if (options.mounts.empty()) options.mounts = layout.v1_mounts;
  if (options.parents.empty()) options.parents = layout.own_v1;
  if (options.use_unified && options.unified_mount.empty()) {
    if (layout.mode == CgroupMode::kHybrid) {
      options.unified_mount = layout.v2_mount;
      options.unified_parent = layout.own_v2;
    } else {
      options.use_unified = false;
    }
  }
}

Result<std::unique_ptr<CgroupBackend>> MakeCgroupV1Backend(CgroupV1Options options) {
  if (options.mounts.empty() || options.parents.empty() ||
      (options.use_unified && options.unified_mount.empty())) {
    ARSENAL_ASSIGN_OR_RETURN(auto layout, DetectCgroupLayout());
    internal::CompleteV1Options(options, layout);
  }
  if (!options.mounts.contains("memory")) {
    return Fail(Error(ErrorCategory::kUnavailable, "cgroup.unavailable",
                      "the cgroup v1 memory hierarchy is not mounted")
                    .WithHint("mount it (mount -t cgroup -o memory cgroup /sys/fs/cgroup/memory) "
                              "or use cgroup v2"));
  }
  return std::unique_ptr<CgroupBackend>(new CgroupV1Backend(std::move(options)));
}

}  // namespace arsenal::policies
