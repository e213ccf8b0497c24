#include "arsenal/policies/capabilities.h"

#include <sys/capability.h>
#include <sys/prctl.h>

#include <cctype>
#include <cerrno>
#include <memory>

namespace arsenal::policies {
namespace {

struct CapFree {
  void operator()(void* p) const { cap_free(p); }
};

}  // namespace

Result<int> ParseCapabilityName(std::string_view name) {
  std::string lower;
  lower.reserve(name.size() + 4);
  for (char c : name)
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (!lower.starts_with("cap_")) lower = "cap_" + lower;
  cap_value_t value = 0;
  // cap_from_name also accepts bare numbers; a spec must use names.
  bool numeric = lower.size() > 4 && std::isdigit(static_cast<unsigned char>(lower[4]));
  if (numeric || cap_from_name(lower.c_str(), &value) != 0 || value < 0 || value >= 64) {
    return Fail(
        ValidationError("capability.unknown", "unknown capability \"" + std::string(name) + "\"")
            .WithHint("use a name from capabilities(7), e.g. CAP_NET_BIND_SERVICE"));
  }
  return static_cast<int>(value);
}

Result<uint64_t> ParseCapabilityList(const std::vector<std::string>& names,
                                     std::string_view field) {
  uint64_t mask = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    auto cap = ParseCapabilityName(names[i]);
    if (!cap) {
      std::string path = std::string(field) + "[" + std::to_string(i) + "]";
      return Fail(std::move(cap).error().WithDetail("field", path).AddContext(path));
    }
    mask |= CapBit(*cap);
  }
  return mask;
}

std::string CapabilityName(int cap) {
  std::unique_ptr<char, CapFree> name(cap_to_name(static_cast<cap_value_t>(cap)));
  std::string out = name ? name.get() : "";
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0]))) {
    return "CAP_" + std::to_string(cap);
  }
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string> CapabilityNames(uint64_t mask) {
  std::vector<std::string> out;
  for (int cap = 0; cap < 64; ++cap) {
    if (mask & CapBit(cap)) out.push_back(CapabilityName(cap));
  }
  return out;
}

int LastCapability() { return static_cast<int>(cap_max_bits()) - 1; }

Result<CapabilityState> CurrentCapabilities() {
  std::unique_ptr<_cap_struct, CapFree> caps(cap_get_proc());
  if (!caps) return Fail(ErrnoError("capability.read_failed", "capget", "self", errno));
  CapabilityState s;
  for (int cap = 0; cap <= LastCapability() && cap < 64; ++cap) {
    cap_flag_value_t v = CAP_CLEAR;
    auto value = static_cast<cap_value_t>(cap);
    if (cap_get_flag(caps.get(), value, CAP_EFFECTIVE, &v) == 0 && v == CAP_SET) {
      s.effective |= CapBit(cap);
    }
    if (cap_get_flag(caps.get(), value, CAP_PERMITTED, &v) == 0 && v == CAP_SET) {
      s.permitted |= CapBit(cap);
    }
    if (cap_get_flag(caps.get(), value, CAP_INHERITABLE, &v) == 0 && v == CAP_SET) {
      s.inheritable |= CapBit(cap);
    }
    if (cap_get_bound(value) == 1) s.bounding |= CapBit(cap);
    if (cap_get_ambient(value) == 1) s.ambient |= CapBit(cap);
  }
  return s;
}

}  // namespace arsenal::policies
