// Sandbox lifecycle: spec -> policy + cgroup -> one clone3 (one-shot) or a holding PID 1 plus
// setns joins (long-lived); waiting with bounded capture, timeout and OOM handling.
#include "arsenal/engine/sandbox.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <mutex>
#include <thread>

#include "arsenal/base/cleanup.h"
#include "arsenal/base/log.h"
#include "arsenal/base/syscalls.h"
#include "arsenal/namespaces/spawn.h"
#include "arsenal/policies/cgroup.h"
#include "arsenal/policies/policy.h"

namespace arsenal {

namespace {

using Clock = std::chrono::steady_clock;

// Time to keep reading a command's pipes after it exited, for output still in flight from
// descendants that hold a copy (an exec'd command's children live on in the sandbox).
constexpr std::chrono::milliseconds kDrainGrace{100};
constexpr std::chrono::seconds kKillTimeout{5};
// stdin data is written into the pipe before the spawn, so it must fit the pipe buffer.
constexpr size_t kMaxStdinBytes = 1 << 20;

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Error InvalidState(const std::string& id, SandboxState state, std::string_view wanted) {
  return ConflictError("sandbox.invalid_state", "sandbox '" + id + "' is " +
                                                    std::string(SandboxStateName(state)) +
                                                    "; this needs it " + std::string(wanted))
      .WithDetail("state", std::string(SandboxStateName(state)))
      .WithHint("check the sandbox's state (sandbox_info); a destroyed sandbox cannot be reused");
}

// The process-wide cgroup backend, detected once.
const Result<std::unique_ptr<policies::CgroupBackend>>& Backend() {
  static const auto* backend =
      new Result<std::unique_ptr<policies::CgroupBackend>>(policies::MakeCgroupBackend());
  return *backend;
}

std::string NextId() {
  static std::atomic<uint64_t> next{1};
  return "sb-" + std::to_string(next.fetch_add(1));
}

Result<std::pair<UniqueFd, UniqueFd>> Pipe(const char* what) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) {
    return Fail(ErrnoError("sandbox.setup_failed", "pipe2", what, errno));
  }
  return std::pair<UniqueFd, UniqueFd>{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// A pipe already holding `data`, read end for the child (the write end is closed, so the child
// sees EOF after the data). Written before the spawn: no SIGPIPE, no polling.
Result<UniqueFd> StdinWithData(const std::string& data) {
  if (data.size() > kMaxStdinBytes) {
    return Fail(ValidationError("sandbox.stdin_too_large",
                                "stdin data is " + std::to_string(data.size()) +
                                    " bytes; at most 1 MiB is accepted",
                                "stdin")
                    .WithHint("pass large input through a bind-mounted file"));
  }
  ARSENAL_ASSIGN_OR_RETURN(auto pipe, Pipe("stdin"));
  if (data.size() > 65536) {
    if (::fcntl(pipe.second.get(), F_SETPIPE_SZ, static_cast<int>(data.size())) < 0) {
      return Fail(ErrnoError("sandbox.stdin_too_large", "fcntl(F_SETPIPE_SZ)", "stdin", errno)
                      .WithHint("raise /proc/sys/fs/pipe-max-size or pass a smaller input"));
    }
  }
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(pipe.second.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(ErrnoError("sandbox.setup_failed", "write", "stdin pipe", errno));
    done += static_cast<size_t>(n);
  }
  return std::move(pipe.first);
}

void SetNonBlocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags >= 0) ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

std::chrono::microseconds ToMicros(const timeval& tv) {
  return std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
}

}  // namespace

std::string_view SandboxStateName(SandboxState state) {
  switch (state) {
    case SandboxState::kCreated:
      return "created";
    case SandboxState::kRunning:
      return "running";
    case SandboxState::kStopped:
      return "stopped";
    case SandboxState::kDestroyed:
      return "destroyed";
  }
  return "unknown";
}

std::optional<SandboxState> SandboxStateFromName(std::string_view name) {
  for (auto s : {SandboxState::kCreated, SandboxState::kRunning, SandboxState::kStopped,
                 SandboxState::kDestroyed}) {
    if (SandboxStateName(s) == name) return s;
  }
  return std::nullopt;
}

Json SandboxResult::ToJson() const {
  return {{"exit_code", exit_code},
          {"signal", signal},
          {"oom", oom},
          {"timed_out", timed_out},
          {"stdout", out},
          {"stderr", err},
          {"stdout_truncated", out_truncated},
          {"stderr_truncated", err_truncated},
          {"user_cpu_us", user_cpu.count()},
          {"system_cpu_us", system_cpu.count()},
          {"peak_memory_bytes", peak_memory_bytes},
          {"wall_time_us", wall_time.count()}};
}

Json SandboxUsage::ToJson() const {
  if (!has_cgroup) return Json(nullptr);
  return {{"memory_current_bytes", memory_current},
          {"memory_peak_bytes", memory_peak},
          {"cpu_usage_ns", cpu_usage_ns},
          {"pids_current", pids_current},
          {"oom_kills", oom_kills}};
}

// ---- Sandbox::Impl --------------------------------------------------------------------------

struct Sandbox::Impl {
  std::string id;
  mutable std::mutex mu;
  SandboxState state = SandboxState::kCreated;
  policies::SandboxPolicy policy;
  std::unique_ptr<policies::Cgroup> cgroup;  // null: none needed (or none available)
  ns::SpawnedProcess init;                   // the holding PID 1 (Start)
  // Killed holding PID 1s not reaped yet. PID 1 of a pid namespace finishes exiting only once
  // every process that joined the namespace has been reaped, and exec'd commands are our own
  // children (reaped by their SandboxProcess::Wait, possibly on another thread that is waiting
  // for this lock): waiting for PID 1 here could deadlock, so it is reaped when it is done.
  std::vector<ns::SpawnedProcess> dying;
  UniqueFd oneshot_pidfd;  // a dup of the running one-shot's PID 1, to kill it
  pid_t oneshot_pid = 0;

  // Everything but the per-command parts, prepared once per sandbox.
  ns::SpawnSpec base;

  Status KillEverythingLocked() {
    Status result;
    if (cgroup) {
      if (auto s = cgroup->KillAll(kKillTimeout); !s) result = std::move(s);
    }
    if (oneshot_pidfd) sys::PidfdSendSignal(oneshot_pidfd.get(), SIGKILL, nullptr, 0);
    if (init.running()) {
      (void)init.Signal(SIGKILL);
      dying.push_back(std::move(init));
    }
    ReapDyingLocked();
    return result;
  }

  ~Impl() { ReapDyingInBackgroundLocked(); }

  // Still waiting for exec'd processes that someone else (the process table) reaps: finish the
  // wait on a thread of its own, which holds no lock, rather than block the caller or leave a
  // zombie until this sandbox is freed (a destroyed sandbox stays listed for a while).
  void ReapDyingInBackgroundLocked() {
    ReapDyingLocked();
    if (dying.empty()) return;
    std::thread([procs = std::move(dying)]() mutable {
      for (auto& p : procs) (void)p.Wait();
    }).detach();
    dying.clear();
  }

  void ReapDyingLocked() {
    std::erase_if(dying, [](ns::SpawnedProcess& p) {
      auto status = p.TryWait();
      return !status || status->has_value();
    });
  }
};

// ---- SandboxProcess -------------------------------------------------------------------------

struct SandboxProcess::Impl {
  std::shared_ptr<Sandbox::Impl> box;
  bool oneshot = false;
  ns::SpawnedProcess proc;
  UniqueFd out_pipe;     // read end, capture
  UniqueFd err_pipe;     // read end, capture
  UniqueFd status_pipe;  // read end: PID 1's report of the workload's raw wait status
  UniqueFd oom_fd;
  uint64_t oom_baseline = 0;
  uint64_t output_limit = 0;
  std::optional<std::chrono::milliseconds> timeout;
  Clock::time_point start;
  bool finished = false;

  void MarkStopped() {
    if (!oneshot || finished) return;
    finished = true;
    std::lock_guard lock(box->mu);
    box->oneshot_pidfd.Reset();
    box->oneshot_pid = 0;
    if (box->state == SandboxState::kRunning) box->state = SandboxState::kStopped;
  }

  // cgroup v1 kills only the largest task on OOM: kill the rest of the sandbox. A one-shot's
  // PID 1 usually exits with the killed workload anyway; the cgroup kill covers what it would
  // leave behind. In a long-lived sandbox every process dies and the sandbox stops.
  void KillRestAfterOom() {
    if (oneshot) {
      KillCommand();
      return;
    }
    std::lock_guard lock(box->mu);
    (void)box->KillEverythingLocked();
    if (box->state == SandboxState::kRunning) box->state = SandboxState::kStopped;
  }

  // Kills what this command's timeout or OOM must kill: the whole one-shot sandbox, or the
  // exec'd command.
  void KillCommand() {
    if (oneshot) {
      std::lock_guard lock(box->mu);
      if (box->cgroup) (void)box->cgroup->KillAll(kKillTimeout);
    }
    (void)proc.Signal(SIGKILL);
  }
};

SandboxProcess::SandboxProcess(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SandboxProcess::~SandboxProcess() {
  if (!impl_) return;
  if (impl_->proc.running()) {
    (void)impl_->proc.Signal(SIGKILL);
    (void)impl_->proc.Wait();
  }
  impl_->MarkStopped();
}

pid_t SandboxProcess::pid() const { return impl_->proc.pid(); }
int SandboxProcess::pidfd() const { return impl_->proc.pidfd(); }

Status SandboxProcess::Kill() { return impl_->proc.Signal(SIGKILL); }

UniqueFd SandboxProcess::ReleaseStatusPipe() { return std::move(impl_->status_pipe); }

UniqueFd SandboxProcess::ReleasePidfd() {
  // The new owner reaps; the sandbox stays running until NoteExited/Stop.
  impl_->finished = true;
  return impl_->proc.Release();
}

namespace {

// Appends up to `limit` bytes of what is readable on `fd`; drains and drops the rest. Returns
// false on EOF or error (the fd is then done).
bool ReadSome(int fd, std::string& into, uint64_t limit, bool& truncated) {
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n > 0) {
      size_t room = into.size() < limit ? static_cast<size_t>(limit - into.size()) : 0;
      size_t take = std::min(room, static_cast<size_t>(n));
      into.append(buf, take);
      if (take < static_cast<size_t>(n)) truncated = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return true;
    return false;
  }
}

}  // namespace

Result<SandboxResult> SandboxProcess::Wait() {
  Impl& d = *impl_;
  if (!d.proc.running()) {
    return Fail(
        ConflictError("sandbox.already_waited", "the command was already waited for or handed over")
            .WithHint("call Wait() once"));
  }
  SandboxResult result;
  // Plain time points with flags, not optionals: g++ 12 -O2 reports a false
  // maybe-uninitialized on optional<time_point> in this loop.
  const bool has_deadline = d.timeout.has_value();
  const Clock::time_point deadline = has_deadline ? d.start + *d.timeout : Clock::time_point{};
  bool exited = false;
  bool oom_event = false;
  bool draining = false;
  Clock::time_point drain_until{};

  while (true) {
    pollfd fds[4];
    int n = 0;
    int pidfd_index = -1, out_index = -1, err_index = -1, oom_index = -1;
    if (!exited) {
      pidfd_index = n;
      fds[n++] = {d.proc.pidfd(), POLLIN, 0};
    }
    if (d.out_pipe) {
      out_index = n;
      fds[n++] = {d.out_pipe.get(), POLLIN, 0};
    }
    if (d.err_pipe) {
      err_index = n;
      fds[n++] = {d.err_pipe.get(), POLLIN, 0};
    }
    if (d.oom_fd && !exited) {
      oom_index = n;
      fds[n++] = {d.oom_fd.get(), POLLIN, 0};
    }
    if (exited && !d.out_pipe && !d.err_pipe) break;
    int wait_ms = -1;
    auto now = Clock::now();
    auto until = [&](Clock::time_point t) {
      auto ms = std::chrono::ceil<std::chrono::milliseconds>(t - now).count();
      return static_cast<int>(std::clamp<int64_t>(ms, 0, INT32_MAX));
    };
    if (exited) {
      if (!draining) {
        draining = true;
        drain_until = now + kDrainGrace;
      }
      wait_ms = until(drain_until);
    } else if (has_deadline && !result.timed_out) {
      wait_ms = until(deadline);
    }
    int rc = ::poll(fds, static_cast<nfds_t>(n), wait_ms);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return Fail(ErrnoError("sandbox.wait_failed", "poll", "sandbox command", errno));
    if (rc == 0) {
      if (exited) break;  // drain grace over: descendants still hold the pipes
      if (has_deadline && !result.timed_out && Clock::now() >= deadline) {
        result.timed_out = true;
        d.KillCommand();
      }
      continue;
    }
    if (out_index >= 0 && fds[out_index].revents != 0 &&
        !ReadSome(d.out_pipe.get(), result.out, d.output_limit, result.out_truncated)) {
      d.out_pipe.Reset();
    }
    if (err_index >= 0 && fds[err_index].revents != 0 &&
        !ReadSome(d.err_pipe.get(), result.err, d.output_limit, result.err_truncated)) {
      d.err_pipe.Reset();
    }
    if (oom_index >= 0 && fds[oom_index].revents != 0) {
      uint64_t count = 0;
      (void)::read(d.oom_fd.get(), &count, sizeof(count));
      oom_event = true;
      d.KillRestAfterOom();
    }
    if (pidfd_index >= 0 && fds[pidfd_index].revents != 0) exited = true;
  }

  struct rusage usage = {};
  ARSENAL_ASSIGN_OR_RETURN(ns::ExitStatus status, d.proc.Wait(&usage));
  result.wall_time = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - d.start);
  result.user_cpu = ToMicros(usage.ru_utime);
  result.system_cpu = ToMicros(usage.ru_stime);
  result.peak_memory_bytes = static_cast<uint64_t>(usage.ru_maxrss) * 1024;

  int raw = 0;
  bool have_raw = false;
  if (d.status_pipe) {
    ssize_t got;
    do {
      got = ::read(d.status_pipe.get(), &raw, sizeof(raw));
    } while (got < 0 && errno == EINTR);
    have_raw = got == sizeof(raw);
  }
  if (have_raw) {
    if (WIFSIGNALED(raw)) {
      result.signal = WTERMSIG(raw);
      result.exit_code = 128 + result.signal;
    } else {
      result.exit_code = WEXITSTATUS(raw);
    }
  } else if (status.signaled) {
    result.signal = status.signal;
    result.exit_code = 128 + status.signal;
  } else {
    result.exit_code = status.code;
  }

  bool oom_counted = false;
  {
    std::lock_guard lock(d.box->mu);
    if (d.box->cgroup) {
      if (auto stats = d.box->cgroup->ReadStats()) {
        if (stats->memory_peak > 0) result.peak_memory_bytes = stats->memory_peak;
        oom_counted = stats->oom_kills > d.oom_baseline;
      }
    }
  }
  // The command's exit can be seen before the OOM eventfd fires: the counter is the truth.
  if (oom_counted && !oom_event) d.KillRestAfterOom();
  result.oom = oom_event || oom_counted;
  d.MarkStopped();
  return result;
}

// ---- Sandbox ----------------------------------------------------------------------------------

Sandbox::Sandbox(SandboxSpec spec, std::string id)
    : spec_(std::move(spec)),
      id_(std::move(id)),
      created_unix_ms_(NowUnixMs()),
      impl_(std::make_shared<Impl>()) {
  impl_->id = id_;
}

Sandbox::~Sandbox() {
  if (auto s = Destroy(); !s) {
    log::Get("sandbox")->warn("destroying sandbox {} failed: {}", id_, s.error().ToString());
  }
}

Result<std::unique_ptr<Sandbox>> Sandbox::Create(const SandboxSpecBuilder& builder,
                                                 SandboxOptions options) {
  ARSENAL_ASSIGN_OR_RETURN(SandboxSpec spec, builder.Build());
  return Create(std::move(spec), std::move(options));
}

Result<std::unique_ptr<Sandbox>> Sandbox::Create(SandboxSpec spec, SandboxOptions options) {
  ARSENAL_TRY(spec.Validate());
  std::string id = options.id.empty() ? NextId() : options.id;

  policies::PolicyBuilder pb;
  switch (spec.seccomp.mode) {
    case SandboxSeccomp::Mode::kDefault:
      break;
    case SandboxSeccomp::Mode::kProfile:
    case SandboxSeccomp::Mode::kFile:
      pb.SeccompProfile(*spec.seccomp.parsed);
      break;
    case SandboxSeccomp::Mode::kUnconfined:
      pb.WithoutSeccompFilterUnsafe();
      break;
  }
  pb.KeepCapabilities(spec.capabilities).Rlimits(spec.limits.rlimits);
  if (spec.landlock) pb.Landlock(*spec.landlock);
  ARSENAL_ASSIGN_OR_RETURN(policies::SandboxPolicy policy, pb.Build());

  std::unique_ptr<Sandbox> box(new Sandbox(std::move(spec), std::move(id)));
  Impl& d = *box->impl_;
  d.policy = std::move(policy);
  const SandboxSpec& s = box->spec_;

  // A cgroup is needed for limits, and to find every process when there is no pid namespace;
  // a long-lived sandbox always gets one (Start() checks).
  const bool want_cgroup =
      s.limits.HasCgroupLimits() || !s.namespaces.pid || !options.cgroup_only_when_needed;
  if (want_cgroup) {
    const auto& backend = Backend();
    if (!backend) {
      if (s.limits.HasCgroupLimits()) {
        return Fail(Error(backend.error()).AddContext("sandbox '" + box->id_ + "' limits"));
      }
    } else {
      std::string name = "arsenal-" + std::to_string(::getpid()) + "-" + box->id_;
      policies::CgroupCreateOptions create;
      create.limited_controllers_only = options.cgroup_limited_controllers_only && s.namespaces.pid;
      auto cg = (*backend)->Create(name, s.limits.ToCgroupLimits(), create);
      if (!cg) {
        Error e = std::move(cg).error();
        // A limit the kernel refused is still the spec's fault; name the field.
        if (e.code() == "cgroup.limit_failed" || e.code() == "cgroup.unsupported") {
          e.WithDetail("field", "limits");
        }
        return Fail(std::move(e).AddContext("sandbox '" + box->id_ + "'"));
      }
      d.cgroup = std::move(*cg);
    }
  }

  ns::SpawnSpec& b = d.base;
  b.env.clear();
  b.cwd = s.cwd;
  b.namespaces = {s.namespaces.user, s.namespaces.mount, s.namespaces.pid,    s.namespaces.net,
                  s.namespaces.uts,  s.namespaces.ipc,   s.namespaces.cgroup, s.namespaces.time};
  b.ids.uid_map.clear();
  b.ids.gid_map.clear();
  for (const auto& e : s.uid_map) b.ids.uid_map.push_back({e.inside, e.outside, e.count});
  for (const auto& e : s.gid_map) b.ids.gid_map.push_back({e.inside, e.outside, e.count});
  b.rootfs = s.rootfs;
  b.rootfs_read_only = s.rootfs_read_only;
  for (const auto& m : s.mounts) {
    if (m.type == SandboxMount::Type::kBind) {
      b.mounts.push_back(m.read_only ? ns::MountSpec::BindReadOnly(m.source, m.target)
                                     : ns::MountSpec::BindReadWrite(m.source, m.target));
    } else {
      b.mounts.push_back(ns::MountSpec::Tmpfs(m.target, m.size_bytes, m.mode));
    }
  }
  // A fresh /proc belongs to the new pid namespace; without one the kernel refuses it anyway.
  b.mount_proc = s.namespaces.mount && s.namespaces.pid;
  b.mount_dev = s.namespaces.mount;
  b.hostname = s.hostname;
  b.network =
      s.network == SandboxNetwork::kLoopback ? ns::NetworkMode::kLoopback : ns::NetworkMode::kNone;
  if (d.policy.seccomp) {
    b.policy.seccomp_bpf = d.policy.seccomp->filter;
    b.policy.seccomp_flags = d.policy.seccomp->flags;
  }
  b.policy.keep_caps = d.policy.keep_caps;
  b.policy.rlimits = d.policy.rlimits;
  b.policy.landlock_ruleset_fd = d.policy.landlock.fd.get();
  b.policy.no_new_privs = true;
  return box;
}

SandboxState Sandbox::state() const {
  std::lock_guard lock(impl_->mu);
  return impl_->state;
}

pid_t Sandbox::init_pid() const {
  std::lock_guard lock(impl_->mu);
  if (impl_->init.running()) return impl_->init.pid();
  return impl_->oneshot_pid;
}

std::vector<pid_t> Sandbox::Pids() const {
  std::lock_guard lock(impl_->mu);
  if (!impl_->cgroup) return {};
  auto pids = impl_->cgroup->Processes();
  return pids ? *pids : std::vector<pid_t>{};
}

Result<SandboxUsage> Sandbox::Usage() const {
  std::lock_guard lock(impl_->mu);
  SandboxUsage u;
  if (!impl_->cgroup) return u;
  ARSENAL_ASSIGN_OR_RETURN(policies::CgroupStats st, impl_->cgroup->ReadStats());
  u.has_cgroup = true;
  u.memory_current = st.memory_current;
  u.memory_peak = st.memory_peak;
  u.cpu_usage_ns = st.cpu_usage_ns;
  u.pids_current = st.pids_current;
  u.oom_kills = st.oom_kills;
  return u;
}

Result<UniqueFd> Sandbox::OpenOomEventFd() {
  std::lock_guard lock(impl_->mu);
  if (!impl_->cgroup) {
    return Fail(UnsupportedError("sandbox.no_cgroup",
                                 "sandbox '" + id_ + "' has no cgroup to watch for OOM")
                    .WithHint("set limits.memory"));
  }
  return impl_->cgroup->OpenOomEventFd();
}

namespace {

struct CommandPlumbing {
  ns::SpawnSpec spec;
  UniqueFd stdin_child;  // child ends, closed after the spawn
  UniqueFd stdout_child;
  UniqueFd stderr_child;
  UniqueFd out_parent;
  UniqueFd err_parent;
};

// The per-command parts of a SpawnSpec: argv, env, cwd, stdio.
Result<CommandPlumbing> Plumb(const ns::SpawnSpec& base, const SandboxSpec& spec,
                              const std::vector<std::string>& argv, const RunOptions& o) {
  CommandPlumbing c;
  c.spec = base;
  c.spec.argv = argv;
  std::map<std::string, std::string> env = spec.env;
  for (const auto& [k, v] : o.env) env[k] = v;
  for (const auto& [k, v] : env) c.spec.env.push_back(k + "=" + v);
  if (!o.cwd.empty()) c.spec.cwd = o.cwd;
  if (o.stdin_fd >= 0) {
    c.spec.stdin_fd = o.stdin_fd;
  } else if (!o.stdin_data.empty()) {
    ARSENAL_ASSIGN_OR_RETURN(c.stdin_child, StdinWithData(o.stdin_data));
    c.spec.stdin_fd = c.stdin_child.get();
  } else {
    c.spec.stdin_fd = -1;
  }
  if (o.stdout_fd >= 0) {
    c.spec.stdout_fd = o.stdout_fd;
  } else {
    ARSENAL_ASSIGN_OR_RETURN(auto p, Pipe("stdout"));
    c.out_parent = std::move(p.first);
    c.stdout_child = std::move(p.second);
    SetNonBlocking(c.out_parent.get());
    c.spec.stdout_fd = c.stdout_child.get();
  }
  if (o.stderr_fd >= 0) {
    c.spec.stderr_fd = o.stderr_fd;
  } else {
    ARSENAL_ASSIGN_OR_RETURN(auto p, Pipe("stderr"));
    c.err_parent = std::move(p.first);
    c.stderr_child = std::move(p.second);
    SetNonBlocking(c.err_parent.get());
    c.spec.stderr_fd = c.stderr_child.get();
  }
  return c;
}

Error Argv(std::string message) {
  return ValidationError("sandbox.invalid_command", std::move(message), "argv")
      .WithHint("give the program and its arguments, e.g. [\"/bin/sh\", \"-c\", \"...\"]");
}

}  // namespace

Result<std::unique_ptr<SandboxProcess>> Sandbox::Launch(const std::vector<std::string>& argv,
                                                        const RunOptions& options) {
  if (argv.empty() || argv[0].empty()) return Fail(Argv("argv is empty"));
  Impl& d = *impl_;
  SandboxState previous;
  {
    std::lock_guard lock(d.mu);
    if (d.state != SandboxState::kCreated && d.state != SandboxState::kStopped) {
      return Fail(InvalidState(id_, d.state, "created or stopped (one command at a time)"));
    }
    previous = d.state;
    d.state = SandboxState::kRunning;  // reserved; reverted below on failure
  }
  Cleanup revert([&] {
    std::lock_guard lock(d.mu);
    d.state = previous;
  });

  auto proc = std::make_unique<SandboxProcess::Impl>();
  proc->box = impl_;
  proc->oneshot = true;
  proc->output_limit = spec_.output_limit_bytes;
  proc->timeout = options.timeout ? options.timeout : spec_.limits.timeout;
  ARSENAL_ASSIGN_OR_RETURN(CommandPlumbing c, Plumb(d.base, spec_, argv, options));

  UniqueFd status_child;
  if (spec_.namespaces.pid) {
    ARSENAL_ASSIGN_OR_RETURN(auto p, Pipe("status"));
    proc->status_pipe = std::move(p.first);
    status_child = std::move(p.second);
    c.spec.status_fd = status_child.get();
  }
  std::vector<UniqueFd> join_fds;
  UniqueFd clone_into;
  if (d.cgroup) {
    ARSENAL_ASSIGN_OR_RETURN(join_fds, d.cgroup->OpenSelfAttachFds());
    for (const auto& fd : join_fds) c.spec.cgroup_join_fds.push_back(fd.get());
    if (auto fd = d.cgroup->OpenCloneIntoFd()) clone_into = std::move(*fd);
    c.spec.cgroup2_dir_fd = clone_into.get();
    if (spec_.limits.memory_bytes) {
      // A sandbox that never ran a process has had no OOM kill: spare the reads.
      if (previous != SandboxState::kCreated) {
        if (auto st = d.cgroup->ReadStats()) proc->oom_baseline = st->oom_kills;
      }
      if (auto fd = d.cgroup->OpenOomEventFd()) proc->oom_fd = std::move(*fd);
    }
  }
  // No CLONE_INTO_CGROUP (pure v1 without self-attach fds, or a cgroup2 directory that was
  // killed once, see policies/cgroup.h): attach from the parent before the child continues.
  ns::ParentHook hook;
  if (d.cgroup && join_fds.empty() && !clone_into) {
    policies::Cgroup* cg = d.cgroup.get();
    hook = [cg](pid_t pid) { return cg->Attach(pid); };
  }

  proc->start = Clock::now();
  ARSENAL_ASSIGN_OR_RETURN(proc->proc, ns::Spawn(c.spec, hook));
  proc->out_pipe = std::move(c.out_parent);
  proc->err_pipe = std::move(c.err_parent);
  {
    std::lock_guard lock(d.mu);
    d.oneshot_pid = proc->proc.pid();
    d.oneshot_pidfd.Reset(::fcntl(proc->proc.pidfd(), F_DUPFD_CLOEXEC, 3));
  }
  revert.Cancel();
  return std::make_unique<SandboxProcess>(std::move(proc));
}

Result<SandboxResult> Sandbox::Run(const std::vector<std::string>& argv,
                                   const RunOptions& options) {
  ARSENAL_ASSIGN_OR_RETURN(auto proc, Launch(argv, options));
  return proc->Wait();
}

Status Sandbox::Start() {
  Impl& d = *impl_;
  if (!spec_.namespaces.pid) {
    return Fail(ValidationError("sandbox.invalid_spec",
                                "a long-lived sandbox needs a pid namespace (its PID 1 holds the "
                                "namespaces)",
                                "namespaces.pid")
                    .WithHint("enable namespaces.pid, or use one-shot runs"));
  }
  std::lock_guard lock(d.mu);
  if (d.state != SandboxState::kCreated && d.state != SandboxState::kStopped) {
    return Fail(InvalidState(id_, d.state, "created or stopped"));
  }
  ns::SpawnSpec spec = d.base;
  spec.idle_init = true;
  spec.argv.clear();
  spec.stdin_fd = spec.stdout_fd = spec.stderr_fd = -1;
  std::vector<UniqueFd> join_fds;
  UniqueFd clone_into;
  ns::ParentHook hook;
  if (d.cgroup) {
    ARSENAL_ASSIGN_OR_RETURN(join_fds, d.cgroup->OpenSelfAttachFds());
    for (const auto& fd : join_fds) spec.cgroup_join_fds.push_back(fd.get());
    if (auto fd = d.cgroup->OpenCloneIntoFd()) clone_into = std::move(*fd);
    spec.cgroup2_dir_fd = clone_into.get();
    if (join_fds.empty() && !clone_into) {
      policies::Cgroup* cg = d.cgroup.get();
      hook = [cg](pid_t pid) { return cg->Attach(pid); };
    }
  }
  ARSENAL_ASSIGN_OR_RETURN(d.init, ns::Spawn(spec, hook));
  d.state = SandboxState::kRunning;
  return {};
}

Result<std::unique_ptr<SandboxProcess>> Sandbox::LaunchExec(const std::vector<std::string>& argv,
                                                            const RunOptions& options) {
  if (argv.empty() || argv[0].empty()) return Fail(Argv("argv is empty"));
  Impl& d = *impl_;
  UniqueFd target;
  {
    std::lock_guard lock(d.mu);
    if (d.state != SandboxState::kRunning || !d.init.running()) {
      return Fail(InvalidState(id_, d.state, "running (started with Start())"));
    }
    target.Reset(::fcntl(d.init.pidfd(), F_DUPFD_CLOEXEC, 3));
    if (!target) return Fail(ErrnoError("sandbox.exec_failed", "fcntl", "init pidfd", errno));
  }
  auto proc = std::make_unique<SandboxProcess::Impl>();
  proc->box = impl_;
  proc->oneshot = false;
  proc->output_limit = spec_.output_limit_bytes;
  proc->timeout = options.timeout ? options.timeout : spec_.limits.timeout;
  ARSENAL_ASSIGN_OR_RETURN(CommandPlumbing c, Plumb(d.base, spec_, argv, options));
  ns::ParentHook hook;
  std::vector<UniqueFd> join_fds;
  {
    std::lock_guard lock(d.mu);
    if (d.cgroup) {
      // The workload moves itself into the v1 groups, which carry the limits and through which
      // KillAll finds every process; it stays out of a hybrid layout's cgroup2 companion (a
      // setns join cannot use CLONE_INTO_CGROUP, and a parent-side attach costs an RCU grace
      // period). Without self-attach fds (cgroup v2) the parent attaches it.
      ARSENAL_ASSIGN_OR_RETURN(join_fds, d.cgroup->OpenSelfAttachFds());
      for (const auto& fd : join_fds) c.spec.cgroup_join_fds.push_back(fd.get());
      if (join_fds.empty()) {
        policies::Cgroup* cg = d.cgroup.get();
        hook = [cg](pid_t pid) { return cg->Attach(pid); };
      }
      if (spec_.limits.memory_bytes) {
        if (auto st = d.cgroup->ReadStats()) proc->oom_baseline = st->oom_kills;
        if (auto fd = d.cgroup->OpenOomEventFd()) proc->oom_fd = std::move(*fd);
      }
    }
  }
  proc->start = Clock::now();
  ARSENAL_ASSIGN_OR_RETURN(proc->proc, ns::SpawnInto(target.get(), c.spec, hook));
  proc->out_pipe = std::move(c.out_parent);
  proc->err_pipe = std::move(c.err_parent);
  return std::make_unique<SandboxProcess>(std::move(proc));
}

Result<SandboxResult> Sandbox::Exec(const std::vector<std::string>& argv,
                                    const RunOptions& options) {
  ARSENAL_ASSIGN_OR_RETURN(auto proc, LaunchExec(argv, options));
  return proc->Wait();
}

Status Sandbox::Stop() {
  std::lock_guard lock(impl_->mu);
  if (impl_->state == SandboxState::kDestroyed) return {};
  Status killed = impl_->KillEverythingLocked();
  if (impl_->state == SandboxState::kRunning) impl_->state = SandboxState::kStopped;
  return killed;
}

Status Sandbox::Destroy() {
  std::lock_guard lock(impl_->mu);
  Impl& d = *impl_;
  if (d.state == SandboxState::kDestroyed) return {};
  ARSENAL_TRY(d.KillEverythingLocked());
  d.ReapDyingInBackgroundLocked();
  if (d.cgroup) {
    ARSENAL_TRY(d.cgroup->Destroy());
    d.cgroup.reset();
  }
  d.oneshot_pidfd.Reset();
  d.policy.landlock.fd.Reset();
  d.base.policy.landlock_ruleset_fd = -1;
  d.state = SandboxState::kDestroyed;
  return {};
}

Status Sandbox::Freeze() {
  std::lock_guard lock(impl_->mu);
  if (!impl_->cgroup) {
    return Fail(UnsupportedError("sandbox.no_cgroup", "sandbox '" + id_ + "' has no cgroup")
                    .WithHint("give the sandbox a limit (e.g. limits.pids) so it gets a cgroup"));
  }
  return impl_->cgroup->Freeze();
}

Status Sandbox::Thaw() {
  std::lock_guard lock(impl_->mu);
  if (!impl_->cgroup) {
    return Fail(UnsupportedError("sandbox.no_cgroup", "sandbox '" + id_ + "' has no cgroup"));
  }
  return impl_->cgroup->Thaw();
}

void Sandbox::NoteExited() {
  std::lock_guard lock(impl_->mu);
  impl_->oneshot_pidfd.Reset();
  impl_->oneshot_pid = 0;
  if (impl_->state == SandboxState::kRunning && !impl_->init.running()) {
    impl_->state = SandboxState::kStopped;
  }
}

bool Sandbox::CheckInitExited() {
  std::lock_guard lock(impl_->mu);
  if (!impl_->init.running()) return impl_->state != SandboxState::kRunning;
  auto status = impl_->init.TryWait();
  if (!status || !status->has_value()) return false;
  // PID 1 is gone, and with it the pid namespace; sweep the cgroup for stragglers outside it.
  if (impl_->cgroup) (void)impl_->cgroup->KillAll(kKillTimeout);
  if (impl_->state == SandboxState::kRunning) impl_->state = SandboxState::kStopped;
  return true;
}

Result<SandboxResult> RunSandboxed(const SandboxSpec& spec, const std::vector<std::string>& argv,
                                   const RunOptions& options) {
  SandboxOptions create;
  create.cgroup_limited_controllers_only = true;  // nothing but the run reads this cgroup
  ARSENAL_ASSIGN_OR_RETURN(auto box, Sandbox::Create(spec, create));
  auto result = box->Run(argv, options);
  Status destroyed = box->Destroy();
  if (!result) return result;
  if (!destroyed) {
    log::Get("sandbox")->warn("sandbox {}: cleanup failed: {}", box->id(),
                              destroyed.error().ToString());
  }
  return result;
}

}  // namespace arsenal
