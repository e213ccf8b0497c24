// Private helpers shared by policies/seccomp*.cc. Not a public header.
#pragma once

#include <cstdint>
#include <string_view>

namespace arsenal::policies::seccomp_internal {

// FNV-1a, a fast non-cryptographic hash: the key hash of a compiled filter and the disk cache's
// file names. The caches compare a key's full text before they trust an entry.
constexpr uint64_t Fnv1a(std::string_view text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace arsenal::policies::seccomp_internal
