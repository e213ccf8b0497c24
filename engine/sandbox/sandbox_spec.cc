// SandboxSpec parsing (JSON -> typed struct), validation, canonical JSON and the builder.
//
// The parser is hand-written rather than driven by the JSON Schema so that every error names the
// exact field and says what was expected; the schema (sandbox_schema.cc) describes the same
// document for the operations and is checked against this parser by tests.
#include "arsenal/engine/sandbox_spec.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <fstream>
#include <sstream>

#include "arsenal/policies/capabilities.h"

namespace arsenal {
namespace {

constexpr uint64_t kMinMemory = 1ULL << 20;  // below this nothing (not even the reaper) runs
constexpr uint64_t kMinOutput = 1024;
constexpr uint64_t kMaxOutput = 64ULL << 20;
constexpr size_t kMaxIdMapLines = 340;  // the kernel's limit per map
constexpr size_t kMaxLabelKey = 63;
constexpr size_t kMaxLabelValue = 255;

Error WrongType(const std::string& field, std::string_view expected) {
  return ValidationError("sandbox.wrong_type", field + ": expected " + std::string(expected), field)
      .WithHint("see docs/sandbox-spec.md for the type of every field");
}

Error Invalid(std::string code, const std::string& field, const std::string& what) {
  return ValidationError(std::move(code), field + ": " + what, field)
      .WithHint("fix the field named in details.field; docs/sandbox-spec.md lists the rules");
}

Error UnknownField(const std::string& field) {
  return ValidationError("sandbox.unknown_field", field + ": unknown field", field)
      .WithHint("remove it; unknown fields are rejected, not ignored (docs/sandbox-spec.md)");
}

std::string Join(std::string_view prefix, std::string_view key) {
  if (prefix.empty()) return std::string(key);
  return std::string(prefix) + "." + std::string(key);
}

std::string Index(std::string_view prefix, size_t i) {
  return std::string(prefix) + "[" + std::to_string(i) + "]";
}

// Re-roots an error from a policies parser under `prefix` (details.field and the message).
Error Reroot(Error e, const std::string& prefix) {
  e.NestField(prefix);
  if (e.hint().empty()) e.WithHint("fix the field named in details.field");
  return std::move(e).AddContext(prefix);
}

Result<bool> Bool(const Json& v, const std::string& field) {
  if (!v.is_boolean()) return Fail(WrongType(field, "a boolean"));
  return v.get<bool>();
}

Result<std::string> String(const Json& v, const std::string& field) {
  if (!v.is_string()) return Fail(WrongType(field, "a string"));
  return v.get<std::string>();
}

Result<uint64_t> Unsigned(const Json& v, const std::string& field, uint64_t max = UINT64_MAX) {
  if (v.is_number_unsigned() && v.get<uint64_t>() <= max) return v.get<uint64_t>();
  if (v.is_number_integer() && v.get<int64_t>() >= 0 &&
      static_cast<uint64_t>(v.get<int64_t>()) <= max) {
    return static_cast<uint64_t>(v.get<int64_t>());
  }
  return Fail(WrongType(field, "an integer from 0 to " + std::to_string(max)));
}

Result<std::map<std::string, std::string>> StringMap(const Json& v, const std::string& field) {
  if (!v.is_object()) return Fail(WrongType(field, "an object of strings"));
  std::map<std::string, std::string> out;
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (!it->is_string()) return Fail(WrongType(Join(field, it.key()), "a string"));
    out[it.key()] = it->get<std::string>();
  }
  return out;
}

// Walks an object's keys; every key must be handled by `fn`, which returns false for unknown.
template <typename Fn>
Status ForEachField(const Json& obj, const std::string& field, Fn fn) {
  if (!obj.is_object()) return Fail(WrongType(field.empty() ? "spec" : field, "an object"));
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string sub = Join(field, it.key());
    ARSENAL_ASSIGN_OR_RETURN(bool known, fn(it.key(), *it, sub));
    if (!known) return Fail(UnknownField(sub));
  }
  return {};
}

Result<uint32_t> ParseMode(const Json& v, const std::string& field) {
  if (!v.is_string()) return Fail(WrongType(field, "an octal string such as \"1777\""));
  const std::string& s = v.get_ref<const std::string&>();
  if (s.empty() || s.size() > 4 || s.find_first_not_of("01234567") != std::string::npos) {
    return Fail(Invalid("sandbox.invalid_spec", field, "expected 1 to 4 octal digits"));
  }
  return static_cast<uint32_t>(std::stoul(s, nullptr, 8));
}

Result<SandboxMount> ParseMount(const Json& j, const std::string& field) {
  if (!j.is_object()) return Fail(WrongType(field, "an object"));
  auto type = j.find("type");
  if (type == j.end()) {
    return Fail(Invalid("sandbox.invalid_spec", field + ".type", "required (bind or tmpfs)"));
  }
  ARSENAL_ASSIGN_OR_RETURN(std::string type_name, String(*type, field + ".type"));
  SandboxMount m;
  if (type_name == "bind") {
    m.type = SandboxMount::Type::kBind;
  } else if (type_name == "tmpfs") {
    m.type = SandboxMount::Type::kTmpfs;
    m.read_only = false;
  } else {
    return Fail(Invalid("sandbox.invalid_spec", field + ".type", "must be bind or tmpfs"));
  }
  const bool bind = m.type == SandboxMount::Type::kBind;
  ARSENAL_TRY(ForEachField(
      j, field, [&](const std::string& key, const Json& v, const std::string& f) -> Result<bool> {
        if (key == "type") return true;
        if (key == "target") {
          ARSENAL_ASSIGN_OR_RETURN(m.target, String(v, f));
        } else if (key == "source" && bind) {
          ARSENAL_ASSIGN_OR_RETURN(m.source, String(v, f));
        } else if (key == "read_only" && bind) {
          ARSENAL_ASSIGN_OR_RETURN(m.read_only, Bool(v, f));
        } else if (key == "size" && !bind) {
          ARSENAL_ASSIGN_OR_RETURN(m.size_bytes, ParseSandboxSize(v, f));
        } else if (key == "mode" && !bind) {
          ARSENAL_ASSIGN_OR_RETURN(m.mode, ParseMode(v, f));
        } else {
          return false;
        }
        return true;
      }));
  if (m.target.empty()) return Fail(Invalid("sandbox.invalid_spec", field + ".target", "required"));
  if (bind && m.source.empty()) {
    return Fail(Invalid("sandbox.invalid_spec", field + ".source", "required for a bind mount"));
  }
  return m;
}

Result<std::vector<SandboxIdMap>> ParseIdMap(const Json& j, const std::string& field) {
  if (!j.is_array()) return Fail(WrongType(field, "an array of {inside, outside, count}"));
  std::vector<SandboxIdMap> out;
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string f = Index(field, i);
    SandboxIdMap e;
    bool has_inside = false, has_outside = false;
    ARSENAL_TRY(ForEachField(
        j[i], f,
        [&](const std::string& key, const Json& v, const std::string& sub) -> Result<bool> {
          ARSENAL_ASSIGN_OR_RETURN(uint64_t n, Unsigned(v, sub, UINT32_MAX - 1));
          if (key == "inside") {
            e.inside = static_cast<uint32_t>(n);
            has_inside = true;
          } else if (key == "outside") {
            e.outside = static_cast<uint32_t>(n);
            has_outside = true;
          } else if (key == "count") {
            e.count = static_cast<uint32_t>(n);
          } else {
            return false;
          }
          return true;
        }));
    if (!has_inside || !has_outside) {
      return Fail(Invalid("sandbox.invalid_spec", f, "inside and outside are required"));
    }
    out.push_back(e);
  }
  return out;
}

Result<uint64_t> SizeOrUnlimited(const Json& v, const std::string& field) {
  if (v.is_string() && v.get<std::string>() == "unlimited") return policies::kCgroupUnlimited;
  return ParseSandboxSize(v, field);
}

Result<policies::RlimitValue> RlimitValue(const Json& v, const std::string& field) {
  auto one = [](const Json& x, const std::string& f) -> Result<uint64_t> {
    if (x.is_string() && x.get<std::string>() == "unlimited") return policies::kRlimInfinity;
    return ParseSandboxSize(x, f);
  };
  if (v.is_object()) {
    policies::RlimitValue out;
    bool soft = false, hard = false;
    ARSENAL_TRY(ForEachField(
        v, field, [&](const std::string& key, const Json& x, const std::string& f) -> Result<bool> {
          if (key == "soft") {
            ARSENAL_ASSIGN_OR_RETURN(out.soft, one(x, f));
            soft = true;
          } else if (key == "hard") {
            ARSENAL_ASSIGN_OR_RETURN(out.hard, one(x, f));
            hard = true;
          } else {
            return false;
          }
          return true;
        }));
    if (!soft || !hard) {
      return Fail(Invalid("sandbox.invalid_spec", field, "soft and hard are both required"));
    }
    return out;
  }
  ARSENAL_ASSIGN_OR_RETURN(uint64_t n, one(v, field));
  return policies::RlimitValue{n, n};
}

Result<policies::RlimitSpec> ParseRlimits(const Json& j, const std::string& field) {
  policies::RlimitSpec spec;
  ARSENAL_TRY(ForEachField(
      j, field, [&](const std::string& key, const Json& v, const std::string& f) -> Result<bool> {
        std::optional<policies::RlimitValue>* slot = nullptr;
        if (key == "nofile") slot = &spec.nofile;
        if (key == "nproc") slot = &spec.nproc;
        if (key == "core") slot = &spec.core;
        if (key == "fsize") slot = &spec.fsize;
        if (key == "stack") slot = &spec.stack;
        if (key == "as") slot = &spec.as;
        if (key == "cpu") slot = &spec.cpu;
        if (slot == nullptr) return false;
        ARSENAL_ASSIGN_OR_RETURN(*slot, RlimitValue(v, f));
        return true;
      }));
  return spec;
}

Result<std::pair<uint32_t, uint32_t>> ParseDevice(const Json& v, const std::string& field) {
  ARSENAL_ASSIGN_OR_RETURN(std::string s, String(v, field));
  unsigned major = 0, minor = 0;
  char extra = 0;
  if (std::sscanf(s.c_str(), "%u:%u%c", &major, &minor, &extra) != 2) {
    return Fail(Invalid("sandbox.invalid_spec", field, "expected \"MAJOR:MINOR\", e.g. \"8:0\""));
  }
  return std::pair<uint32_t, uint32_t>{major, minor};
}

Result<std::vector<policies::IoDeviceLimit>> ParseIo(const Json& j, const std::string& field) {
  if (!j.is_array()) return Fail(WrongType(field, "an array"));
  std::vector<policies::IoDeviceLimit> out;
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string f = Index(field, i);
    policies::IoDeviceLimit d;
    bool has_device = false;
    ARSENAL_TRY(ForEachField(
        j[i], f,
        [&](const std::string& key, const Json& v, const std::string& sub) -> Result<bool> {
          if (key == "device") {
            ARSENAL_ASSIGN_OR_RETURN(auto dev, ParseDevice(v, sub));
            d.major = dev.first;
            d.minor = dev.second;
            has_device = true;
          } else if (key == "read_bps") {
            ARSENAL_ASSIGN_OR_RETURN(d.read_bps, ParseSandboxSize(v, sub));
          } else if (key == "write_bps") {
            ARSENAL_ASSIGN_OR_RETURN(d.write_bps, ParseSandboxSize(v, sub));
          } else if (key == "read_iops") {
            ARSENAL_ASSIGN_OR_RETURN(d.read_iops, Unsigned(v, sub));
          } else if (key == "write_iops") {
            ARSENAL_ASSIGN_OR_RETURN(d.write_iops, Unsigned(v, sub));
          } else {
            return false;
          }
          return true;
        }));
    if (!has_device) return Fail(Invalid("sandbox.invalid_spec", f + ".device", "required"));
    out.push_back(d);
  }
  return out;
}

Result<SandboxLimits> ParseLimits(const Json& j, const std::string& field) {
  SandboxLimits l;
  ARSENAL_TRY(ForEachField(
      j, field, [&](const std::string& key, const Json& v, const std::string& f) -> Result<bool> {
        if (key == "memory") {
          ARSENAL_ASSIGN_OR_RETURN(l.memory_bytes, ParseSandboxSize(v, f));
        } else if (key == "memory_swap") {
          ARSENAL_ASSIGN_OR_RETURN(l.memory_swap_bytes, SizeOrUnlimited(v, f));
        } else if (key == "cpus") {
          if (!v.is_number()) return Fail(WrongType(f, "a number of CPUs, e.g. 0.5"));
          l.cpus = v.get<double>();
        } else if (key == "cpu_period_us") {
          ARSENAL_ASSIGN_OR_RETURN(l.cpu_period_us, Unsigned(v, f));
        } else if (key == "cpu_weight") {
          ARSENAL_ASSIGN_OR_RETURN(uint64_t w, Unsigned(v, f, UINT32_MAX));
          l.cpu_weight = static_cast<uint32_t>(w);
        } else if (key == "pids") {
          ARSENAL_ASSIGN_OR_RETURN(l.pids, Unsigned(v, f));
        } else if (key == "io") {
          ARSENAL_ASSIGN_OR_RETURN(l.io, ParseIo(v, f));
        } else if (key == "rlimits") {
          ARSENAL_ASSIGN_OR_RETURN(l.rlimits, ParseRlimits(v, f));
        } else if (key == "timeout") {
          ARSENAL_ASSIGN_OR_RETURN(l.timeout, ParseSandboxDuration(v, f));
        } else {
          return false;
        }
        return true;
      }));
  return l;
}

Result<SandboxSeccomp> ParseSeccomp(const Json& j, const std::string& field) {
  if (!j.is_object()) return Fail(WrongType(field, "an object"));
  if (j.size() != 1) {
    return Fail(Invalid("sandbox.invalid_spec", field,
                        "give exactly one of profile, profile_file, unconfined (omit seccomp for "
                        "the built-in profile)"));
  }
  SandboxSeccomp s;
  ARSENAL_TRY(ForEachField(
      j, field, [&](const std::string& key, const Json& v, const std::string& f) -> Result<bool> {
        if (key == "profile") {
          if (!v.is_object()) return Fail(WrongType(f, "a Docker/OCI seccomp profile object"));
          s.mode = SandboxSeccomp::Mode::kProfile;
          s.profile = v;
        } else if (key == "profile_file") {
          ARSENAL_ASSIGN_OR_RETURN(s.file, String(v, f));
          s.mode = SandboxSeccomp::Mode::kFile;
        } else if (key == "unconfined") {
          ARSENAL_ASSIGN_OR_RETURN(bool on, Bool(v, f));
          if (!on) {
            return Fail(Invalid("sandbox.invalid_spec", f,
                                "only true is meaningful; omit seccomp for the default profile"));
          }
          s.mode = SandboxSeccomp::Mode::kUnconfined;
        } else {
          return false;
        }
        return true;
      }));
  return s;
}

Result<SandboxNamespaces> ParseNamespaces(const Json& j, const std::string& field) {
  SandboxNamespaces ns;
  ARSENAL_TRY(ForEachField(
      j, field, [&](const std::string& key, const Json& v, const std::string& f) -> Result<bool> {
        bool* slot = nullptr;
        if (key == "user") slot = &ns.user;
        if (key == "mount") slot = &ns.mount;
        if (key == "pid") slot = &ns.pid;
        if (key == "net") slot = &ns.net;
        if (key == "uts") slot = &ns.uts;
        if (key == "ipc") slot = &ns.ipc;
        if (key == "cgroup") slot = &ns.cgroup;
        if (key == "time") slot = &ns.time;
        if (slot == nullptr) return false;
        ARSENAL_ASSIGN_OR_RETURN(*slot, Bool(v, f));
        return true;
      }));
  return ns;
}

Json IdMapJson(const std::vector<SandboxIdMap>& map) {
  Json out = Json::array();
  for (const auto& e : map) {
    out.push_back({{"inside", e.inside}, {"outside", e.outside}, {"count", e.count}});
  }
  return out;
}

Json RlimitsJson(const policies::RlimitSpec& r) {
  Json out = Json::object();
  auto put = [&](const char* name, const std::optional<policies::RlimitValue>& v) {
    if (!v) return;
    auto one = [](uint64_t x) {
      return x == policies::kRlimInfinity ? Json("unlimited") : Json(x);
    };
    out[name] = {{"soft", one(v->soft)}, {"hard", one(v->hard)}};
  };
  put("nofile", r.nofile);
  put("nproc", r.nproc);
  put("core", r.core);
  put("fsize", r.fsize);
  put("stack", r.stack);
  put("as", r.as);
  put("cpu", r.cpu);
  return out;
}

Json LandlockJson(const policies::LandlockSpec& l) {
  namespace ll = policies::landlock;
  static const std::pair<const char*, uint64_t> kFs[] = {
      {"execute", ll::kExecute},      {"write_file", ll::kWriteFile},
      {"read_file", ll::kReadFile},   {"read_dir", ll::kReadDir},
      {"remove_dir", ll::kRemoveDir}, {"remove_file", ll::kRemoveFile},
      {"make_char", ll::kMakeChar},   {"make_dir", ll::kMakeDir},
      {"make_reg", ll::kMakeReg},     {"make_sock", ll::kMakeSock},
      {"make_fifo", ll::kMakeFifo},   {"make_block", ll::kMakeBlock},
      {"make_sym", ll::kMakeSym},     {"refer", ll::kRefer},
      {"truncate", ll::kTruncate},    {"ioctl_dev", ll::kIoctlDev}};
  Json paths = Json::array();
  for (const auto& p : l.paths) {
    Json access = Json::array();
    for (const auto& [name, bit] : kFs) {
      if (p.access & bit) access.push_back(name);
    }
    paths.push_back({{"path", p.path}, {"access", access}, {"optional", p.optional}});
  }
  Json ports = Json::array();
  for (const auto& p : l.ports) {
    Json access = Json::array();
    if (p.access & ll::kBindTcp) access.push_back("bind");
    if (p.access & ll::kConnectTcp) access.push_back("connect");
    ports.push_back({{"port", p.port}, {"access", access}});
  }
  Json scopes = Json::array();
  if (l.scope_abstract_unix) scopes.push_back("abstract_unix_socket");
  if (l.scope_signal) scopes.push_back("signal");
  return {{"paths", paths},
          {"ports", ports},
          {"restrict_fs", l.restrict_fs},
          {"restrict_tcp", l.restrict_tcp},
          {"scopes", scopes},
          {"required", l.compat == policies::LandlockCompat::kRequired}};
}

bool IsAbsoluteClean(const std::string& p) {
  return !p.empty() && p[0] == '/' && p.find('\0') == std::string::npos &&
         p.find("/../") == std::string::npos && !p.ends_with("/..");
}

Status CheckHostPath(const std::string& path, const std::string& field, bool want_dir) {
  if (!IsAbsoluteClean(path)) {
    return Fail(Invalid("sandbox.invalid_spec", field,
                        "must be an absolute host path without '..': '" + path + "'"));
  }
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    const int err = errno;
    Error e = ValidationError(
        "sandbox.path_not_found",
        field + ": host path '" + path + "' is not accessible: " + ErrnoName(err), field);
    e.WithDetail("path", path).WithDetail("errno_name", ErrnoName(err));
    return Fail(std::move(e).WithHint("create the path on the host or fix the spec"));
  }
  if (want_dir && !S_ISDIR(st.st_mode)) {
    return Fail(Invalid("sandbox.invalid_spec", field, "'" + path + "' is not a directory"));
  }
  return {};
}

bool ValidEnvKey(const std::string& k) {
  if (k.empty()) return false;
  return k.find('=') == std::string::npos && k.find('\0') == std::string::npos;
}

long OnlineCpus() {
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? n : 1;
}

Status ValidateLimits(const SandboxLimits& l) {
  auto bad = [](const std::string& field, const std::string& what) {
    return Fail(Invalid("sandbox.invalid_limit", field, what));
  };
  if (l.memory_bytes && *l.memory_bytes < kMinMemory) {
    return bad("limits.memory", "must be at least 1M (" + std::to_string(kMinMemory) + " bytes)");
  }
  if (l.memory_swap_bytes) {
    if (!l.memory_bytes) return bad("limits.memory_swap", "needs limits.memory");
    if (*l.memory_swap_bytes < *l.memory_bytes) {
      return bad("limits.memory_swap", "must be at least limits.memory (memory plus swap)");
    }
  }
  if (l.cpus) {
    const double max = static_cast<double>(OnlineCpus());
    if (!(*l.cpus >= 0.01) || !(*l.cpus <= max) || !std::isfinite(*l.cpus)) {
      return bad("limits.cpus",
                 "must be between 0.01 and " + std::to_string(OnlineCpus()) + " (the CPUs online)");
    }
  }
  if (l.cpu_period_us) {
    if (!l.cpus) return bad("limits.cpu_period_us", "needs limits.cpus");
    if (*l.cpu_period_us < 1000 || *l.cpu_period_us > 1000000) {
      return bad("limits.cpu_period_us", "must be between 1000 and 1000000");
    }
  }
  if (l.cpu_weight && (*l.cpu_weight < 1 || *l.cpu_weight > 10000)) {
    return bad("limits.cpu_weight", "must be between 1 and 10000");
  }
  if (l.pids && *l.pids < 2) {
    return bad("limits.pids", "must be at least 2 (the PID 1 reaper and the command)");
  }
  if (l.timeout && l.timeout->count() <= 0) return bad("limits.timeout", "must be positive");
  for (size_t i = 0; i < l.io.size(); ++i) {
    const auto& d = l.io[i];
    if (!d.read_bps && !d.write_bps && !d.read_iops && !d.write_iops) {
      return bad(Index("limits.io", i),
                 "set at least one of read_bps, write_bps, read_iops, "
                 "write_iops");
    }
  }
  auto rl = policies::BuildRlimits(l.rlimits);
  if (!rl) return Fail(Reroot(std::move(rl).error(), "limits"));  // its fields are "rlimits.x"
  return {};
}

}  // namespace

std::string_view SandboxNetworkName(SandboxNetwork network) {
  return network == SandboxNetwork::kLoopback ? "loopback" : "none";
}

Result<uint64_t> ParseSandboxSize(const Json& value, std::string_view field_view) {
  const std::string field(field_view);
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer()) {
    if (value.get<int64_t>() >= 0) return static_cast<uint64_t>(value.get<int64_t>());
    return Fail(Invalid("sandbox.invalid_limit", field, "must not be negative"));
  }
  if (!value.is_string()) {
    return Fail(WrongType(field, "a size: bytes or a string such as \"256M\""));
  }
  const std::string& s = value.get_ref<const std::string&>();
  size_t digits = 0;
  while (digits < s.size() && s[digits] >= '0' && s[digits] <= '9') ++digits;
  int shift = 0;
  if (digits + 1 == s.size()) {
    switch (s.back()) {
      case 'k':
      case 'K':
        shift = 10;
        break;
      case 'm':
      case 'M':
        shift = 20;
        break;
      case 'g':
      case 'G':
        shift = 30;
        break;
      case 't':
      case 'T':
        shift = 40;
        break;
      default:
        digits = 0;
    }
  } else if (digits != s.size()) {
    digits = 0;
  }
  if (digits == 0 || digits > 19) {
    return Fail(Invalid("sandbox.invalid_spec", field,
                        "'" + s + "' is not a size (bytes, or digits with a K/M/G/T suffix)"));
  }
  uint64_t n = std::stoull(s.substr(0, digits));
  if (shift > 0 && n > (UINT64_MAX >> shift)) {
    return Fail(Invalid("sandbox.invalid_limit", field, "'" + s + "' is too large"));
  }
  return n << shift;
}

Result<std::chrono::milliseconds> ParseSandboxDuration(const Json& value,
                                                       std::string_view field_view) {
  const std::string field(field_view);
  double seconds = 0;
  if (value.is_number()) {
    seconds = value.get<double>();
  } else if (value.is_string()) {
    const std::string& s = value.get_ref<const std::string&>();
    size_t end = 0;
    while (end < s.size() && ((s[end] >= '0' && s[end] <= '9') || s[end] == '.')) ++end;
    const std::string num = s.substr(0, end), unit = s.substr(end);
    double scale = 0;
    if (unit == "ms") scale = 0.001;
    if (unit == "s") scale = 1;
    if (unit == "m") scale = 60;
    if (unit == "h") scale = 3600;
    char* parsed_end = nullptr;
    double n = num.empty() ? 0 : std::strtod(num.c_str(), &parsed_end);
    if (num.empty() || scale == 0 || parsed_end != num.c_str() + num.size()) {
      return Fail(Invalid("sandbox.invalid_spec", field,
                          "'" + s +
                              "' is not a duration (seconds, or e.g. \"500ms\", \"30s\", "
                              "\"2m\", \"1h\")"));
    }
    seconds = n * scale;
  } else {
    return Fail(WrongType(field, "a duration: seconds or a string such as \"30s\""));
  }
  if (!std::isfinite(seconds) || seconds <= 0 || seconds > 365.0 * 24 * 3600) {
    return Fail(Invalid("sandbox.invalid_limit", field, "must be positive and at most a year"));
  }
  return std::chrono::milliseconds(static_cast<int64_t>(std::ceil(seconds * 1000)));
}

policies::CgroupLimits SandboxLimits::ToCgroupLimits() const {
  policies::CgroupLimits c;
  c.memory_bytes = memory_bytes;
  c.memory_swap_bytes = memory_swap_bytes;
  if (cpus) {
    const uint64_t period = cpu_period_us.value_or(100000);
    c.cpu_period_us = period;
    c.cpu_quota_us = static_cast<uint64_t>(std::llround(*cpus * static_cast<double>(period)));
  }
  c.cpu_weight = cpu_weight;
  c.pids_max = pids;
  c.io = io;
  return c;
}

bool SandboxLimits::HasCgroupLimits() const {
  return memory_bytes || memory_swap_bytes || cpus || cpu_weight || pids || !io.empty();
}

Result<SandboxSpec> SandboxSpec::FromJson(const Json& json) {
  SandboxSpec spec;
  ARSENAL_TRY(ForEachField(
      json, "", [&](const std::string& key, const Json& v, const std::string& f) -> Result<bool> {
        if (key == "version") {
          if (!v.is_number_integer() || v.get<int64_t>() != kSandboxSpecVersion) {
            return Fail(ValidationError("sandbox.unsupported_version",
                                        "version: this build understands sandbox spec version " +
                                            std::to_string(kSandboxSpecVersion) + " only",
                                        "version")
                            .WithHint("set \"version\": 1"));
          }
        } else if (key == "rootfs") {
          ARSENAL_TRY(ForEachField(
              v, f,
              [&](const std::string& k, const Json& x, const std::string& sub) -> Result<bool> {
                if (k == "path") {
                  ARSENAL_ASSIGN_OR_RETURN(spec.rootfs, String(x, sub));
                  if (spec.rootfs == "/") spec.rootfs.clear();
                } else if (k == "read_only") {
                  ARSENAL_ASSIGN_OR_RETURN(spec.rootfs_read_only, Bool(x, sub));
                } else {
                  return false;
                }
                return true;
              }));
        } else if (key == "mounts") {
          if (!v.is_array()) return Fail(WrongType(f, "an array of mounts"));
          for (size_t i = 0; i < v.size(); ++i) {
            ARSENAL_ASSIGN_OR_RETURN(SandboxMount m, ParseMount(v[i], Index(f, i)));
            spec.mounts.push_back(std::move(m));
          }
        } else if (key == "namespaces") {
          ARSENAL_ASSIGN_OR_RETURN(spec.namespaces, ParseNamespaces(v, f));
        } else if (key == "uid_map") {
          ARSENAL_ASSIGN_OR_RETURN(spec.uid_map, ParseIdMap(v, f));
        } else if (key == "gid_map") {
          ARSENAL_ASSIGN_OR_RETURN(spec.gid_map, ParseIdMap(v, f));
        } else if (key == "hostname") {
          ARSENAL_ASSIGN_OR_RETURN(spec.hostname, String(v, f));
        } else if (key == "env") {
          ARSENAL_ASSIGN_OR_RETURN(spec.env, StringMap(v, f));
        } else if (key == "cwd") {
          ARSENAL_ASSIGN_OR_RETURN(spec.cwd, String(v, f));
        } else if (key == "network") {
          ARSENAL_ASSIGN_OR_RETURN(std::string n, String(v, f));
          if (n == "none") {
            spec.network = SandboxNetwork::kNone;
          } else if (n == "loopback") {
            spec.network = SandboxNetwork::kLoopback;
          } else {
            return Fail(Invalid("sandbox.invalid_spec", f, "must be none or loopback"));
          }
        } else if (key == "limits") {
          ARSENAL_ASSIGN_OR_RETURN(spec.limits, ParseLimits(v, f));
        } else if (key == "seccomp") {
          ARSENAL_ASSIGN_OR_RETURN(spec.seccomp, ParseSeccomp(v, f));
        } else if (key == "capabilities") {
          if (!v.is_array()) return Fail(WrongType(f, "an array of capability names"));
          for (size_t i = 0; i < v.size(); ++i) {
            ARSENAL_ASSIGN_OR_RETURN(std::string c, String(v[i], Index(f, i)));
            spec.capabilities.push_back(std::move(c));
          }
        } else if (key == "landlock") {
          auto ll = policies::ParseLandlockSpec(v);
          if (!ll) {
            // ParseLandlockSpec names fields "landlock.x" already.
            Error e = std::move(ll).error();
            if (e.hint().empty()) e.WithHint("see docs/sandbox-spec.md, landlock");
            return Fail(std::move(e));
          }
          spec.landlock = std::move(*ll);
        } else if (key == "output") {
          ARSENAL_TRY(ForEachField(
              v, f,
              [&](const std::string& k, const Json& x, const std::string& sub) -> Result<bool> {
                if (k != "max_bytes") return false;
                ARSENAL_ASSIGN_OR_RETURN(spec.output_limit_bytes, ParseSandboxSize(x, sub));
                return true;
              }));
        } else if (key == "labels") {
          ARSENAL_ASSIGN_OR_RETURN(spec.labels, StringMap(v, f));
        } else {
          return false;
        }
        return true;
      }));
  ARSENAL_TRY(spec.Validate());
  return spec;
}

Result<SandboxSpec> SandboxSpec::FromText(std::string_view text) {
  Json json = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return Fail(ValidationError("sandbox.invalid_json", "the sandbox spec is not valid JSON")
                    .WithHint("check the file with a JSON linter (jq .)"));
  }
  return FromJson(json);
}

Result<SandboxSpec> SandboxSpec::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Fail(ErrnoError("sandbox.read_failed", "open", path, errno != 0 ? errno : ENOENT));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  auto spec = FromText(buf.str());
  if (!spec) return Fail(std::move(spec).error().AddContext(path));
  return spec;
}

Status SandboxSpec::Validate() {
  if (version != kSandboxSpecVersion) {
    return Fail(ValidationError("sandbox.unsupported_version",
                                "version: only version 1 is supported", "version"));
  }
  if (!rootfs.empty()) ARSENAL_TRY(CheckHostPath(rootfs, "rootfs.path", true));
  for (size_t i = 0; i < mounts.size(); ++i) {
    const SandboxMount& m = mounts[i];
    const std::string f = Index("mounts", i);
    if (!IsAbsoluteClean(m.target) || m.target == "/") {
      return Fail(Invalid("sandbox.invalid_spec", f + ".target",
                          "must be an absolute path below / without '..': '" + m.target + "'"));
    }
    if (m.type == SandboxMount::Type::kBind) {
      ARSENAL_TRY(CheckHostPath(m.source, f + ".source", false));
    } else if (m.mode > 07777) {
      return Fail(Invalid("sandbox.invalid_spec", f + ".mode", "must be at most 7777"));
    }
  }
  if (!namespaces.mount && (!rootfs.empty() || !mounts.empty())) {
    return Fail(Invalid("sandbox.invalid_spec", "namespaces.mount",
                        "rootfs and mounts need a mount namespace"));
  }
  if (!namespaces.net && network == SandboxNetwork::kLoopback) {
    return Fail(Invalid("sandbox.invalid_spec", "namespaces.net",
                        "network loopback needs a network namespace"));
  }
  if (!namespaces.mount && namespaces.pid) {
    // A new pid namespace with the host's /proc would show host pids.
    return Fail(Invalid("sandbox.invalid_spec", "namespaces.mount",
                        "a pid namespace needs a mount namespace (for its own /proc)"));
  }
  for (const auto* map : {&uid_map, &gid_map}) {
    const std::string f = map == &uid_map ? "uid_map" : "gid_map";
    if (map->empty() || map->size() > kMaxIdMapLines) {
      return Fail(Invalid("sandbox.invalid_spec", f, "must have 1 to 340 entries"));
    }
    for (size_t i = 0; i < map->size(); ++i) {
      const auto& e = (*map)[i];
      if (e.count == 0 || uint64_t{e.inside} + e.count > UINT32_MAX ||
          uint64_t{e.outside} + e.count > UINT32_MAX) {
        return Fail(Invalid("sandbox.invalid_spec", Index(f, i),
                            "count must be positive and ranges must stay below 2^32-1"));
      }
    }
  }
  if (hostname.size() > HOST_NAME_MAX || hostname.find('\0') != std::string::npos) {
    return Fail(Invalid("sandbox.invalid_spec", "hostname", "must be at most 64 bytes"));
  }
  for (const auto& [k, v] : env) {
    if (!ValidEnvKey(k)) {
      return Fail(Invalid("sandbox.invalid_spec", "env." + k,
                          "variable names must be non-empty and contain no '='"));
    }
    if (v.find('\0') != std::string::npos) {
      return Fail(Invalid("sandbox.invalid_spec", "env." + k, "contains a NUL byte"));
    }
  }
  if (!IsAbsoluteClean(cwd)) {
    return Fail(Invalid("sandbox.invalid_spec", "cwd", "must be an absolute path"));
  }
  ARSENAL_TRY(ValidateLimits(limits));
  if (auto mask = policies::ParseCapabilityList(capabilities, "capabilities"); !mask) {
    Error e = std::move(mask).error();
    if (e.hint().empty()) e.WithHint("use names from capabilities(7), e.g. CAP_NET_BIND_SERVICE");
    return Fail(std::move(e));
  }
  switch (seccomp.mode) {
    case SandboxSeccomp::Mode::kDefault:
    case SandboxSeccomp::Mode::kUnconfined:
      seccomp.parsed.reset();
      break;
    case SandboxSeccomp::Mode::kProfile: {
      auto profile = policies::ParseSeccompProfile(seccomp.profile.dump());
      if (!profile) return Fail(Reroot(std::move(profile).error(), "seccomp.profile"));
      seccomp.parsed = std::make_shared<const policies::SeccompProfile>(std::move(*profile));
      break;
    }
    case SandboxSeccomp::Mode::kFile: {
      ARSENAL_TRY(CheckHostPath(seccomp.file, "seccomp.profile_file", false));
      auto profile = policies::LoadSeccompProfileFile(seccomp.file);
      if (!profile) {
        Error e = std::move(profile).error();
        std::string inner;
        if (auto f = e.details().find("field"); f != e.details().end() && f->is_string()) {
          inner = f->get<std::string>();
        }
        e.WithDetail("field", "seccomp.profile_file");
        if (!inner.empty()) e.WithDetail("profile_field", inner);
        return Fail(std::move(e));
      }
      seccomp.parsed = std::make_shared<const policies::SeccompProfile>(std::move(*profile));
      break;
    }
  }
  if (landlock) {
    for (size_t i = 0; i < landlock->paths.size(); ++i) {
      const auto& p = landlock->paths[i];
      if (p.optional) continue;
      ARSENAL_TRY(CheckHostPath(p.path, Index("landlock.paths", i) + ".path", false));
    }
  }
  if (output_limit_bytes < kMinOutput || output_limit_bytes > kMaxOutput) {
    return Fail(Invalid("sandbox.invalid_limit", "output.max_bytes", "must be between 1K and 64M"));
  }
  for (const auto& [k, v] : labels) {
    if (k.empty() || k.size() > kMaxLabelKey || v.size() > kMaxLabelValue) {
      return Fail(Invalid("sandbox.invalid_spec", "labels." + k,
                          "keys are 1 to 63 bytes and values at most 255 bytes"));
    }
  }
  return {};
}

Json SandboxSpec::ToJson() const {
  Json mounts_json = Json::array();
  for (const auto& m : mounts) {
    if (m.type == SandboxMount::Type::kBind) {
      mounts_json.push_back({{"type", "bind"},
                             {"source", m.source},
                             {"target", m.target},
                             {"read_only", m.read_only}});
    } else {
      char mode[8];
      std::snprintf(mode, sizeof(mode), "%o", m.mode);
      Json t = {{"type", "tmpfs"}, {"target", m.target}, {"mode", mode}};
      if (m.size_bytes > 0) t["size"] = m.size_bytes;
      mounts_json.push_back(std::move(t));
    }
  }
  Json limits_json = Json::object();
  if (limits.memory_bytes) limits_json["memory"] = *limits.memory_bytes;
  if (limits.memory_swap_bytes) {
    limits_json["memory_swap"] = *limits.memory_swap_bytes == policies::kCgroupUnlimited
                                     ? Json("unlimited")
                                     : Json(*limits.memory_swap_bytes);
  }
  if (limits.cpus) limits_json["cpus"] = *limits.cpus;
  if (limits.cpu_period_us) limits_json["cpu_period_us"] = *limits.cpu_period_us;
  if (limits.cpu_weight) limits_json["cpu_weight"] = *limits.cpu_weight;
  if (limits.pids) limits_json["pids"] = *limits.pids;
  if (!limits.io.empty()) {
    Json io = Json::array();
    for (const auto& d : limits.io) {
      Json e = {{"device", std::to_string(d.major) + ":" + std::to_string(d.minor)}};
      if (d.read_bps) e["read_bps"] = *d.read_bps;
      if (d.write_bps) e["write_bps"] = *d.write_bps;
      if (d.read_iops) e["read_iops"] = *d.read_iops;
      if (d.write_iops) e["write_iops"] = *d.write_iops;
      io.push_back(std::move(e));
    }
    limits_json["io"] = std::move(io);
  }
  Json rl = RlimitsJson(limits.rlimits);
  if (!rl.empty()) limits_json["rlimits"] = std::move(rl);
  if (limits.timeout) limits_json["timeout"] = std::to_string(limits.timeout->count()) + "ms";

  Json ns = {{"user", namespaces.user},     {"mount", namespaces.mount}, {"pid", namespaces.pid},
             {"net", namespaces.net},       {"uts", namespaces.uts},     {"ipc", namespaces.ipc},
             {"cgroup", namespaces.cgroup}, {"time", namespaces.time}};
  Json out = {
      {"version", version},
      {"rootfs",
       {{"path", rootfs.empty() ? std::string("/") : rootfs}, {"read_only", rootfs_read_only}}},
      {"mounts", std::move(mounts_json)},
      {"namespaces", std::move(ns)},
      {"uid_map", IdMapJson(uid_map)},
      {"gid_map", IdMapJson(gid_map)},
      {"hostname", hostname},
      {"env", env},
      {"cwd", cwd},
      {"network", SandboxNetworkName(network)},
      {"limits", std::move(limits_json)},
      {"capabilities", capabilities},
      {"output", {{"max_bytes", output_limit_bytes}}},
      {"labels", labels}};
  switch (seccomp.mode) {
    case SandboxSeccomp::Mode::kDefault:
      break;
    case SandboxSeccomp::Mode::kProfile:
      out["seccomp"] = {{"profile", seccomp.profile}};
      break;
    case SandboxSeccomp::Mode::kFile:
      out["seccomp"] = {{"profile_file", seccomp.file}};
      break;
    case SandboxSeccomp::Mode::kUnconfined:
      out["seccomp"] = {{"unconfined", true}};
      break;
  }
  if (landlock) out["landlock"] = LandlockJson(*landlock);
  return out;
}

// ---- SandboxSpecBuilder ------------------------------------------------------------------------

SandboxSpecBuilder& SandboxSpecBuilder::Rootfs(std::string dir, bool read_only) {
  spec_.rootfs = dir == "/" ? std::string() : std::move(dir);
  spec_.rootfs_read_only = read_only;
  return *this;
}
SandboxSpecBuilder& SandboxSpecBuilder::BindReadOnly(std::string source, std::string target) {
  spec_.mounts.push_back({SandboxMount::Type::kBind, std::move(source), std::move(target), true});
  return *this;
}
SandboxSpecBuilder& SandboxSpecBuilder::BindReadWrite(std::string source, std::string target) {
  spec_.mounts.push_back({SandboxMount::Type::kBind, std::move(source), std::move(target), false});
  return *this;
}
SandboxSpecBuilder& SandboxSpecBuilder::Tmpfs(std::string target, uint64_t size_bytes,
                                              uint32_t mode) {
  spec_.mounts.push_back(
      {SandboxMount::Type::kTmpfs, {}, std::move(target), false, size_bytes, mode});
  return *this;
}
SandboxSpecBuilder& SandboxSpecBuilder::Namespaces(SandboxNamespaces namespaces) {
  spec_.namespaces = namespaces;
  return *this;
}
SandboxSpecBuilder& SandboxSpecBuilder::UidMap(std::vector<SandboxIdMap> map) {
  spec_.uid_map = std::move(map);
  return *this;
}
SandboxSpecBuilder& SandboxSpecBuilder::GidMap(std::vector<SandboxIdMap> map) {
  spec_.gid_map = std::move(map);
  return *this;
}
SandboxSpecBuilder& SandboxSpecBuilder::Hostname(std::string hostname) {
  spec_.hostname = std::move(hostname);
  return *this;
}
SandboxSpecBuilder& SandboxSpecBuilder::Env(std::string key, std::string value) {
  spec_.env[std::move(key)] = std::move(value);
  return *this;
}
SandboxSpecBuilder& SandboxSpecBuilder::Cwd(std::string cwd) {
  spec_.cwd = std::move(cwd);
  return *this;
}
SandboxSpecBuilder& SandboxSpecBuilder::Network(SandboxNetwork network) {
  spec_.network = network;
  return *this;
}
SandboxSpecBuilder& SandboxSpecBuilder::Memory(uint64_t bytes) {
  spec_.limits.memory_bytes = bytes;
  return *this;
}
SandboxSpecBuilder& SandboxSpecBuilder::MemorySwap(uint64_t bytes) {
  spec_.limits.memory_swap_bytes = bytes;
  return *this;
}
SandboxSpecBuilder& SandboxSpecBuilder::Cpus(double cpus) {
  spec_.limits.cpus = cpus;
  return *this;
}
SandboxSpecBuilder& SandboxSpecBuilder::CpuWeight(uint32_t weight) {
  spec_.limits.cpu_weight = weight;
  return *this;
}
SandboxSpecBuilder& SandboxSpecBuilder::Pids(uint64_t max) {
  spec_.limits.pids = max;
  return *this;
}
SandboxSpecBuilder& SandboxSpecBuilder::Rlimits(policies::RlimitSpec rlimits) {
  spec_.limits.rlimits = rlimits;
  return *this;
}
SandboxSpecBuilder& SandboxSpecBuilder::Timeout(std::chrono::milliseconds timeout) {
  spec_.limits.timeout = timeout;
  return *this;
}
SandboxSpecBuilder& SandboxSpecBuilder::SeccompProfile(Json profile) {
  spec_.seccomp = {};
  spec_.seccomp.mode = SandboxSeccomp::Mode::kProfile;
  spec_.seccomp.profile = std::move(profile);
  return *this;
}
SandboxSpecBuilder& SandboxSpecBuilder::SeccompProfileFile(std::string path) {
  spec_.seccomp = {};
  spec_.seccomp.mode = SandboxSeccomp::Mode::kFile;
  spec_.seccomp.file = std::move(path);
  return *this;
}
SandboxSpecBuilder& SandboxSpecBuilder::SeccompUnconfinedUnsafe() {
  spec_.seccomp = {};
  spec_.seccomp.mode = SandboxSeccomp::Mode::kUnconfined;
  return *this;
}
SandboxSpecBuilder& SandboxSpecBuilder::KeepCapabilities(std::vector<std::string> names) {
  spec_.capabilities = std::move(names);
  return *this;
}
SandboxSpecBuilder& SandboxSpecBuilder::Landlock(policies::LandlockSpec landlock) {
  spec_.landlock = std::move(landlock);
  return *this;
}
SandboxSpecBuilder& SandboxSpecBuilder::OutputLimit(uint64_t bytes) {
  spec_.output_limit_bytes = bytes;
  return *this;
}
SandboxSpecBuilder& SandboxSpecBuilder::Label(std::string key, std::string value) {
  spec_.labels[std::move(key)] = std::move(value);
  return *this;
}

Result<SandboxSpec> SandboxSpecBuilder::Build() const {
  SandboxSpec copy = spec_;
  ARSENAL_TRY(copy.Validate());
  return copy;
}

}  // namespace arsenal
