// The frame protocol between the engine and `arsenal-plugin-host` (the sandboxed plugin host).
//
// Purpose: untrusted modules run in a separate, sandboxed process; the engine talks to it over
// one SOCK_STREAM unix socket (fd 0 of the host) with length-prefixed binary frames. This header
// is the protocol's specification and its only implementation, shared by both ends.
//
// Frame (all integers little-endian):
//   u32 length                 bytes that follow; kHeaderBytes <= length <= max_frame_bytes
//   payload:
//     0  u8   version          kProtocolVersion (2)
//     1  u8   type             FrameType
//     2  u16  cpu              the sender's CPU + 1 when it sent the frame, 0 if unknown: a
//                              scheduling hint for busy-polling (see FrameChannel), nothing else
//     4  u32  id               request id, echoed by the reply
//     8  u32  arg              type-specific number (a state version, seccomp flags)
//    12  u32  count            number of fields, 0..kMaxFields
//    16  count x { u32 size, size bytes }, exactly filling the payload
//
// Requests (engine -> host) and their replies (kOk, or kError with fields [code, category,
// message]):
//   kSeal      [bpf]                   arg = SECCOMP_FILTER_FLAG_*   -> kOk
//              Installs the host's final seccomp filter (classic BPF, 8-byte instructions). Must
//              be the first request; the host refuses everything else until sealed.
//   kLoad      [slot, so_bytes]                                      -> kOk [name, version],
//              dlopen()s the module from a memfd into `slot` (no instance yet).  arg =
//              state_version
//   kCreate    [slot, state]           arg = state_version           -> kOk
//              create() from the state, then health(); the instance serves the slot.
//   kCall      [slot, method, input]                                 -> kOk [output]
//   kSnapshot  [slot]                  arg = wanted_state_version    -> kOk [state], arg = version
//   kHealth    [] (host alive) or [slot]                             -> kOk
//   kUnload    [slot]                                                -> kOk
//              destroy() the instance and dlclose() the module.
// One request is in flight at a time; the host answers each with exactly one reply, in order.
//
// Bounds and bad input: a frame longer than max_frame_bytes or shorter than the header, an
// unknown version or type, too many fields, or fields that do not
// exactly fill the payload is a plugin.bad_frame / plugin.frame_too_large error, never a crash.
// FrameChannel skips the bytes of a rejected frame so the stream stays in sync: the host answers
// a bad request with kError and keeps serving. The engine treats a bad reply as a broken host.
//
// Security: the engine must treat everything the host sends as untrusted (the host process runs
// plugin code): replies are bounded by max_frame_bytes, error codes and messages are validated and
// truncated before they reach an API caller (see plugin_host.h).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "arsenal/base/result.h"

namespace arsenal::hotreload::plugin {

// 2: the header's u16 at offset 2 became the cpu hint (it was reserved, always 0, in 1).
inline constexpr uint8_t kProtocolVersion = 2;
inline constexpr size_t kPrefixBytes = 4;
inline constexpr size_t kHeaderBytes = 16;
inline constexpr size_t kMaxFields = 4;
// Smallest max_frame_bytes a channel accepts, and the default (large enough for a module image).
inline constexpr size_t kMinFrameBytes = 4096;
inline constexpr size_t kDefaultMaxFrameBytes = 64u << 20;
// Longest error message a host sends (and the engine keeps).
inline constexpr size_t kMaxErrorMessageBytes = 4096;

enum class FrameType : uint8_t {
  kSeal = 1,
  kLoad = 2,
  kCreate = 3,
  kCall = 4,
  kSnapshot = 5,
  kHealth = 6,
  kUnload = 7,
  kOk = 0x80,
  kError = 0x81,
};
// "seal", "load", ..., "ok", "error"; "unknown" for other values.
std::string_view FrameTypeName(FrameType type);

struct Frame {
  FrameType type = FrameType::kHealth;
  uint32_t id = 0;
  uint32_t arg = 0;
  std::vector<std::string> fields;
  // The header's cpu hint: set by FrameChannel::Write (EncodeFrame writes what is here), read by
  // DecodePayload. Untrusted when it comes from the host: it only decides whether to busy-poll.
  uint16_t cpu = 0;
};

// Bytes EncodeFrame appends for `frame` (prefix included).
size_t EncodedFrameSize(const Frame& frame);
// Appends the length prefix and payload. Precondition: fields.size() <= kMaxFields.
void EncodeFrame(const Frame& frame, std::string* out);
// Decodes one payload (without the length prefix). Error plugin.bad_frame (validation) with
// details.reason and, when the header was readable, details.id.
Result<Frame> DecodePayload(std::string_view payload);

// An error reply carrying `error` (code, category name, message truncated to
// kMaxErrorMessageBytes).
Frame ErrorReply(uint32_t id, const Error& error);

// Reads and writes whole frames on a connected stream socket.
//
// Deadlines: Read/Write with a finite deadline poll() before blocking, so they work on blocking
// and non-blocking sockets alike; with kNoDeadline they block. Writes use MSG_NOSIGNAL (a closed
// peer is an error, not SIGPIPE).
// Busy-polling (SetSpinBudget): a Read that has to wait first polls the socket for up to the spin
// budget (recv(MSG_DONTWAIT) in a loop, the deadline still applies) and only then sleeps. A
// round trip whose answer comes within the budget then costs no sleep/wakeup on either side,
// which is most of its cost on a VM (a cross-CPU wakeup there costs ~50 us). It only pays when
// the two ends run on different CPUs: Write stamps each frame with the sender's CPU, and a wait
// polls only when the peer's last frame came from another CPU than the one the reader is on now.
// Sharing a CPU, the poller would only delay the peer (sched_yield() does not hand the CPU over
// across cgroups, and the host has its own), so then it sleeps at once.
// Adaptive: after a poll that found nothing, the next waits sleep at once (1, 2, 4, .. up to
// kMaxSpinSkip of them) unless a sleeping wait shows that data is arriving quickly again, so an
// idle or slow peer costs at most one budget of CPU per kMaxSpinSkip waits. The system calls
// used are recvfrom, clock_gettime and (without rseq or a vDSO) getcpu.
// Errors (stable codes): plugin.closed (EOF or EPIPE/ECONNRESET: the peer is gone),
// plugin.timeout, plugin.frame_too_large, plugin.bad_frame, plugin.io (other errno).
// After plugin.bad_frame or plugin.frame_too_large the rejected frame's bytes are skipped (at the
// next Read), so the channel stays usable; after the other errors it should be closed.
// Not thread-safe; the fd is borrowed.
class FrameChannel {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr Clock::time_point kNoDeadline = Clock::time_point::max();

  FrameChannel(int fd, size_t max_frame_bytes);

  Result<Frame> Read(Clock::time_point deadline = kNoDeadline);
  Status Write(const Frame& frame, Clock::time_point deadline = kNoDeadline);
  // Writes already-encoded bytes (one or more frames, or anything: for tests of bad input).
  Status WriteRaw(std::string_view bytes, Clock::time_point deadline = kNoDeadline);

  // Busy-polling statistics (see above): waits that polled and got data (hits), that polled the
  // whole budget in vain (misses), that slept without polling after misses (backed_off), and
  // that slept because the peer was on the same CPU or its CPU was unknown (same_cpu).
  struct SpinStats {
    uint64_t hits = 0;
    uint64_t misses = 0;
    uint64_t backed_off = 0;
    uint64_t same_cpu = 0;
  };
  // Largest spin budget SetSpinBudget accepts: a wait never burns more CPU than this.
  static constexpr std::chrono::microseconds kMaxSpinBudget{1000};
  // After a miss, the number of waits that sleep at once doubles up to this.
  static constexpr uint32_t kMaxSpinSkip = 64;

  // Lets a waiting Read poll for up to `budget` before sleeping; zero (the default) disables it.
  // Error: plugin.bad_spin_budget (validation) above kMaxSpinBudget or negative.
  Status SetSpinBudget(std::chrono::nanoseconds budget);
  std::chrono::nanoseconds spin_budget() const { return spin_budget_; }
  const SpinStats& spin_stats() const { return spin_stats_; }

  // Lets Read block in recv() itself (SO_RCVTIMEO = `timeout`) instead of poll() + recv() when
  // the deadline is about `timeout` away: one system call less per reply, which is most of the
  // engine's cost of a round trip. A read may then overshoot its deadline by up to a tenth of
  // `timeout` (at most 100 ms). Needs a blocking socket. Error: plugin.io.
  Status SetReceiveTimeout(std::chrono::milliseconds timeout);

  size_t max_frame_bytes() const { return max_frame_bytes_; }
  int fd() const { return fd_; }

 private:
  // Appends at least one byte to the buffer (up to `want` more bytes).
  Status Fill(size_t want, Clock::time_point deadline);
  Status WaitFor(short events, Clock::time_point deadline);
  // Polls for data for up to the spin budget (or until `deadline`). True when bytes were read.
  Result<bool> Spin(Clock::time_point deadline);
  // Reads what is there without waiting: true with bytes, false on EAGAIN; errors otherwise.
  Result<bool> TryRecv();
  size_t Buffered() const { return end_ - begin_; }

  int fd_;
  size_t max_frame_bytes_;
  std::string buffer_;
  size_t begin_ = 0;
  size_t end_ = 0;
  uint64_t discard_ = 0;               // bytes of a rejected frame still to skip
  Clock::duration receive_timeout_{};  // SO_RCVTIMEO, zero when not set
  Clock::duration receive_slack_{};
  std::string out_;  // reused encoding buffer
  std::chrono::nanoseconds spin_budget_{};
  uint32_t spin_backoff_ = 0;  // waits to skip after the next miss / 2
  uint32_t spin_skip_ = 0;     // waits left that sleep without polling
  SpinStats spin_stats_;
  int peer_cpu_ = -1;  // from the cpu hint of the last frame read; -1: unknown
};

}  // namespace arsenal::hotreload::plugin
