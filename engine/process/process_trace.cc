#include "arsenal/engine/process_trace.h"

#include <dirent.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "arsenal/base/log.h"
#include "arsenal/base/syscalls.h"
#include "arsenal/engine/process_inspect.h"
#include "process/table_impl.h"

namespace arsenal {
namespace {

// A private signal that only ever targets the tracer thread (tgkill) to interrupt its blocking
// waitpid at the deadline. Its handler does nothing; it is installed without SA_RESTART so the
// wait returns EINTR. Nothing else in the process receives it.
int WakeSignal() { return SIGRTMAX - 2; }

void NoopHandler(int) {}

void InstallWakeHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_handler = NoopHandler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    ::sigaction(WakeSignal(), &sa, nullptr);
  });
}

std::vector<pid_t> ThreadsOf(pid_t pid) {
  std::vector<pid_t> tids;
  const std::string path = "/proc/" + std::to_string(pid) + "/task";
  if (DIR* dir = ::opendir(path.c_str())) {
    while (dirent* ent = ::readdir(dir)) {
      if (ent->d_name[0] >= '1' && ent->d_name[0] <= '9') tids.push_back(std::atoi(ent->d_name));
    }
    ::closedir(dir);
  }
  return tids;
}

struct ThreadState {
  bool in_syscall = false;
  size_t record = 0;  // index of the open record while in_syscall
  int64_t entry_ns = 0;
  bool listening = false;  // in group-stop (PTRACE_LISTEN)
};

bool IsStopSignal(int sig) {
  return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

class Tracer {
 public:
  Tracer(pid_t pid, const TraceOptions& options) : pid_(pid), options_(options) {}

  // Runs on the tracer thread.
  Result<TraceResult> Run(std::atomic<pid_t>& tracer_tid) {
    tracer_tid.store(sys::GetTid());
    start_ = std::chrono::steady_clock::now();
    deadline_ = start_ + options_.duration;
    ARSENAL_TRY(AttachAll());
    result_.threads_traced = threads_.size();
    Loop();
    Detach();
    return std::move(result_);
  }

 private:
  int64_t Now() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                                start_)
        .count();
  }

  Status AttachAll() {
    constexpr long kOptions = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXIT;
    // Threads may be created while attaching: repeat until a pass finds nothing new.
    for (bool found = true; found;) {
      found = false;
      for (pid_t tid : ThreadsOf(pid_)) {
        if (threads_.contains(tid)) continue;
        if (::ptrace(PTRACE_SEIZE, tid, nullptr, reinterpret_cast<void*>(kOptions)) != 0) {
          const int err = errno;
          if (err == ESRCH) continue;  // thread exited meanwhile
          if (threads_.empty()) {
            if (err == EPERM) {
              return Fail(
                  ConflictError("process.trace_busy", "cannot trace pid " + std::to_string(pid_) +
                                                          ": it is already traced or not traceable")
                      .WithHint("detach the other tracer (gdb, strace) first"));
            }
            return Fail(ErrnoError("process.trace_failed", "ptrace(PTRACE_SEIZE)",
                                   std::to_string(tid), err));
          }
          continue;
        }
        threads_[tid] = {};
        found = true;
        ::ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
      }
    }
    if (threads_.empty()) {
      return Fail(NotFoundError("process.not_found", "pid " + std::to_string(pid_) + " is gone"));
    }
    return {};
  }

  void Resume(pid_t tid, int sig) {
    ::ptrace(PTRACE_SYSCALL, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(sig)));
  }

  bool Done() const {
    return std::chrono::steady_clock::now() >= deadline_ || completed_ >= options_.max_syscalls;
  }

  void OnSyscallStop(pid_t tid, ThreadState& ts) {
    __ptrace_syscall_info info{};
    const long n =
        ::ptrace(PTRACE_GET_SYSCALL_INFO, tid, reinterpret_cast<void*>(sizeof(info)), &info);
    if (n <= 0) return;
    if (info.op == PTRACE_SYSCALL_INFO_ENTRY || info.op == PTRACE_SYSCALL_INFO_SECCOMP) {
      SyscallRecord rec;
      rec.time_ns = Now();
      rec.tid = tid;
      rec.nr = static_cast<int>(info.entry.nr);
      rec.name = SyscallName(info.arch, rec.nr);
      for (int i = 0; i < 6; ++i) rec.args[i] = info.entry.args[i];
      ts.in_syscall = true;
      ts.record = result_.records.size();
      ts.entry_ns = rec.time_ns;
      result_.records.push_back(std::move(rec));
    } else if (info.op == PTRACE_SYSCALL_INFO_EXIT && ts.in_syscall) {
      SyscallRecord& rec = result_.records[ts.record];
      rec.ret = info.exit.rval;
      rec.duration_ns = Now() - ts.entry_ns;
      ts.in_syscall = false;
      ++completed_;
    }
  }

  void Loop() {
    while (!threads_.empty() && !Done()) {
      int status = 0;
      const pid_t tid = ::waitpid(-1, &status, __WALL | __WNOTHREAD);
      if (tid < 0) {
        if (errno == EINTR) continue;        // woken for the deadline
        result_.stopped_because = "exited";  // ECHILD: no tracee left
        threads_.clear();
        return;
      }
      HandleStatus(tid, status, /*resume=*/true);
      if (result_.stopped_because == "exited") return;
    }
    if (result_.stopped_because.empty()) {
      result_.stopped_because = completed_ >= options_.max_syscalls ? "count" : "duration";
    }
  }

  // Handles one wait status. With resume=false (detach phase) the thread is left stopped and its
  // pending signal is returned through pending_signals_.
  void HandleStatus(pid_t tid, int status, bool resume) {
    auto it = threads_.find(tid);
    if (WIFEXITED(status) || WIFSIGNALED(status)) {
      if (it != threads_.end()) threads_.erase(it);
      if (tid == pid_) {
        // The leader was reaped here (this thread is in the daemon's thread group, so the
        // kernel gives a traced child's exit to us): report it.
        ExitStatus st;
        st.time_unix_ms = process_internal::NowUnixMs();
        if (WIFEXITED(status)) {
          st.code = WEXITSTATUS(status);
        } else {
          st.signal = WTERMSIG(status);
          st.core_dumped = WCOREDUMP(status);
        }
        result_.exit = st;
        result_.detached = false;
        result_.stopped_because = "exited";
      }
      return;
    }
    if (!WIFSTOPPED(status)) return;
    if (it == threads_.end()) it = threads_.emplace(tid, ThreadState{}).first;  // new thread
    ThreadState& ts = it->second;
    const int sig = WSTOPSIG(status);
    const int event = status >> 16;
    if (!resume) stopped_.insert_or_assign(tid, 0);
    if (sig == (SIGTRAP | 0x80)) {
      OnSyscallStop(tid, ts);
      if (resume) Resume(tid, 0);
      return;
    }
    if (event == PTRACE_EVENT_CLONE) {
      unsigned long child = 0;
      ::ptrace(PTRACE_GETEVENTMSG, tid, nullptr, &child);
      threads_.emplace(static_cast<pid_t>(child), ThreadState{});
      ++result_.threads_traced;
      if (resume) Resume(tid, 0);
      return;
    }
    if (event == PTRACE_EVENT_EXIT) {
      // The thread is exiting: let it go untraced, so its exit reaches its real parent.
      ::ptrace(PTRACE_DETACH, tid, nullptr, nullptr);
      threads_.erase(tid);
      stopped_.erase(tid);
      if (tid == pid_)
        result_.stopped_because =
            result_.stopped_because.empty() && resume ? "exited" : result_.stopped_because;
      return;
    }
    if (event == PTRACE_EVENT_STOP) {
      if (IsStopSignal(sig) && resume) {
        // Group-stop (job control): stay stopped, but keep receiving notifications.
        ::ptrace(PTRACE_LISTEN, tid, nullptr, nullptr);
        ts.listening = true;
        return;
      }
      ts.listening = false;
      if (resume) Resume(tid, 0);
      return;
    }
    // Signal-delivery-stop: pass the signal on.
    if (resume) {
      Resume(tid, sig);
    } else {
      stopped_[tid] = sig;
    }
  }

  void Detach() {
    if (threads_.empty()) return;
    // Bring every thread to a ptrace-stop; a running thread cannot be detached.
    for (auto& [tid, ts] : threads_) ::ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr);
    deadline_ = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (stopped_.size() < threads_.size() && std::chrono::steady_clock::now() < deadline_) {
      int status = 0;
      const pid_t tid = ::waitpid(-1, &status, __WALL | __WNOTHREAD);
      if (tid < 0) {
        if (errno == EINTR) continue;
        break;
      }
      HandleStatus(tid, status, /*resume=*/false);
    }
    for (const auto& [tid, sig] : stopped_) {
      if (threads_.contains(tid)) {
        ::ptrace(PTRACE_DETACH, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(sig)));
      }
    }
    for (const auto& [tid, ts] : threads_) {
      if (!stopped_.contains(tid)) {
        log::Get("process")->warn("trace of pid {}: thread {} did not stop for detach", pid_, tid);
        result_.detached = false;
      }
    }
  }

  pid_t pid_;
  TraceOptions options_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point deadline_;
  std::unordered_map<pid_t, ThreadState> threads_;
  std::unordered_map<pid_t, int> stopped_;  // detach phase: stopped threads -> signal to re-send
  size_t completed_ = 0;
  TraceResult result_;
};

Status ValidateOptions(const TraceOptions& options) {
  if (options.duration.count() < 1 || options.duration > std::chrono::seconds(60)) {
    return Fail(
        ValidationError("process.invalid_trace", "duration must be 1..60000 ms", "duration_ms"));
  }
  if (options.max_syscalls < 1 || options.max_syscalls > 100000) {
    return Fail(
        ValidationError("process.invalid_trace", "max_syscalls must be 1..100000", "max_syscalls"));
  }
  return {};
}

// Runs the tracer on a fresh thread (ptrace binds tracees to the attaching thread, and
// __WNOTHREAD then limits waitpid to them) while this thread wakes it at the deadline.
Result<TraceResult> RunTracer(pid_t pid, const TraceOptions& options) {
  if (pid == ::getpid() || pid <= 0) {
    return Fail(ValidationError("process.invalid_trace", "cannot trace the daemon itself", "pid"));
  }
  InstallWakeHandler();
  std::atomic<pid_t> tracer_tid{0};
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  std::optional<Result<TraceResult>> result;
  std::thread tracer([&] {
    Tracer t(pid, options);
    auto r = t.Run(tracer_tid);
    std::lock_guard lock(mu);
    result.emplace(std::move(r));
    finished = true;
    cv.notify_all();
  });
  const auto deadline = std::chrono::steady_clock::now() + options.duration;
  {
    std::unique_lock lock(mu);
    cv.wait_until(lock, deadline, [&] { return finished; });
    // Past the deadline: poke the tracer out of waitpid until it finishes. Repeated, because a
    // signal that lands just before the tracer blocks again would otherwise be lost.
    while (!finished) {
      if (pid_t tid = tracer_tid.load(); tid > 0) {
        ::syscall(SYS_tgkill, ::getpid(), tid, WakeSignal());
      }
      cv.wait_for(lock, std::chrono::milliseconds(10), [&] { return finished; });
    }
  }
  tracer.join();
  return std::move(*result);
}

}  // namespace

std::string SyscallName(uint32_t audit_arch, int nr) {
  static std::mutex mu;
  static std::unordered_map<uint64_t, std::string> cache;
  const uint64_t key = (uint64_t{audit_arch} << 32) | static_cast<uint32_t>(nr);
  std::lock_guard lock(mu);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  // libseccomp's architecture tokens are the AUDIT_ARCH_* values the kernel reports.
  char* name = ::seccomp_syscall_resolve_num_arch(audit_arch, nr);
  std::string out = name != nullptr ? std::string(name) : "syscall_" + std::to_string(nr);
  std::free(name);
  cache.emplace(key, out);
  return out;
}

Json SyscallRecord::ToJson() const {
  Json j = {{"time_ns", time_ns},
            {"tid", tid},
            {"nr", nr},
            {"syscall", name},
            {"args", Json(std::vector<uint64_t>(args.begin(), args.end()))}};
  if (ret) {
    j["ret"] = *ret;
    j["error"] =
        *ret < 0 && *ret >= -4095 ? Json(ErrnoName(static_cast<int>(-*ret))) : Json(nullptr);
    j["duration_us"] = duration_ns / 1000;
  } else {
    j["ret"] = nullptr;
    j["error"] = nullptr;
    j["duration_us"] = nullptr;
  }
  return j;
}

Json TraceResult::ToJson() const {
  Json recs = Json::array();
  for (const auto& r : records) recs.push_back(r.ToJson());
  Json j = {{"records", std::move(recs)},
            {"stopped_because", stopped_because},
            {"threads_traced", threads_traced},
            {"detached", detached}};
  j["exit"] = exit ? exit->ToJson() : Json(nullptr);
  return j;
}

Result<TraceResult> TracePid(pid_t pid, const TraceOptions& options) {
  ARSENAL_TRY(ValidateOptions(options));
  // Pin the pid: if the process exits and the pid is reused during the attach, the fdinfo check
  // after attaching notices.
  UniqueFd pidfd(sys::PidfdOpen(pid, 0));
  if (!pidfd) {
    return Fail(NotFoundError("process.not_found", "no process with pid " + std::to_string(pid))
                    .WithDetail("field", "pid"));
  }
  return RunTracer(pid, options);
}

Result<TraceResult> TraceProcess(ProcessTable& table, std::string_view id,
                                 const TraceOptions& options) {
  ARSENAL_TRY(ValidateOptions(options));
  ProcessTable::Impl& d = table.impl();
  std::shared_ptr<process_internal::Entry> entry;
  pid_t pid;
  {
    std::unique_lock lock(d.mu);
    entry = d.Find(id);
    if (!entry) return Fail(d.NotFound(id));
    if (entry->exit) {
      return Fail(ConflictError("process.not_running", "process " + entry->id + " has exited")
                      .WithDetail("id", entry->id));
    }
    if (entry->state == ProcessState::kSuspended) {
      return Fail(ConflictError("process.not_running", "process " + entry->id + " is suspended")
                      .WithDetail("id", entry->id)
                      .WithHint("resume_process first"));
    }
    if (entry->tracing) {
      return Fail(
          ConflictError("process.trace_busy", "process " + entry->id + " is already being traced"));
    }
    entry->tracing = true;
    pid = entry->pid;
  }
  auto result = RunTracer(pid, options);
  std::optional<ExitStatus> reaped = result ? result->exit : std::nullopt;
  {
    std::unique_lock lock(d.mu);
    entry->tracing = false;
    if (reaped) entry->reaped_by_tracer = reaped;
  }
  // The tracer may have reaped the process; hand the status to the table's exit path (which
  // ignores it if the loop already completed the exit).
  boost::asio::post(d.io, [&d, alive = d.alive, entry] {
    if (!*alive || entry->exit || !entry->reaped_by_tracer) return;
    d.CompleteExit(entry, *entry->reaped_by_tracer);
  });
  return result;
}

}  // namespace arsenal
