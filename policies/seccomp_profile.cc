#include "arsenal/policies/seccomp_profile.h"

#include <seccomp.h>
#include <sys/utsname.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <sstream>

#include "arsenal/policies/capabilities.h"
#include "arsenal/policies/default_profile_json.h"

namespace arsenal::policies {
namespace {

struct ActionName {
  std::string_view name;
  SeccompAction action;
};
constexpr std::array<ActionName, 9> kActions{{
    {"SCMP_ACT_KILL_PROCESS", SeccompAction::kKillProcess},
    {"SCMP_ACT_KILL_THREAD", SeccompAction::kKillThread},
    {"SCMP_ACT_KILL", SeccompAction::kKillThread},
    {"SCMP_ACT_TRAP", SeccompAction::kTrap},
    {"SCMP_ACT_ERRNO", SeccompAction::kErrno},
    {"SCMP_ACT_TRACE", SeccompAction::kTrace},
    {"SCMP_ACT_ALLOW", SeccompAction::kAllow},
    {"SCMP_ACT_LOG", SeccompAction::kLog},
    {"SCMP_ACT_NOTIFY", SeccompAction::kNotify},
}};

struct OpName {
  std::string_view name;
  SeccompCompareOp op;
};
constexpr std::array<OpName, 7> kOps{{
    {"SCMP_CMP_NE", SeccompCompareOp::kNe},
    {"SCMP_CMP_LT", SeccompCompareOp::kLt},
    {"SCMP_CMP_LE", SeccompCompareOp::kLe},
    {"SCMP_CMP_EQ", SeccompCompareOp::kEq},
    {"SCMP_CMP_GE", SeccompCompareOp::kGe},
    {"SCMP_CMP_GT", SeccompCompareOp::kGt},
    {"SCMP_CMP_MASKED_EQ", SeccompCompareOp::kMaskedEq},
}};

struct ArchName {
  std::string_view name;
  uint32_t token;
};
constexpr std::array<ArchName, 19> kArches{{
    {"SCMP_ARCH_X86", SCMP_ARCH_X86},
    {"SCMP_ARCH_X86_64", SCMP_ARCH_X86_64},
    {"SCMP_ARCH_X32", SCMP_ARCH_X32},
    {"SCMP_ARCH_ARM", SCMP_ARCH_ARM},
    {"SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64},
    {"SCMP_ARCH_MIPS", SCMP_ARCH_MIPS},
    {"SCMP_ARCH_MIPS64", SCMP_ARCH_MIPS64},
    {"SCMP_ARCH_MIPS64N32", SCMP_ARCH_MIPS64N32},
    {"SCMP_ARCH_MIPSEL", SCMP_ARCH_MIPSEL},
    {"SCMP_ARCH_MIPSEL64", SCMP_ARCH_MIPSEL64},
    {"SCMP_ARCH_MIPSEL64N32", SCMP_ARCH_MIPSEL64N32},
    {"SCMP_ARCH_PPC", SCMP_ARCH_PPC},
    {"SCMP_ARCH_PPC64", SCMP_ARCH_PPC64},
    {"SCMP_ARCH_PPC64LE", SCMP_ARCH_PPC64LE},
    {"SCMP_ARCH_S390", SCMP_ARCH_S390},
    {"SCMP_ARCH_S390X", SCMP_ARCH_S390X},
    {"SCMP_ARCH_PARISC", SCMP_ARCH_PARISC},
    {"SCMP_ARCH_PARISC64", SCMP_ARCH_PARISC64},
    {"SCMP_ARCH_RISCV64", SCMP_ARCH_RISCV64},
}};

// Go architecture names Docker profiles use in includes/excludes.arches.
constexpr std::array<std::string_view, 22> kGoArches{
    "386",     "amd64",     "x86",    "x32",     "arm",    "arm64",       "ppc",    "ppc64",
    "ppc64le", "s390",      "s390x",  "riscv64", "mips",   "mipsle",      "mips64", "mips64le",
    "mipsn32", "mips64n32", "mipsel", "loong64", "parisc", "mips64len32",
};

constexpr std::array<std::string_view, 3> kFlags{
    "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"};

// Walks a JSON document keeping the path of the current node for error messages.
class Parser {
 public:
  Error Invalid(std::string code, const std::string& path, const std::string& what) const {
    return ValidationError(std::move(code), "seccomp profile: " + path + ": " + what, path)
        .WithHint("fix the profile field " + path +
                  "; the format is Docker's seccomp profile format (docs/seccomp-profiles.md)");
  }

  Status CheckFields(const Json& obj, const std::string& path,
                     std::initializer_list<std::string_view> known) const {
    for (auto it = obj.begin(); it != obj.end(); ++it) {
      bool found = false;
      for (auto k : known) found = found || k == it.key();
      if (!found) {
        return Fail(Invalid("seccomp.unknown_field", Join(path, it.key()),
                            "unknown field \"" + it.key() + "\""));
      }
    }
    return {};
  }

  static std::string Join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : path + "." + std::string(key);
  }
  static std::string Index(const std::string& path, size_t i) {
    return path + "[" + std::to_string(i) + "]";
  }

  Result<std::string> String(const Json& j, const std::string& path) const {
    if (!j.is_string()) return Fail(Invalid("seccomp.wrong_type", path, "expected a string"));
    return j.get<std::string>();
  }

  Result<uint64_t> Unsigned(const Json& j, const std::string& path, uint64_t max) const {
    if (!j.is_number_integer() ||
        (j.is_number_integer() && !j.is_number_unsigned() && j.get<int64_t>() < 0)) {
      return Fail(Invalid("seccomp.wrong_type", path, "expected a non-negative integer"));
    }
    uint64_t v = j.get<uint64_t>();
    if (v > max) {
      return Fail(Invalid("seccomp.invalid_value", path,
                          "value " + std::to_string(v) + " exceeds " + std::to_string(max)));
    }
    return v;
  }

  Result<std::vector<std::string>> StringArray(const Json& j, const std::string& path) const {
    if (!j.is_array()) return Fail(Invalid("seccomp.wrong_type", path, "expected an array"));
    std::vector<std::string> out;
    for (size_t i = 0; i < j.size(); ++i) {
      ARSENAL_ASSIGN_OR_RETURN(auto s, String(j[i], Index(path, i)));
      out.push_back(std::move(s));
    }
    return out;
  }

  Result<SeccompAction> Action(const Json& j, const std::string& path) const {
    ARSENAL_ASSIGN_OR_RETURN(auto name, String(j, path));
    for (const auto& a : kActions) {
      if (a.name == name) return a.action;
    }
    return Fail(Invalid("seccomp.unknown_action", path, "unknown action \"" + name + "\""));
  }

  Result<uint32_t> Arch(const Json& j, const std::string& path) const {
    ARSENAL_ASSIGN_OR_RETURN(auto name, String(j, path));
    for (const auto& a : kArches) {
      if (a.name == name) return a.token;
    }
    return Fail(Invalid("seccomp.unknown_arch", path, "unknown architecture \"" + name + "\""));
  }

  Result<std::vector<uint32_t>> ArchArray(const Json& j, const std::string& path) const {
    if (!j.is_array()) return Fail(Invalid("seccomp.wrong_type", path, "expected an array"));
    std::vector<uint32_t> out;
    for (size_t i = 0; i < j.size(); ++i) {
      ARSENAL_ASSIGN_OR_RETURN(auto a, Arch(j[i], Index(path, i)));
      out.push_back(a);
    }
    return out;
  }

  Result<SeccompFilter> Filter(const Json& j, const std::string& path) const {
    if (!j.is_object()) return Fail(Invalid("seccomp.wrong_type", path, "expected an object"));
    ARSENAL_TRY(CheckFields(j, path, {"caps", "arches", "minKernel"}));
    SeccompFilter f;
    if (auto it = j.find("caps"); it != j.end()) {
      ARSENAL_ASSIGN_OR_RETURN(auto names, StringArray(*it, Join(path, "caps")));
      for (size_t i = 0; i < names.size(); ++i) {
        auto cap = ParseCapabilityName(names[i]);
        if (!cap) {
          return Fail(Invalid("seccomp.unknown_capability", Index(Join(path, "caps"), i),
                              "unknown capability \"" + names[i] + "\""));
        }
        f.caps.push_back(*cap);
      }
    }
    if (auto it = j.find("arches"); it != j.end()) {
      ARSENAL_ASSIGN_OR_RETURN(f.arches, StringArray(*it, Join(path, "arches")));
      for (size_t i = 0; i < f.arches.size(); ++i) {
        bool known = false;
        for (auto g : kGoArches) known = known || g == f.arches[i];
        if (!known) {
          return Fail(Invalid("seccomp.unknown_arch", Index(Join(path, "arches"), i),
                              "unknown architecture \"" + f.arches[i] +
                                  "\" (expected a Go name such as amd64, arm64, x86, s390x)"));
        }
      }
    }
    if (auto it = j.find("minKernel"); it != j.end()) {
      std::string p = Join(path, "minKernel");
      ARSENAL_ASSIGN_OR_RETURN(auto text, String(*it, p));
      KernelVersion v;
      const char* b = text.data();
      const char* e = b + text.size();
      auto r1 = std::from_chars(b, e, v.major);
      bool ok = r1.ec == std::errc() && r1.ptr < e && *r1.ptr == '.';
      if (ok) {
        auto r2 = std::from_chars(r1.ptr + 1, e, v.minor);
        ok = r2.ec == std::errc() && r2.ptr == e;
      }
      if (!ok) {
        return Fail(Invalid("seccomp.invalid_value", p,
                            "invalid kernel version \"" + text + "\" (expected \"major.minor\")"));
      }
      f.min_kernel = v;
    }
    return f;
  }

  Result<SeccompArg> Arg(const Json& j, const std::string& path) const {
    if (!j.is_object()) return Fail(Invalid("seccomp.wrong_type", path, "expected an object"));
    ARSENAL_TRY(CheckFields(j, path, {"index", "value", "valueTwo", "op"}));
    SeccompArg a;
    for (auto key : {"index", "value", "op"}) {
      if (!j.contains(key)) {
        return Fail(Invalid("seccomp.missing_field", Join(path, key), "required field missing"));
      }
    }
    ARSENAL_ASSIGN_OR_RETURN(auto index, Unsigned(j["index"], Join(path, "index"), 5));
    a.index = static_cast<uint32_t>(index);
    ARSENAL_ASSIGN_OR_RETURN(a.value, Unsigned(j["value"], Join(path, "value"), UINT64_MAX));
    if (auto it = j.find("valueTwo"); it != j.end()) {
      ARSENAL_ASSIGN_OR_RETURN(a.value_two, Unsigned(*it, Join(path, "valueTwo"), UINT64_MAX));
    }
    ARSENAL_ASSIGN_OR_RETURN(auto op, String(j["op"], Join(path, "op")));
    bool found = false;
    for (const auto& o : kOps) {
      if (o.name == op) {
        a.op = o.op;
        found = true;
      }
    }
    if (!found) {
      return Fail(Invalid("seccomp.unknown_operator", Join(path, "op"),
                          "unknown comparison operator \"" + op + "\""));
    }
    return a;
  }

  Result<SeccompSyscallRule> Syscall(const Json& j, const std::string& path) const {
    if (!j.is_object()) return Fail(Invalid("seccomp.wrong_type", path, "expected an object"));
    ARSENAL_TRY(CheckFields(
        j, path,
        {"name", "names", "action", "errnoRet", "args", "comment", "includes", "excludes"}));
    SeccompSyscallRule rule;
    if (j.contains("name") && j.contains("names")) {
      return Fail(Invalid("seccomp.invalid_value", Join(path, "name"),
                          "give either \"name\" or \"names\", not both"));
    }
    if (auto it = j.find("name"); it != j.end()) {
      ARSENAL_ASSIGN_OR_RETURN(auto n, String(*it, Join(path, "name")));
      ARSENAL_TRY(CheckSyscallName(n, Join(path, "name")));
      rule.names.push_back(std::move(n));
    } else if (auto it2 = j.find("names"); it2 != j.end()) {
      std::string p = Join(path, "names");
      ARSENAL_ASSIGN_OR_RETURN(rule.names, StringArray(*it2, p));
      for (size_t i = 0; i < rule.names.size(); ++i) {
        ARSENAL_TRY(CheckSyscallName(rule.names[i], Index(p, i)));
      }
    } else {
      return Fail(Invalid("seccomp.missing_field", Join(path, "names"), "required field missing"));
    }
    if (!j.contains("action")) {
      return Fail(Invalid("seccomp.missing_field", Join(path, "action"), "required field missing"));
    }
    ARSENAL_ASSIGN_OR_RETURN(rule.action, Action(j["action"], Join(path, "action")));
    if (auto it = j.find("errnoRet"); it != j.end()) {
      ARSENAL_ASSIGN_OR_RETURN(auto e, Unsigned(*it, Join(path, "errnoRet"), 0xffff));
      if (rule.action != SeccompAction::kErrno && rule.action != SeccompAction::kTrace) {
        return Fail(Invalid("seccomp.invalid_value", Join(path, "errnoRet"),
                            "errnoRet is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE"));
      }
      rule.errno_ret = static_cast<uint32_t>(e);
    }
    if (auto it = j.find("args"); it != j.end() && !it->is_null()) {
      std::string p = Join(path, "args");
      if (!it->is_array()) return Fail(Invalid("seccomp.wrong_type", p, "expected an array"));
      for (size_t i = 0; i < it->size(); ++i) {
        ARSENAL_ASSIGN_OR_RETURN(auto a, Arg((*it)[i], Index(p, i)));
        rule.args.push_back(a);
      }
    }
    if (auto it = j.find("comment"); it != j.end()) {
      ARSENAL_ASSIGN_OR_RETURN(rule.comment, String(*it, Join(path, "comment")));
    }
    if (auto it = j.find("includes"); it != j.end()) {
      ARSENAL_ASSIGN_OR_RETURN(rule.includes, Filter(*it, Join(path, "includes")));
    }
    if (auto it = j.find("excludes"); it != j.end()) {
      ARSENAL_ASSIGN_OR_RETURN(rule.excludes, Filter(*it, Join(path, "excludes")));
    }
    return rule;
  }

  // A name is valid when libseccomp knows it on at least one architecture (it resolves every
  // name in its tables, giving pseudo-numbers for names absent on the native architecture), so
  // Docker's multi-architecture lists load while typos are caught.
  Status CheckSyscallName(const std::string& name, const std::string& path) const {
    if (seccomp_syscall_resolve_name(name.c_str()) == __NR_SCMP_ERROR) {
      return Fail(Invalid("seccomp.unknown_syscall", path, "unknown syscall \"" + name + "\"")
                      .WithHint("check the spelling; libseccomp " + LibseccompVersion() +
                                " does not know \"" + name + "\" on any architecture"));
    }
    return {};
  }

  static std::string LibseccompVersion() {
    const scmp_version* v = seccomp_version();
    return std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
           std::to_string(v->micro);
  }

  Result<SeccompProfile> Profile(const Json& j) const {
    if (!j.is_object()) {
      return Fail(Invalid("seccomp.wrong_type", "(root)", "expected a JSON object"));
    }
    ARSENAL_TRY(CheckFields(j, "",
                            {"defaultAction", "defaultErrnoRet", "architectures", "archMap",
                             "flags", "listenerPath", "listenerMetadata", "syscalls"}));
    SeccompProfile p;
    if (!j.contains("defaultAction")) {
      return Fail(Invalid("seccomp.missing_field", "defaultAction", "required field missing"));
    }
    ARSENAL_ASSIGN_OR_RETURN(p.default_action, Action(j["defaultAction"], "defaultAction"));
    if (auto it = j.find("defaultErrnoRet"); it != j.end() && !it->is_null()) {
      ARSENAL_ASSIGN_OR_RETURN(auto e, Unsigned(*it, "defaultErrnoRet", 0xffff));
      p.default_errno_ret = static_cast<uint32_t>(e);
    }
    if (auto it = j.find("architectures"); it != j.end() && !it->is_null()) {
      ARSENAL_ASSIGN_OR_RETURN(p.architectures, ArchArray(*it, "architectures"));
    }
    if (auto it = j.find("archMap"); it != j.end() && !it->is_null()) {
      if (!it->is_array()) {
        return Fail(Invalid("seccomp.wrong_type", "archMap", "expected an array"));
      }
      for (size_t i = 0; i < it->size(); ++i) {
        std::string path = Index("archMap", i);
        const Json& e = (*it)[i];
        if (!e.is_object()) return Fail(Invalid("seccomp.wrong_type", path, "expected an object"));
        ARSENAL_TRY(CheckFields(e, path, {"architecture", "subArchitectures"}));
        if (!e.contains("architecture")) {
          return Fail(Invalid("seccomp.missing_field", Join(path, "architecture"),
                              "required field missing"));
        }
        SeccompArchMapEntry entry;
        ARSENAL_ASSIGN_OR_RETURN(entry.architecture,
                                 Arch(e["architecture"], Join(path, "architecture")));
        if (auto sub = e.find("subArchitectures"); sub != e.end() && !sub->is_null()) {
          ARSENAL_ASSIGN_OR_RETURN(entry.sub_architectures,
                                   ArchArray(*sub, Join(path, "subArchitectures")));
        }
        p.arch_map.push_back(std::move(entry));
      }
    }
    if (!p.architectures.empty() && !p.arch_map.empty()) {
      return Fail(Invalid("seccomp.invalid_value", "archMap",
                          "give either \"architectures\" or \"archMap\", not both"));
    }
    if (auto it = j.find("flags"); it != j.end() && !it->is_null()) {
      ARSENAL_ASSIGN_OR_RETURN(p.flags, StringArray(*it, "flags"));
      for (size_t i = 0; i < p.flags.size(); ++i) {
        bool known = false;
        for (auto f : kFlags) known = known || f == p.flags[i];
        if (!known) {
          return Fail(Invalid("seccomp.invalid_value", Index("flags", i),
                              "unknown seccomp filter flag \"" + p.flags[i] + "\""));
        }
      }
    }
    if (auto it = j.find("listenerPath"); it != j.end()) {
      ARSENAL_ASSIGN_OR_RETURN(p.listener_path, String(*it, "listenerPath"));
    }
    if (auto it = j.find("listenerMetadata"); it != j.end()) {
      ARSENAL_ASSIGN_OR_RETURN(p.listener_metadata, String(*it, "listenerMetadata"));
    }
    if (auto it = j.find("syscalls"); it != j.end() && !it->is_null()) {
      if (!it->is_array()) {
        return Fail(Invalid("seccomp.wrong_type", "syscalls", "expected an array"));
      }
      for (size_t i = 0; i < it->size(); ++i) {
        ARSENAL_ASSIGN_OR_RETURN(auto rule, Syscall((*it)[i], Index("syscalls", i)));
        p.syscalls.push_back(std::move(rule));
      }
    }
    return p;
  }
};

}  // namespace

Result<SeccompProfile> ParseSeccompProfile(std::string_view json_text) {
  Json j = Json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return Fail(ValidationError("seccomp.invalid_json", "seccomp profile is not valid JSON")
                    .WithHint("check the file with a JSON linter (jq . FILE)"));
  }
  return Parser().Profile(j);
}

Result<SeccompProfile> LoadSeccompProfileFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno != 0 ? errno : ENOENT;
    return Fail(ErrnoError("seccomp.read_failed", "open", path, err));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  auto profile = ParseSeccompProfile(buf.str());
  if (!profile) return Fail(std::move(profile).error().AddContext(path));
  return profile;
}

const SeccompProfile& DefaultSeccompProfile() {
  // The embedded profile is validated by tests; a parse failure here is a build defect, and
  // failing closed means crashing rather than running unconfined.
  static const SeccompProfile* const profile = [] {
    auto p = ParseSeccompProfile(internal::kDefaultProfileJson);
    if (!p) {
      std::fprintf(stderr, "arsenal: built-in seccomp profile is invalid: %s\n",
                   p.error().ToString().c_str());
      std::abort();
    }
    return new SeccompProfile(std::move(*p));
  }();
  return *profile;
}

std::string_view DefaultSeccompProfileJson() { return internal::kDefaultProfileJson; }

std::string_view SeccompActionName(SeccompAction action) {
  for (const auto& a : kActions) {
    if (a.action == action) return a.name;
  }
  return "SCMP_ACT_UNKNOWN";
}

std::string_view SeccompCompareOpName(SeccompCompareOp op) {
  for (const auto& o : kOps) {
    if (o.op == op) return o.name;
  }
  return "SCMP_CMP_UNKNOWN";
}

std::string_view SeccompArchName(uint32_t token) {
  for (const auto& a : kArches) {
    if (a.token == token) return a.name;
  }
  return {};
}

std::string_view NativeGoArch() {
  switch (seccomp_arch_native()) {
    case SCMP_ARCH_X86_64:
      return "amd64";
    case SCMP_ARCH_X86:
      return "386";
    case SCMP_ARCH_X32:
      return "x32";
    case SCMP_ARCH_AARCH64:
      return "arm64";
    case SCMP_ARCH_ARM:
      return "arm";
    case SCMP_ARCH_PPC64LE:
      return "ppc64le";
    case SCMP_ARCH_PPC64:
      return "ppc64";
    case SCMP_ARCH_S390X:
      return "s390x";
    case SCMP_ARCH_S390:
      return "s390";
    case SCMP_ARCH_RISCV64:
      return "riscv64";
    case SCMP_ARCH_MIPS64:
      return "mips64";
    case SCMP_ARCH_MIPSEL64:
      return "mips64le";
    default:
      return "unknown";
  }
}

KernelVersion RunningKernelVersion() {
  struct utsname u {};
  KernelVersion v;
  if (::uname(&u) != 0) return v;
  std::sscanf(u.release, "%d.%d", &v.major, &v.minor);
  return v;
}

}  // namespace arsenal::policies
