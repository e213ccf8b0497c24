// CompactFields: a fixed number of short strings packed into one inline buffer, so that records
// queued by one thread and consumed by another (event bus, audit log) cost no heap allocation on
// the hot path and copy only the bytes in use.
//
// Why: with glibc malloc, memory allocated on an emitting thread and freed on a delivery thread
// defeats the per-thread caches (the freeing thread's cache fills, the allocating thread's stays
// empty), so every such string cost a trip through the arena lock on both sides. Operation names,
// principal ids, request ids and error codes together nearly always fit kInline bytes; when they
// do not, all of them go to one std::string instead.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace arsenal::internal {

template <size_t kFields, size_t kInline>
class CompactFields {
 public:
  CompactFields() = default;
  CompactFields(const CompactFields& other) { CopyFrom(other); }
  CompactFields& operator=(const CompactFields& other) {
    if (this != &other) CopyFrom(other);
    return *this;
  }
  CompactFields(CompactFields&& other) noexcept { MoveFrom(other); }
  CompactFields& operator=(CompactFields&& other) noexcept {
    if (this != &other) MoveFrom(other);
    return *this;
  }

  // Replaces every field.
  void Assign(const std::array<std::string_view, kFields>& fields) {
    size_t total = 0;
    for (size_t i = 0; i < kFields; ++i) {
      total += fields[i].size();
      end_[i] = static_cast<uint32_t>(total);
    }
    on_heap_ = total > kInline;
    char* out;
    if (on_heap_) {
      heap_.resize(total);
      out = heap_.data();
    } else {
      heap_.clear();
      out = inline_;
    }
    for (const std::string_view field : fields) {
      if (!field.empty()) std::memcpy(out, field.data(), field.size());
      out += field.size();
    }
  }

  std::string_view get(size_t i) const {
    const uint32_t begin = i == 0 ? 0 : end_[i - 1];
    return std::string_view(on_heap_ ? heap_.data() : inline_, end_[kFields - 1])
        .substr(begin, end_[i] - begin);
  }

 private:
  void CopyFrom(const CompactFields& other) {
    end_ = other.end_;
    on_heap_ = other.on_heap_;
    heap_ = other.heap_;
    if (!on_heap_) std::memcpy(inline_, other.inline_, end_[kFields - 1]);
  }
  void MoveFrom(CompactFields& other) {
    end_ = other.end_;
    on_heap_ = other.on_heap_;
    heap_ = std::move(other.heap_);
    if (!on_heap_) std::memcpy(inline_, other.inline_, end_[kFields - 1]);
  }

  std::array<uint32_t, kFields> end_{};  // end offset of each field; only [0, end_.back()) is set
  bool on_heap_ = false;
  std::string heap_;
  char inline_[kInline];  // deliberately not initialized: a record never reads past end_.back()
};

}  // namespace arsenal::internal
