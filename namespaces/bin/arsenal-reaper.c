// arsenal-reaper: PID 1 of a sandbox's pid namespace.
//
// The sandbox's setup child (a copy of the caller's process) builds the namespaces, starts the
// workload and then execs this program from a sealed memfd (namespaces/reaper_image.cc), so that
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
// ptrace it nor read its memory.
//
// Freestanding: no libc, raw system calls only (x86-64 and AArch64), a few kilobytes. It needs no
// libc in the sandbox's root, every sandbox's exec of it is cheap, and writing it into the memfd
// costs a one-shot `arsenal run` next to nothing.
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#if defined(__x86_64__)
__asm__(
    ".text\n"
    ".global _start\n"
    "_start:\n"
    "  xor %rbp, %rbp\n"
    "  mov %rsp, %rdi\n"
    "  and $-16, %rsp\n"
    "  call ReaperMain\n"
    "  hlt\n");

static long Syscall4(long n, long a, long b, long c, long d) {
  long ret;
  register long r10 __asm__("r10") = d;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                   : "rcx", "r11", "memory");
  return ret;
}
#elif defined(__aarch64__)
__asm__(
    ".text\n"
    ".global _start\n"
    "_start:\n"
    "  mov x29, #0\n"
    "  mov x30, #0\n"
    "  mov x0, sp\n"
    "  bl ReaperMain\n"
    "  brk #0\n");

static long Syscall4(long n, long a, long b, long c, long d) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
  return x0;
}
#else
#error "arsenal-reaper supports x86-64 and AArch64"
#endif

enum { kUsageExit = 127, kEintr = 4 };

// The kernel's sigset for rt_sig* calls: one bit per signal, 8 bytes on these architectures.
typedef uint64_t KernelSigset;
static KernelSigset Bit(int sig) { return (KernelSigset)1 << (sig - 1); }

static __attribute__((noreturn)) void Exit(int code) {
  for (;;) Syscall4(SYS_exit_group, code, 0, 0, 0);
}

static int ParseInt(const char* text, long min, int* out) {
  long sign = 1, v = 0;
  if (*text == '-') {
    sign = -1;
    ++text;
  }
  if (*text == '\0') return -1;
  for (; *text != '\0'; ++text) {
    if (*text < '0' || *text > '9' || v > 0x7fffffffL / 10) return -1;
    v = v * 10 + (*text - '0');
  }
  v *= sign;
  if (v < min || v > 0x7fffffffL) return -1;
  *out = (int)v;
  return 0;
}

__attribute__((noreturn, used)) void ReaperMain(long* stack) {
  const long argc = stack[0];
  char** argv = (char**)(stack + 1);
  // First, before the workload is released: exec made us dumpable again.
  if (Syscall4(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0) < 0) Exit(kUsageExit);
  // Exec'ed through a file descriptor, the kernel names us after its number.
  Syscall4(SYS_prctl, PR_SET_NAME, (long)"arsenal-reaper", 0, 0);
  int workload = 0, status_fd = -1, go_fd = -1;
  if (argc != 4 || ParseInt(argv[1], 0, &workload) < 0 || ParseInt(argv[2], -1, &status_fd) < 0 ||
      ParseInt(argv[3], -1, &go_fd) < 0) {
    Exit(kUsageExit);
  }
  const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2};
  KernelSigset set = Bit(SIGCHLD);
  for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); ++i) set |= Bit(forwarded[i]);
  // Already blocked by the setup child (blocked and pending signals survive exec), so nothing
  // sent in between is lost.
  if (Syscall4(SYS_rt_sigprocmask, SIG_BLOCK, (long)&set, 0, sizeof(set)) < 0) Exit(kUsageExit);
  if (go_fd >= 0) Syscall4(SYS_close, go_fd, 0, 0, 0);

  for (;;) {
    // siginfo_t is 128 bytes; only the signal number (the return value) is used.
    uint64_t info[16];
    const long sig = Syscall4(SYS_rt_sigtimedwait, (long)&set, (long)info, 0, sizeof(set));
    if (sig < 0) continue;
    if (sig != SIGCHLD) {
      // An idle init has nobody to forward to: a termination request ends the sandbox.
      if (workload == 0) Exit(0);
      Syscall4(SYS_kill, workload, sig, 0, 0);
      continue;
    }
    for (;;) {
      int status = 0;
      const long pid = Syscall4(SYS_wait4, -1, (long)&status, WNOHANG, 0);
      if (pid <= 0) break;
      if (workload == 0 || pid != workload) continue;
      if (status_fd >= 0) {
        long n;
        do {
          n = Syscall4(SYS_write, status_fd, (long)&status, sizeof(status), 0);
        } while (n == -kEintr);
      }
      if (WIFSIGNALED(status)) Exit(128 + WTERMSIG(status));
      Exit(WEXITSTATUS(status));
    }
  }
}
