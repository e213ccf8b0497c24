#include "arsenal/hotreload/plugin_protocol.h"

#include <endian.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace arsenal::hotreload::plugin {
namespace {

// A buffer that held a module image or a large state is not kept around between frames.
constexpr size_t kKeepBufferBytes = 1u << 20;
constexpr size_t kReadChunk = 64u << 10;

uint32_t Load32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof(v));
  return le32toh(v);
}

uint16_t Load16(const char* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof(v));
  return le16toh(v);
}

void Append32(std::string* out, uint32_t v) {
  v = htole32(v);
  out->append(reinterpret_cast<const char*>(&v), sizeof(v));
}

bool IsKnownType(uint8_t type) {
  return (type >= static_cast<uint8_t>(FrameType::kSeal) &&
          type <= static_cast<uint8_t>(FrameType::kUnload)) ||
         type == static_cast<uint8_t>(FrameType::kOk) ||
         type == static_cast<uint8_t>(FrameType::kError);
}

Error BadFrame(const std::string& reason) {
  return ValidationError("plugin.bad_frame", "bad plugin frame: " + reason)
      .WithDetail("reason", reason);
}

// Tells the CPU (and a hypervisor watching for spin loops) that this is a busy-wait.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

Error Closed(std::string_view what) {
  return Error(ErrorCategory::kUnavailable, "plugin.closed",
               "plugin host connection closed (" + std::string(what) + ")");
}

}  // namespace

std::string_view FrameTypeName(FrameType type) {
  switch (type) {
    case FrameType::kSeal:
      return "seal";
    case FrameType::kLoad:
      return "load";
    case FrameType::kCreate:
      return "create";
    case FrameType::kCall:
      return "call";
    case FrameType::kSnapshot:
      return "snapshot";
    case FrameType::kHealth:
      return "health";
    case FrameType::kUnload:
      return "unload";
    case FrameType::kOk:
      return "ok";
    case FrameType::kError:
      return "error";
  }
  return "unknown";
}

size_t EncodedFrameSize(const Frame& frame) {
  size_t size = kPrefixBytes + kHeaderBytes;
  for (const auto& field : frame.fields) size += 4 + field.size();
  return size;
}

void EncodeFrame(const Frame& frame, std::string* out) {
  out->reserve(out->size() + EncodedFrameSize(frame));
  Append32(out, static_cast<uint32_t>(EncodedFrameSize(frame) - kPrefixBytes));
  out->push_back(static_cast<char>(kProtocolVersion));
  out->push_back(static_cast<char>(frame.type));
  const uint16_t cpu = htole16(frame.cpu);
  out->append(reinterpret_cast<const char*>(&cpu), sizeof(cpu));
  Append32(out, frame.id);
  Append32(out, frame.arg);
  Append32(out, static_cast<uint32_t>(frame.fields.size()));
  for (const auto& field : frame.fields) {
    Append32(out, static_cast<uint32_t>(field.size()));
    out->append(field);
  }
}

Result<Frame> DecodePayload(std::string_view payload) {
  if (payload.size() < kHeaderBytes) {
    return Fail(BadFrame("payload of " + std::to_string(payload.size()) +
                         " bytes is shorter than the " + std::to_string(kHeaderBytes) +
                         "-byte header"));
  }
  const char* p = payload.data();
  Frame frame;
  frame.id = Load32(p + 4);
  frame.arg = Load32(p + 8);
  auto bad = [&](const std::string& reason) {
    return Fail(BadFrame(reason).WithDetail("id", frame.id));
  };
  const auto version = static_cast<uint8_t>(p[0]);
  const auto type = static_cast<uint8_t>(p[1]);
  if (version != kProtocolVersion) {
    return bad("protocol version " + std::to_string(version) + ", expected " +
               std::to_string(kProtocolVersion));
  }
  if (!IsKnownType(type)) return bad("unknown frame type " + std::to_string(type));
  frame.type = static_cast<FrameType>(type);
  frame.cpu = Load16(p + 2);
  const uint32_t count = Load32(p + 12);
  if (count > kMaxFields) {
    return bad(std::to_string(count) + " fields, at most " + std::to_string(kMaxFields));
  }
  size_t pos = kHeaderBytes;
  frame.fields.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    if (payload.size() - pos < 4) return bad("field " + std::to_string(i) + " is truncated");
    const uint32_t size = Load32(p + pos);
    pos += 4;
    if (payload.size() - pos < size) {
      return bad("field " + std::to_string(i) + " claims " + std::to_string(size) +
                 " bytes, only " + std::to_string(payload.size() - pos) + " left");
    }
    frame.fields.emplace_back(p + pos, size);
    pos += size;
  }
  if (pos != payload.size()) {
    return bad(std::to_string(payload.size() - pos) + " trailing bytes after the last field");
  }
  return frame;
}

Frame ErrorReply(uint32_t id, const Error& error) {
  auto bounded = [](const std::string& text) {
    return text.size() <= kMaxErrorMessageBytes ? text : text.substr(0, kMaxErrorMessageBytes);
  };
  Frame reply;
  reply.type = FrameType::kError;
  reply.id = id;
  reply.fields = {error.code(), std::string(CategoryName(error.category())),
                  bounded(error.message()), bounded(error.hint())};
  return reply;
}

FrameChannel::FrameChannel(int fd, size_t max_frame_bytes)
    : fd_(fd), max_frame_bytes_(std::max(max_frame_bytes, kMinFrameBytes)) {}

Status FrameChannel::WaitFor(short events, Clock::time_point deadline) {
  for (;;) {
    struct timespec timeout {};
    struct timespec* timeout_ptr = nullptr;
    if (deadline != kNoDeadline) {
      auto left = deadline - Clock::now();
      if (left <= Clock::duration::zero()) {
        return Fail(
            Error(ErrorCategory::kTimeout, "plugin.timeout", "plugin host did not answer in time")
                .WithRetryable(true));
      }
      auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      timeout.tv_sec = static_cast<time_t>(ns / 1000000000);
      timeout.tv_nsec = static_cast<long>(ns % 1000000000);
      timeout_ptr = &timeout;
    }
    struct pollfd pfd {
      fd_, events, 0
    };
    int n = ::ppoll(&pfd, 1, timeout_ptr, nullptr);
    if (n > 0) return {};  // readable, writable, or hung up: the next recv/send tells which
    if (n < 0 && errno != EINTR)
      return Fail(ErrnoError("plugin.io", "ppoll", "plugin socket", errno));
  }
}

Status FrameChannel::Fill(size_t want, Clock::time_point deadline) {
  if (buffer_.size() < kReadChunk) buffer_.resize(kReadChunk);
  if (buffer_.size() - end_ < want) {
    if (begin_ > 0) {
      std::memmove(buffer_.data(), buffer_.data() + begin_, Buffered());
      end_ -= begin_;
      begin_ = 0;
    }
    if (buffer_.size() - end_ < want) buffer_.resize(end_ + want);
  }
  // A sleeping wait after misses is timed: data that came (or was already there) within the
  // budget means polling would have caught it, so the next wait polls again.
  Clock::time_point sleep_start{};
  if (spin_budget_ > std::chrono::nanoseconds::zero()) {
    if (peer_cpu_ < 0 || peer_cpu_ == ::sched_getcpu()) {
      ++spin_stats_.same_cpu;
    } else if (spin_skip_ == 0) {
      ARSENAL_ASSIGN_OR_RETURN(bool got, Spin(deadline));
      if (got) return {};
    } else {
      --spin_skip_;
      ++spin_stats_.backed_off;
      sleep_start = Clock::now();
    }
  }
  for (;;) {
    // With SO_RCVTIMEO covering the deadline, recv() waits by itself (see SetReceiveTimeout).
    const bool blocking_recv =
        deadline == kNoDeadline || (receive_timeout_ != Clock::duration::zero() &&
                                    deadline - Clock::now() + receive_slack_ >= receive_timeout_);
    if (!blocking_recv) ARSENAL_TRY(WaitFor(POLLIN, deadline));
    ssize_t n =
        ::recv(fd_, buffer_.data() + end_, buffer_.size() - end_, blocking_recv ? 0 : MSG_DONTWAIT);
    if (n > 0) {
      end_ += static_cast<size_t>(n);
      if (sleep_start != Clock::time_point{} && Clock::now() - sleep_start <= spin_budget_) {
        spin_skip_ = 0;
        spin_backoff_ = 0;
      }
      return {};
    }
    if (n == 0) return Fail(Closed("end of stream"));
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      // A non-blocking socket, or SO_RCVTIMEO expired: poll until the deadline decides.
      ARSENAL_TRY(WaitFor(POLLIN, deadline));
      continue;
    }
    if (errno == ECONNRESET) return Fail(Closed("connection reset"));
    return Fail(ErrnoError("plugin.io", "recv", "plugin socket", errno));
  }
}

Result<bool> FrameChannel::TryRecv() {
  for (;;) {
    ssize_t n = ::recv(fd_, buffer_.data() + end_, buffer_.size() - end_, MSG_DONTWAIT);
    if (n > 0) {
      end_ += static_cast<size_t>(n);
      return true;
    }
    if (n == 0) return Fail(Closed("end of stream"));
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    if (errno == ECONNRESET) return Fail(Closed("connection reset"));
    return Fail(ErrnoError("plugin.io", "recv", "plugin socket", errno));
  }
}

Result<bool> FrameChannel::Spin(Clock::time_point deadline) {
  const auto until = std::min(deadline, Clock::now() + spin_budget_);
  for (;;) {
    ARSENAL_ASSIGN_OR_RETURN(bool got, TryRecv());
    if (got) {
      ++spin_stats_.hits;
      spin_backoff_ = 0;
      return true;
    }
    if (Clock::now() >= until) break;
    // No sched_yield(): the peer runs on another CPU (Fill checked), and a yield would hand this
    // CPU to whatever else is runnable here for a whole time slice while the answer waits.
    CpuRelax();
  }
  ++spin_stats_.misses;
  spin_backoff_ = std::min(std::max(1u, spin_backoff_ * 2), kMaxSpinSkip);
  spin_skip_ = spin_backoff_;
  return false;
}

Status FrameChannel::SetSpinBudget(std::chrono::nanoseconds budget) {
  if (budget < std::chrono::nanoseconds::zero() || budget > kMaxSpinBudget) {
    return Fail(ValidationError("plugin.bad_spin_budget",
                                "spin budget of " + std::to_string(budget.count()) +
                                    " ns is outside 0.." + std::to_string(kMaxSpinBudget.count()) +
                                    " us")
                    .WithHint("use 0 to disable busy-polling, or a few tens of microseconds"));
  }
  spin_budget_ = budget;
  spin_backoff_ = 0;
  spin_skip_ = 0;
  return {};
}

Status FrameChannel::SetReceiveTimeout(std::chrono::milliseconds timeout) {
  struct timeval tv {};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  if (::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) {
    return Fail(ErrnoError("plugin.io", "setsockopt(SO_RCVTIMEO)", "plugin socket", errno));
  }
  receive_timeout_ = timeout;
  receive_slack_ = std::min<Clock::duration>(timeout / 10, std::chrono::milliseconds(100));
  return {};
}

Result<Frame> FrameChannel::Read(Clock::time_point deadline) {
  while (discard_ > 0) {
    if (Buffered() == 0) {
      ARSENAL_TRY(Fill(static_cast<size_t>(std::min<uint64_t>(discard_, kReadChunk)), deadline));
    }
    size_t n = static_cast<size_t>(std::min<uint64_t>(discard_, Buffered()));
    begin_ += n;
    discard_ -= n;
  }
  while (Buffered() < kPrefixBytes) ARSENAL_TRY(Fill(kPrefixBytes - Buffered(), deadline));
  const uint32_t length = Load32(buffer_.data() + begin_);
  if (length > max_frame_bytes_ || length < kHeaderBytes) {
    begin_ += kPrefixBytes;
    discard_ = length;
    if (length < kHeaderBytes) {
      return Fail(
          BadFrame("frame of " + std::to_string(length) + " bytes is shorter than the header"));
    }
    return Fail(Error(ErrorCategory::kValidation, "plugin.frame_too_large",
                      "plugin frame of " + std::to_string(length) + " bytes exceeds the limit of " +
                          std::to_string(max_frame_bytes_))
                    .WithDetail("frame_bytes", length)
                    .WithDetail("max_frame_bytes", max_frame_bytes_));
  }
  const size_t total = kPrefixBytes + length;
  while (Buffered() < total) ARSENAL_TRY(Fill(total - Buffered(), deadline));
  std::string_view payload(buffer_.data() + begin_ + kPrefixBytes, length);
  auto frame = DecodePayload(payload);
  if (frame) peer_cpu_ = static_cast<int>(frame->cpu) - 1;
  begin_ += total;
  if (begin_ == end_) {
    begin_ = end_ = 0;
    if (buffer_.size() > kKeepBufferBytes) std::string().swap(buffer_);
  }
  return frame;
}

Status FrameChannel::Write(const Frame& frame, Clock::time_point deadline) {
  if (frame.fields.size() > kMaxFields ||
      EncodedFrameSize(frame) - kPrefixBytes > max_frame_bytes_) {
    return Fail(Error(ErrorCategory::kValidation, "plugin.frame_too_large",
                      std::string(FrameTypeName(frame.type)) + " frame of " +
                          std::to_string(EncodedFrameSize(frame)) + " bytes exceeds the limit of " +
                          std::to_string(max_frame_bytes_))
                    .WithDetail("max_frame_bytes", max_frame_bytes_));
  }
  out_.clear();
  EncodeFrame(frame, &out_);
  // The cpu hint: where this end runs now, for the peer's decision to busy-poll for the answer.
  const int cpu = ::sched_getcpu();
  const uint16_t hint = htole16(cpu >= 0 && cpu < 0xffff ? static_cast<uint16_t>(cpu + 1) : 0);
  std::memcpy(out_.data() + kPrefixBytes + 2, &hint, sizeof(hint));
  Status written = WriteRaw(out_, deadline);
  if (out_.capacity() > kKeepBufferBytes) std::string().swap(out_);
  return written;
}

Status FrameChannel::WriteRaw(std::string_view bytes, Clock::time_point deadline) {
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(),
                       MSG_NOSIGNAL | (deadline != kNoDeadline ? MSG_DONTWAIT : 0));
    if (n >= 0) {
      bytes.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      ARSENAL_TRY(WaitFor(POLLOUT, deadline));
      continue;
    }
    if (errno == EPIPE || errno == ECONNRESET) return Fail(Closed("peer gone"));
    return Fail(ErrnoError("plugin.io", "send", "plugin socket", errno));
  }
  return {};
}

}  // namespace arsenal::hotreload::plugin
