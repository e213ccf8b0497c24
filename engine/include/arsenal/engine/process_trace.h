// trace_process: syscall tracing of a running process with ptrace, for a bounded time or number
// of syscalls, returning structured records. The process keeps running afterwards.
//
// How: a dedicated tracer thread PTRACE_SEIZEs every thread of the process (and follows new
// ones with PTRACE_O_TRACECLONE), resumes them with PTRACE_SYSCALL, and reads each syscall stop
// with PTRACE_GET_SYSCALL_INFO (entry: number and arguments; exit: return value). Syscall names
// come from libseccomp (seccomp_syscall_resolve_num_arch) for the architecture the kernel reports.
// The tracer waits only for its own tracees (__WNOTHREAD), so it never reaps or steals exits of
// the daemon's other children. At the end (time or count reached, or the process exits) every
// thread is brought to a stop with PTRACE_INTERRUPT and detached; a signal that arrived during
// the trace is re-delivered at detach, so tracing does not change what the process sees.
//
// Costs and caveats: every syscall of the tracee takes two context switches to the tracer while
// tracing (typically 10-50x slower syscalls). A process that is already being traced (gdb,
// strace) cannot be traced (process.trace_busy). A process that makes no syscalls produces no
// records; the deadline is still honoured (the tracer is woken by a private signal).
//
// Security: ptrace gives full control over the tracee; trace_process requires process.write.
// The daemon's own threads cannot be traced.
#pragma once

#include <sys/types.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "arsenal/base/result.h"
#include "arsenal/engine/process_table.h"

namespace arsenal {

struct TraceOptions {
  std::chrono::milliseconds duration{1000};  // 1 ms .. 60 s
  size_t max_syscalls = 1000;                // 1 .. 100000 completed records
};

struct SyscallRecord {
  int64_t time_ns = 0;  // entry time, since the start of the trace
  pid_t tid = 0;
  int nr = -1;
  std::string name;  // "openat"; "syscall_<nr>" when libseccomp does not know it
  std::array<uint64_t, 6> args{};
  std::optional<int64_t> ret;  // absent when the trace ended inside the syscall
  int64_t duration_ns = 0;     // entry stop to exit stop
  Json ToJson() const;         // {time_ns, tid, nr, syscall, args, ret, error, duration_us}
};

struct TraceResult {
  std::vector<SyscallRecord> records;
  std::string stopped_because;  // "duration", "count", "exited"
  size_t threads_traced = 0;
  bool detached = true;  // false only if the process exited while traced
  std::optional<ExitStatus> exit;
  Json ToJson() const;
};

// Traces a managed process. Errors: process.not_found, process.not_running (exited or
// suspended), process.trace_busy (already traced), process.invalid_trace (bad options),
// process.trace_failed (ptrace errno, with details).
Result<TraceResult> TraceProcess(ProcessTable& table, std::string_view id,
                                 const TraceOptions& options);

// Traces any process by pid (host processes; best effort against pid reuse: the pid is pinned
// with a pidfd before attaching).
Result<TraceResult> TracePid(pid_t pid, const TraceOptions& options);

// "openat" for (AUDIT_ARCH_X86_64, 257); cached.
std::string SyscallName(uint32_t audit_arch, int nr);

}  // namespace arsenal
