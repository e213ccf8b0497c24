// The child between clone and exec: the one place that lists the setup order.
//
// Restricted dialect: no allocation, no locks, no exceptions, no logging, and no glibc wrapper
// that assumes glibc's own fork bookkeeping (setgroups/setresuid go through raw syscalls, since
// glibc would try to broadcast them to threads that exist only in the parent; processes are
// created with raw clone3). Every failure goes through Die(): {step, errno} to the parent, then
// _exit.
#include "child.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "arsenal/base/syscalls.h"

namespace arsenal::ns::internal {
namespace {

constexpr int kSetupFailedExit = 127;
constexpr int kForwardedSignals[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2};

// Blocks until the parent says go (maps written, hook done). Returns the go byte, or 0 when the
// parent went away or gave up (it then kills us anyway).
char WaitForGo(int sync_fd) {
  char go = 0;
  ssize_t n;
  do {
    n = ::recv(sync_fd, &go, 1, 0);
  } while (n < 0 && errno == EINTR);
  return n == 1 ? go : 0;
}

// Moves the requested fds onto 0/1/2. Sources are first duplicated above 2 so that a source
// which is itself 0, 1 or 2 is not overwritten before it is used.
int SetupStdio(const Prepared& p) {
  int tmp[3];
  for (int i = 0; i < 3; ++i) {
    int src = p.stdio[i];
    if (src < 0) {
      src = ::open("/dev/null", O_RDWR | O_CLOEXEC);
      if (src < 0) return -1;
    }
    tmp[i] = ::fcntl(src, F_DUPFD_CLOEXEC, 3);
    if (tmp[i] < 0) return -1;
  }
  for (int i = 0; i < 3; ++i) {
    if (::dup2(tmp[i], i) < 0) return -1;
  }
  return 0;
}

// Closes every fd from 3 up except the given ones (-1 entries are ignored): whatever the caller's
// process holds (this machine hands every process fds 10 and 251) must not reach the sandbox.
int CloseFdsExcept(int a, int b, int c, int d) {
  int keep[4] = {a, b, c, d};
  // Sort four values without a library call.
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3 - i; ++j) {
      if (keep[j] > keep[j + 1]) {
        int t = keep[j];
        keep[j] = keep[j + 1];
        keep[j + 1] = t;
      }
    }
  }
  unsigned int next = 3;
  for (int k : keep) {
    if (k < static_cast<int>(next)) continue;
    if (static_cast<unsigned int>(k) > next &&
        sys::CloseRange(next, static_cast<unsigned int>(k) - 1, 0) < 0) {
      return -1;
    }
    next = static_cast<unsigned int>(k) + 1;
  }
  return sys::CloseRange(next, ~0U, 0);
}

// Moves the calling (single-threaded) child into the cgroups whose `tasks` files the parent
// opened: writing "0" migrates the writer itself without the global threadgroup lock.
void JoinCgroups(const Prepared& p) {
  for (int fd : p.cgroup_join_fds) {
    ssize_t n;
    do {
      n = ::write(fd, "0", 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) Die(p.sync_fd, Step::kCgroupJoin, n < 0 ? errno : EIO);
  }
}

// Moves an fd the child must keep above stdio (SetupStdio overwrites 0..2).
int KeepAboveStdio(int fd) {
  if (fd < 0 || fd > 2) return fd;
  return ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

[[noreturn]] void Exec(Prepared& p) {
  const char* prog = p.argv[0];
  if (std::strchr(prog, '/') != nullptr) {
    ::execve(prog, p.argv.data(), p.envp.data());
    Die(p.sync_fd, Step::kExec, errno);
  }
  // PATH search like execvpe, but into a buffer prepared before clone.
  int err = ENOENT;
  const size_t prog_len = std::strlen(prog);
  const char* dir = p.path_list;
  for (;;) {
    const char* end = ::strchrnul(dir, ':');
    size_t dir_len = static_cast<size_t>(end - dir);
    if (dir_len + prog_len + 2 <= sizeof(p.exec_buf)) {
      char* out = p.exec_buf;
      if (dir_len == 0) {
        *out++ = '.';
      } else {
        std::memcpy(out, dir, dir_len);
        out += dir_len;
      }
      *out++ = '/';
      std::memcpy(out, prog, prog_len + 1);
      ::execve(p.exec_buf, p.argv.data(), p.envp.data());
      if (errno == EACCES) {
        err = EACCES;
      } else if (errno != ENOENT && errno != ENOTDIR) {
        err = errno;
        break;
      }
    }
    if (*end == '\0') break;
    dir = end + 1;
  }
  Die(p.sync_fd, Step::kExec, err);
}

// The workload's last steps, in order: cwd → signals → rlimits → capabilities + no_new_privs →
// Landlock → seccomp → exec. Every failure kills the child (fail closed).
[[noreturn]] void RunWorkload(Prepared& p) {
  const int fd = p.sync_fd;
  if (::chdir(p.cwd) < 0) Die(fd, Step::kCwd, errno);
  sys::ResetSignalDispositions();
  sigset_t none;
  sigemptyset(&none);
  if (::sigprocmask(SIG_SETMASK, &none, nullptr) < 0) Die(fd, Step::kSignals, errno);
  if (ApplyRlimits(p) < 0) Die(fd, Step::kRlimits, errno);
  if (ApplyCapabilities(p.keep_caps) < 0) Die(fd, Step::kCapabilities, errno);
  if (p.no_new_privs && ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
    Die(fd, Step::kNoNewPrivs, errno);
  }
  if (p.landlock_fd >= 0 && ApplyLandlock(p.landlock_fd) < 0) Die(fd, Step::kLandlock, errno);
  if (p.seccomp_prog.len > 0 && ApplySeccomp(&p.seccomp_prog, p.seccomp_flags) < 0) {
    Die(fd, Step::kSeccomp, errno);
  }
  Exec(p);
}

// The workload while it shares PID 1's memory: it waits until PID 1 has exec'ed the reaper
// (which closes the last write end of the go pipe), then continues alone in what is now its own
// copy of the memory.
int WorkloadMain(void* arg) {
  Prepared& p = *static_cast<Prepared*>(arg);
  ::close(p.go_write_fd);
  char byte;
  ssize_t n;
  do {
    n = ::read(p.go_read_fd, &byte, 1);
  } while (n < 0 && errno == EINTR);
  // EOF is the only go: a byte or an error means PID 1 is not the reaper.
  if (n != 0) Die(p.sync_fd, Step::kForkWorkload, n < 0 ? errno : EPROTO);
  ::close(p.go_read_fd);
  ::close(p.reaper_fd);
  if (p.status_fd >= 0) ::close(p.status_fd);
  RunWorkload(p);
}

// Writes the decimal form of v into buf (at least 12 bytes).
void FormatInt(int v, char* buf) {
  char tmp[12];
  int len = 0;
  const bool negative = v < 0;
  unsigned int u = negative ? 0U - static_cast<unsigned int>(v) : static_cast<unsigned int>(v);
  do {
    tmp[len++] = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u != 0);
  int i = 0;
  if (negative) buf[i++] = '-';
  while (len > 0) buf[i++] = tmp[--len];
  buf[i] = '\0';
}

// PID 1 of the new pid namespace: starts the workload, drops every privilege, and execs the
// reaper program (bin/arsenal-reaper.c), which forwards signals to the workload, reaps every
// orphan, and exits with the workload's status. This process is a copy of the caller; exec'ing a
// small program instead of staying that copy for the sandbox's lifetime spares the caller the
// copy-on-write faults and cross-CPU TLB flushes a long-lived fork would cost on every write.
//
// The workload is a CLONE_VM child (no copy of the memory: it shares ours, on its own stack,
// until we exec) held on a pipe until the reaper is non-dumpable, so it can never ptrace PID 1.
[[noreturn]] void RunReaper(Prepared& p) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  for (int sig : kForwardedSignals) sigaddset(&set, sig);
  // Blocked before the clone and kept across the exec (blocked signals stay pending), so nothing
  // is lost; blocked signals reach PID 1 even with SIG_DFL.
  if (::sigprocmask(SIG_BLOCK, &set, nullptr) < 0) Die(p.sync_fd, Step::kForkWorkload, errno);

  pid_t workload = 0;
  if (!p.idle_init) {
    int go[2];
    if (::pipe2(go, 0) < 0) Die(p.sync_fd, Step::kForkWorkload, errno);
    p.go_read_fd = go[0];
    p.go_write_fd = go[1];
    workload = ::clone(WorkloadMain, p.workload_stack_top, CLONE_VM | SIGCHLD, &p);
    if (workload < 0) Die(p.sync_fd, Step::kForkWorkload, errno);
    ::close(p.go_read_fd);
  }

  // The reaper needs no privilege: an empty bounding set and no_new_privs make the exec give it
  // no capabilities although it is root of the namespace.
  if (::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0 || DropAllCapabilities() < 0 ||
      ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
      (p.status_fd >= 0 && ::fcntl(p.status_fd, F_SETFD, 0) < 0)) {
    int err = errno;
    if (workload > 0) ::kill(workload, SIGKILL);
    Die(p.sync_fd, Step::kReaper, err);
  }
  // Only the workload's copies may keep stdio open (and the sync socket, close-on-exec: EOF =
  // both execs done).
  if (p.landlock_fd >= 0) ::close(p.landlock_fd);
  ::close(0);
  ::close(1);
  ::close(2);
  char pid_arg[12], status_arg[12], go_arg[12];
  FormatInt(workload, pid_arg);
  FormatInt(p.status_fd, status_arg);
  FormatInt(workload > 0 ? p.go_write_fd : -1, go_arg);
  char name[] = "arsenal-reaper";
  char* argv[] = {name, pid_arg, status_arg, go_arg, nullptr};
  char* envp[] = {nullptr};
  char empty[] = "";
  ::syscall(SYS_execveat, p.reaper_fd, empty, argv, envp, AT_EMPTY_PATH);
  const int err = errno;
  if (workload > 0) ::kill(workload, SIGKILL);
  Die(p.sync_fd, Step::kReaper, err);
}

// Common start of every child: wait for the parent, then stdio and fds.
char StartChild(Prepared& p) {
  char go = WaitForGo(p.sync_fd);
  if (go == 0) ::_exit(kSetupFailedExit);
  JoinCgroups(p);
  const bool had_landlock = p.landlock_fd >= 0, had_status = p.status_fd >= 0,
             had_reaper = p.reaper_fd >= 0;
  p.landlock_fd = KeepAboveStdio(p.landlock_fd);
  p.status_fd = KeepAboveStdio(p.status_fd);
  p.reaper_fd = KeepAboveStdio(p.reaper_fd);
  if ((had_landlock && p.landlock_fd < 0) || (had_status && p.status_fd < 0) ||
      (had_reaper && p.reaper_fd < 0)) {
    Die(p.sync_fd, Step::kStdio, errno);
  }
  if (SetupStdio(p) < 0) Die(p.sync_fd, Step::kStdio, errno);
  if (CloseFdsExcept(p.sync_fd, p.landlock_fd, p.status_fd, p.reaper_fd) < 0) {
    Die(p.sync_fd, Step::kCloseFds, errno);
  }
  if (go == kGoClearGroups && ::syscall(SYS_setgroups, 0, nullptr) < 0) {
    Die(p.sync_fd, Step::kGroups, errno);
  }
  return go;
}

// The clone leaves us with the caller's (unmapped) ids; become root of the new user namespace,
// so that files and mounts we create belong to the mapped id, not to the caller.
void BecomeNamespaceRoot(const Prepared& p) {
  if (::syscall(SYS_setresgid, 0, 0, 0) < 0 || ::syscall(SYS_setresuid, 0, 0, 0) < 0) {
    Die(p.sync_fd, Step::kSetIds, errno);
  }
}

}  // namespace

void Die(int sync_fd, Step step, int err, int index) {
  Report report;
  report.kind = Report::kFailure;
  report.step = static_cast<int32_t>(step);
  report.err = err;
  report.index = index;
  ssize_t n;
  do {
    n = ::send(sync_fd, &report, sizeof(report), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  ::_exit(kSetupFailedExit);
}

// The fixed setup order of a new sandbox (DESIGN.md "The sandbox"):
//   go → stdio + close fds → groups → uid/gid 0 → cgroup ns → mounts → pivot_root → hostname →
//   network → [PID 1 reaper forks] → cwd → signals → rlimits → capabilities + no_new_privs →
//   Landlock → seccomp → exec.
void RunSpawnChild(Prepared& p) {
  StartChild(p);
  if (p.user_ns) BecomeNamespaceRoot(p);
  // After the hook, so the namespace's root is the cgroup the parent attached us to.
  if (p.cgroup_ns && ::unshare(CLONE_NEWCGROUP) < 0) Die(p.sync_fd, Step::kCgroupNs, errno);
  if (p.mount_ns) {
    Step step = Step::kMountPrivate;
    int index = -1;
    if (SetupMounts(p, &step, &index) < 0) Die(p.sync_fd, step, errno, index);
  }
  if (p.hostname != nullptr && ::sethostname(p.hostname, std::strlen(p.hostname)) < 0) {
    Die(p.sync_fd, Step::kHostname, errno);
  }
  if (p.loopback_up && BringUpLoopback() < 0) Die(p.sync_fd, Step::kNetwork, errno);
  if (p.pid_ns) RunReaper(p);
  RunWorkload(p);
}

// SpawnInto: joins the target's namespaces (all at once, user first, as setns(pidfd) does),
// becomes root of the joined user namespace, and forks the workload as a sibling (CLONE_PARENT)
// so the caller is its parent; a pid namespace only applies to children. The workload then
// waits for go like a new sandbox's child and applies the same policy.
void RunSetnsHelper(Prepared& p) {
  if (p.clear_groups && ::syscall(SYS_setgroups, 0, nullptr) < 0) {
    Die(p.sync_fd, Step::kGroups, errno);
  }
  if (::setns(p.setns_pidfd, p.setns_flags) < 0) Die(p.sync_fd, Step::kSetns, errno);
  if (p.setns_user) BecomeNamespaceRoot(p);
  struct clone_args args = {};
  args.flags = CLONE_PARENT;
  pid_t workload = sys::Clone3(&args, sizeof(args));
  if (workload < 0) Die(p.sync_fd, Step::kForkWorkload, errno);
  if (workload == 0) {
    ::close(p.setns_pidfd);
    p.clear_groups = false;  // done above, and setgroups may be denied in the joined namespace
    StartChild(p);
    RunWorkload(p);
  }
  Report report;
  report.kind = Report::kPid;
  report.pid = workload;
  ssize_t n;
  do {
    n = ::send(p.sync_fd, &report, sizeof(report), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  ::_exit(n == sizeof(report) ? 0 : kSetupFailedExit);
}

const char* StepName(Step step) {
  switch (step) {
    case Step::kNone:
      return "none";
    case Step::kWaitParent:
      return "wait_parent";
    case Step::kStdio:
      return "stdio";
    case Step::kCloseFds:
      return "close_fds";
    case Step::kGroups:
      return "groups";
    case Step::kCgroupNs:
      return "cgroup_namespace";
    case Step::kMountPrivate:
      return "mount_private";
    case Step::kMountStaging:
      return "mount_staging";
    case Step::kPivotStaging:
      return "pivot_staging";
    case Step::kRootfs:
      return "rootfs";
    case Step::kMount:
      return "mount";
    case Step::kProc:
      return "proc";
    case Step::kDev:
      return "dev";
    case Step::kPivotRoot:
      return "pivot_root";
    case Step::kDetachOldRoot:
      return "detach_old_root";
    case Step::kHostname:
      return "hostname";
    case Step::kNetwork:
      return "network";
    case Step::kForkWorkload:
      return "fork_workload";
    case Step::kReaper:
      return "reaper";
    case Step::kSetns:
      return "setns";
    case Step::kSetIds:
      return "set_ids";
    case Step::kCwd:
      return "cwd";
    case Step::kSignals:
      return "signals";
    case Step::kRlimits:
      return "rlimits";
    case Step::kCapabilities:
      return "capabilities";
    case Step::kNoNewPrivs:
      return "no_new_privs";
    case Step::kLandlock:
      return "landlock";
    case Step::kSeccomp:
      return "seccomp";
    case Step::kExec:
      return "exec";
    case Step::kCgroupJoin:
      return "cgroup_join";
  }
  return "unknown";
}

}  // namespace arsenal::ns::internal
