// arsenal-reaper: PID 1 of a sandbox's pid namespace.
//
// The sandbox's setup child (a copy of the caller's process) builds the namespaces, starts the
// workload and then execs this program from a sealed memfd (namespaces/reaper_image.c), so that
// no copy of a large, multi-threaded caller lives on for the sandbox's lifetime: a long-lived
// fork would keep every page of the caller shared copy-on-write, and each later write by the
// caller would fault and flush TLBs on all its CPUs.
//
// Usage (argv, set by namespaces/child.cc; there is no user-facing interface):
//   arsenal-reaper WORKLOAD_PID STATUS_FD GO_FD
//     WORKLOAD_PID  the workload (our child), or 0 for an idle init that only holds the
//                   namespaces until it is told to stop.
//     STATUS_FD     where to write the workload's raw wait status (an int) before exiting, or -1.
//     GO_FD         the write end of a pipe the workload blocks on; closing it releases the
//                   workload, after this program has made itself non-dumpable. -1: none.
//
// Behaviour: forwards SIGTERM, SIGINT, SIGHUP, SIGUSR1 and SIGUSR2 to the workload, reaps every
// process that ends up as its child, and exits with the workload's status (128+N when the
// workload was killed by signal N: PID 1 cannot re-raise a signal on itself). Its exit makes the
// kernel kill everything left in the namespace.
//
// Security: it runs with no capabilities, no_new_privs and an empty bounding set (set before the
// exec), and makes itself non-dumpable before the workload may run, so the workload can neither
// ptrace it nor read its memory. It is linked statically: the sandbox's root file system needs no
// libc for it.
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static const int kForwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2};
enum { kUsageExit = 127 };

static int ParseInt(const char* text, long min, int* out) {
  char* end = NULL;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < min || v > 0x7fffffff) return -1;
  *out = (int)v;
  return 0;
}

int main(int argc, char** argv) {
  // First, before the workload is released: exec made us dumpable again.
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) return kUsageExit;
  // Exec'ed through a file descriptor, the kernel names us after its number.
  prctl(PR_SET_NAME, "arsenal-reaper", 0, 0, 0);
  int workload = 0, status_fd = -1, go_fd = -1;
  if (argc != 4 || ParseInt(argv[1], 0, &workload) < 0 || ParseInt(argv[2], -1, &status_fd) < 0 ||
      ParseInt(argv[3], -1, &go_fd) < 0) {
    return kUsageExit;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  for (size_t i = 0; i < sizeof(kForwarded) / sizeof(kForwarded[0]); ++i) {
    sigaddset(&set, kForwarded[i]);
  }
  // Already blocked by the setup child (blocked and pending signals survive exec), so nothing
  // sent in between is lost.
  if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) return kUsageExit;
  if (go_fd >= 0) close(go_fd);

  for (;;) {
    siginfo_t info;
    int sig = sigwaitinfo(&set, &info);
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      // An idle init has nobody to forward to: a termination request ends the sandbox.
      if (workload == 0) _exit(0);
      kill(workload, sig);
      continue;
    }
    for (;;) {
      int status = 0;
      pid_t pid = waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      if (workload == 0 || pid != workload) continue;
      if (status_fd >= 0) {
        ssize_t n;
        do {
          n = write(status_fd, &status, sizeof(status));
        } while (n < 0 && errno == EINTR);
      }
      if (WIFSIGNALED(status)) _exit(128 + WTERMSIG(status));
      _exit(WEXITSTATUS(status));
    }
  }
}
