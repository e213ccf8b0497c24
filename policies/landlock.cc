#include "arsenal/policies/landlock.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "arsenal/base/syscalls.h"

namespace arsenal::policies {
namespace {

// Kernel UAPI structs, declared here because the installed headers (6.1) lack the ABI 4+ fields.
// The kernel accepts a larger struct as long as the fields it does not know are zero.
struct RulesetAttr {
  uint64_t handled_access_fs;
  uint64_t handled_access_net;
  uint64_t scoped;
};
struct __attribute__((packed)) PathBeneathAttr {
  uint64_t allowed_access;
  int32_t parent_fd;
};
struct NetPortAttr {
  uint64_t allowed_access;
  uint64_t port;
};
constexpr int kRulePathBeneath = 1;
constexpr int kRuleNetPort = 2;

struct AccessName {
  std::string_view name;
  uint64_t bits;
};
constexpr std::array<AccessName, 18> kAccessNames{{
    {"read", landlock::kRead},
    {"write", landlock::kWrite},
    {"execute", landlock::kExecute},
    {"read_file", landlock::kReadFile},
    {"write_file", landlock::kWriteFile},
    {"read_dir", landlock::kReadDir},
    {"remove_dir", landlock::kRemoveDir},
    {"remove_file", landlock::kRemoveFile},
    {"make_char", landlock::kMakeChar},
    {"make_dir", landlock::kMakeDir},
    {"make_reg", landlock::kMakeReg},
    {"make_sock", landlock::kMakeSock},
    {"make_fifo", landlock::kMakeFifo},
    {"make_block", landlock::kMakeBlock},
    {"make_sym", landlock::kMakeSym},
    {"refer", landlock::kRefer},
    {"truncate", landlock::kTruncate},
    {"ioctl_dev", landlock::kIoctlDev},
}};

std::string RightsText(uint64_t bits) {
  std::string out;
  for (const auto& a : kAccessNames) {
    // Only single rights, not the groups.
    if ((a.bits & (a.bits - 1)) != 0) continue;
    if (bits & a.bits) out += (out.empty() ? "" : ",") + std::string(a.name);
  }
  return out;
}

Error Unsupported(const std::string& what, int abi) {
  return UnsupportedError(
             "landlock.unsupported",
             what + " needs a newer Landlock ABI (kernel has ABI " + std::to_string(abi) + ")")
      .WithHint("upgrade the kernel, enable Landlock (lsm=...,landlock), or allow best effort")
      .WithDetail("abi", abi);
}

}  // namespace

namespace landlock {

uint64_t FsRightsForAbi(int abi) {
  if (abi < 1) return 0;
  uint64_t r = (1ULL << 13) - 1;  // EXECUTE..MAKE_SYM
  if (abi >= 2) r |= kRefer;
  if (abi >= 3) r |= kTruncate;
  if (abi >= 5) r |= kIoctlDev;
  return r;
}

uint64_t NetRightsForAbi(int abi) { return abi >= 4 ? (kBindTcp | kConnectTcp) : 0; }

uint64_t ScopesForAbi(int abi) { return abi >= 6 ? (kScopeAbstractUnixSocket | kScopeSignal) : 0; }

}  // namespace landlock

int LandlockAbiVersion() {
  int abi = sys::LandlockCreateRuleset(nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return abi < 0 ? 0 : abi;
}

Result<uint64_t> ParseLandlockAccess(const std::vector<std::string>& names,
                                     std::string_view field) {
  uint64_t bits = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    bool found = false;
    for (const auto& a : kAccessNames) {
      if (a.name == names[i]) {
        bits |= a.bits;
        found = true;
      }
    }
    if (!found) {
      std::string path = std::string(field) + "[" + std::to_string(i) + "]";
      return Fail(
          ValidationError("landlock.unknown_access",
                          "landlock: " + path + ": unknown access right \"" + names[i] + "\"", path)
              .WithHint("use read, write, execute or a right such as read_file, "
                        "make_dir, truncate (docs/seccomp-profiles.md)"));
    }
  }
  return bits;
}

Result<LandlockSpec> ParseLandlockSpec(const Json& j) {
  auto bad = [](std::string code, const std::string& field, const std::string& what) {
    return Fail(ValidationError(std::move(code), "landlock: " + field + ": " + what, field));
  };
  if (!j.is_object()) return bad("landlock.wrong_type", "landlock", "expected an object");
  LandlockSpec spec;
  auto strings = [&](const Json& v, const std::string& field) -> Result<std::vector<std::string>> {
    if (!v.is_array()) return bad("landlock.wrong_type", field, "expected an array of strings");
    std::vector<std::string> out;
    for (const auto& s : v) {
      if (!s.is_string()) return bad("landlock.wrong_type", field, "expected an array of strings");
      out.push_back(s.get<std::string>());
    }
    return out;
  };
  auto boolean = [&](const Json& v, const std::string& field) -> Result<bool> {
    if (!v.is_boolean()) return bad("landlock.wrong_type", field, "expected a boolean");
    return v.get<bool>();
  };
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    std::string field = "landlock." + k;
    if (k == "paths") {
      if (!it->is_array()) return bad("landlock.wrong_type", field, "expected an array");
      for (size_t i = 0; i < it->size(); ++i) {
        const Json& r = (*it)[i];
        std::string f = field + "[" + std::to_string(i) + "]";
        if (!r.is_object()) return bad("landlock.wrong_type", f, "expected an object");
        LandlockPathRule rule;
        for (auto x = r.begin(); x != r.end(); ++x) {
          if (x.key() == "path") {
            if (!x->is_string() || x->get<std::string>().empty() ||
                x->get<std::string>()[0] != '/') {
              return bad("landlock.wrong_type", f + ".path", "expected an absolute path");
            }
            rule.path = x->get<std::string>();
          } else if (x.key() == "access") {
            ARSENAL_ASSIGN_OR_RETURN(auto names, strings(*x, f + ".access"));
            ARSENAL_ASSIGN_OR_RETURN(rule.access, ParseLandlockAccess(names, f + ".access"));
          } else if (x.key() == "optional") {
            ARSENAL_ASSIGN_OR_RETURN(rule.optional, boolean(*x, f + ".optional"));
          } else {
            return bad("landlock.unknown_field", f + "." + x.key(), "unknown field");
          }
        }
        if (rule.path.empty()) return bad("landlock.missing_field", f + ".path", "required");
        spec.paths.push_back(std::move(rule));
      }
    } else if (k == "ports") {
      if (!it->is_array()) return bad("landlock.wrong_type", field, "expected an array");
      for (size_t i = 0; i < it->size(); ++i) {
        const Json& r = (*it)[i];
        std::string f = field + "[" + std::to_string(i) + "]";
        if (!r.is_object()) return bad("landlock.wrong_type", f, "expected an object");
        LandlockPortRule rule;
        bool has_port = false;
        for (auto x = r.begin(); x != r.end(); ++x) {
          if (x.key() == "port") {
            if (!x->is_number_unsigned() || x->get<uint64_t>() > 65535) {
              return bad("landlock.wrong_type", f + ".port", "expected a port 0..65535");
            }
            rule.port = static_cast<uint16_t>(x->get<uint64_t>());
            has_port = true;
          } else if (x.key() == "access") {
            ARSENAL_ASSIGN_OR_RETURN(auto names, strings(*x, f + ".access"));
            for (size_t n = 0; n < names.size(); ++n) {
              if (names[n] == "bind") {
                rule.access |= landlock::kBindTcp;
              } else if (names[n] == "connect") {
                rule.access |= landlock::kConnectTcp;
              } else {
                return bad("landlock.unknown_access", f + ".access[" + std::to_string(n) + "]",
                           "expected \"bind\" or \"connect\"");
              }
            }
          } else {
            return bad("landlock.unknown_field", f + "." + x.key(), "unknown field");
          }
        }
        if (!has_port) return bad("landlock.missing_field", f + ".port", "required");
        spec.ports.push_back(rule);
      }
    } else if (k == "restrict_fs") {
      ARSENAL_ASSIGN_OR_RETURN(spec.restrict_fs, boolean(*it, field));
    } else if (k == "restrict_tcp") {
      ARSENAL_ASSIGN_OR_RETURN(spec.restrict_tcp, boolean(*it, field));
    } else if (k == "scopes") {
      ARSENAL_ASSIGN_OR_RETURN(auto names, strings(*it, field));
      spec.scope_abstract_unix = false;
      spec.scope_signal = false;
      for (size_t n = 0; n < names.size(); ++n) {
        if (names[n] == "abstract_unix_socket") {
          spec.scope_abstract_unix = true;
        } else if (names[n] == "signal") {
          spec.scope_signal = true;
        } else {
          return bad("landlock.unknown_access", field + "[" + std::to_string(n) + "]",
                     "expected \"abstract_unix_socket\" or \"signal\"");
        }
      }
    } else if (k == "required") {
      ARSENAL_ASSIGN_OR_RETURN(bool required, boolean(*it, field));
      spec.compat = required ? LandlockCompat::kRequired : LandlockCompat::kBestEffort;
    } else {
      return bad("landlock.unknown_field", field, "unknown field");
    }
  }
  return spec;
}

Result<LandlockRuleset> BuildLandlockRuleset(const LandlockSpec& spec,
                                             std::optional<int> abi_limit) {
  LandlockRuleset out;
  int abi = LandlockAbiVersion();
  if (abi_limit) abi = std::min(abi, *abi_limit);
  out.abi = abi;
  const bool required = spec.compat == LandlockCompat::kRequired;
  if (abi < 1) {
    if (required) return Fail(Unsupported("Landlock", abi));
    out.warnings.push_back("Landlock is not available: filesystem and network rules not enforced");
    return out;
  }

  // What the spec asks for versus what this ABI can enforce.
  uint64_t want_fs = spec.restrict_fs ? landlock::FsRightsForAbi(7) : 0;
  uint64_t want_net = spec.restrict_tcp ? landlock::NetRightsForAbi(7) : 0;
  uint64_t want_scope = (spec.scope_abstract_unix ? landlock::kScopeAbstractUnixSocket : 0) |
                        (spec.scope_signal ? landlock::kScopeSignal : 0);
  out.handled_fs = want_fs & landlock::FsRightsForAbi(abi);
  out.handled_net = want_net & landlock::NetRightsForAbi(abi);
  out.scoped = want_scope & landlock::ScopesForAbi(abi);
  auto missing = [&](bool lacking, const std::string& what) -> Status {
    if (!lacking) return {};
    if (required) return Fail(Unsupported(what, abi));
    out.warnings.push_back(what + " not enforced: Landlock ABI " + std::to_string(abi) +
                           " lacks it");
    return {};
  };
  uint64_t lacking_fs = want_fs & ~landlock::FsRightsForAbi(abi);
  ARSENAL_TRY(missing(lacking_fs != 0, "filesystem rights " + RightsText(lacking_fs)));
  ARSENAL_TRY(missing((want_net != 0 || !spec.ports.empty()) && out.handled_net == 0,
                      "TCP bind/connect restrictions"));
  ARSENAL_TRY(missing((want_scope & ~out.scoped) != 0, "IPC scopes"));
  if (!spec.restrict_tcp && !spec.ports.empty()) {
    out.warnings.push_back("TCP port rules ignored: restrict_tcp is off");
  }

  RulesetAttr attr{out.handled_fs, out.handled_net, out.scoped};
  // Older kernels reject a struct larger than they know unless the extra bytes are zero, which
  // they are when the ABI lacks those fields; still pass the smallest size that carries them.
  size_t size = abi >= 6 ? sizeof(RulesetAttr) : abi >= 4 ? 16 : 8;
  UniqueFd fd(sys::LandlockCreateRuleset(&attr, size, 0));
  if (!fd)
    return Fail(ErrnoError("landlock.create_failed", "landlock_create_ruleset", "ruleset", errno));

  for (const auto& rule : spec.paths) {
    UniqueFd parent(::open(rule.path.c_str(), O_PATH | O_CLOEXEC));
    if (!parent) {
      int err = errno;
      if (err == ENOENT && rule.optional) {
        out.warnings.push_back("optional Landlock path " + rule.path + " does not exist");
        continue;
      }
      return Fail(ErrnoError(err == ENOENT ? "landlock.path_not_found" : "landlock.rule_failed",
                             "open", rule.path, err)
                      .WithHint("create the path, fix the spec, or mark the rule optional"));
    }
    struct stat st {};
    if (::fstat(parent.get(), &st) != 0) {
      return Fail(ErrnoError("landlock.rule_failed", "fstat", rule.path, errno));
    }
    uint64_t access = rule.access & out.handled_fs;
    // Directory-only rights on a file are rejected by the kernel (EINVAL): keep file rights.
    if (!S_ISDIR(st.st_mode)) access &= landlock::kFileRights;
    if (access == 0) continue;
    PathBeneathAttr pb{access, parent.get()};
    if (sys::LandlockAddRule(fd.get(), kRulePathBeneath, &pb, 0) != 0) {
      return Fail(ErrnoError("landlock.rule_failed", "landlock_add_rule", rule.path, errno));
    }
  }
  if (out.handled_net != 0) {
    for (const auto& rule : spec.ports) {
      uint64_t access = rule.access & out.handled_net;
      if (access == 0) continue;
      NetPortAttr np{access, rule.port};
      if (sys::LandlockAddRule(fd.get(), kRuleNetPort, &np, 0) != 0) {
        return Fail(ErrnoError("landlock.rule_failed", "landlock_add_rule",
                               "tcp port " + std::to_string(rule.port), errno));
      }
    }
  }
  out.fd = std::move(fd);
  return out;
}

}  // namespace arsenal::policies
