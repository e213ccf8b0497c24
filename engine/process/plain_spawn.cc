#include "process/plain_spawn.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <memory>

#include "arsenal/base/syscalls.h"

namespace arsenal::process_internal {
namespace {

enum class Step : int {
  kNone = 0,
  kUnshare,
  kParentPidfd,
  kGetfd,
  kStdio,
  kCloseRange,
  kSignals,
  kProcessGroup,
  kNoTty,
  kChdir,
  kExec,
};

const char* StepSyscall(Step step) {
  switch (step) {
    case Step::kUnshare:
      return "close_range(CLOSE_RANGE_UNSHARE)";
    case Step::kParentPidfd:
      return "pidfd_open(parent)";
    case Step::kGetfd:
      return "pidfd_getfd";
    case Step::kStdio:
      return "dup2(stdio)";
    case Step::kCloseRange:
      return "close_range";
    case Step::kSignals:
      return "sigprocmask";
    case Step::kProcessGroup:
      return "setpgid";
    case Step::kNoTty:
      return "ioctl(TIOCNOTTY)";
    case Step::kChdir:
      return "chdir";
    case Step::kExec:
      return "execve";
    case Step::kNone:
      break;
  }
  return "clone";
}

// Shared with the child (CLONE_VM). The child writes step/err only when it fails; the parent
// reads them after the vfork has ended, so no synchronization beyond that is needed.
struct ChildArgs {
  const PlainSpawnRequest* request = nullptr;
  pid_t parent = 0;
  bool handoff = false;
  volatile int step = 0;
  volatile int err = 0;
};

[[noreturn]] void ChildFail(ChildArgs* args, Step step) {
  args->err = errno;
  args->step = static_cast<int>(step);
  ::_exit(127);
}

// Runs in the child, on its own stack, in the parent's memory, until execve.
int ChildMain(void* p) {
  auto* args = static_cast<ChildArgs*>(p);
  const PlainSpawnRequest& r = *args->request;
  if (args->handoff) {
    // Swap the shared table for an empty one: constant cost however much the parent has open.
    if (sys::CloseRange(0, ~0U, CLOSE_RANGE_UNSHARE) != 0) ChildFail(args, Step::kUnshare);
    const int parent = sys::PidfdOpen(args->parent, 0);  // fd 0: the table is empty
    if (parent < 0) ChildFail(args, Step::kParentPidfd);
    const int held = ::fcntl(parent, F_DUPFD_CLOEXEC, 3);
    if (held < 0) ChildFail(args, Step::kParentPidfd);
    ::close(parent);
    for (int i = 0; i < 3; ++i) {
      // The lowest free descriptor is i, so stdio lands in place; pidfd_getfd sets
      // close-on-exec, which must go.
      const int fd = sys::PidfdGetfd(held, r.stdio[i], 0);
      if (fd < 0) ChildFail(args, Step::kGetfd);
      if (fd != i) {
        errno = EBADFD;
        ChildFail(args, Step::kGetfd);
      }
      if (::fcntl(i, F_SETFD, 0) != 0) ChildFail(args, Step::kStdio);
    }
    ::close(held);
  } else {
    // A copied table: move stdio above 2 first so that no dup2 overwrites a source still needed.
    int moved[3];
    for (int i = 0; i < 3; ++i) {
      moved[i] = ::fcntl(r.stdio[i], F_DUPFD_CLOEXEC, 3);
      if (moved[i] < 0) ChildFail(args, Step::kStdio);
    }
    for (int i = 0; i < 3; ++i) {
      if (::dup2(moved[i], i) < 0) ChildFail(args, Step::kStdio);
    }
    if (sys::CloseRange(3, ~0U, 0) != 0) ChildFail(args, Step::kCloseRange);
  }
  // Default dispositions before unblocking, so no handler of the daemon can run here. (glibc
  // refuses its two internal signals; exec resets caught signals anyway.)
  sys::ResetSignalDispositions();
  sigset_t none;
  sigemptyset(&none);
  if (::sigprocmask(SIG_SETMASK, &none, nullptr) != 0) ChildFail(args, Step::kSignals);
  if (r.new_session) {
    // Its own process group, and no controlling terminal: the effect of setsid() that matters
    // for a managed process, without a new session. A new session (and the scheduler autogroup
    // that comes with it) delayed the exec by ~2 ms, stalling this thread, on the kernels
    // measured (docs/decisions.md, "Managed processes lead a process group, not a session").
    if (::setpgid(0, 0) != 0) ChildFail(args, Step::kProcessGroup);
    const int tty = ::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (tty >= 0) {
      // Not a session leader, so this only detaches the child: nobody else gets a SIGHUP.
      if (::ioctl(tty, TIOCNOTTY) != 0) ChildFail(args, Step::kNoTty);
      ::close(tty);
    }
  }
  if (::chdir(r.cwd) != 0) ChildFail(args, Step::kChdir);
  ::execve(r.path, r.argv, r.envp);
  ChildFail(args, Step::kExec);
}

constexpr size_t kStackSize = 64 * 1024;

struct CloneOutcome {
  pid_t pid = 0;
  UniqueFd pidfd;
  Step step = Step::kNone;
  int err = 0;
};

CloneOutcome Clone(const PlainSpawnRequest& request, bool handoff) {
  // One stack per spawning thread: the thread is suspended while the child uses it.
  thread_local std::unique_ptr<char[]> stack;
  if (!stack) stack = std::make_unique<char[]>(kStackSize);
  ChildArgs args;
  args.request = &request;
  args.parent = ::getpid();
  args.handoff = handoff;
  int flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD;
  if (handoff) flags |= CLONE_FILES;
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  int pidfd = -1;
  const pid_t pid = ::clone(ChildMain, stack.get() + kStackSize, flags, &args, &pidfd);
  const int clone_err = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  CloneOutcome out;
  if (pid < 0) {
    out.step = Step::kNone;
    out.err = clone_err;
    return out;
  }
  out.pid = pid;
  out.pidfd.Reset(pidfd);
  if (args.step != 0) {
    // The child has already exited; reap it here (the table defers orphan reaping while a
    // spawn is in flight, so nobody else takes it).
    siginfo_t info{};
    sys::WaitPidfd(pidfd, &info, WEXITED);
    out.step = static_cast<Step>(args.step);
    out.err = args.err;
    out.pidfd.Reset();
  }
  return out;
}

std::atomic<bool> g_handoff{true};

}  // namespace

Result<SpawnedChild> SpawnPlainChild(const PlainSpawnRequest& request) {
  CloneOutcome out;
  if (request.fd_handoff && g_handoff.load(std::memory_order_relaxed)) {
    out = Clone(request, true);
    const bool refused = out.step == Step::kUnshare || out.step == Step::kParentPidfd ||
                         (out.step == Step::kGetfd && out.err != EBADF && out.err != EBADFD);
    if (refused) {
      // Not allowed here (ptrace access to ourselves, or an old kernel): copy the table from
      // now on.
      g_handoff.store(false, std::memory_order_relaxed);
      out = Clone(request, false);
    }
  } else {
    out = Clone(request, false);
  }
  if (out.pid <= 0 || out.step != Step::kNone) {
    return Fail(ErrnoError("process.spawn_failed", StepSyscall(out.step), request.what, out.err)
                    .WithDetail("cwd", std::string(request.cwd)));
  }
  return SpawnedChild{out.pid, std::move(out.pidfd)};
}

}  // namespace arsenal::process_internal
