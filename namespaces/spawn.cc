// Parent side of Spawn/SpawnInto: validate, prepare every string before clone, clone, write the
// id maps, run the hook, release the child, and turn its {step, errno} report into an Error.
#include "arsenal/namespaces/spawn.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string_view>

#include "arsenal/base/syscalls.h"
#include "arsenal/namespaces/features.h"
#include "child.h"
#include "reaper_image.h"

namespace arsenal::ns {

using internal::Prepared;
using internal::Report;
using internal::Step;

// ---- SpawnedProcess -------------------------------------------------------------------------

SpawnedProcess::SpawnedProcess(SpawnedProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), pidfd_(std::move(other.pidfd_)) {}

SpawnedProcess& SpawnedProcess::operator=(SpawnedProcess&& other) noexcept {
  if (this != &other) {
    KillAndReap();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::move(other.pidfd_);
  }
  return *this;
}

SpawnedProcess::~SpawnedProcess() { KillAndReap(); }

void SpawnedProcess::KillAndReap() {
  if (!pidfd_.valid()) return;
  sys::PidfdSendSignal(pidfd_.get(), SIGKILL, nullptr, 0);
  siginfo_t info = {};
  sys::WaitPidfd(pidfd_.get(), &info, WEXITED);
  pidfd_.Reset();
}

namespace {

ExitStatus FromSiginfo(const siginfo_t& info) {
  ExitStatus status;
  if (info.si_code == CLD_EXITED) {
    status.code = info.si_status;
  } else {
    status.signaled = true;
    status.signal = info.si_status;
  }
  return status;
}

Error NotRunning(pid_t pid) {
  return ConflictError("process.already_reaped",
                       "process " + std::to_string(pid) + " was already waited for or released")
      .WithHint("wait for a process once; keep its ExitStatus");
}

}  // namespace

Result<ExitStatus> SpawnedProcess::Wait(struct rusage* usage) {
  if (!pidfd_.valid()) return Fail(NotRunning(pid_));
  siginfo_t info = {};
  int rc;
  if (usage != nullptr) {
    // glibc's waitid has no rusage parameter; the system call does.
    do {
      rc = static_cast<int>(::syscall(SYS_waitid, P_PIDFD, pidfd_.get(), &info, WEXITED, usage));
    } while (rc < 0 && errno == EINTR);
  } else {
    rc = sys::WaitPidfd(pidfd_.get(), &info, WEXITED);
  }
  if (rc < 0) {
    return Fail(ErrnoError("process.wait_failed", "waitid", "pid " + std::to_string(pid_), errno));
  }
  pidfd_.Reset();
  return FromSiginfo(info);
}

Result<std::optional<ExitStatus>> SpawnedProcess::TryWait() {
  if (!pidfd_.valid()) return Fail(NotRunning(pid_));
  siginfo_t info = {};
  if (sys::WaitPidfd(pidfd_.get(), &info, WEXITED | WNOHANG) < 0) {
    return Fail(ErrnoError("process.wait_failed", "waitid", "pid " + std::to_string(pid_), errno));
  }
  if (info.si_pid == 0) return std::optional<ExitStatus>();
  pidfd_.Reset();
  return std::optional<ExitStatus>(FromSiginfo(info));
}

Status SpawnedProcess::Signal(int sig) {
  if (!pidfd_.valid()) return Fail(NotRunning(pid_));
  if (sys::PidfdSendSignal(pidfd_.get(), sig, nullptr, 0) < 0) {
    return Fail(ErrnoError("process.signal_failed", "pidfd_send_signal",
                           "pid " + std::to_string(pid_), errno));
  }
  return {};
}

UniqueFd SpawnedProcess::Release() { return std::move(pidfd_); }

// ---- Spawn -----------------------------------------------------------------------------------

namespace {

constexpr std::string_view kDefaultPath = "/usr/local/bin:/usr/bin:/bin";
constexpr const char* kInvalidSpec = "sandbox.invalid_spec";

Error Invalid(std::string message, std::string field) {
  return ValidationError(kInvalidSpec, std::move(message), std::move(field))
      .WithHint("fix the sandbox spec and retry");
}

bool HasNul(const std::string& s) { return s.find('\0') != std::string::npos; }

std::string_view StepHint(Step step, int err) {
  switch (step) {
    case Step::kExec:
      if (err == ENOENT) {
        return "argv[0] was not found inside the sandbox: give a path that exists in its root "
               "filesystem, or set PATH in env";
      }
      if (err == EACCES) {
        return "argv[0] is not executable by the sandbox's user, or lies on a noexec mount";
      }
      break;
    case Step::kRootfs:
    case Step::kMount:
      if (err == ENOENT || err == EROFS) {
        return "the mount point does not exist and cannot be created in a read-only root: "
               "create it in the rootfs, or mount a tmpfs over its parent first";
      }
      if (err == EACCES) {
        return "root inside the sandbox is an unprivileged id outside (65534 by default): make "
               "the source readable and its parent directories searchable by that id";
      }
      break;
    case Step::kProc:
      return "a new /proc needs a pid namespace and a fully visible host /proc";
    case Step::kMountPrivate:
    case Step::kMountStaging:
    case Step::kPivotStaging:
    case Step::kPivotRoot:
    case Step::kDetachOldRoot:
      return "the mount namespace could not be set up: it needs a user namespace (or "
             "CAP_SYS_ADMIN) and a writable /tmp mount point on the host";
    case Step::kCwd:
      return "cwd must be a directory that exists inside the sandbox";
    case Step::kCgroupJoin:
      return "the child could not move itself into the sandbox's cgroup: check that the cgroup "
             "still exists and that its pids limit leaves room";
    case Step::kSetns:
      return "joining a sandbox needs setns() through a pidfd (kernel 5.8+) and a running "
             "target; check that the sandbox has not exited";
    case Step::kReaper:
      if (err == EACCES || err == EPERM) {
        return "PID 1 could not exec the reaper program from its memfd: vm.memfd_noexec=2 "
               "forbids executable memfds; set it to 0 or 1";
      }
      return "PID 1 could not drop its privileges or become the reaper; the sandbox was killed "
             "(fail closed)";
    case Step::kCapabilities:
    case Step::kNoNewPrivs:
      return "dropping privileges failed; the child was killed (fail closed)";
    case Step::kLandlock:
      return "landlock_restrict_self failed: check the ruleset fd; without capabilities it "
             "needs no_new_privs";
    case Step::kSeccomp:
      return "the seccomp filter was rejected: check the BPF program; without CAP_SYS_ADMIN it "
             "needs no_new_privs";
    case Step::kRlimits:
      return "an rlimit could only be lowered: keep it at or below the current hard limit";
    case Step::kNetwork:
      return "bringing up lo failed: the network namespace needs CAP_NET_ADMIN";
    default:
      break;
  }
  return {};
}

std::string StepObject(const SpawnSpec& spec, const Report& r) {
  switch (static_cast<Step>(r.step)) {
    case Step::kMount:
      if (r.index >= 0 && static_cast<size_t>(r.index) < spec.mounts.size()) {
        const MountSpec& m = spec.mounts[static_cast<size_t>(r.index)];
        return m.kind == MountSpec::Kind::kBind ? m.source + " -> " + m.target
                                                : "tmpfs " + m.target;
      }
      return "mount";
    case Step::kRootfs:
      return spec.rootfs.empty() ? "host /" : spec.rootfs;
    case Step::kExec:
      return spec.argv.empty() ? "" : spec.argv[0];
    case Step::kCwd:
      return spec.cwd;
    case Step::kHostname:
      return spec.hostname;
    case Step::kProc:
      return "/proc";
    case Step::kDev:
      return "/dev";
    default:
      return "sandbox";
  }
}

Error SetupError(const SpawnSpec& spec, const Report& r) {
  auto step = static_cast<Step>(r.step);
  const char* code = step == Step::kExec ? "sandbox.exec_failed" : "sandbox.setup_failed";
  Error e = ErrnoError(code, std::string("setup step ") + internal::StepName(step),
                       StepObject(spec, r), r.err);
  e.WithDetail("step", internal::StepName(step));
  if (r.index >= 0) e.WithDetail("mount_index", r.index);
  std::string_view hint = StepHint(step, r.err);
  if (!hint.empty()) e.WithHint(std::string(hint));
  return e;
}

std::string MapText(const std::vector<IdMapEntry>& entries) {
  std::string text;
  for (const auto& e : entries) {
    text += std::to_string(e.inside) + " " + std::to_string(e.outside) + " " +
            std::to_string(e.count) + "\n";
  }
  return text;
}

// Writes a whole /proc/<pid>/ file in one write(2) (the kernel requires it for id maps).
int WriteProcFile(const std::string& path, const std::string& text) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = ::write(fd, text.data(), text.size());
  int err = errno;
  ::close(fd);
  if (n == static_cast<ssize_t>(text.size())) return 0;
  errno = n < 0 ? err : EIO;
  return -1;
}

// Returns whether the child may (and must) clear its supplementary groups: true when gid_map
// could be written with setgroups still allowed, which needs CAP_SETGID over the parent
// namespace. Otherwise setgroups is denied first, as the kernel demands.
Result<bool> WriteIdMaps(pid_t pid, const IdMapping& ids) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/";
  auto fail = [&](const char* file) {
    return ErrnoError("sandbox.id_map_failed", "write", dir + file, errno)
        .WithHint(
            "mapping ids other than your own needs CAP_SETUID/CAP_SETGID (run as root), "
            "and the outside ids must exist in your own namespace");
  };
  if (WriteProcFile(dir + "uid_map", MapText(ids.uid_map)) < 0) return Fail(fail("uid_map"));
  const std::string gid_text = MapText(ids.gid_map);
  if (WriteProcFile(dir + "gid_map", gid_text) == 0) return true;
  if (errno != EPERM) return Fail(fail("gid_map"));
  if (WriteProcFile(dir + "setgroups", "deny") < 0) return Fail(fail("setgroups"));
  if (WriteProcFile(dir + "gid_map", gid_text) < 0) return Fail(fail("gid_map"));
  return false;
}

Status ValidatePolicy(const ChildPolicy& policy) {
  if (policy.seccomp_bpf.size() > BPF_MAXINSNS) {
    return Fail(Invalid("seccomp program has " + std::to_string(policy.seccomp_bpf.size()) +
                            " instructions; the kernel accepts at most 4096",
                        "policy.seccomp_bpf"));
  }
  return {};
}

// Fills the parts of Prepared shared by Spawn and SpawnInto: argv, env, PATH, cwd, stdio,
// policy.
Status PrepareCommon(const SpawnSpec& spec, Prepared& p, bool need_argv = true) {
  if (need_argv && (spec.argv.empty() || spec.argv[0].empty())) {
    return Fail(Invalid("argv is empty", "argv"));
  }
  if (spec.cgroup_join_fds.size() > 16) {
    return Fail(Invalid("at most 16 cgroup join fds", "cgroup_join_fds"));
  }
  for (int fd : spec.cgroup_join_fds) {
    if (fd < 0) return Fail(Invalid("cgroup join fd is invalid", "cgroup_join_fds"));
  }
  p.cgroup_join_fds = spec.cgroup_join_fds;
  for (const auto& a : spec.argv) {
    if (HasNul(a)) return Fail(Invalid("argv contains a NUL byte", "argv"));
  }
  if (spec.cwd.empty() || spec.cwd[0] != '/' || HasNul(spec.cwd)) {
    return Fail(Invalid("cwd must be an absolute path: '" + spec.cwd + "'", "cwd"));
  }
  ARSENAL_TRY(ValidatePolicy(spec.policy));

  p.argv.reserve(spec.argv.size() + 1);
  for (const auto& a : spec.argv) p.argv.push_back(p.Keep(a));
  p.argv.push_back(nullptr);
  if (p.argv.size() == 1) p.argv.insert(p.argv.begin(), p.Keep("/"));  // idle init: never run
  p.envp.reserve(spec.env.size() + 1);
  std::string_view path = kDefaultPath;
  for (const auto& e : spec.env) {
    if (HasNul(e) || e.find('=') == std::string::npos) {
      return Fail(Invalid("env entries must be KEY=value", "env"));
    }
    if (e.starts_with("PATH=")) path = std::string_view(e).substr(5);
    p.envp.push_back(p.Keep(e));
  }
  p.envp.push_back(nullptr);
  p.path_list = p.Keep(std::string(path));
  p.cwd = p.Keep(spec.cwd);
  p.stdio[0] = spec.stdin_fd;
  p.stdio[1] = spec.stdout_fd;
  p.stdio[2] = spec.stderr_fd;

  p.seccomp_bpf = spec.policy.seccomp_bpf;
  p.seccomp_prog.len = static_cast<unsigned short>(p.seccomp_bpf.size());
  p.seccomp_prog.filter = p.seccomp_bpf.empty() ? nullptr : p.seccomp_bpf.data();
  p.seccomp_flags = spec.policy.seccomp_flags;
  p.keep_caps = spec.policy.keep_caps;
  p.rlimits = spec.policy.rlimits;
  p.landlock_fd = spec.policy.landlock_ruleset_fd;
  p.no_new_privs = spec.policy.no_new_privs;
  return {};
}

Result<std::string> RealPath(const std::string& path, const char* field, int index) {
  char* resolved = ::realpath(path.c_str(), nullptr);
  if (resolved == nullptr) {
    const int err = errno;
    Error e = ErrnoError("sandbox.setup_failed", "setup step mount", path, err);
    e.WithDetail("step", index >= 0 ? "mount" : "rootfs").WithDetail("field", field);
    if (index >= 0) e.WithDetail("mount_index", index);
    if (err == ENOENT) e.WithHint("the host path does not exist: create it or fix the spec");
    return Fail(std::move(e));
  }
  std::string out(resolved);
  std::free(resolved);
  return out;
}

Status PrepareSpawn(const SpawnSpec& spec, Prepared& p) {
  ARSENAL_TRY(PrepareCommon(spec, p, /*need_argv=*/!spec.idle_init));
  const NamespaceSet& ns = spec.namespaces;
  if ((spec.idle_init || spec.status_fd >= 0) && !ns.pid) {
    return Fail(
        Invalid("idle_init and status_fd need a pid namespace (a PID 1 reaper)", "namespaces.pid"));
  }
  p.idle_init = spec.idle_init;
  p.status_fd = spec.status_fd;
  if (!ns.mount && (!spec.rootfs.empty() || !spec.mounts.empty())) {
    return Fail(Invalid("rootfs and mounts need a mount namespace", "namespaces.mount"));
  }
  if (spec.network == NetworkMode::kLoopback && !ns.net) {
    return Fail(Invalid("network 'loopback' needs a network namespace", "namespaces.net"));
  }
  if (spec.hostname.size() > HOST_NAME_MAX || HasNul(spec.hostname)) {
    return Fail(Invalid("hostname is longer than 64 bytes", "hostname"));
  }
  p.user_ns = ns.user;
  p.mount_ns = ns.mount;
  p.pid_ns = ns.pid;
  p.uts_ns = ns.uts;
  p.net_ns = ns.net;
  p.cgroup_ns = ns.cgroup;
  p.hostname = (ns.uts && !spec.hostname.empty()) ? p.Keep(spec.hostname) : nullptr;
  p.loopback_up = spec.network == NetworkMode::kLoopback;
  p.mount_proc = spec.mount_proc;
  p.mount_dev = spec.mount_dev;
  p.rootfs_read_only = spec.rootfs_read_only;
  if (!ns.mount) return {};

  if (spec.rootfs.empty()) {
    p.rootfs_source = "/oldroot";
  } else {
    if (spec.rootfs[0] != '/') return Fail(Invalid("rootfs must be an absolute path", "rootfs"));
    ARSENAL_ASSIGN_OR_RETURN(std::string root, RealPath(spec.rootfs, "rootfs", -1));
    p.rootfs_source = p.Keep("/oldroot" + root);
  }
  p.mounts.reserve(spec.mounts.size());
  for (size_t i = 0; i < spec.mounts.size(); ++i) {
    const MountSpec& m = spec.mounts[i];
    const std::string field = "mounts[" + std::to_string(i) + "]";
    if (m.target.size() < 2 || m.target[0] != '/' || HasNul(m.target) ||
        m.target.find("/../") != std::string::npos || m.target.ends_with("/..")) {
      return Fail(Invalid(field + ".target must be an absolute path below /: '" + m.target + "'",
                          field + ".target"));
    }
    internal::PreparedMount pm;
    pm.target = p.Keep("/newroot" + m.target);
    if (m.kind == MountSpec::Kind::kBind) {
      if (m.source.empty() || m.source[0] != '/' || HasNul(m.source)) {
        return Fail(Invalid(field + ".source must be an absolute host path", field + ".source"));
      }
      ARSENAL_ASSIGN_OR_RETURN(std::string src, RealPath(m.source, "source", static_cast<int>(i)));
      pm.bind = true;
      pm.read_only = m.read_only;
      pm.source = p.Keep("/oldroot" + src);
    } else {
      pm.bind = false;
      pm.read_only = false;
      pm.source = "tmpfs";
      char mode[16];
      std::snprintf(mode, sizeof(mode), "%o", m.tmpfs_mode & 07777);
      std::string data = std::string("mode=") + mode;
      if (m.tmpfs_size_bytes > 0) data += ",size=" + std::to_string(m.tmpfs_size_bytes);
      pm.data = p.Keep(std::move(data));
    }
    p.mounts.push_back(pm);
  }
  return {};
}

uint64_t CloneFlags(const NamespaceSet& ns, bool include_cgroup) {
  uint64_t flags = 0;
  if (ns.user) flags |= CLONE_NEWUSER;
  if (ns.mount) flags |= CLONE_NEWNS;
  if (ns.pid) flags |= CLONE_NEWPID;
  if (ns.net) flags |= CLONE_NEWNET;
  if (ns.uts) flags |= CLONE_NEWUTS;
  if (ns.ipc) flags |= CLONE_NEWIPC;
  if (ns.cgroup && include_cgroup) flags |= CLONE_NEWCGROUP;
  if (ns.time && TimeNamespaceAvailable()) flags |= CLONE_NEWTIME;
  return flags;
}

// A SOCK_SEQPACKET pair, both ends above 2 so that moving stdio never clobbers them.
Status MakeSyncPair(UniqueFd& parent_end, UniqueFd& child_end) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    return Fail(ErrnoError("sandbox.setup_failed", "socketpair", "sync socket", errno));
  }
  parent_end.Reset(sv[0]);
  child_end.Reset(sv[1]);
  for (UniqueFd* fd : {&parent_end, &child_end}) {
    if (fd->get() < 3) {
      int moved = ::fcntl(fd->get(), F_DUPFD_CLOEXEC, 3);
      if (moved < 0) return Fail(ErrnoError("sandbox.setup_failed", "fcntl", "sync socket", errno));
      fd->Reset(moved);
    }
  }
  return {};
}

Status SendGo(int fd, char go) {
  if (::send(fd, &go, 1, MSG_NOSIGNAL) != 1) {
    return Fail(ErrnoError("sandbox.setup_failed", "send", "sync socket", errno)
                    .WithHint("the child died before setup; check the kernel log and limits"));
  }
  return {};
}

// Next message from the child; nullopt on EOF (every copy of the child's end is closed: the
// workload exec'ed, or died without a report).
Result<std::optional<Report>> ReadReport(int fd) {
  Report r;
  ssize_t n;
  do {
    n = ::recv(fd, &r, sizeof(r), 0);
  } while (n < 0 && errno == EINTR);
  if (n == 0) return std::optional<Report>();
  if (n != sizeof(r)) {
    return Fail(ErrnoError("sandbox.setup_failed", "recv", "sync socket", n < 0 ? errno : EPROTO));
  }
  return std::optional<Report>(r);
}

// Waits for the exec (EOF) or a failure report.
Status AwaitExec(const SpawnSpec& spec, int fd) {
  for (;;) {
    ARSENAL_ASSIGN_OR_RETURN(std::optional<Report> r, ReadReport(fd));
    if (!r) return {};
    if (r->kind == Report::kFailure) return Fail(SetupError(spec, *r));
  }
}

Error CloneError(int err) {
  Error e = ErrnoError("sandbox.clone_failed", "clone3", "sandbox", err);
  if (err == ENOSPC || err == EUSERS) {
    e.WithHint("a namespace count limit was reached (/proc/sys/user/max_*_namespaces)");
  } else if (err == EPERM) {
    e.WithHint(
        "creating these namespaces needs a user namespace or CAP_SYS_ADMIN; check "
        "kernel.unprivileged_userns_clone and user.max_user_namespaces");
  } else if (err == EINVAL || err == ENOSYS) {
    e.WithHint("the kernel lacks clone3/CLONE_PIDFD or a requested namespace kind (5.3+ needed)");
  }
  return e;
}

}  // namespace

namespace {

// The workload's stack inside PID 1 (child.cc, RunReaper). PID 1 is a copy-on-write copy of this
// process (no CLONE_VM), so one region serves every sandbox at once: each PID 1 has its own copy,
// and this process never touches it. Reserved once; untouched pages cost nothing.
constexpr size_t kWorkloadStackBytes = 256 * 1024;

Result<char*> WorkloadStackTop() {
  static std::once_flag once;
  static char* top = nullptr;
  static int err = 0;
  std::call_once(once, [] {
    void* base = ::mmap(nullptr, kWorkloadStackBytes, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (base == MAP_FAILED) {
      err = errno;
      return;
    }
    // A guard page: an overflow faults instead of writing past the region.
    ::mprotect(base, static_cast<size_t>(::sysconf(_SC_PAGESIZE)), PROT_NONE);
    top = static_cast<char*>(base) + kWorkloadStackBytes;
  });
  if (top == nullptr) {
    return Fail(ErrnoError("sandbox.setup_failed", "mmap", "workload stack", err));
  }
  return top;
}

Status PrepareReaper(Prepared& p) {
  if (!p.pid_ns) return {};
  const int fd = internal::ReaperFd();
  if (fd < 0) {
    return Fail(ErrnoError("sandbox.setup_failed", "memfd_create", "arsenal-reaper", -fd)
                    .WithHint("the sandbox's PID 1 program is written to a memfd once per "
                              "process: check the open-file limit and memory"));
  }
  p.reaper_fd = fd;
  if (!p.idle_init) {
    ARSENAL_ASSIGN_OR_RETURN(p.workload_stack_top, WorkloadStackTop());
  }
  return {};
}

}  // namespace

Result<SpawnedProcess> Spawn(const SpawnSpec& spec, const ParentHook& hook) {
  Prepared p;
  ARSENAL_TRY(PrepareSpawn(spec, p));
  ARSENAL_TRY(PrepareReaper(p));
  UniqueFd parent_end, child_end;
  ARSENAL_TRY(MakeSyncPair(parent_end, child_end));
  p.sync_fd = child_end.get();

  int pidfd = -1;
  struct clone_args args = {};
  args.flags = CLONE_PIDFD | CLONE_CLEAR_SIGHAND | CloneFlags(spec.namespaces, false);
  args.pidfd = reinterpret_cast<uint64_t>(&pidfd);
  args.exit_signal = SIGCHLD;
  if (spec.cgroup2_dir_fd >= 0) {
    args.flags |= CLONE_INTO_CGROUP;
    args.cgroup = static_cast<uint64_t>(spec.cgroup2_dir_fd);
  }
  pid_t pid = sys::Clone3(&args, sizeof(args));
  if (pid < 0) return Fail(CloneError(errno));
  if (pid == 0) {
    ::close(parent_end.get());
    internal::RunSpawnChild(p);
  }
  child_end.Reset();
  // From here on every early return kills and reaps the child (SpawnedProcess's destructor);
  // its mounts die with its mount namespace.
  SpawnedProcess proc(pid, UniqueFd(pidfd));

  char go = internal::kGoKeepGroups;
  if (spec.namespaces.user) {
    ARSENAL_ASSIGN_OR_RETURN(bool clear, WriteIdMaps(pid, spec.ids));
    if (clear) go = internal::kGoClearGroups;
  } else if (::geteuid() == 0) {
    go = internal::kGoClearGroups;
  }
  if (hook) {
    Status hooked = hook(pid);
    if (!hooked) return Fail(std::move(hooked.error()).AddContext("sandbox spawn hook"));
  }
  ARSENAL_TRY(SendGo(parent_end.get(), go));
  Status done = AwaitExec(spec, parent_end.get());
  if (!done) {
    (void)proc.Wait();  // it has already _exit'ed (or is about to)
    return Fail(std::move(done.error()));
  }
  return proc;
}

Result<SpawnedProcess> SpawnInto(int target_pidfd, const SpawnSpec& spec, const ParentHook& hook) {
  Prepared p;
  ARSENAL_TRY(PrepareCommon(spec, p));
  if (target_pidfd < 0) return Fail(Invalid("target pidfd is invalid", "target"));
  p.setns_pidfd = target_pidfd;
  p.setns_flags = static_cast<int>(CloneFlags(spec.namespaces, true));
  p.setns_user = spec.namespaces.user;
  p.clear_groups = ::geteuid() == 0;
  if (p.setns_flags == 0) return Fail(Invalid("no namespace to join", "namespaces"));

  UniqueFd parent_end, child_end;
  ARSENAL_TRY(MakeSyncPair(parent_end, child_end));
  p.sync_fd = child_end.get();

  int helper_pidfd = -1;
  struct clone_args args = {};
  args.flags = CLONE_PIDFD | CLONE_CLEAR_SIGHAND;
  args.pidfd = reinterpret_cast<uint64_t>(&helper_pidfd);
  args.exit_signal = SIGCHLD;
  pid_t helper_pid = sys::Clone3(&args, sizeof(args));
  if (helper_pid < 0) return Fail(CloneError(errno));
  if (helper_pid == 0) {
    ::close(parent_end.get());
    internal::RunSetnsHelper(p);
  }
  child_end.Reset();
  SpawnedProcess helper(helper_pid, UniqueFd(helper_pidfd));

  ARSENAL_ASSIGN_OR_RETURN(std::optional<Report> first, ReadReport(parent_end.get()));
  (void)helper.Wait();
  if (!first) {
    return Fail(InternalError("sandbox.setup_failed", "the setns helper exited without a report")
                    .WithHint("check resource limits (pids) and the kernel log"));
  }
  if (first->kind == Report::kFailure) return Fail(SetupError(spec, *first));

  // The workload is our child (CLONE_PARENT) and unreaped, so its pid cannot be reused here.
  pid_t pid = first->pid;
  int pidfd = sys::PidfdOpen(pid, 0);
  if (pidfd < 0) {
    int err = errno;
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    return Fail(
        ErrnoError("sandbox.setup_failed", "pidfd_open", "pid " + std::to_string(pid), err));
  }
  SpawnedProcess proc(pid, UniqueFd(pidfd));
  if (hook) {
    Status hooked = hook(pid);
    if (!hooked) return Fail(std::move(hooked.error()).AddContext("sandbox exec hook"));
  }
  ARSENAL_TRY(SendGo(parent_end.get(), internal::kGoKeepGroups));
  Status done = AwaitExec(spec, parent_end.get());
  if (!done) {
    (void)proc.Wait();
    return Fail(std::move(done.error()));
  }
  return proc;
}

}  // namespace arsenal::ns
