// Raw Linux syscalls that glibc 2.36 does not wrap (or wraps too late), in one place.
//
// Each wrapper retries EINTR where the call is restartable and returns -1 with errno set on
// failure, exactly like the syscall, so it is safe to call between clone and exec (no
// allocation, no exceptions, async-signal-safe). Missing kernel constants for kernels newer
// than the installed linux-libc-dev headers live in missing_defs.h.
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <cstddef>
#include <cstdint>

#include "arsenal/base/missing_defs.h"

namespace arsenal::sys {

// clone3(2). `args` is a struct clone_args (linux/sched.h). Returns the child's pid in the
// parent and 0 in the child. The child runs on a copy of the parent's stack (no CLONE_VM).
pid_t Clone3(struct clone_args* args, size_t size);
int PidfdOpen(pid_t pid, unsigned int flags);
int PidfdSendSignal(int pidfd, int sig, siginfo_t* info, unsigned int flags);
int PidfdGetfd(int pidfd, int targetfd, unsigned int flags);
int PivotRoot(const char* new_root, const char* put_old);
// close_range(2); falls back to closing one by one (via /proc/self/fd is not async-signal-safe,
// so the fallback loops to the NOFILE limit) when the kernel lacks it.
int CloseRange(unsigned int first, unsigned int last, unsigned int flags);
int LandlockCreateRuleset(const void* attr, size_t size, uint32_t flags);
int LandlockAddRule(int ruleset_fd, int rule_type, const void* rule_attr, uint32_t flags);
int LandlockRestrictSelf(int ruleset_fd, uint32_t flags);
// waitid(P_PIDFD, ...) with EINTR retry.
int WaitPidfd(int pidfd, siginfo_t* info, int options);
pid_t GetTid();

// Restores SIG_DFL for every signal the caller ignores or catches, as a child must before
// unblocking signals ahead of exec (a handler of the parent must never run in the child; an
// ignored signal would stay ignored in the new program). Only those signals are touched: they are
// read from the caller's own /proc/self/status, its snapshot of the dispositions, which costs one
// read instead of a sigaction per signal; when /proc is not a readable procfs, every signal is
// reset. glibc's two internal signals cannot be changed and stay as they are (exec resets their
// handlers).
void ResetSignalDispositions();

}  // namespace arsenal::sys
