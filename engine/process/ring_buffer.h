// A byte ring buffer with absolute offsets: readers ask for "everything after offset N" and learn
// how much was dropped, so a slow reader never sees silently spliced output.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

namespace arsenal::process_internal {

class RingBuffer {
 public:
  explicit RingBuffer(size_t capacity = 64 * 1024) : capacity_(capacity) {}

  void Append(const char* data, size_t n) {
    if (capacity_ == 0 || n == 0) {
      total_ += n;
      return;
    }
    if (n >= capacity_) {  // only the tail fits
      data += n - capacity_;
      total_ += n - capacity_;
      n = capacity_;
    }
    // Grow lazily: most processes write far less than the limit.
    if (buf_.size() < capacity_ && size_ + n > buf_.size()) {
      Linearize();
      buf_.resize(std::min(capacity_, std::max(buf_.size() * 2, size_ + n)));
    }
    for (size_t i = 0; i < n;) {
      const size_t tail = (head_ + size_) % buf_.size();
      if (size_ == buf_.size()) {  // full: overwrite the oldest byte(s)
        const size_t chunk = std::min(n - i, buf_.size() - head_);
        std::copy_n(data + i, chunk, buf_.begin() + static_cast<std::ptrdiff_t>(head_));
        head_ = (head_ + chunk) % buf_.size();
        i += chunk;
        continue;
      }
      const size_t room = std::min(buf_.size() - size_, buf_.size() - tail);
      const size_t chunk = std::min(n - i, room);
      std::copy_n(data + i, chunk, buf_.begin() + static_cast<std::ptrdiff_t>(tail));
      size_ += chunk;
      i += chunk;
    }
    total_ += n;
  }

  // Bytes from absolute `offset` (clamped to the oldest retained byte), at most `max`.
  std::string Read(uint64_t offset, size_t max, uint64_t* start, uint64_t* dropped) const {
    const uint64_t oldest = total_ - size_;
    *dropped = offset < oldest ? oldest - offset : 0;
    if (offset < oldest) offset = oldest;
    *start = offset;
    if (offset >= total_) return {};
    const size_t skip = static_cast<size_t>(offset - oldest);
    const size_t n = std::min<size_t>(max, size_ - skip);
    std::string out;
    out.reserve(n);
    for (size_t i = 0; i < n; ++i) out.push_back(buf_[(head_ + skip + i) % buf_.size()]);
    return out;
  }

  uint64_t total() const { return total_; }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }

 private:
  void Linearize() {
    if (head_ == 0 || buf_.empty()) return;
    std::rotate(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(head_), buf_.end());
    // After rotate the live bytes start at 0 only if the buffer was full; otherwise they were at
    // [head_, head_+size_) which rotate moved to [0, size_).
    head_ = 0;
  }

  size_t capacity_;
  std::vector<char> buf_;
  size_t head_ = 0;
  size_t size_ = 0;
  uint64_t total_ = 0;
};

}  // namespace arsenal::process_internal
