#include "arsenal/engine/process_table.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cstring>
#include <future>

#include "arsenal/base/cleanup.h"
#include "arsenal/base/log.h"
#include "arsenal/base/syscalls.h"
#include "arsenal/engine/engine.h"
#include "arsenal/engine/process_inspect.h"
#include "process/plain_spawn.h"
#include "process/table_impl.h"

extern char** environ;

namespace arsenal {

using process_internal::Capture;
using process_internal::Entry;
using process_internal::NowSteadyNs;
using process_internal::NowUnixMs;
using process_internal::NowUnixNs;
using process_internal::PendingKill;

namespace {

namespace asio = boost::asio;

constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// After SIGKILL a process normally dies within milliseconds; one stuck in uninterruptible sleep
// (D state, e.g. a dead NFS server) can take arbitrarily long. Report instead of hanging.
constexpr std::chrono::seconds kKillTimeout{10};

// ---- SIGCHLD → eventfd, shared by every ProcessTable in the process -------------------------
//
// The handler only writes to eventfds (async-signal-safe). SA_RESTART keeps the handler from
// turning other threads' blocking calls into EINTR failures; SA_NOCLDSTOP because stops are not
// exits.
constexpr int kMaxTables = 32;
std::atomic<int> g_event_fds[kMaxTables];  // fd + 1; 0 = free slot
std::mutex g_sig_mu;
int g_installed = 0;
struct sigaction g_previous_action;
bool g_we_set_subreaper = false;

void OnSigchld(int sig, siginfo_t* info, void* context) {
  const int saved_errno = errno;
  for (auto& slot : g_event_fds) {
    const int fd = slot.load(std::memory_order_relaxed) - 1;
    if (fd >= 0) {
      const uint64_t one = 1;
      [[maybe_unused]] ssize_t n = ::write(fd, &one, sizeof(one));
    }
  }
  // Chain a handler installed before ours (not SIG_IGN/SIG_DFL).
  if (g_previous_action.sa_flags & SA_SIGINFO) {
    if (g_previous_action.sa_sigaction != nullptr)
      g_previous_action.sa_sigaction(sig, info, context);
  } else if (g_previous_action.sa_handler != SIG_IGN && g_previous_action.sa_handler != SIG_DFL &&
             g_previous_action.sa_handler != nullptr) {
    g_previous_action.sa_handler(sig);
  }
  errno = saved_errno;
}

Status InstallSigchld(int event_fd, bool subreaper) {
  std::lock_guard lock(g_sig_mu);
  int slot = -1;
  for (int i = 0; i < kMaxTables; ++i) {
    if (g_event_fds[i].load() == 0) {
      slot = i;
      break;
    }
  }
  if (slot < 0) {
    return Fail(Error(ErrorCategory::kResourceExhausted, "process.too_many_tables",
                      "too many process tables in one process"));
  }
  if (g_installed == 0) {
    struct sigaction sa {};
    sa.sa_sigaction = OnSigchld;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NOCLDSTOP;
    sigfillset(&sa.sa_mask);
    if (::sigaction(SIGCHLD, &sa, &g_previous_action) != 0) {
      return Fail(ErrnoError("process.sigchld", "sigaction", "SIGCHLD", errno));
    }
    if (subreaper) {
      int already = 0;
      ::prctl(PR_GET_CHILD_SUBREAPER, &already, 0, 0, 0);
      if (!already && ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0) g_we_set_subreaper = true;
    }
  }
  ++g_installed;
  g_event_fds[slot].store(event_fd + 1);
  return {};
}

void UninstallSigchld(int event_fd) {
  std::lock_guard lock(g_sig_mu);
  for (auto& slot : g_event_fds) {
    int expected = event_fd + 1;
    if (slot.compare_exchange_strong(expected, 0)) {
      if (--g_installed == 0) {
        ::sigaction(SIGCHLD, &g_previous_action, nullptr);
        if (g_we_set_subreaper) {
          ::prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
          g_we_set_subreaper = false;
        }
      }
      return;
    }
  }
}

// ---- launching ------------------------------------------------------------------------------

struct Launched {
  pid_t pid = 0;
  UniqueFd pidfd;
  UniqueFd stdin_pipe;
  UniqueFd stdout_pipe;
  UniqueFd stderr_pipe;
  std::string sandbox_id;
  std::shared_ptr<ProcessControl> control;
  UniqueFd workload_status;
};

std::string Basename(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool IsExecutableFile(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::vector<std::string> BuildEnv(const ProcessSpec& spec) {
  std::map<std::string, std::string> merged;
  if (spec.inherit_env) {
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
      std::string_view kv(*e);
      const size_t eq = kv.find('=');
      if (eq != std::string_view::npos) merged[std::string(kv.substr(0, eq))] = kv.substr(eq + 1);
    }
  }
  for (const auto& [k, v] : spec.env) merged[k] = v;
  if (!merged.contains("PATH")) merged["PATH"] = kDefaultPath;
  std::vector<std::string> out;
  out.reserve(merged.size());
  for (const auto& [k, v] : merged) out.push_back(k + "=" + v);
  return out;
}

// Resolves argv[0] the way execvp would, but with the *child's* PATH (posix_spawnp would use the
// daemon's), so a missing program is a clear error before anything is created.
Result<std::string> ResolveExecutable(const ProcessSpec& spec,
                                      const std::vector<std::string>& env) {
  const std::string& program = spec.argv[0];
  if (program.find('/') != std::string::npos) {
    const std::string path = program[0] == '/' ? program : spec.cwd + "/" + program;
    if (IsExecutableFile(path)) return program;
    return Fail(ValidationError("process.executable_not_found",
                                "'" + program + "' is not an executable file", "argv[0]")
                    .WithHint("check the path and its execute permission"));
  }
  std::string path_value = kDefaultPath;
  for (const auto& kv : env) {
    if (kv.starts_with("PATH=")) path_value = kv.substr(5);
  }
  size_t start = 0;
  while (start <= path_value.size()) {
    size_t colon = path_value.find(':', start);
    if (colon == std::string::npos) colon = path_value.size();
    std::string dir = path_value.substr(start, colon - start);
    start = colon + 1;
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + program;
    if (dir[0] != '/') candidate = spec.cwd + "/" + candidate;
    if (IsExecutableFile(candidate)) return candidate;
  }
  return Fail(ValidationError("process.executable_not_found",
                              "no executable '" + program + "' in PATH " + path_value, "argv[0]")
                  .WithHint("give an absolute path or set env.PATH"));
}

Result<std::pair<UniqueFd, UniqueFd>> MakePipe(const char* what) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return Fail(ErrnoError("process.pipe", "pipe2", what, errno));
  return std::make_pair(UniqueFd(fds[0]), UniqueFd(fds[1]));
}

Result<UniqueFd> OpenDevNull(int flags) {
  UniqueFd fd(::open("/dev/null", flags | O_CLOEXEC));
  if (!fd) return Fail(ErrnoError("process.devnull", "open", "/dev/null", errno));
  return fd;
}

Status SetNonBlocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    return Fail(ErrnoError("process.fcntl", "fcntl", "O_NONBLOCK", errno));
  }
  return {};
}

// The child's end of one output stream (and the parent's read end for kCapture).
Result<UniqueFd> OutputEnd(const OutputSpec& spec, int inherit_fd, UniqueFd* parent_end,
                           const char* what) {
  switch (spec.mode) {
    case OutputMode::kNull:
      return OpenDevNull(O_WRONLY);
    case OutputMode::kInherit: {
      UniqueFd fd(::fcntl(inherit_fd, F_DUPFD_CLOEXEC, 3));
      if (!fd) return Fail(ErrnoError("process.inherit", "fcntl(F_DUPFD)", what, errno));
      return fd;
    }
    case OutputMode::kCapture: {
      ARSENAL_ASSIGN_OR_RETURN(auto pipe, MakePipe(what));
      ARSENAL_TRY(SetNonBlocking(pipe.first.get()));
      *parent_end = std::move(pipe.first);
      return std::move(pipe.second);
    }
  }
  return Fail(InternalError("process.output_mode", "bad output mode"));
}

Result<Launched> SpawnPlain(const ProcessSpec& spec, UniqueFd child_in, UniqueFd child_out,
                            UniqueFd child_err, bool fd_handoff) {
  std::vector<std::string> env = BuildEnv(spec);
  ARSENAL_ASSIGN_OR_RETURN(std::string exe, ResolveExecutable(spec, env));
  struct stat st {};
  if (::stat(spec.cwd.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Fail(
        ValidationError("process.invalid_cwd", "cwd '" + spec.cwd + "' is not a directory", "cwd"));
  }

  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  // Every descriptor the daemon holds (including the ones it inherited itself) stays out of the
  // child; the signal mask and dispositions start clean (the daemon ignores SIGPIPE and handles
  // SIGCHLD). See process/plain_spawn.h for why this is not posix_spawn.
  process_internal::PlainSpawnRequest request;
  request.path = exe.c_str();
  request.argv = argv.data();
  request.envp = envp.data();
  request.cwd = spec.cwd.c_str();
  request.new_session = spec.new_session;
  request.stdio[0] = child_in.get();
  request.stdio[1] = child_out.get();
  request.stdio[2] = child_err.get();
  request.what = spec.argv[0].c_str();
  request.fd_handoff = fd_handoff;
  ARSENAL_ASSIGN_OR_RETURN(process_internal::SpawnedChild child,
                           process_internal::SpawnPlainChild(request));
  Launched out;
  out.pid = child.pid;
  out.pidfd = std::move(child.pidfd);
  return out;
}

Result<Launched> LaunchProcess(const ProcessSpec& spec, SandboxLauncher* sandbox, bool fd_handoff) {
  Launched out;
  UniqueFd child_in;
  if (spec.stdin_mode == StdinMode::kPipe) {
    ARSENAL_ASSIGN_OR_RETURN(auto pipe, MakePipe("stdin"));
    ARSENAL_TRY(SetNonBlocking(pipe.second.get()));
    child_in = std::move(pipe.first);
    out.stdin_pipe = std::move(pipe.second);
  } else {
    ARSENAL_ASSIGN_OR_RETURN(child_in, OpenDevNull(O_RDONLY));
  }
  ARSENAL_ASSIGN_OR_RETURN(UniqueFd child_out,
                           OutputEnd(spec.stdout_spec, STDOUT_FILENO, &out.stdout_pipe, "stdout"));
  ARSENAL_ASSIGN_OR_RETURN(UniqueFd child_err,
                           OutputEnd(spec.stderr_spec, STDERR_FILENO, &out.stderr_pipe, "stderr"));
  if (spec.sandbox) {
    ChildStdio stdio{child_in.get(), child_out.get(), child_err.get()};
    ARSENAL_ASSIGN_OR_RETURN(LaunchedChild child, sandbox->Launch(spec, stdio));
    if (!child.pidfd || child.pid <= 0) {
      return Fail(InternalError("process.launcher_contract",
                                "the sandbox launcher returned no pid or pidfd"));
    }
    out.pid = child.pid;
    out.pidfd = std::move(child.pidfd);
    out.sandbox_id = std::move(child.sandbox_id);
    out.control = std::move(child.control);
    out.workload_status = std::move(child.workload_status);
    return out;
  }
  ARSENAL_ASSIGN_OR_RETURN(Launched plain,
                           SpawnPlain(spec, std::move(child_in), std::move(child_out),
                                      std::move(child_err), fd_handoff));
  out.pid = plain.pid;
  out.pidfd = std::move(plain.pidfd);
  return out;
}

Status OpenLogFile(Capture& cap, const OutputSpec& spec) {
  if (spec.log_file.empty() || cap.log_fd) return {};
  cap.log_fd.Reset(::open(spec.log_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
  if (!cap.log_fd) {
    return Fail(ErrnoError("process.log_file", "open", spec.log_file, errno)
                    .WithDetail("field", "log_file"));
  }
  return {};
}

// The daemon's own memory cgroup's memory.oom_control (plain children live in that cgroup), kept
// open so that reading the OOM kill counter on a SIGKILL exit is one pread.
UniqueFd OpenOomControl() {
  std::string path;
  if (FILE* f = std::fopen("/proc/self/cgroup", "re")) {
    char line[512];
    while (std::fgets(line, sizeof(line), f)) {
      std::string_view l(line);
      const size_t a = l.find(':');
      const size_t b = l.find(':', a + 1);
      if (a == std::string_view::npos || b == std::string_view::npos) continue;
      std::string_view ctrls = l.substr(a + 1, b - a - 1);
      if (ctrls == "memory" || ctrls.starts_with("memory,") ||
          ctrls.find(",memory") != std::string_view::npos) {
        std::string_view p = l.substr(b + 1);
        while (!p.empty() && (p.back() == '\n')) p.remove_suffix(1);
        path = "/sys/fs/cgroup/memory" + std::string(p) + "/memory.oom_control";
      }
    }
    std::fclose(f);
  }
  if (path.empty()) return UniqueFd();
  return UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
}

// The memcg OOM kill counter from memory.oom_control (OpenOomControl).
std::optional<uint64_t> ReadOomKills(int fd) {
  if (fd < 0) return std::nullopt;
  char buf[256];
  const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return std::nullopt;
  buf[n] = '\0';
  const char* at = std::strstr(buf, "oom_kill ");
  if (at == nullptr) return std::nullopt;
  return std::strtoull(at + 9, nullptr, 10);
}

// A raw wait status (waitpid's), as reported by a sandbox's PID 1 for its workload.
ExitStatus FromWaitStatus(int raw, int64_t time_unix_ms) {
  ExitStatus st;
  st.time_unix_ms = time_unix_ms;
  if (WIFSIGNALED(raw)) {
    st.signal = WTERMSIG(raw);
    st.core_dumped = WCOREDUMP(raw);
  } else {
    st.code = WEXITSTATUS(raw);
  }
  return st;
}

// The workload's own end, when the reaped process stood in for it and reported it. The stand-in
// wrote before it exited, so a report is there to read by now; non-blocking, because a child
// being spawned elsewhere may hold a copy of the write end for a moment.
std::optional<ExitStatus> WorkloadExit(UniqueFd& pipe, int64_t time_unix_ms) {
  if (!pipe) return std::nullopt;
  const int flags = ::fcntl(pipe.get(), F_GETFL);
  if (flags >= 0) ::fcntl(pipe.get(), F_SETFL, flags | O_NONBLOCK);
  int raw = 0;
  ssize_t got;
  do {
    got = ::read(pipe.get(), &raw, sizeof(raw));
  } while (got < 0 && errno == EINTR);
  pipe.Reset();
  if (got != static_cast<ssize_t>(sizeof(raw))) return std::nullopt;
  return FromWaitStatus(raw, time_unix_ms);
}

ExitStatus FromSiginfo(const siginfo_t& info) {
  ExitStatus st;
  st.time_unix_ms = NowUnixMs();
  if (info.si_code == CLD_EXITED) {
    st.code = info.si_status;
  } else {
    st.signal = info.si_status;
    st.core_dumped = info.si_code == CLD_DUMPED;
  }
  return st;
}

ProcessSnapshot SnapshotOf(const Entry& e) {
  ProcessSnapshot s;
  s.id = e.id;
  s.pid = e.pid;
  s.name = e.spec.name.empty() ? Basename(e.spec.argv.empty() ? "" : e.spec.argv[0]) : e.spec.name;
  s.state = e.state;
  s.sandbox_id = e.sandbox_id;
  s.supervisor = e.spec.supervisor;
  s.labels = e.spec.labels;
  s.started_unix_ms = e.started_unix_ms;
  s.started_steady_ns = e.started_steady_ns;
  s.exit = e.exit;
  s.restarts = e.restarts;
  s.seq = e.seq;
  s.spec = e.spec;
  return s;
}

bool ValidSignal(int sig) { return sig >= 1 && sig <= SIGRTMAX; }

Error InvalidSignal(int sig) {
  return ValidationError("process.invalid_signal",
                         "signal " + std::to_string(sig) + " is not a valid signal number",
                         "signal")
      .WithHint("use a number in 1.." + std::to_string(SIGRTMAX) + " or a name like SIGTERM");
}

Error NotRunning(const Entry& e) {
  return ConflictError("process.not_running",
                       "process " + e.id + " is not running (" +
                           (e.exit ? e.exit->Describe() : std::string("exited")) + ")")
      .WithDetail("id", e.id)
      .WithHint("restart_process starts it again");
}

Error WouldBlock(const char* what) {
  return InternalError("process.would_block",
                       std::string(what) + " blocks and cannot run on the engine event loop")
      .WithHint("use the asynchronous form (KillAsync, Subscribe) from loop callbacks");
}

// Writes to a pipe without letting SIGPIPE kill or interrupt the daemon: the signal is blocked
// for this thread during the write and a resulting pending SIGPIPE is consumed.
ssize_t WriteNoSigpipe(int fd, const char* data, size_t n) {
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  ssize_t rc;
  do {
    rc = ::write(fd, data, n);
  } while (rc < 0 && errno == EINTR);
  const int err = errno;
  if (rc < 0 && err == EPIPE) {
    const timespec zero{0, 0};
    sigtimedwait(&pipe_set, nullptr, &zero);
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = err;
  return rc;
}

}  // namespace

// ---- Impl ---------------------------------------------------------------------------------------

ProcessTable::Impl::Impl(ProcessTable& owner_in, Engine& engine_in)
    : owner(owner_in), engine(engine_in), io(engine_in.io()), log(log::Get("process")) {}

std::shared_ptr<Entry> ProcessTable::Impl::Find(std::string_view id) const {
  if (!id.starts_with("p-")) return nullptr;
  uint64_t seq = 0;
  for (char c : id.substr(2)) {
    if (c < '0' || c > '9' || seq > (UINT64_MAX - 9) / 10) return nullptr;
    seq = seq * 10 + static_cast<uint64_t>(c - '0');
  }
  auto it = entries.find(seq);
  return it == entries.end() ? nullptr : it->second;
}

Error ProcessTable::Impl::NotFound(std::string_view id) const {
  return NotFoundError("process.not_found", "no managed process with id '" + std::string(id) + "'")
      .WithDetail("field", "id")
      .WithDetail("id", std::string(id))
      .WithHint("list_processes shows the managed processes; exited ones are kept for a while");
}

bool ProcessTable::Impl::OnLoopThread() const {
  return loop_thread.load() == std::this_thread::get_id();
}

void ProcessTable::Impl::Emit(ProcessEventKind kind, const Entry& entry, Json data,
                              std::optional<ExitStatus> exit) {
  ProcessEvent event;
  event.kind = kind;
  event.id = entry.id;
  event.pid = entry.pid;
  event.state = entry.state;
  event.exit = std::move(exit);
  event.data = std::move(data);
  event.time_unix_ns = NowUnixNs();
  if (engine.options().emit_events) {
    Json measurements = {{"pid", entry.pid}};
    Json metadata = {
        {"id", entry.id},
        {"name", entry.spec.name.empty() && !entry.spec.argv.empty() ? Basename(entry.spec.argv[0])
                                                                     : entry.spec.name},
        {"state", std::string(ProcessStateName(entry.state))}};
    if (!entry.spec.supervisor.empty()) metadata["supervisor"] = entry.spec.supervisor;
    if (!entry.sandbox_id.empty()) metadata["sandbox"] = entry.sandbox_id;
    if (event.exit) {
      if (event.exit->signal != 0) {
        measurements["signal"] = event.exit->signal;
      } else {
        measurements["exit_code"] = event.exit->code;
      }
      metadata["exit"] = event.exit->Describe();
    }
    for (const auto& [k, v] : event.data.items()) {
      (v.is_number() ? measurements : metadata)[k] = v;
    }
    engine.events().Emit("arsenal.process." + std::string(ProcessEventName(kind)),
                         std::move(measurements), std::move(metadata));
  }
  {
    // Nobody subscribed: no need to wake the loop (the common case for one-shot processes).
    std::lock_guard lock(subs_mu);
    if (subs.empty()) return;
  }
  if (OnLoopThread()) {
    Deliver(event, entry.generation);
  } else {
    asio::post(io, [this, alive = alive, event = std::move(event), gen = entry.generation] {
      if (*alive) Deliver(event, gen);
    });
  }
}

void ProcessTable::Impl::Deliver(const ProcessEvent& event, uint64_t generation) {
  std::lock_guard delivery(delivery_mu);
  std::vector<SubscriptionId> ids;
  {
    std::lock_guard lock(subs_mu);
    const uint32_t bit = static_cast<uint32_t>(event.kind);
    for (const auto& [sid, sub] : subs) {
      if ((sub.mask & bit) && (sub.process_id.empty() || sub.process_id == event.id) &&
          !(event.kind == ProcessEventKind::kExit && sub.replayed_exit_generation == generation)) {
        ids.push_back(sid);
      }
    }
  }
  for (SubscriptionId sid : ids) {
    ProcessEventCallback cb;
    {
      std::lock_guard lock(subs_mu);
      auto it = subs.find(sid);
      if (it == subs.end()) continue;  // unsubscribed by an earlier callback
      cb = it->second.callback;
    }
    try {
      cb(event);
    } catch (const std::exception& e) {
      log->warn("process event callback threw: {}", e.what());
    } catch (...) {
      log->warn("process event callback threw");
    }
  }
}

void ProcessTable::Impl::Watch(std::shared_ptr<Entry> entry) {
  const uint64_t gen = entry->generation;
  if (entry->out.pipe) {
    entry->out.watch = std::make_unique<asio::posix::stream_descriptor>(io, entry->out.pipe.get());
    ArmCapture(entry, true);
  }
  if (entry->err.pipe) {
    entry->err.watch = std::make_unique<asio::posix::stream_descriptor>(io, entry->err.pipe.get());
    ArmCapture(entry, false);
  }
  if (entry->stdin_pipe) PumpStdin(entry);
  if (entry->sample_interval.count() > 0) ArmSampling(entry, gen);
  // Last: the exit path (CompleteExit) tears down what is armed above, so everything must be in
  // place before it can run (Start calls this from the caller's thread).
  entry->pid_watch = std::make_unique<asio::posix::stream_descriptor>(io, entry->pidfd.get());
  ArmPidfd(entry, gen);
}

void ProcessTable::Impl::ArmPidfd(std::shared_ptr<Entry> entry, uint64_t generation) {
  if (!entry->pid_watch) return;
  entry->pid_watch->async_wait(
      asio::posix::stream_descriptor::wait_read,
      [this, alive = alive, entry, generation](const boost::system::error_code& ec) {
        if (ec || !*alive || entry->generation != generation) return;
        OnPidfdReadable(entry, generation);
      });
}

void ProcessTable::Impl::OnPidfdReadable(const std::shared_ptr<Entry>& entry, uint64_t generation) {
  siginfo_t info{};
  const int rc = sys::WaitPidfd(entry->pidfd.get(), &info, WEXITED | WNOHANG);
  // Readable but not yet reapable: wait again. (The pidfd is non-blocking under Asio, so the
  // kernel says EAGAIN rather than reporting si_pid 0.)
  if ((rc == 0 && info.si_pid == 0) || (rc < 0 && errno == EAGAIN)) {
    ArmPidfd(entry, generation);
    return;
  }
  ExitStatus status;
  if (rc == 0) {
    status = FromSiginfo(info);
  } else {
    const int err = errno;
    std::unique_lock lock(mu);
    if (entry->reaped_by_tracer) {
      status = *entry->reaped_by_tracer;
    } else if (err == ECHILD && entry->tracing) {
      return;  // the tracer reaped it and will report the status (process_trace.cc)
    } else {
      log->warn("waitid on {} (pid {}) failed: {}", entry->id, entry->pid, std::strerror(err));
      status.time_unix_ms = NowUnixMs();
    }
  }
  CompleteExit(entry, status);
}

void ProcessTable::Impl::CompleteExit(const std::shared_ptr<Entry>& entry, ExitStatus status) {
  if (entry->exit) return;  // already completed (tracer and loop both reported)
  if (auto workload = WorkloadExit(entry->workload_status, status.time_unix_ms)) status = *workload;
  DrainCapture(*entry, entry->out);
  DrainCapture(*entry, entry->err);
  if (entry->pid_watch) {
    entry->pid_watch->release();
    entry->pid_watch.reset();
  }
  if (entry->sample_timer) entry->sample_timer.reset();
  if (entry->stdin_watch) {
    entry->stdin_watch->release();
    entry->stdin_watch.reset();
  }
  bool oom = false;
  std::vector<std::shared_ptr<Entry>> evicted;
  {
    std::unique_lock lock(mu);
    entry->state = ProcessState::kExited;
    entry->exit = status;
    entry->pidfd.Reset();
    entry->stdin_pipe.Reset();
    entry->stdin_pending.clear();
    live_pids.erase(entry->pid);
    ++exited_count;
    exited_order.push_back(entry->seq);
    // Evicted in the same critical section, so the table never shows more than the retention.
    evicted = EvictExitedLocked();
    if (entry->control) {
      oom = entry->control->ConsumeOom();
    } else if (status.signal == SIGKILL) {
      // An OOM kill shows as SIGKILL; the memcg counter tells it apart from a kill by someone.
      if (auto kills = ReadOomKills(oom_control.get()); kills && *kills > oom_kills_seen) {
        oom_kills_seen = *kills;
        oom = true;
      }
    }
  }
  exited_cv.notify_all();
  log->debug("{} (pid {}) {}", entry->id, entry->pid, status.Describe());
  FinishKills(*entry);
  // The OOM kill caused the exit, and a monitor stops at the exit: the oom event goes first.
  if (oom) Emit(ProcessEventKind::kOom, *entry, Json::object(), status);
  Emit(ProcessEventKind::kExit, *entry, Json::object(), status);
  for (auto& e : evicted) DetachLoopObjects(*e);
}

void ProcessTable::Impl::ArmCapture(std::shared_ptr<Entry> entry, bool is_stdout) {
  Capture& cap = is_stdout ? entry->out : entry->err;
  if (!cap.watch) return;
  cap.watch->async_wait(
      asio::posix::stream_descriptor::wait_read,
      [this, alive = alive, entry, is_stdout](const boost::system::error_code& ec) {
        if (ec || !*alive) return;
        Capture& c = is_stdout ? entry->out : entry->err;
        DrainCapture(*entry, c);
        if (c.eof) {
          if (c.watch) {
            c.watch->release();
            c.watch.reset();
          }
          std::unique_lock lock(mu);
          c.pipe.Reset();
        } else {
          ArmCapture(entry, is_stdout);
        }
      });
}

void ProcessTable::Impl::DrainCapture(Entry& entry, Capture& cap) {
  if (!cap.pipe || cap.eof) return;
  // Bounded per wakeup so one chatty process cannot monopolize the loop.
  for (size_t total = 0; total < (1u << 20);) {
    const ssize_t n = ::read(cap.pipe.get(), read_buffer.data(), read_buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) {
        std::unique_lock lock(mu);
        cap.eof = true;
      }
      return;
    }
    if (n == 0) {
      std::unique_lock lock(mu);
      cap.eof = true;
      return;
    }
    total += static_cast<size_t>(n);
    {
      std::unique_lock lock(mu);
      cap.ring.Append(read_buffer.data(), static_cast<size_t>(n));
    }
    if (cap.log_fd) {
      size_t off = 0;
      while (off < static_cast<size_t>(n)) {
        const ssize_t w =
            ::write(cap.log_fd.get(), read_buffer.data() + off, static_cast<size_t>(n) - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
          if (cap.log_errors++ == 0) {
            log->warn("{}: cannot write its log file: {}", entry.id, std::strerror(errno));
          }
          break;
        }
        off += static_cast<size_t>(w);
      }
    }
  }
}

void ProcessTable::Impl::PumpStdin(std::shared_ptr<Entry> entry) {
  std::unique_lock lock(mu);
  if (!entry->stdin_pipe || entry->stdin_writing) return;
  while (!entry->stdin_pending.empty()) {
    const ssize_t n = WriteNoSigpipe(entry->stdin_pipe.get(), entry->stdin_pending.data(),
                                     entry->stdin_pending.size());
    if (n > 0) {
      entry->stdin_pending.erase(0, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EAGAIN) {
      if (!entry->stdin_watch) {
        entry->stdin_watch =
            std::make_unique<asio::posix::stream_descriptor>(io, entry->stdin_pipe.get());
      }
      entry->stdin_writing = true;
      entry->stdin_watch->async_wait(
          asio::posix::stream_descriptor::wait_write,
          [this, alive = alive, entry](const boost::system::error_code& ec) {
            if (ec || !*alive) return;
            {
              std::unique_lock relock(mu);
              entry->stdin_writing = false;
            }
            PumpStdin(entry);
          });
      return;
    }
    // EPIPE: the child closed its stdin. Drop what is queued.
    entry->stdin_pending.clear();
    entry->stdin_close_requested = true;
    break;
  }
  if (entry->stdin_close_requested) {
    if (entry->stdin_watch) {
      entry->stdin_watch->release();
      entry->stdin_watch.reset();
    }
    entry->stdin_pipe.Reset();
  }
}

void ProcessTable::Impl::ArmSampling(std::shared_ptr<Entry> entry, uint64_t generation) {
  if (entry->sample_interval.count() <= 0 || entry->exit) {
    entry->sample_timer.reset();
    return;
  }
  if (!entry->sample_timer) entry->sample_timer = std::make_unique<asio::steady_timer>(io);
  entry->sample_timer->expires_after(entry->sample_interval);
  entry->sample_timer->async_wait([this, alive = alive, entry,
                                   generation](const boost::system::error_code& ec) {
    if (ec || !*alive || entry->generation != generation || entry->exit) return;
    int pidfd;
    pid_t pid;
    {
      std::shared_lock lock(mu);
      pidfd = entry->pidfd.get();
      pid = entry->pid;
    }
    if (auto usage = ReadProcUsage(pid, pidfd)) {
      Json data = {
          {"rss_bytes", usage->rss_bytes}, {"cpu_ms", usage->cpu_ms}, {"threads", usage->threads}};
      if (entry->control) {
        if (auto mem = entry->control->CgroupMemory()) data["cgroup_memory_bytes"] = mem->first;
      }
      Emit(ProcessEventKind::kSample, *entry, std::move(data));
    }
    ArmSampling(entry, generation);
  });
}

namespace {

// Whether `e` leads its own process group: plain children started with new_session do; a
// sandbox's PID 1 does not. Asked of the kernel rather than inferred from the spec.
bool LeadsProcessGroup(const Entry& e) { return e.pid > 0 && ::getpgid(e.pid) == e.pid; }

}  // namespace

void ProcessTable::Impl::StartKill(const std::shared_ptr<Entry>& entry,
                                   std::unique_ptr<PendingKill> kill) {
  if (entry->exit) {
    KillOutcome outcome{"already_exited", *entry->exit, 0};
    RecordTermination(*entry, kill->options, outcome);
    kill->done(outcome);
    return;
  }
  const KillOptions& opts = kill->options;
  // A process-group kill needs a group leader. A sandboxed child's PID 1 is none in the daemon's
  // view (kill(-pid) would find no group, fail with ESRCH and signal nobody); it is signalled
  // through its pidfd instead, and forwards SIGTERM to the workload or, killed, takes the whole
  // sandbox down with it.
  const bool group = opts.process_group && LeadsProcessGroup(*entry);
  auto send = [&](int sig) -> int {
    // The leader is unreaped, so its pid (= the group id) cannot name another group.
    if (group) return ::kill(-entry->pid, sig);
    return sys::PidfdSendSignal(entry->pidfd.get(), sig, nullptr, 0);
  };
  if (send(opts.signal) != 0 && errno != ESRCH) {
    kill->done(Fail(ErrnoError("process.signal_failed", "pidfd_send_signal", entry->id, errno)));
    return;
  }
  bool was_suspended;
  {
    std::unique_lock lock(mu);
    was_suspended = entry->state == ProcessState::kSuspended;
    if (entry->state != ProcessState::kExited) entry->state = ProcessState::kStopping;
  }
  // A stopped or frozen process cannot act on the signal until it runs again.
  if (was_suspended && opts.signal != SIGKILL) {
    if (entry->control) {
      (void)entry->control->Thaw();
    } else {
      send(SIGCONT);
    }
  }
  Emit(ProcessEventKind::kStateChange, *entry,
       {{"from", was_suspended ? "suspended" : "running"}, {"to", "stopping"}});
  kill->started_steady_ns = NowSteadyNs();
  kill->timer = std::make_unique<asio::steady_timer>(io);
  if (opts.signal == SIGKILL) {
    kill->timer->expires_after(kKillTimeout);
  } else if (opts.grace.count() == 0) {
    send(SIGKILL);
    kill->sigkill_sent = true;
    kill->timer->expires_after(kKillTimeout);
  } else {
    kill->timer->expires_after(opts.grace);
  }
  PendingKill* raw = kill.get();
  entry->kills.push_back(std::move(kill));
  std::function<void(const boost::system::error_code&)> on_timer;
  on_timer = [this, alive = alive, entry, raw, group, send_sigkill = [entry] {
    return sys::PidfdSendSignal(entry->pidfd.get(), SIGKILL, nullptr, 0);
  }](const boost::system::error_code& ec) mutable {
    if (ec || !*alive || entry->exit) return;
    auto it = std::find_if(entry->kills.begin(), entry->kills.end(),
                           [raw](const auto& k) { return k.get() == raw; });
    if (it == entry->kills.end()) return;
    if (!raw->sigkill_sent && raw->options.signal != SIGKILL) {
      log->info("{} (pid {}) did not exit within {} ms of {}: sending SIGKILL", entry->id,
                entry->pid, raw->options.grace.count(), raw->options.signal);
      if (group) {
        ::kill(-entry->pid, SIGKILL);
      } else {
        send_sigkill();
      }
      raw->sigkill_sent = true;
      raw->timer->expires_after(kKillTimeout);
      raw->timer->async_wait(
          [this, alive = alive, entry, raw](const boost::system::error_code& e2) {
            if (e2 || !*alive || entry->exit) return;
            auto it2 = std::find_if(entry->kills.begin(), entry->kills.end(),
                                    [raw](const auto& k) { return k.get() == raw; });
            if (it2 == entry->kills.end()) return;
            auto owned = std::move(*it2);
            entry->kills.erase(it2);
            owned->done(Fail(Error(ErrorCategory::kTimeout, "process.kill_timeout",
                                   "process " + entry->id + " did not die after SIGKILL")
                                 .WithHint("it is probably in uninterruptible sleep (D state); "
                                           "get_process_info shows its state")));
          });
      return;
    }
    auto owned = std::move(*it);
    entry->kills.erase(it);
    owned->done(Fail(Error(ErrorCategory::kTimeout, "process.kill_timeout",
                           "process " + entry->id + " did not die after SIGKILL")
                         .WithHint("it is probably in uninterruptible sleep (D state); "
                                   "get_process_info shows its state")));
  };
  raw->timer->async_wait(std::move(on_timer));
}

void ProcessTable::Impl::FinishKills(Entry& entry) {
  auto kills = std::move(entry.kills);
  entry.kills.clear();
  for (auto& kill : kills) {
    if (kill->timer) kill->timer->cancel();
    KillOutcome outcome;
    outcome.how = kill->sigkill_sent && kill->options.signal != SIGKILL ? "killed_after_grace"
                                                                        : "exited_after_signal";
    outcome.exit = *entry.exit;
    outcome.waited_ms = (NowSteadyNs() - kill->started_steady_ns) / 1000000;
    RecordTermination(entry, kill->options, outcome);
    kill->done(outcome);
  }
}

void ProcessTable::Impl::RecordTermination(const Entry& entry, const KillOptions& options,
                                           const KillOutcome& outcome) {
  log->info("terminate {} (pid {}): requested_by={} reason={} signal={} grace_ms={} -> {} ({})",
            entry.id, entry.pid, options.requested_by.empty() ? "-" : options.requested_by,
            options.reason.empty() ? "-" : options.reason, options.signal, options.grace.count(),
            outcome.how, outcome.exit.Describe());
  Json record = {{"requested_by", options.requested_by},
                 {"reason", options.reason},
                 {"signal", options.signal},
                 {"grace_ms", options.grace.count()},
                 {"how", outcome.how},
                 {"exit", outcome.exit.Describe()},
                 {"waited_ms", outcome.waited_ms}};
  auto stored = engine.store().Run(
      "INSERT INTO process_terminations(time_unix_ms, process_id, pid, requested_by, reason, "
      "signal, grace_ms, how, exit) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
      {NowUnixMs(), entry.id, entry.pid, options.requested_by, options.reason, options.signal,
       static_cast<int64_t>(options.grace.count()), outcome.how, outcome.exit.Describe()});
  if (!stored)
    log->warn("cannot record termination of {}: {}", entry.id, stored.error().ToString());
  Emit(ProcessEventKind::kTermination, entry, std::move(record), outcome.exit);
}

std::vector<std::shared_ptr<Entry>> ProcessTable::Impl::EvictExitedLocked() {
  std::vector<std::shared_ptr<Entry>> evicted;
  while (exited_count > exited_retention && !exited_order.empty()) {
    const uint64_t seq = exited_order.front();
    exited_order.pop_front();
    auto it = entries.find(seq);
    if (it == entries.end() || it->second->state != ProcessState::kExited ||
        it->second->restarting) {
      continue;  // forgotten, or restarted since
    }
    evicted.push_back(it->second);
    entries.erase(it);
    --exited_count;
  }
  return evicted;
}

void ProcessTable::Impl::DetachLoopObjects(Entry& e) {
  for (Capture* cap : {&e.out, &e.err}) {
    if (cap->watch) {
      cap->watch->release();
      cap->watch.reset();
    }
  }
  if (e.pid_watch) {
    e.pid_watch->release();
    e.pid_watch.reset();
  }
  if (e.stdin_watch) {
    e.stdin_watch->release();
    e.stdin_watch.reset();
  }
  e.sample_timer.reset();
}

void ProcessTable::Impl::ArmSigchld() {
  if (!sigchld_watch) return;
  sigchld_watch->async_wait(
      asio::posix::stream_descriptor::wait_read,
      [this, alive = alive](const boost::system::error_code& ec) {
        if (ec || !*alive) return;
        uint64_t count;
        [[maybe_unused]] ssize_t n = ::read(sigchld_event.get(), &count, sizeof(count));
        // Most SIGCHLDs are managed children, already handled through
        // their pidfds; scanning for orphans once per burst keeps the
        // scan off every exit's path.
        if (!reap_timer) {
          reap_timer = std::make_unique<asio::steady_timer>(io);
          reap_timer->expires_after(std::chrono::milliseconds(20));
          reap_timer->async_wait([this, alive = alive](const boost::system::error_code& e) {
            if (e || !*alive) return;
            reap_timer.reset();
            ReapOrphans();
          });
        }
        ArmSigchld();
      });
}

void ProcessTable::Impl::ReapOrphans() {
  std::unique_lock lock(mu);
  if (spawning > 0) {
    // A child spawned right now is not in live_pids yet; reap once the launch has registered.
    reap_deferred = true;
    return;
  }
  reap_deferred = false;
  std::vector<pid_t> children;
  if (DIR* dir = ::opendir("/proc/self/task")) {
    while (dirent* ent = ::readdir(dir)) {
      if (ent->d_name[0] == '.') continue;
      std::string path = std::string("/proc/self/task/") + ent->d_name + "/children";
      UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd) continue;
      std::string text;
      char buf[4096];
      ssize_t n;
      while ((n = ::read(fd.get(), buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
      const char* p = text.c_str();
      while (*p != '\0') {
        char* end;
        const long pid = std::strtol(p, &end, 10);
        if (end == p) break;
        children.push_back(static_cast<pid_t>(pid));
        p = end;
      }
    }
    ::closedir(dir);
  }
  for (pid_t pid : children) {
    if (live_pids.contains(pid) || claims.contains(pid)) continue;
    // Only zombies from another process group: orphans of managed processes (which lead their
    // own group by default). Children that other parts of the daemon fork stay in the daemon's
    // group and are left for their owners to reap.
    auto st = ReadProcStat(pid);
    if (!st || st->state != 'Z' || st->pgrp == own_pgrp) continue;
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG) == 0 &&
        info.si_pid != 0) {
      ++orphans_reaped;
      log->debug("reaped orphan pid {} ({})", pid, FromSiginfo(info).Describe());
    }
  }
}

// ---- ProcessTable
// --------------------------------------------------------------------------------

ProcessTable::ProcessTable(Engine& engine)
    : engine_(engine), impl_(std::make_unique<Impl>(*this, engine)) {
  Impl& d = *impl_;
  const Json& all = engine.options().config;
  const Json config = all.is_object() && all.contains("process") && all["process"].is_object()
                          ? all["process"]
                          : Json::object();
  d.subreaper = config.value("subreaper", true);
  d.shutdown_grace_ms = config.value("shutdown_grace_ms", int64_t{0});
  d.exited_retention = config.value("exited_retention", size_t{1000});
  d.fd_handoff = config.value("spawn_fd_handoff", true);
  d.oom_control = OpenOomControl();
  d.oom_kills_seen = ReadOomKills(d.oom_control.get()).value_or(0);
  d.own_pgrp = ::getpgrp();

  auto migrated = engine.store().Migrate(
      "process", 1,
      "CREATE TABLE IF NOT EXISTS process_terminations("
      " time_unix_ms INTEGER NOT NULL, process_id TEXT NOT NULL, pid INTEGER NOT NULL,"
      " requested_by TEXT, reason TEXT, signal INTEGER, grace_ms INTEGER, how TEXT, exit TEXT);"
      "CREATE INDEX IF NOT EXISTS process_terminations_by_id ON"
      " process_terminations(process_id);");
  if (!migrated) d.log->error("process store migration failed: {}", migrated.error().ToString());

  asio::post(d.io, [&d, alive = d.alive] {
    if (*alive) d.loop_thread.store(std::this_thread::get_id());
  });
  if (d.subreaper) {
    d.sigchld_event.Reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!d.sigchld_event) {
      d.log->error("eventfd for SIGCHLD failed: {}; orphans will not be reaped",
                   std::strerror(errno));
    } else if (auto installed = InstallSigchld(d.sigchld_event.get(), true); !installed) {
      d.log->error("{}", installed.error().ToString());
      d.sigchld_event.Reset();
    } else {
      asio::post(d.io, [&d, alive = d.alive] {
        if (!*alive) return;
        d.sigchld_watch =
            std::make_unique<asio::posix::stream_descriptor>(d.io, d.sigchld_event.get());
        d.ArmSigchld();
        d.ReapOrphans();  // orphans that arrived before the watch
      });
    }
  }
}

ProcessTable::~ProcessTable() {
  Impl& d = *impl_;
  std::vector<std::shared_ptr<Entry>> running;
  {
    std::unique_lock lock(d.mu);
    d.shutting_down = true;
    for (auto& [seq, e] : d.entries) {
      if (!e->exit && e->pidfd) running.push_back(e);
    }
  }
  if (d.shutdown_grace_ms > 0 && !running.empty()) {
    for (auto& e : running) sys::PidfdSendSignal(e->pidfd.get(), SIGTERM, nullptr, 0);
    for (auto& e : running) {
      if (e->state == ProcessState::kSuspended)
        sys::PidfdSendSignal(e->pidfd.get(), SIGCONT, nullptr, 0);
    }
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(d.shutdown_grace_ms);
    std::unique_lock lock(d.mu);
    d.exited_cv.wait_until(lock, deadline, [&] {
      return std::all_of(running.begin(), running.end(),
                         [](auto& e) { return e->exit.has_value(); });
    });
  }
  // Stop the loop from touching anything of ours, then finish synchronously on this thread.
  auto teardown = [&d] {
    *d.alive = false;
    std::vector<std::shared_ptr<Entry>> all;
    {
      std::unique_lock lock(d.mu);
      for (auto& [seq, e] : d.entries) all.push_back(e);
    }
    for (auto& e : all) {
      d.DetachLoopObjects(*e);
      auto kills = std::move(e->kills);
      for (auto& k : kills) {
        k->timer.reset();
        k->done(Fail(Error(ErrorCategory::kUnavailable, "process.shutting_down",
                           "the process table is shutting down")));
      }
    }
    if (d.sigchld_watch) {
      d.sigchld_watch->release();
      d.sigchld_watch.reset();
    }
    d.reap_timer.reset();
  };
  if (d.OnLoopThread()) {
    teardown();
  } else {
    std::promise<void> done;
    auto future = done.get_future();
    asio::post(d.io, [&] {
      teardown();
      done.set_value();
    });
    if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      d.log->error("event loop did not run the process table teardown; finishing without it");
      teardown();  // the loop is not running, so nothing races with us
    }
  }
  for (auto& [seq, e] : d.entries) {
    if (e->exit || !e->pidfd) continue;
    sys::PidfdSendSignal(e->pidfd.get(), SIGKILL, nullptr, 0);
    siginfo_t info{};
    // Asio made the pidfd non-blocking, and waitid on a non-blocking pidfd returns EAGAIN
    // instead of waiting.
    ::fcntl(e->pidfd.get(), F_SETFL, ::fcntl(e->pidfd.get(), F_GETFL) & ~O_NONBLOCK);
    if (sys::WaitPidfd(e->pidfd.get(), &info, WEXITED) == 0) {
      d.log->debug("shutdown: killed {} (pid {})", e->id, e->pid);
    } else {
      d.log->warn("shutdown: cannot reap {} (pid {}): {}", e->id, e->pid, std::strerror(errno));
    }
    e->exit = FromSiginfo(info);
  }
  if (d.sigchld_event) {
    UninstallSigchld(d.sigchld_event.get());
    // Children that became orphans while we ran and are dead now.
    std::unique_lock lock(d.mu);
    d.live_pids.clear();
  }
}

Result<ProcessSnapshot> ProcessTable::Start(ProcessSpec spec, StartOptions options) {
  Impl& d = *impl_;
  if (spec.argv.empty() || spec.argv[0].empty()) {
    return Fail(ValidationError("process.invalid_spec", "argv must name a program", "argv"));
  }
  std::shared_ptr<SandboxLauncher> launcher;
  if (spec.sandbox) {
    launcher = sandbox_launcher();
    if (!launcher) {
      const std::string what =
          spec.sandbox->id.empty() ? "inline sandbox" : "sandbox '" + spec.sandbox->id + "'";
      return Fail(NotFoundError("sandbox.not_found",
                                what + " is not available: no sandbox service is running")
                      .WithDetail("field", "sandbox")
                      .WithHint("create the sandbox first (create_sandbox), or start the process "
                                "without a sandbox"));
    }
  }
  auto entry = std::make_shared<Entry>();
  entry->spec = std::move(spec);
  entry->requested_by = options.requested_by;
  entry->out.mode = entry->spec.stdout_spec.mode;
  entry->err.mode = entry->spec.stderr_spec.mode;
  entry->out.ring = process_internal::RingBuffer(
      entry->spec.stdout_spec.mode == OutputMode::kCapture ? entry->spec.stdout_spec.ring_bytes
                                                           : 0);
  entry->err.ring = process_internal::RingBuffer(
      entry->spec.stderr_spec.mode == OutputMode::kCapture ? entry->spec.stderr_spec.ring_bytes
                                                           : 0);
  ARSENAL_TRY(OpenLogFile(entry->out, entry->spec.stdout_spec));
  ARSENAL_TRY(OpenLogFile(entry->err, entry->spec.stderr_spec));
  {
    std::unique_lock lock(d.mu);
    if (d.shutting_down) {
      return Fail(Error(ErrorCategory::kUnavailable, "process.shutting_down",
                        "the process table is shutting down"));
    }
    entry->seq = d.next_seq++;
    entry->id = "p-" + std::to_string(entry->seq);
    ++d.spawning;
  }
  auto launched = LaunchProcess(entry->spec, launcher.get(), d.fd_handoff);
  bool post_reap = false;
  {
    std::unique_lock lock(d.mu);
    --d.spawning;
    post_reap = d.reap_deferred && d.spawning == 0;
    if (launched) {
      entry->pid = launched->pid;
      entry->pidfd = std::move(launched->pidfd);
      entry->stdin_pipe = std::move(launched->stdin_pipe);
      entry->out.pipe = std::move(launched->stdout_pipe);
      entry->err.pipe = std::move(launched->stderr_pipe);
      entry->out.eof = !entry->out.pipe;
      entry->err.eof = !entry->err.pipe;
      entry->sandbox_id = std::move(launched->sandbox_id);
      entry->control = std::move(launched->control);
      entry->workload_status = std::move(launched->workload_status);
      entry->started_unix_ms = NowUnixMs();
      entry->started_steady_ns = NowSteadyNs();
      entry->stdin_pending = entry->spec.stdin_data;
      entry->stdin_close_requested = entry->spec.close_stdin;
      d.entries.emplace(entry->seq, entry);
      d.live_pids.emplace(entry->pid, entry->seq);
    }
  }
  if (post_reap) {
    asio::post(d.io, [&d, alive = d.alive] {
      if (*alive) d.ReapOrphans();
    });
  }
  if (!launched) return Fail(std::move(launched).error());
  if (options.on_event) {
    std::lock_guard lock(d.subs_mu);
    d.subs.emplace(d.next_sub++, process_internal::Subscription{entry->id, options.event_mask,
                                                                std::move(options.on_event)});
  }
  ProcessSnapshot snapshot;
  {
    std::shared_lock lock(d.mu);
    snapshot = SnapshotOf(*entry);
  }
  d.log->debug("started {} (pid {}) {} for {}", entry->id, entry->pid, entry->spec.argv[0],
               options.requested_by.empty() ? "-" : options.requested_by);
  // "started" is queued for subscribers before the pidfd is armed, so they never see the exit
  // first. Arming from this thread (Asio's reactor registration is thread-safe, and nothing else
  // touches this entry's watches until they fire) saves a loop wake-up per start.
  d.Emit(ProcessEventKind::kStarted, *entry, Json::object());
  d.Watch(entry);
  return snapshot;
}

Result<ProcessSnapshot> ProcessTable::Adopt(AdoptRequest request, StartOptions options) {
  Impl& d = *impl_;
  if (request.child.pid <= 0 || !request.child.pidfd) {
    return Fail(ValidationError("process.invalid_adopt", "adopt needs a pid and its pidfd", "pid"));
  }
  if (!PidfdRefersTo(request.child.pidfd.get(), request.child.pid)) {
    return Fail(ValidationError("process.invalid_adopt",
                                "pidfd does not refer to pid " + std::to_string(request.child.pid),
                                "pidfd"));
  }
  for (UniqueFd* fd : {&request.stdout_pipe, &request.stderr_pipe, &request.stdin_pipe}) {
    if (*fd) ARSENAL_TRY(SetNonBlocking(fd->get()));
  }
  auto entry = std::make_shared<Entry>();
  entry->spec = std::move(request.spec);
  if (entry->spec.argv.empty()) entry->spec.argv = {"?"};
  entry->requested_by = request.requested_by;
  entry->pid = request.child.pid;
  entry->pidfd = std::move(request.child.pidfd);
  entry->sandbox_id = std::move(request.child.sandbox_id);
  entry->control = std::move(request.child.control);
  entry->workload_status = std::move(request.child.workload_status);
  entry->stdin_pipe = std::move(request.stdin_pipe);
  entry->out.pipe = std::move(request.stdout_pipe);
  entry->err.pipe = std::move(request.stderr_pipe);
  entry->out.eof = !entry->out.pipe;
  entry->err.eof = !entry->err.pipe;
  entry->out.mode = entry->out.pipe ? OutputMode::kCapture : OutputMode::kNull;
  entry->err.mode = entry->err.pipe ? OutputMode::kCapture : OutputMode::kNull;
  entry->out.ring =
      process_internal::RingBuffer(entry->out.pipe ? entry->spec.stdout_spec.ring_bytes : 0);
  entry->err.ring =
      process_internal::RingBuffer(entry->err.pipe ? entry->spec.stderr_spec.ring_bytes : 0);
  entry->started_unix_ms = NowUnixMs();
  entry->started_steady_ns = NowSteadyNs();
  {
    std::unique_lock lock(d.mu);
    if (d.shutting_down) {
      return Fail(Error(ErrorCategory::kUnavailable, "process.shutting_down",
                        "the process table is shutting down"));
    }
    entry->seq = d.next_seq++;
    entry->id = "p-" + std::to_string(entry->seq);
    d.entries.emplace(entry->seq, entry);
    d.live_pids.emplace(entry->pid, entry->seq);
  }
  if (options.on_event) {
    std::lock_guard lock(d.subs_mu);
    d.subs.emplace(d.next_sub++, process_internal::Subscription{entry->id, options.event_mask,
                                                                std::move(options.on_event)});
  }
  asio::post(d.io, [&d, alive = d.alive, entry] {
    if (*alive) d.Watch(entry);
  });
  ProcessSnapshot snapshot;
  {
    std::shared_lock lock(d.mu);
    snapshot = SnapshotOf(*entry);
  }
  d.Emit(ProcessEventKind::kStarted, *entry, {{"adopted", true}});
  return snapshot;
}

void ProcessTable::KillAsync(std::string_view id, KillOptions options,
                             std::function<void(Result<KillOutcome>)> done) {
  Impl& d = *impl_;
  auto fail_later = [&](Error error) {
    asio::post(d.io, [done = std::move(done), error = std::move(error)]() mutable {
      done(Fail(std::move(error)));
    });
  };
  if (!ValidSignal(options.signal)) return fail_later(InvalidSignal(options.signal));
  if (options.grace.count() < 0) {
    return fail_later(
        ValidationError("process.invalid_grace", "grace period must not be negative", "grace_ms"));
  }
  std::shared_ptr<Entry> entry;
  {
    std::shared_lock lock(d.mu);
    entry = d.Find(id);
  }
  if (!entry) return fail_later(d.NotFound(id));
  auto kill = std::make_unique<PendingKill>();
  kill->options = std::move(options);
  kill->done = std::move(done);
  asio::post(d.io, [&d, alive = d.alive, entry, kill = std::move(kill)]() mutable {
    if (!*alive) {
      kill->done(Fail(Error(ErrorCategory::kUnavailable, "process.shutting_down",
                            "the process table is shutting down")));
      return;
    }
    d.StartKill(entry, std::move(kill));
  });
}

Result<KillOutcome> ProcessTable::Kill(std::string_view id, KillOptions options) {
  Impl& d = *impl_;
  if (d.OnLoopThread()) return Fail(WouldBlock("Kill"));
  auto promise = std::make_shared<std::promise<Result<KillOutcome>>>();
  auto future = promise->get_future();
  const auto bound = options.grace + kKillTimeout + std::chrono::seconds(5);
  KillAsync(id, std::move(options),
            [promise](Result<KillOutcome> outcome) { promise->set_value(std::move(outcome)); });
  if (future.wait_for(bound) != std::future_status::ready) {
    return Fail(Error(ErrorCategory::kTimeout, "process.kill_timeout",
                      "no answer from the event loop while killing " + std::string(id)));
  }
  return future.get();
}

Status ProcessTable::Signal(std::string_view id, int signal) {
  Impl& d = *impl_;
  if (!ValidSignal(signal)) return Fail(InvalidSignal(signal));
  std::shared_lock lock(d.mu);
  auto entry = d.Find(id);
  if (!entry) return Fail(d.NotFound(id));
  if (entry->exit) return Fail(NotRunning(*entry));
  if (sys::PidfdSendSignal(entry->pidfd.get(), signal, nullptr, 0) != 0 && errno != ESRCH) {
    return Fail(ErrnoError("process.signal_failed", "pidfd_send_signal", entry->id, errno));
  }
  return {};
}

Result<ExitStatus> ProcessTable::Wait(std::string_view id, std::chrono::milliseconds timeout) {
  Impl& d = *impl_;
  if (d.OnLoopThread()) return Fail(WouldBlock("Wait"));
  std::shared_lock lock(d.mu);
  auto entry = d.Find(id);
  if (!entry) return Fail(d.NotFound(id));
  if (!d.exited_cv.wait_for(lock, timeout, [&] { return entry->exit.has_value(); })) {
    return Fail(Error(ErrorCategory::kTimeout, "process.wait_timeout",
                      "process " + entry->id + " still running after " +
                          std::to_string(timeout.count()) + " ms"));
  }
  return *entry->exit;
}

namespace {

// Waits (briefly) until the kernel shows the process stopped or running again, so that
// "suspended" in the table means the process really is stopped when the call returns.
void AwaitOsState(pid_t pid, int pidfd, bool stopped) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (std::chrono::steady_clock::now() < deadline) {
    auto st = ReadProcStat(pid);
    if (!st || !PidfdRefersTo(pidfd, pid) || st->state == 'Z') return;
    const bool is_stopped = st->state == 'T' || st->state == 't';
    if (is_stopped == stopped) return;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

}  // namespace

// Suspend and Resume: the same steps in opposite directions.
Result<bool> ProcessTable::Impl::SetPaused(std::string_view id, bool pause) {
  const ProcessState from = pause ? ProcessState::kRunning : ProcessState::kSuspended;
  const ProcessState to = pause ? ProcessState::kSuspended : ProcessState::kRunning;
  std::shared_ptr<Entry> entry;
  std::shared_ptr<ProcessControl> control;
  {
    std::unique_lock lock(mu);
    entry = Find(id);
    if (!entry) return Fail(NotFound(id));
    if (entry->exit) return Fail(NotRunning(*entry));
    if (entry->state == to) return false;
    if (entry->state == ProcessState::kStopping) {
      if (!pause) return false;
      return Fail(ConflictError("process.stopping", "process " + entry->id + " is being stopped"));
    }
    control = entry->control;
    if (!control) {
      const int sig = pause ? SIGSTOP : SIGCONT;
      if (sys::PidfdSendSignal(entry->pidfd.get(), sig, nullptr, 0) != 0) {
        return Fail(ErrnoError("process.signal_failed",
                               pause ? "pidfd_send_signal(SIGSTOP)" : "pidfd_send_signal(SIGCONT)",
                               entry->id, errno));
      }
    }
    entry->state = to;
  }
  if (control) {
    if (auto done = pause ? control->Freeze() : control->Thaw(); !done) {
      std::unique_lock lock(mu);
      if (entry->state == to) entry->state = from;
      return Fail(std::move(done).error());
    }
  } else if (!OnLoopThread()) {
    AwaitOsState(entry->pid, entry->pidfd.get(), pause);
  }
  Emit(ProcessEventKind::kStateChange, *entry,
       {{"from", std::string(ProcessStateName(from))}, {"to", std::string(ProcessStateName(to))}});
  return true;
}

Result<bool> ProcessTable::Suspend(std::string_view id) { return impl_->SetPaused(id, true); }

Result<bool> ProcessTable::Resume(std::string_view id) { return impl_->SetPaused(id, false); }

Result<ProcessSnapshot> ProcessTable::Restart(std::string_view id, RestartOptions options) {
  Impl& d = *impl_;
  if (d.OnLoopThread()) return Fail(WouldBlock("Restart"));
  std::shared_ptr<Entry> entry;
  {
    std::unique_lock lock(d.mu);
    entry = d.Find(id);
    if (!entry) return Fail(d.NotFound(id));
    if (entry->restarting) {
      return Fail(ConflictError("process.restarting",
                                "process " + entry->id + " is already being restarted"));
    }
    entry->restarting = true;
  }
  Cleanup not_restarting([&] {
    std::unique_lock lock(d.mu);
    entry->restarting = false;
  });
  if (options.preserve_state) return d.RestartWithCheckpoint(entry, options);
  if (!entry->exit) {
    if (options.kill.reason.empty()) options.kill.reason = "restart";
    ARSENAL_ASSIGN_OR_RETURN(KillOutcome outcome, Kill(id, options.kill));
    (void)outcome;
  }
  return d.Relaunch(entry, std::nullopt);
}

Result<ProcessSnapshot> ProcessTable::Impl::Relaunch(const std::shared_ptr<Entry>& entry,
                                                     std::optional<LaunchedChild> restored) {
  // Retire the previous instance's loop objects (a grandchild may still hold its pipes).
  std::promise<void> detached;
  asio::post(io, [&] {
    DetachLoopObjects(*entry);
    detached.set_value();
  });
  detached.get_future().wait();
  std::shared_ptr<SandboxLauncher> launcher;
  {
    std::unique_lock lock(mu);
    entry->out.pipe.Reset();
    entry->err.pipe.Reset();
    entry->stdin_pipe.Reset();
    ++spawning;
    launcher = sandbox_launcher;
  }
  Result<Launched> launched = [&]() -> Result<Launched> {
    if (restored) {
      Launched l;
      l.pid = restored->pid;
      l.pidfd = std::move(restored->pidfd);
      return l;
    }
    if (entry->spec.sandbox && !launcher) {
      return Fail(NotFoundError("sandbox.not_found", "no sandbox service is running")
                      .WithDetail("field", "sandbox"));
    }
    return LaunchProcess(entry->spec, launcher.get(), fd_handoff);
  }();
  bool post_reap;
  {
    std::unique_lock lock(mu);
    --spawning;
    post_reap = reap_deferred && spawning == 0;
    if (launched) {
      ++entry->generation;
      entry->pid = launched->pid;
      entry->pidfd = std::move(launched->pidfd);
      entry->stdin_pipe = std::move(launched->stdin_pipe);
      entry->out.pipe = std::move(launched->stdout_pipe);
      entry->err.pipe = std::move(launched->stderr_pipe);
      entry->out.eof = !entry->out.pipe;
      entry->err.eof = !entry->err.pipe;
      if (!launched->sandbox_id.empty()) entry->sandbox_id = std::move(launched->sandbox_id);
      if (launched->control) entry->control = std::move(launched->control);
      entry->workload_status = std::move(launched->workload_status);
      entry->state = ProcessState::kRunning;
      if (entry->exit) --exited_count;
      entry->exit.reset();
      entry->reaped_by_tracer.reset();
      entry->started_unix_ms = NowUnixMs();
      entry->started_steady_ns = NowSteadyNs();
      entry->stdin_pending = entry->spec.stdin_data;
      entry->stdin_close_requested = entry->spec.close_stdin;
      ++entry->restarts;
      live_pids.emplace(entry->pid, entry->seq);
    }
  }
  if (post_reap) {
    asio::post(io, [this, alive = alive] {
      if (*alive) ReapOrphans();
    });
  }
  if (!launched) return Fail(std::move(launched).error().AddContext("restart " + entry->id));
  asio::post(io, [this, alive = alive, entry] {
    if (*alive) Watch(entry);
  });
  ProcessSnapshot snapshot;
  {
    std::shared_lock lock(mu);
    snapshot = SnapshotOf(*entry);
  }
  log->info("restarted {} as pid {} (restart #{})", entry->id, entry->pid, entry->restarts);
  Emit(ProcessEventKind::kStateChange, *entry,
       {{"from", "exited"}, {"to", "running"}, {"restarts", entry->restarts}});
  Emit(ProcessEventKind::kStarted, *entry, {{"restarts", entry->restarts}});
  return snapshot;
}

Result<ProcessTable::SubscriptionId> ProcessTable::Subscribe(std::string_view id, uint32_t mask,
                                                             ProcessEventCallback cb) {
  Impl& d = *impl_;
  std::optional<ProcessEvent> replay;
  SubscriptionId sid;
  {
    // Under the table lock so an exit cannot slip between the check and the registration.
    std::shared_lock lock(d.mu);
    auto entry = d.Find(id);
    if (!entry) return Fail(d.NotFound(id));
    const bool replay_exit = entry->exit && (mask & static_cast<uint32_t>(ProcessEventKind::kExit));
    {
      std::lock_guard subs_lock(d.subs_mu);
      sid = d.next_sub++;
      process_internal::Subscription sub{entry->id, mask, cb};
      // The live exit event of this instance may still be on its way: it must not be
      // delivered a second time after the replay.
      if (replay_exit) sub.replayed_exit_generation = entry->generation;
      d.subs.emplace(sid, std::move(sub));
    }
    if (replay_exit) {
      replay =
          ProcessEvent{ProcessEventKind::kExit, entry->id,  entry->pid, entry->state, entry->exit,
                       {{"replayed", true}},    NowUnixNs()};
    }
  }
  if (replay) {
    asio::post(d.io, [&d, alive = d.alive, sid, event = std::move(*replay)] {
      if (!*alive) return;
      std::lock_guard delivery(d.delivery_mu);
      ProcessEventCallback callback;
      {
        std::lock_guard lock(d.subs_mu);
        auto it = d.subs.find(sid);
        if (it == d.subs.end()) return;
        callback = it->second.callback;
      }
      callback(event);
    });
  }
  return sid;
}

ProcessTable::SubscriptionId ProcessTable::SubscribeAll(uint32_t mask, ProcessEventCallback cb) {
  Impl& d = *impl_;
  std::lock_guard lock(d.subs_mu);
  const SubscriptionId sid = d.next_sub++;
  d.subs.emplace(sid, process_internal::Subscription{"", mask, std::move(cb)});
  return sid;
}

bool ProcessTable::Unsubscribe(SubscriptionId id) {
  Impl& d = *impl_;
  std::lock_guard delivery(d.delivery_mu);
  std::lock_guard lock(d.subs_mu);
  return d.subs.erase(id) > 0;
}

Status ProcessTable::SetSampling(std::string_view id, std::chrono::milliseconds interval) {
  Impl& d = *impl_;
  if (interval.count() < 0) {
    return Fail(ValidationError("process.invalid_interval", "sample interval must not be negative",
                                "sample_interval_ms"));
  }
  if (interval.count() > 0 && interval < std::chrono::milliseconds(10)) {
    return Fail(ValidationError("process.invalid_interval",
                                "sample interval must be at least 10 ms", "sample_interval_ms"));
  }
  std::shared_ptr<Entry> entry;
  {
    std::shared_lock lock(d.mu);
    entry = d.Find(id);
    if (!entry) return Fail(d.NotFound(id));
    if (entry->exit) return Fail(NotRunning(*entry));
  }
  asio::post(d.io, [&d, alive = d.alive, entry, interval] {
    if (!*alive) return;
    entry->sample_interval = interval;
    d.ArmSampling(entry, entry->generation);
  });
  return {};
}

Result<ProcessSnapshot> ProcessTable::Get(std::string_view id) const {
  const Impl& d = *impl_;
  std::shared_lock lock(d.mu);
  auto entry = d.Find(id);
  if (!entry) return Fail(d.NotFound(id));
  return SnapshotOf(*entry);
}

std::vector<ProcessSnapshot> ProcessTable::Snapshot() const {
  const Impl& d = *impl_;
  std::shared_lock lock(d.mu);
  std::vector<ProcessSnapshot> out;
  out.reserve(d.entries.size());
  for (const auto& [seq, e] : d.entries) out.push_back(SnapshotOf(*e));
  return out;
}

size_t ProcessTable::size() const {
  std::shared_lock lock(impl_->mu);
  return impl_->entries.size();
}

Status ProcessTable::Forget(std::string_view id) {
  Impl& d = *impl_;
  std::shared_ptr<Entry> entry;
  {
    std::unique_lock lock(d.mu);
    entry = d.Find(id);
    if (!entry) return Fail(d.NotFound(id));
    if (!entry->exit) {
      return Fail(ConflictError("process.running", "process " + entry->id + " is still running")
                      .WithHint("kill_process first"));
    }
    d.entries.erase(entry->seq);
    --d.exited_count;
  }
  asio::post(d.io, [&d, alive = d.alive, entry] {
    if (*alive) d.DetachLoopObjects(*entry);
  });
  return {};
}

Status ProcessTable::WriteStdin(std::string_view id, std::string data) {
  Impl& d = *impl_;
  std::shared_ptr<Entry> entry;
  {
    std::unique_lock lock(d.mu);
    entry = d.Find(id);
    if (!entry) return Fail(d.NotFound(id));
    if (entry->exit) return Fail(NotRunning(*entry));
    if (!entry->stdin_pipe || entry->stdin_close_requested) {
      return Fail(
          ConflictError("process.stdin_closed", "process " + entry->id + " has no open stdin pipe")
              .WithHint("start it with stdin mode pipe"));
    }
    if (entry->stdin_pending.size() + data.size() > (16u << 20)) {
      return Fail(Error(ErrorCategory::kResourceExhausted, "process.stdin_full",
                        "more than 16 MiB queued for the stdin of " + entry->id)
                      .WithHint("the process is not reading its input; retry later"));
    }
    entry->stdin_pending += data;
  }
  asio::post(d.io, [&d, alive = d.alive, entry] {
    if (*alive) d.PumpStdin(entry);
  });
  return {};
}

Status ProcessTable::CloseStdin(std::string_view id) {
  Impl& d = *impl_;
  std::shared_ptr<Entry> entry;
  {
    std::unique_lock lock(d.mu);
    entry = d.Find(id);
    if (!entry) return Fail(d.NotFound(id));
    entry->stdin_close_requested = true;
  }
  asio::post(d.io, [&d, alive = d.alive, entry] {
    if (*alive) d.PumpStdin(entry);
  });
  return {};
}

Result<OutputChunk> ProcessTable::ReadOutput(std::string_view id, OutputStream stream,
                                             uint64_t offset, size_t max_bytes) const {
  const Impl& d = *impl_;
  std::shared_lock lock(d.mu);
  auto entry = d.Find(id);
  if (!entry) return Fail(d.NotFound(id));
  const Capture& cap = stream == OutputStream::kStdout ? entry->out : entry->err;
  OutputChunk chunk;
  chunk.data = cap.ring.Read(offset, max_bytes, &chunk.start_offset, &chunk.dropped);
  chunk.end_offset = cap.ring.total();
  chunk.eof = cap.eof;
  return chunk;
}

void ProcessTable::SetSandboxLauncher(std::shared_ptr<SandboxLauncher> launcher) {
  std::unique_lock lock(impl_->mu);
  impl_->sandbox_launcher = std::move(launcher);
}

std::shared_ptr<SandboxLauncher> ProcessTable::sandbox_launcher() const {
  std::shared_lock lock(impl_->mu);
  return impl_->sandbox_launcher;
}

ProcessTable::ChildClaim ProcessTable::ClaimChild(pid_t pid) {
  std::unique_lock lock(impl_->mu);
  ++impl_->claims[pid];
  return ChildClaim(this, pid);
}

ProcessTable::ChildClaim::ChildClaim(ChildClaim&& other) noexcept
    : table_(std::exchange(other.table_, nullptr)), pid_(other.pid_) {}

ProcessTable::ChildClaim& ProcessTable::ChildClaim::operator=(ChildClaim&& other) noexcept {
  if (this != &other) {
    ChildClaim old(std::move(*this));
    table_ = std::exchange(other.table_, nullptr);
    pid_ = other.pid_;
  }
  return *this;
}

ProcessTable::ChildClaim::~ChildClaim() {
  if (table_ == nullptr) return;
  std::unique_lock lock(table_->impl_->mu);
  auto it = table_->impl_->claims.find(pid_);
  if (it != table_->impl_->claims.end() && --it->second == 0) table_->impl_->claims.erase(it);
}

}  // namespace arsenal
