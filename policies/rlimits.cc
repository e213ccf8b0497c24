#include "arsenal/policies/rlimits.h"

#include <sys/capability.h>

#include <array>
#include <cerrno>
#include <string>

#include "arsenal/policies/capabilities.h"

namespace arsenal::policies {
namespace {

struct Entry {
  const char* name;
  int resource;
  std::optional<RlimitValue> RlimitSpec::*field;
};
constexpr std::array<Entry, 7> kEntries{{
    {"nofile", RLIMIT_NOFILE, &RlimitSpec::nofile},
    {"nproc", RLIMIT_NPROC, &RlimitSpec::nproc},
    {"core", RLIMIT_CORE, &RlimitSpec::core},
    {"fsize", RLIMIT_FSIZE, &RlimitSpec::fsize},
    {"stack", RLIMIT_STACK, &RlimitSpec::stack},
    {"as", RLIMIT_AS, &RlimitSpec::as},
    {"cpu", RLIMIT_CPU, &RlimitSpec::cpu},
}};

std::string Show(uint64_t v) { return v == kRlimInfinity ? "unlimited" : std::to_string(v); }

Result<uint64_t> Value(const Json& j, const std::string& path) {
  if (j.is_string() && j.get<std::string>() == "unlimited") return kRlimInfinity;
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  if (j.is_number_integer() && j.get<int64_t>() >= 0)
    return static_cast<uint64_t>(j.get<int64_t>());
  return Fail(ValidationError("rlimit.wrong_type",
                              "rlimits: " + path +
                                  ": expected a non-negative integer or "
                                  "\"unlimited\"",
                              path));
}

bool HasSysResource() {
  // Effective CAP_SYS_RESOURCE lets setrlimit raise a hard limit.
  auto state = CurrentCapabilities();
  return state && (state->effective & CapBit(CAP_SYS_RESOURCE)) != 0;
}

}  // namespace

Result<RlimitSpec> ParseRlimitSpec(const Json& json) {
  if (!json.is_object()) {
    return Fail(ValidationError("rlimit.wrong_type", "rlimits: expected an object", "rlimits"));
  }
  RlimitSpec spec;
  for (auto it = json.begin(); it != json.end(); ++it) {
    const Entry* entry = nullptr;
    for (const auto& e : kEntries) {
      if (it.key() == e.name) entry = &e;
    }
    std::string path = "rlimits." + it.key();
    if (entry == nullptr) {
      return Fail(ValidationError("rlimit.unknown_field",
                                  "rlimits: unknown limit \"" + it.key() + "\"", path)
                      .WithHint("known limits: nofile, nproc, core, fsize, stack, as, cpu"));
    }
    RlimitValue v;
    if (it->is_object()) {
      for (auto f = it->begin(); f != it->end(); ++f) {
        if (f.key() != "soft" && f.key() != "hard") {
          return Fail(ValidationError("rlimit.unknown_field",
                                      "rlimits: unknown field \"" + f.key() + "\"",
                                      path + "." + f.key()));
        }
      }
      if (!it->contains("soft") || !it->contains("hard")) {
        return Fail(ValidationError("rlimit.missing_field",
                                    "rlimits: " + path + " needs both soft and hard", path));
      }
      ARSENAL_ASSIGN_OR_RETURN(v.soft, Value((*it)["soft"], path + ".soft"));
      ARSENAL_ASSIGN_OR_RETURN(v.hard, Value((*it)["hard"], path + ".hard"));
    } else {
      ARSENAL_ASSIGN_OR_RETURN(v.soft, Value(*it, path));
      v.hard = v.soft;
    }
    spec.*(entry->field) = v;
  }
  return spec;
}

Result<RlimitList> BuildRlimits(const RlimitSpec& spec) {
  RlimitList out;
  // Asked only when a limit exceeds the current hard limit: reading the capability sets through
  // libcap probes every capability number, which an empty spec should not pay for.
  std::optional<bool> can_raise;
  for (const auto& e : kEntries) {
    const auto& value = spec.*(e.field);
    if (!value) continue;
    std::string path = std::string("rlimits.") + e.name;
    if (value->soft > value->hard) {
      return Fail(ValidationError("rlimit.soft_above_hard",
                                  "rlimit " + std::string(e.name) + ": soft limit " +
                                      Show(value->soft) + " is above the hard limit " +
                                      Show(value->hard),
                                  path)
                      .WithHint("set soft <= hard"));
    }
    struct rlimit current {};
    if (::getrlimit(static_cast<__rlimit_resource_t>(e.resource), &current) != 0) {
      return Fail(ErrnoError("rlimit.read_failed", "getrlimit", e.name, errno));
    }
    const bool above = current.rlim_max != RLIM_INFINITY && value->hard > current.rlim_max;
    if (above && !can_raise) can_raise = HasSysResource();
    if (above && !*can_raise) {
      return Fail(ValidationError("rlimit.above_hard_limit",
                                  "rlimit " + std::string(e.name) + ": hard limit " +
                                      Show(value->hard) + " is above the current hard limit " +
                                      Show(current.rlim_max) +
                                      " and CAP_SYS_RESOURCE is not available",
                                  path)
                      .WithHint("lower the " + std::string(e.name) + " limit to at most " +
                                Show(current.rlim_max) + ", or run Arsenal with CAP_SYS_RESOURCE")
                      .WithDetail("current_hard", current.rlim_max));
    }
    out.emplace_back(e.resource, rlimit{value->soft, value->hard});
  }
  return out;
}

}  // namespace arsenal::policies
