// Spawn: turn a fully resolved spawn description into a running, isolated process.
//
// Purpose: the kernel half of a sandbox. A SpawnSpec says exactly what the process gets (argv,
// env, cwd, namespaces, id maps, root filesystem, mounts, hostname, network, stdio) and which
// policy artifacts to apply (seccomp BPF, capabilities to keep, rlimits, a Landlock ruleset,
// no_new_privs). Spawn() creates the process; SpawnInto() starts another process inside the
// namespaces of a running sandbox (execute_in_sandbox). This library only applies policy: the
// artifacts are produced elsewhere (policies/) as plain data and are trusted as given.
//
// Ordering (one fixed order, listed in one function in namespaces/child.cc):
//   parent: validate + prepare every string before clone → socketpair(SEQPACKET, CLOEXEC) →
//           clone3(CLONE_PIDFD | namespace flags [| CLONE_INTO_CGROUP]) → write setgroups,
//           uid_map, gid_map → hook(pid) → "go".
//   child:  wait for "go" → stdio onto 0/1/2, close every other fd → clear supplementary groups
//           → cgroup namespace → mounts (rootfs, binds, tmpfs, /proc, /dev) → pivot_root and
//           detach the old root → hostname → network → [PID 1 starts the workload, which waits
//           until PID 1 has exec'ed the reaper program] →
//           cwd → signals reset → rlimits → capabilities + no_new_privs → Landlock → seccomp →
//           exec.
// Any failure in the child is sent to the parent as {step, errno} and the child _exits, so the
// parent returns an Error (code "sandbox.setup_failed", or "sandbox.exec_failed" for the exec
// step) naming the step, errno and a hint. A failure while dropping privileges always kills the
// child (fail closed). A successful exec is seen by the parent as EOF on the sync socket, so
// Spawn() returns only once the workload runs its own code (or setup failed).
//
// Between clone and exec the child does not allocate, lock, throw or log: everything it needs is
// prepared before clone.
//
// Security consequences of the defaults (SpawnSpec{} with argv set):
//  - every namespace kind (user, mount, pid, net, uts, ipc, cgroup, time where present);
//  - root inside is uid/gid 65534 outside; the caller's supplementary groups are dropped;
//  - the host root bound read-only, a fresh /proc, a minimal /dev, no network at all;
//  - empty environment, only fds 0-2 open, all capabilities dropped, no_new_privs set.
// Seccomp and Landlock are applied only when given; the caller (engine) supplies the default
// seccomp profile.
//
// Cost: the parent is duplicated copy-on-write by clone3 (no CLONE_VM), so a very large parent
// pays for copying its page tables, but only until PID 1 execs the reaper (a small static program
// from a sealed memfd, see docs/decisions.md) and the workload execs; no copy of the caller lives
// on for the sandbox's lifetime.
//
// Kernel caveats: needs clone3 with CLONE_PIDFD and CLONE_CLEAR_SIGHAND (5.5+), setns through a
// pidfd for SpawnInto
// (5.8+), mount_setattr for recursive read-only (5.12+; falls back to a non-recursive remount).
// In a user namespace /proc is mounted before the old root is detached (the kernel refuses a new
// proc mount once no fully visible proc remains). Device nodes are bind-mounted from the host
// because mknod fails in a user namespace.
//
// Example:
//   arsenal::ns::SpawnSpec spec;
//   spec.argv = {"/bin/echo", "hello"};
//   spec.hostname = "box";
//   spec.mounts.push_back(arsenal::ns::MountSpec::Tmpfs("/tmp", 16 << 20));
//   ARSENAL_ASSIGN_OR_RETURN(auto proc, arsenal::ns::Spawn(spec));
//   ARSENAL_ASSIGN_OR_RETURN(auto status, proc.Wait());
#pragma once

#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "arsenal/base/result.h"
#include "arsenal/base/unique_fd.h"

namespace arsenal::ns {

// Which namespaces to create (Spawn) or join (SpawnInto).
struct NamespaceSet {
  bool user = true;
  bool mount = true;
  bool pid = true;
  bool net = true;
  bool uts = true;
  bool ipc = true;
  bool cgroup = true;
  // Created only when the kernel has time namespaces (silently skipped otherwise).
  bool time = true;

  static NamespaceSet None() { return {false, false, false, false, false, false, false, false}; }
};

// One line of /proc/<pid>/uid_map or gid_map.
struct IdMapEntry {
  uint32_t inside = 0;
  uint32_t outside = 65534;
  uint32_t count = 1;
};

// User-namespace identity. Used only when NamespaceSet::user is set.
struct IdMapping {
  // Default: root inside is nobody (65534) outside; nothing else is mapped.
  std::vector<IdMapEntry> uid_map = {IdMapEntry{}};
  std::vector<IdMapEntry> gid_map = {IdMapEntry{}};
  // When the caller is privileged (euid 0) Arsenal always writes gid_map with setgroups still
  // allowed, so the child can drop the caller's supplementary groups (otherwise a root caller's
  // group 0 would stay attached to the sandbox). Only mapped gids can ever be set, and the
  // workload has no CAP_SETGID unless kept. An unprivileged caller's maps are written after
  // "deny" (the kernel requires it); its groups are its own.
};

// A mount inside the new root. Targets are absolute paths inside the sandbox; bind sources are
// host paths (resolved on the host, before pivot_root). A missing target is created (directory,
// or empty file when the source is a file) only where the parent is writable (a tmpfs, or a
// read-write rootfs): Arsenal never writes into a read-only rootfs.
struct MountSpec {
  enum class Kind { kBind, kTmpfs };
  Kind kind = Kind::kBind;
  std::string source;  // kBind: host path
  std::string target;  // absolute path inside the sandbox
  bool read_only = true;
  uint64_t tmpfs_size_bytes = 0;  // kTmpfs: 0 = kernel default (half of RAM)
  uint32_t tmpfs_mode = 01777;    // kTmpfs: permission bits of the root directory

  static MountSpec BindReadOnly(std::string source, std::string target) {
    return {Kind::kBind, std::move(source), std::move(target), true, 0, 0};
  }
  static MountSpec BindReadWrite(std::string source, std::string target) {
    return {Kind::kBind, std::move(source), std::move(target), false, 0, 0};
  }
  static MountSpec Tmpfs(std::string target, uint64_t size_bytes, uint32_t mode = 01777) {
    return {Kind::kTmpfs, {}, std::move(target), false, size_bytes, mode};
  }
};

enum class NetworkMode {
  kNone,      // new net namespace, no interface up: no network at all
  kLoopback,  // new net namespace with lo up (127.0.0.1 reachable inside only)
};

// Policy artifacts, produced by policies/ in the parent and applied by the child just before
// exec, in this order: rlimits → capabilities + no_new_privs → Landlock → seccomp.
struct ChildPolicy {
  // Classic BPF program for seccomp(SECCOMP_SET_MODE_FILTER). Empty = no filter. It must allow
  // execve/execveat, which run after it is installed.
  std::vector<sock_filter> seccomp_bpf;
  // SECCOMP_FILTER_FLAG_* for the seccomp(2) call (SeccompProgram::flags), e.g. _LOG.
  unsigned int seccomp_flags = 0;
  // Bitmask of CAP_* numbers kept (bounding, permitted, effective, inheritable and ambient);
  // every other capability is dropped from all sets. 0 = none (the default).
  uint64_t keep_caps = 0;
  // (RLIMIT_*, limit) pairs applied with setrlimit; can only lower limits without
  // CAP_SYS_RESOURCE in the initial namespace.
  std::vector<std::pair<int, struct rlimit>> rlimits;
  // A Landlock ruleset fd to enforce with landlock_restrict_self, or -1. Borrowed: the caller
  // keeps ownership; the child closes its copy before exec.
  int landlock_ruleset_fd = -1;
  // PR_SET_NO_NEW_PRIVS. Seccomp and Landlock need it once capabilities are dropped.
  bool no_new_privs = true;
};

struct SpawnSpec {
  // argv[0] is the program: an absolute path, or a name looked up in PATH of `env` (or
  // /usr/local/bin:/usr/bin:/bin) inside the sandbox. Required.
  std::vector<std::string> argv;
  // The exact environment ("KEY=value"); nothing is inherited from the caller.
  std::vector<std::string> env;
  // Working directory inside the sandbox (after pivot_root).
  std::string cwd = "/";
  NamespaceSet namespaces;
  IdMapping ids;
  // Empty: the host root, bind-mounted read-only (recursively). Otherwise a host directory
  // that becomes "/" (it needs the mount points /proc and /dev, and those of `mounts` unless
  // they lie on a tmpfs); host paths outside it and outside `mounts` are unreachable.
  std::string rootfs;
  bool rootfs_read_only = true;
  // Applied in order, after the rootfs and before /proc and /dev.
  std::vector<MountSpec> mounts;
  bool mount_proc = true;  // fresh procfs at /proc (of the new pid namespace)
  bool mount_dev = true;   // tmpfs /dev with null zero full random urandom tty, pts, shm
  // Set in the new UTS namespace when non-empty; ignored without a UTS namespace (the host's
  // hostname is never changed).
  std::string hostname = "sandbox";
  NetworkMode network = NetworkMode::kNone;
  // Host fds dup'ed onto 0, 1, 2 of the sandbox; -1 = /dev/null. Every other fd is closed.
  int stdin_fd = 0;
  int stdout_fd = 1;
  int stderr_fd = 2;
  ChildPolicy policy;
  // Optional cgroup2 directory fd for CLONE_INTO_CGROUP (born inside it, no migration); -1 =
  // none. cgroup v1 directories do not work here (EBADF): attach those from the hook or with
  // cgroup_join_fds. Spawn only (SpawnInto's workload is attached from its hook).
  int cgroup2_dir_fd = -1;
  // cgroup v1 `tasks` files (one per hierarchy), opened O_WRONLY by the caller. The child writes
  // "0" to each right after the parent's go, before any other setup step, so it moves itself.
  // Why not the hook: a migration written by another process takes the kernel's global
  // threadgroup rwsem for writing, which costs an RCU grace period (~10 ms) when no migration
  // happened recently; a thread moving itself through `tasks` skips that lock. The write is
  // checked against the opener's credentials, so the caller's (root) fds work from inside a user
  // namespace. Failure kills the child (step "cgroup_join"). Borrowed; used by Spawn (the PID 1
  // reaper joins, so the workload is born inside) and SpawnInto (the workload joins).
  std::vector<int> cgroup_join_fds;
  // Spawn with a pid namespace only: PID 1 runs no workload and just holds the namespaces,
  // reaping whatever is later started inside (SpawnInto) until it gets SIGTERM, SIGINT, SIGHUP or
  // SIGKILL (then it exits 0 and the kernel kills everything left in the namespace). argv is
  // ignored (may be empty); no program needs to exist in the rootfs. Spawn returns once the
  // namespaces are set up.
  bool idle_init = false;
  // Spawn with a pid namespace only: PID 1 writes the workload's raw wait status (an int, as from
  // waitpid) to this fd just before it exits, so the caller can tell "exited 137" from "killed
  // by SIGKILL" (SpawnedProcess::Wait sees only PID 1's exit code, 128+N). Borrowed; the child's
  // copy is kept by PID 1 only. Use a pipe or socket the caller reads after the exit. -1 = none.
  int status_fd = -1;
};

// Called in the parent with the child's pid (as seen by the caller) after clone and after the id
// maps are written, before the child continues: the place to attach the pid to cgroup v1
// directories. An error kills and reaps the child, and Spawn returns that error.
using ParentHook = std::function<Status(pid_t)>;

// How a process ended. Inside a pid namespace the PID 1 reaper turns a workload killed by
// signal N into exit code 128+N (PID 1 cannot re-raise a signal on itself).
struct ExitStatus {
  bool signaled = false;  // killed by `signal` (only when not behind a reaper)
  int code = 0;           // exit code when !signaled
  int signal = 0;
  bool Success() const { return !signaled && code == 0; }
};

// A running process. Owns its pid and pidfd; destroying it without Wait() kills (SIGKILL) and
// reaps the process, so no process outlives its owner by accident. Move-only.
class SpawnedProcess {
 public:
  SpawnedProcess() = default;
  SpawnedProcess(pid_t pid, UniqueFd pidfd) : pid_(pid), pidfd_(std::move(pidfd)) {}
  SpawnedProcess(SpawnedProcess&& other) noexcept;
  SpawnedProcess& operator=(SpawnedProcess&& other) noexcept;
  ~SpawnedProcess();

  pid_t pid() const { return pid_; }
  int pidfd() const { return pidfd_.get(); }
  bool running() const { return pidfd_.valid(); }

  // Blocks until the process exits and reaps it (waitid P_PIDFD). Once. With `usage`, also
  // returns the resource usage of the process and its reaped descendants (waitid's rusage).
  Result<ExitStatus> Wait(struct rusage* usage = nullptr);
  // Non-blocking: the status if it has exited (and reaps it), nullopt if still running.
  Result<std::optional<ExitStatus>> TryWait();
  // pidfd_send_signal.
  Status Signal(int sig);
  // Hands the pidfd to the caller, who becomes responsible for reaping (e.g. an event loop).
  UniqueFd Release();

 private:
  void KillAndReap();
  pid_t pid_ = -1;
  UniqueFd pidfd_;
};

// Creates the sandboxed process described by `spec`. See the ordering above. Validation errors
// ("sandbox.invalid_spec") are returned before anything is created. On any failure no process,
// mount or fd is left behind (mounts live in the child's mount namespace).
Result<SpawnedProcess> Spawn(const SpawnSpec& spec, const ParentHook& hook = nullptr);

// Starts `spec.argv` inside the namespaces of the running process `target_pidfd` (normally a
// sandbox's PID 1): joins spec.namespaces of it atomically with setns(pidfd, flags) in a helper,
// which then forks the workload (a pid namespace applies to children only) as a child of the
// caller (CLONE_PARENT). Ignored from spec: rootfs, mounts, hostname, network, ids (it runs as
// uid/gid 0 of the joined user namespace). Applied: env, cwd, stdio, fd closing, policy. The hook
// runs with the workload's pid before it continues. The workload is not behind a reaper, so its
// ExitStatus may be `signaled`.
Result<SpawnedProcess> SpawnInto(int target_pidfd, const SpawnSpec& spec,
                                 const ParentHook& hook = nullptr);

}  // namespace arsenal::ns
