// cgroup v2 backend: plain cgroupfs file I/O under a configurable root, so the same code runs
// against /sys/fs/cgroup and against a fake tree in unit tests (plain_directory).
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "arsenal/base/log.h"
#include "arsenal/policies/cgroup.h"
#include "cgroup_internal.h"

namespace arsenal::policies {
namespace {

using internal::JoinPath;
using internal::ReadCgroupFile;
using internal::WriteCgroupFile;

// Whether whitespace-separated `text` ("cpu io memory pids\n") contains `token`.
bool HasToken(std::string_view text, std::string_view token) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t start = text.find_first_not_of(" \n\t", pos);
    if (start == std::string_view::npos) break;
    size_t end = text.find_first_of(" \n\t", start);
    if (end == std::string_view::npos) end = text.size();
    if (text.substr(start, end - start) == token) return true;
    pos = end;
  }
  return false;
}

std::string V2(uint64_t v) { return v == kCgroupUnlimited ? "max" : std::to_string(v); }

class CgroupV2 final : public Cgroup {
 public:
  CgroupV2(std::string name, std::string dir, bool plain)
      : Cgroup(std::move(name)), dir_(std::move(dir)), plain_(plain) {}

  ~CgroupV2() override {
    if (auto s = Destroy(); !s) {
      log::Get("cgroup")->warn("destroying cgroup {} failed: {}", name(), s.error().ToString());
    }
  }

  CgroupVersion version() const override { return CgroupVersion::kV2; }
  std::vector<std::string> Paths() const override { return {dir_}; }

  Status MakeDir() {
    if (::mkdir(dir_.c_str(), 0755) != 0) {
      if (errno == EEXIST) {
        return Fail(ConflictError("cgroup.exists", "cgroup " + dir_ + " already exists")
                        .WithHint("pick another sandbox name, or destroy the stale cgroup"));
      }
      return Fail(ErrnoError("cgroup.create_failed", "mkdir", dir_, errno));
    }
    created_ = true;
    return {};
  }

  Status SetLimits(const CgroupLimits& l) override {
    ARSENAL_TRY(ValidateCgroupLimits(l));
    if (l.memory_bytes) {
      ARSENAL_TRY(Write("memory.max", V2(*l.memory_bytes)));
      // memory.swap.max is swap alone; the spec (like Docker) gives memory+swap.
      uint64_t swap = 0;
      if (l.memory_swap_bytes) {
        swap = *l.memory_swap_bytes == kCgroupUnlimited || *l.memory_bytes == kCgroupUnlimited
                   ? kCgroupUnlimited
                   : *l.memory_swap_bytes - *l.memory_bytes;
      }
      if (Exists("memory.swap.max") || plain_) ARSENAL_TRY(Write("memory.swap.max", V2(swap)));
      // Kill the whole group on OOM, not just the largest task: a half-killed sandbox is worse.
      if (Exists("memory.oom.group") || plain_) ARSENAL_TRY(Write("memory.oom.group", "1"));
    }
    if (l.cpu_quota_us || l.cpu_period_us) {
      ARSENAL_TRY(Write("cpu.max", V2(l.cpu_quota_us.value_or(kCgroupUnlimited)) + " " +
                                       std::to_string(l.cpu_period_us.value_or(100000))));
    }
    if (l.cpu_weight) ARSENAL_TRY(Write("cpu.weight", std::to_string(*l.cpu_weight)));
    if (l.pids_max) ARSENAL_TRY(Write("pids.max", V2(*l.pids_max)));
    for (const auto& d : l.io) {
      std::string line = std::to_string(d.major) + ":" + std::to_string(d.minor);
      if (d.read_bps) line += " rbps=" + V2(*d.read_bps);
      if (d.write_bps) line += " wbps=" + V2(*d.write_bps);
      if (d.read_iops) line += " riops=" + V2(*d.read_iops);
      if (d.write_iops) line += " wiops=" + V2(*d.write_iops);
      ARSENAL_TRY(Write("io.max", line));
    }
    return {};
  }

  Status Attach(pid_t pid) override { return Write("cgroup.procs", std::to_string(pid)); }

  Result<std::vector<pid_t>> Processes() const override {
    auto text = Read("cgroup.procs");
    // Missing file: the directory is gone (or a fake tree has no processes).
    if (!text && text.error().details().value("errno", 0) == ENOENT) return std::vector<pid_t>{};
    if (!text) return Fail(std::move(text).error());
    return internal::ParsePids(*text);
  }

  Result<CgroupStats> ReadStats() const override {
    CgroupStats s;
    auto optional_value = [&](const char* file) -> uint64_t {
      auto text = Read(file);
      return text ? internal::ParseU64(*text).value_or(0) : 0;
    };
    s.memory_current = optional_value("memory.current");
    s.memory_peak = optional_value("memory.peak");  // Linux 5.19+
    s.pids_current = optional_value("pids.current");
    if (auto cpu = Read("cpu.stat")) {
      s.cpu_usage_ns = internal::KeyValue(*cpu, "usage_usec").value_or(0) * 1000;
    }
    if (auto events = Read("memory.events")) {
      s.oom_kills = internal::KeyValue(*events, "oom_kill").value_or(0);
    }
    return s;
  }

  Status Freeze() override { return SetFrozen(true); }
  Status Thaw() override { return SetFrozen(false); }

  Status KillAll(std::chrono::milliseconds timeout) override {
    bool used_kill_file = false;
    if (Exists("cgroup.kill")) {
      // cgroup.kill (5.14+) kills the whole subtree atomically, racing no fork.
      ARSENAL_TRY(Write("cgroup.kill", "1"));
      used_kill_file = true;
      killed_ = true;
    }
    if (!used_kill_file) {
      bool frozen = Exists("cgroup.freeze") && Freeze().has_value();
      if (auto pids = Processes()) internal::KillPids(*pids);
      if (frozen) ARSENAL_TRY(Thaw());
    }
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
    return {};
  }

  Result<UniqueFd> OpenOomEventFd() override {
    // The kernel raises IN_MODIFY on memory.events whenever a counter (oom, oom_kill) changes.
    UniqueFd fd(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
    if (!fd) return Fail(ErrnoError("cgroup.oom_event_failed", "inotify_init1", name(), errno));
    std::string path = JoinPath(dir_, "memory.events");
    if (::inotify_add_watch(fd.get(), path.c_str(), IN_MODIFY) < 0) {
      return Fail(ErrnoError("cgroup.oom_event_failed", "inotify_add_watch", path, errno));
    }
    return fd;
  }

  Result<UniqueFd> OpenCloneIntoFd() const override {
    if (killed_) return Fail(internal::KilledCloneIntoError(dir_));
    UniqueFd fd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd) return Fail(ErrnoError("cgroup.open_failed", "open", dir_, errno));
    return fd;
  }

  Status Destroy() override {
    if (!created_) return {};
    ARSENAL_TRY(KillAll(std::chrono::seconds(5)));
    if (plain_) {
      // A fake tree holds regular files that rmdir would refuse; cgroupfs needs no such step.
      std::error_code ec;
      for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
        if (entry.is_regular_file()) std::filesystem::remove(entry.path(), ec);
      }
    }
    bool gone = internal::WaitUntil([&] { return ::rmdir(dir_.c_str()) == 0 || errno == ENOENT; },
                                    std::chrono::milliseconds(500));
    if (!gone) return Fail(ErrnoError("cgroup.destroy_failed", "rmdir", dir_, errno));
    created_ = false;
    return {};
  }

 private:
  bool Exists(const char* file) const { return ::access(JoinPath(dir_, file).c_str(), F_OK) == 0; }
  Result<std::string> Read(const char* file) const { return ReadCgroupFile(JoinPath(dir_, file)); }
  Status Write(const char* file, const std::string& value) {
    return WriteCgroupFile(JoinPath(dir_, file), value, plain_);
  }

  Status SetFrozen(bool frozen) {
    ARSENAL_TRY(Write("cgroup.freeze", frozen ? "1" : "0"));
    bool done = internal::WaitUntil(
        [&] {
          auto events = Read("cgroup.events");
          return events && internal::KeyValue(*events, "frozen") == (frozen ? 1u : 0u);
        },
        std::chrono::seconds(5));
    if (!done) {
      return Fail(Error(ErrorCategory::kTimeout, "cgroup.timeout",
                        "cgroup " + name() + (frozen ? " did not freeze" : " did not thaw")));
    }
    return {};
  }

  std::string dir_;
  bool plain_;
  bool created_ = false;
  bool killed_ = false;  // cgroup.kill was written: no CLONE_INTO_CGROUP any more
};

class CgroupV2Backend final : public CgroupBackend {
 public:
  explicit CgroupV2Backend(CgroupV2Options options) : options_(std::move(options)) {}
  CgroupVersion version() const override { return CgroupVersion::kV2; }

  Result<std::unique_ptr<Cgroup>> Create(const std::string& name, const CgroupLimits& limits,
                                         const CgroupCreateOptions& /*options*/) override {
    ARSENAL_TRY(internal::CheckCgroupName(name));
    ARSENAL_TRY(ValidateCgroupLimits(limits));
    std::string parent = JoinPath(options_.root, options_.parent);
    ARSENAL_TRY(EnableControllers(parent));
    auto cg = std::make_unique<CgroupV2>(name, JoinPath(parent, name), options_.plain_directory);
    ARSENAL_TRY(cg->MakeDir());
    // On failure the unique_ptr's destructor removes the directory again.
    ARSENAL_TRY(cg->SetLimits(limits));
    return std::unique_ptr<Cgroup>(std::move(cg));
  }

 private:
  // Children only get the controllers their parent delegates in cgroup.subtree_control.
  Status EnableControllers(const std::string& parent) {
    auto available = ReadCgroupFile(JoinPath(parent, "cgroup.controllers"));
    if (!available) return {};  // no controllers file: nothing to enable
    auto enabled = ReadCgroupFile(JoinPath(parent, "cgroup.subtree_control"));
    std::string want;
    for (const auto& c : options_.controllers) {
      auto has = [&](const std::string& text) { return HasToken(text, c); };
      if (!has(*available)) continue;
      if (enabled && has(*enabled)) continue;
      want += (want.empty() ? "+" : " +") + c;
    }
    if (want.empty()) return {};
    auto s = WriteCgroupFile(JoinPath(parent, "cgroup.subtree_control"),
                             options_.plain_directory && enabled ? *enabled + " " + want : want,
                             options_.plain_directory);
    if (!s) {
      Error e = std::move(s).error();
      if (e.details().value("errno", 0) == EBUSY) {
        e.WithHint(
            "cgroup v2 forbids processes in a cgroup that delegates controllers: run "
            "Arsenal in a leaf cgroup below " +
            parent + " and create sandboxes beside it");
      }
      return Fail(std::move(e));
    }
    return {};
  }

  CgroupV2Options options_;
};

}  // namespace

Result<std::unique_ptr<CgroupBackend>> MakeCgroupV2Backend(CgroupV2Options options) {
  if (options.parent.empty() && !options.plain_directory) {
    ARSENAL_ASSIGN_OR_RETURN(auto layout, DetectCgroupLayout());
    options.parent = layout.own_v2;
  }
  struct stat st {};
  std::string parent = JoinPath(options.root, options.parent);
  if (::stat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Fail(Error(ErrorCategory::kUnavailable, "cgroup.unavailable",
                      "cgroup v2 parent " + parent + " is not a directory")
                    .WithHint("mount cgroup2 (mount -t cgroup2 none /sys/fs/cgroup)"));
  }
  return std::unique_ptr<CgroupBackend>(new CgroupV2Backend(std::move(options)));
}

}  // namespace arsenal::policies
