#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>
#include <thread>

#include "arsenal/base/syscalls.h"
#include "arsenal/base/unique_fd.h"
#include "arsenal/policies/cgroup.h"
#include "cgroup_internal.h"

namespace arsenal::policies {
namespace internal {

Result<std::string> ReadCgroupFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Fail(ErrnoError("cgroup.read_failed", "open", path, errno));
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(ErrnoError("cgroup.read_failed", "read", path, errno));
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Status WriteCgroupFile(const std::string& path, std::string_view value, bool create) {
  int flags = O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0);
  UniqueFd fd(::open(path.c_str(), flags, 0644));
  if (!fd) return Fail(ErrnoError("cgroup.write_failed", "open", path, errno));
  ssize_t n;
  do {
    n = ::write(fd.get(), value.data(), value.size());
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    return Fail(ErrnoError("cgroup.write_failed", "write", path, errno)
                    .WithDetail("value", std::string(value)));
  }
  return {};
}

std::optional<uint64_t> ParseU64(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  return v;
}

std::optional<uint64_t> KeyValue(std::string_view text, std::string_view key) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (line.size() > key.size() && line.starts_with(key) && line[key.size()] == ' ') {
      return ParseU64(line.substr(key.size() + 1));
    }
    pos = end + 1;
  }
  return std::nullopt;
}

std::vector<pid_t> ParsePids(std::string_view text) {
  std::vector<pid_t> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    if (auto v = ParseU64(text.substr(pos, end - pos)); v && *v > 0) {
      out.push_back(static_cast<pid_t>(*v));
    }
    pos = end + 1;
  }
  return out;
}

Status CheckCgroupName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 64 && name != "." && name != "..";
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-' || c == '.');
  }
  if (!ok) {
    return Fail(
        ValidationError("cgroup.invalid_name", "invalid cgroup name \"" + name + "\"", "name")
            .WithHint("use 1-64 characters from [A-Za-z0-9_.-]"));
  }
  return {};
}

bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto delay = std::chrono::microseconds(500);
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(delay);
    delay = std::min<std::chrono::microseconds>(delay * 2, std::chrono::milliseconds(20));
  }
}

std::string JoinPath(std::string_view a, std::string_view b) {
  std::string out(a);
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  while (!b.empty() && b.front() == '/') b.remove_prefix(1);
  if (b.empty()) return out;
  if (out.empty() || out.back() != '/') out += '/';
  out += b;
  return out;
}

Error KilledCloneIntoError(const std::string& dir) {
  return UnsupportedError("cgroup.clone_into_unavailable",
                          "CLONE_INTO_CGROUP into " + dir +
                              " after its cgroup.kill would kill the child (kernel behaviour)")
      .WithHint("attach the child with Attach(pid) instead");
}

void KillPids(const std::vector<pid_t>& pids) {
  for (pid_t pid : pids) {
    UniqueFd pidfd(sys::PidfdOpen(pid, 0));
    if (pidfd) {
      sys::PidfdSendSignal(pidfd.get(), SIGKILL, nullptr, 0);
    } else if (errno == ENOSYS) {
      ::kill(pid, SIGKILL);
    }
  }
}

}  // namespace internal

std::string_view CgroupModeName(CgroupMode mode) {
  switch (mode) {
    case CgroupMode::kNone:
      return "none";
    case CgroupMode::kLegacy:
      return "legacy";
    case CgroupMode::kHybrid:
      return "hybrid";
    case CgroupMode::kUnified:
      return "unified";
  }
  return "none";
}

namespace {

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos <= s.size()) {
    size_t end = s.find(sep, pos);
    if (end == std::string_view::npos) end = s.size();
    out.push_back(s.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

// mountinfo escapes spaces etc. as \040; cgroup mount points rarely have them, but decode anyway.
std::string Unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      out.push_back(
          static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

constexpr std::string_view kV1Controllers[] = {
    "cpu",   "cpuacct",    "cpuset",   "memory",  "devices", "freezer", "net_cls",
    "blkio", "perf_event", "net_prio", "hugetlb", "pids",    "rdma",    "misc"};

}  // namespace

CgroupLayout ParseCgroupLayout(std::string_view mountinfo, std::string_view proc_self_cgroup,
                               std::string_view v2_root_controllers) {
  CgroupLayout layout;
  for (auto line : Split(mountinfo, '\n')) {
    auto sep = line.find(" - ");
    if (sep == std::string_view::npos) continue;
    auto left = Split(line.substr(0, sep), ' ');
    auto right = Split(line.substr(sep + 3), ' ');
    if (left.size() < 5 || right.size() < 3) continue;
    std::string mount_point = Unescape(left[4]);
    if (right[0] == "cgroup2") {
      if (layout.v2_mount.empty()) layout.v2_mount = mount_point;
    } else if (right[0] == "cgroup") {
      for (auto opt : Split(right[2], ',')) {
        for (auto known : kV1Controllers) {
          if (opt == known && !layout.v1_mounts.contains(std::string(opt))) {
            layout.v1_mounts[std::string(opt)] = mount_point;
          }
        }
      }
    }
  }
  for (auto line : Split(proc_self_cgroup, '\n')) {
    auto first = line.find(':');
    if (first == std::string_view::npos) continue;
    auto second = line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    std::string_view controllers = line.substr(first + 1, second - first - 1);
    std::string path(line.substr(second + 1));
    if (controllers.empty()) {
      layout.own_v2 = path;
      continue;
    }
    for (auto c : Split(controllers, ',')) layout.own_v1[std::string(c)] = path;
  }
  for (auto c : Split(v2_root_controllers, ' ')) {
    while (!c.empty() && (c.back() == '\n' || c.back() == ' ')) c.remove_suffix(1);
    if (!c.empty()) layout.v2_controllers.emplace_back(c);
  }
  bool v1 = !layout.v1_mounts.empty();
  bool v2 = !layout.v2_mount.empty();
  layout.mode = v1 && v2 ? CgroupMode::kHybrid
                : v1     ? CgroupMode::kLegacy
                : v2     ? CgroupMode::kUnified
                         : CgroupMode::kNone;
  auto has_v2 = [&](std::string_view c) {
    for (const auto& x : layout.v2_controllers) {
      if (x == c) return true;
    }
    return false;
  };
  if (v2 && has_v2("memory") && has_v2("pids") && has_v2("cpu")) {
    layout.preferred = CgroupVersion::kV2;
  } else if (layout.v1_mounts.contains("memory")) {
    layout.preferred = CgroupVersion::kV1;
  }
  return layout;
}

Result<CgroupLayout> DetectCgroupLayout() {
  ARSENAL_ASSIGN_OR_RETURN(auto mountinfo, internal::ReadCgroupFile("/proc/self/mountinfo"));
  ARSENAL_ASSIGN_OR_RETURN(auto self, internal::ReadCgroupFile("/proc/self/cgroup"));
  CgroupLayout probe = ParseCgroupLayout(mountinfo, self, "");
  std::string controllers;
  if (!probe.v2_mount.empty()) {
    auto c = internal::ReadCgroupFile(internal::JoinPath(probe.v2_mount, "cgroup.controllers"));
    if (c) controllers = *c;
  }
  return ParseCgroupLayout(mountinfo, self, controllers);
}

uint64_t CpuWeightToShares(uint32_t weight) {
  if (weight == 0) return 0;
  return 2 + ((static_cast<uint64_t>(weight) - 1) * 262142) / 9999;
}

uint32_t CpuSharesToWeight(uint64_t shares) {
  if (shares == 0) return 0;
  if (shares < 2) shares = 2;
  if (shares > 262144) shares = 262144;
  return static_cast<uint32_t>(1 + ((shares - 2) * 9999) / 262142);
}

Status ValidateCgroupLimits(const CgroupLimits& l) {
  auto bad = [](std::string field, std::string what) {
    return Fail(ValidationError("cgroup.invalid_limit", "cgroup limit " + field + ": " + what,
                                "limits." + field));
  };
  if (l.memory_bytes && *l.memory_bytes != kCgroupUnlimited && *l.memory_bytes < 4096) {
    return bad("memory", "must be at least 4096 bytes");
  }
  if (l.memory_swap_bytes) {
    if (!l.memory_bytes) return bad("memory_swap", "needs a memory limit too");
    if (*l.memory_swap_bytes < *l.memory_bytes) {
      return bad("memory_swap", "memory+swap must be >= memory");
    }
  }
  if (l.cpu_period_us && (*l.cpu_period_us < 1000 || *l.cpu_period_us > 1000000)) {
    return bad("cpu_period_us", "must be within 1000..1000000");
  }
  if (l.cpu_quota_us && *l.cpu_quota_us != kCgroupUnlimited && *l.cpu_quota_us < 1000) {
    return bad("cpu_quota_us", "must be at least 1000");
  }
  if (l.cpu_weight && (*l.cpu_weight < 1 || *l.cpu_weight > 10000)) {
    return bad("cpu_weight", "must be within 1..10000");
  }
  if (l.pids_max && *l.pids_max == 0) return bad("pids", "must be at least 1");
  for (size_t i = 0; i < l.io.size(); ++i) {
    const auto& d = l.io[i];
    if (!d.read_bps && !d.write_bps && !d.read_iops && !d.write_iops) {
      return bad("io[" + std::to_string(i) + "]", "sets no limit");
    }
  }
  return {};
}

Result<CgroupLimits> ParseCgroupLimits(const Json& j) {
  auto bad = [](std::string field, std::string what) {
    return Fail(ValidationError("cgroup.invalid_limit", "cgroup limit " + field + ": " + what,
                                "limits." + field));
  };
  if (!j.is_object()) return bad("", "expected an object");
  auto number = [&](const Json& v, const std::string& field, bool allow_max) -> Result<uint64_t> {
    if (allow_max && v.is_string() && v.get<std::string>() == "max") return kCgroupUnlimited;
    if (v.is_number_unsigned()) return v.get<uint64_t>();
    return bad(field, allow_max ? "expected a non-negative integer or \"max\""
                                : "expected a non-negative integer");
  };
  CgroupLimits l;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    if (k == "memory") {
      ARSENAL_ASSIGN_OR_RETURN(l.memory_bytes, number(*it, k, true));
    } else if (k == "memory_swap") {
      ARSENAL_ASSIGN_OR_RETURN(l.memory_swap_bytes, number(*it, k, true));
    } else if (k == "cpu_quota_us") {
      ARSENAL_ASSIGN_OR_RETURN(l.cpu_quota_us, number(*it, k, true));
    } else if (k == "cpu_period_us") {
      ARSENAL_ASSIGN_OR_RETURN(l.cpu_period_us, number(*it, k, false));
    } else if (k == "cpu_weight") {
      ARSENAL_ASSIGN_OR_RETURN(auto w, number(*it, k, false));
      if (w > 10000) return bad(k, "must be within 1..10000");
      l.cpu_weight = static_cast<uint32_t>(w);
    } else if (k == "pids") {
      ARSENAL_ASSIGN_OR_RETURN(l.pids_max, number(*it, k, true));
    } else if (k == "io") {
      if (!it->is_array()) return bad(k, "expected an array");
      for (size_t i = 0; i < it->size(); ++i) {
        const Json& e = (*it)[i];
        std::string f = "io[" + std::to_string(i) + "]";
        if (!e.is_object()) return bad(f, "expected an object");
        IoDeviceLimit d;
        for (auto x = e.begin(); x != e.end(); ++x) {
          std::string ff = f + "." + x.key();
          ARSENAL_ASSIGN_OR_RETURN(uint64_t v,
                                   number(*x, ff, x.key() != "major" && x.key() != "minor"));
          if (x.key() == "major") {
            d.major = static_cast<uint32_t>(v);
          } else if (x.key() == "minor") {
            d.minor = static_cast<uint32_t>(v);
          } else if (x.key() == "read_bps") {
            d.read_bps = v;
          } else if (x.key() == "write_bps") {
            d.write_bps = v;
          } else if (x.key() == "read_iops") {
            d.read_iops = v;
          } else if (x.key() == "write_iops") {
            d.write_iops = v;
          } else {
            return Fail(
                ValidationError("cgroup.unknown_field", "unknown field " + ff, "limits." + ff));
          }
        }
        if (!e.contains("major") || !e.contains("minor")) return bad(f, "needs major and minor");
        l.io.push_back(d);
      }
    } else {
      return Fail(ValidationError("cgroup.unknown_field", "unknown cgroup limit \"" + k + "\"",
                                  "limits." + k)
                      .WithHint("known: memory, memory_swap, cpu_quota_us, cpu_period_us, "
                                "cpu_weight, pids, io"));
    }
  }
  ARSENAL_TRY(ValidateCgroupLimits(l));
  return l;
}

Result<std::unique_ptr<CgroupBackend>> MakeCgroupBackend() {
  ARSENAL_ASSIGN_OR_RETURN(auto layout, DetectCgroupLayout());
  if (layout.preferred == CgroupVersion::kV2) {
    CgroupV2Options options;
    options.root = layout.v2_mount;
    options.parent = layout.own_v2;
    return MakeCgroupV2Backend(std::move(options));
  }
  if (layout.preferred == CgroupVersion::kV1) {
    // The layout read above, handed on: MakeCgroupV1Backend would otherwise read it again, and
    // the read is the larger part of a one-shot sandbox's cgroup cost.
    CgroupV1Options options;
    internal::CompleteV1Options(options, layout);
    return MakeCgroupV1Backend(std::move(options));
  }
  return Fail(
      Error(ErrorCategory::kUnavailable, "cgroup.unavailable",
            "no usable cgroup hierarchy (mode " + std::string(CgroupModeName(layout.mode)) + ")")
          .WithHint("mount cgroup2 with the memory, pids and cpu controllers, or the "
                    "cgroup v1 memory hierarchy"));
}

}  // namespace arsenal::policies
