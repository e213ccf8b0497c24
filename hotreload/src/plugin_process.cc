#include "src/plugin_process.h"

#include <elf.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstring>
#include <mutex>

#include "arsenal/base/log.h"
#include "arsenal/policies/seccomp.h"
#include "arsenal/policies/seccomp_profile.h"

namespace arsenal::hotreload {
namespace {

// Stage 1, applied by the spawn code just before exec: what the dynamic loader, libc/libstdc++
// start-up and the request loop need, plus execve (the filter is installed before exec) and
// seccomp (for the seal). Everything else fails with EPERM.
constexpr std::string_view kStartProfile = R"json({
  "defaultAction": "SCMP_ACT_ERRNO",
  "defaultErrnoRet": 1,
  "syscalls": [
    {"names": ["execve", "seccomp", "arch_prctl", "set_tid_address", "set_robust_list", "rseq",
               "prlimit64", "access", "faccessat", "faccessat2",
               "read", "pread64", "write", "openat", "close", "fstat", "newfstatat", "lseek",
               "mmap", "munmap", "mprotect", "mremap", "madvise", "brk", "futex",
               "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
               "exit", "exit_group", "getpid", "gettid", "tgkill",
               "clock_gettime", "clock_getres", "gettimeofday", "clock_nanosleep", "nanosleep",
               "recvfrom", "sendto", "ppoll", "poll", "fcntl", "memfd_create", "getrandom",
               "sched_yield", "getcpu", "restart_syscall"],
     "action": "SCMP_ACT_ALLOW"}
  ]
})json";

// Stage 2, installed by the host itself before any module is loaded: the request loop (its
// busy-polling between requests is recvfrom + clock_gettime + getcpu), dlopen()
// of a memfd (openat through /proc/self/fd, mmap, mprotect), memory management, time and sleeping
// for module code, and abort(). No execve, no seccomp, no fork/clone, no sockets, no signals to
// other processes.
constexpr std::string_view kSealProfile = R"json({
  "defaultAction": "SCMP_ACT_ERRNO",
  "defaultErrnoRet": 1,
  "syscalls": [
    {"names": ["read", "pread64", "write", "openat", "close", "fstat", "newfstatat", "lseek",
               "mmap", "munmap", "mprotect", "mremap", "madvise", "brk", "futex",
               "rt_sigprocmask", "rt_sigreturn", "exit", "exit_group", "getpid", "gettid",
               "tgkill", "clock_gettime", "clock_getres", "gettimeofday", "clock_nanosleep",
               "nanosleep", "recvfrom", "sendto", "ppoll", "poll", "fcntl", "memfd_create",
               "getrandom", "sched_yield", "getcpu", "restart_syscall"],
     "action": "SCMP_ACT_ALLOW"}
  ]
})json";

constexpr std::string_view kAllowedCodeChars = "abcdefghijklmnopqrstuvwxyz0123456789_.";

Error SandboxFailed(const Error& cause, std::string_view what) {
  return Error(ErrorCategory::kUnavailable, "module.sandbox_failed",
               std::string(what) + ": " + cause.message())
      .WithDetail("cause", cause.code())
      .WithHint(cause.hint().empty() ? "check that the engine runs as root (or with delegated "
                                       "cgroups) on a kernel with user namespaces"
                                     : cause.hint());
}

// The ELF interpreter (dynamic loader) named by `binary`'s PT_INTERP, resolved; empty if none.
Result<std::string> ElfInterpreter(const std::filesystem::path& binary) {
  UniqueFd fd(::open(binary.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Fail(ErrnoError("module.sandbox_failed", "open", binary.string(), errno));
  Elf64_Ehdr header{};
  if (::pread(fd.get(), &header, sizeof(header), 0) != sizeof(header) ||
      std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 ||
      header.e_phentsize != sizeof(Elf64_Phdr)) {
    return Fail(ValidationError("module.sandbox_failed",
                                binary.string() + " is not a 64-bit ELF executable"));
  }
  for (uint16_t i = 0; i < header.e_phnum; ++i) {
    Elf64_Phdr ph{};
    off_t at = static_cast<off_t>(header.e_phoff + i * sizeof(Elf64_Phdr));
    if (::pread(fd.get(), &ph, sizeof(ph), at) != sizeof(ph)) break;
    if (ph.p_type != PT_INTERP || ph.p_filesz == 0 || ph.p_filesz > PATH_MAX) continue;
    std::string interp(ph.p_filesz, '\0');
    if (::pread(fd.get(), interp.data(), interp.size(), static_cast<off_t>(ph.p_offset)) !=
        static_cast<ssize_t>(interp.size())) {
      break;
    }
    interp.resize(std::strlen(interp.c_str()));
    char resolved[PATH_MAX];
    if (::realpath(interp.c_str(), resolved) == nullptr) {
      return Fail(ErrnoError("module.sandbox_failed", "realpath", interp, errno));
    }
    return std::string(resolved);
  }
  return std::string();
}

policies::CgroupBackend* SharedCgroupBackend(Error* error) {
  static std::mutex mu;
  static std::unique_ptr<policies::CgroupBackend> backend;
  static std::optional<Error> failure;
  std::lock_guard lock(mu);
  if (!backend && !failure) {
    auto made = policies::MakeCgroupBackend();
    if (made) {
      backend = std::move(*made);
    } else {
      failure = made.error();
    }
  }
  if (failure) *error = *failure;
  return backend.get();
}

std::string NextCgroupName() {
  static std::atomic<uint64_t> counter{0};
  return "arsenal-plugin-" + std::to_string(::getpid()) + "-" +
         std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
}

HostExit ExitFrom(const ns::ExitStatus& status) {
  HostExit exit;
  exit.exit_code = status.signaled ? 128 + status.signal : status.code;
  exit.signal = exit.exit_code > 128 ? exit.exit_code - 128 : 0;
  return exit;
}

}  // namespace

std::string_view PluginHostStartProfileJson() { return kStartProfile; }
std::string_view PluginHostSealProfileJson() { return kSealProfile; }

Result<std::shared_ptr<const PluginSandbox>> BuildPluginSandbox(
    const std::filesystem::path& host_binary) {
  auto failed = [](const Error& e) { return Fail(SandboxFailed(e, "plugin host sandbox")); };
  auto interpreter = ElfInterpreter(host_binary);
  if (!interpreter) return failed(interpreter.error());
  using namespace policies::landlock;
  policies::LandlockSpec landlock;
  landlock.paths.push_back({"/usr", kReadFile | kReadDir, false});
  landlock.paths.push_back({"/etc/ld.so.cache", kReadFile, true});
  landlock.paths.push_back({host_binary.string(), kReadFile | kExecute, false});
  if (!interpreter->empty()) landlock.paths.push_back({*interpreter, kReadFile | kExecute, false});
  policies::RlimitSpec rlimits;
  rlimits.core = policies::RlimitValue{0, 0};
  // fds 0-2, one memfd per loaded module, one transient fd while dlopen() maps a module.
  rlimits.nofile = policies::RlimitValue{256, 256};
  auto sandbox = std::make_shared<PluginSandbox>();
  auto policy = policies::PolicyBuilder()
                    .SeccompProfileJson(kStartProfile)
                    .Rlimits(rlimits)
                    .Landlock(std::move(landlock))
                    .Build();
  if (!policy) return failed(policy.error());
  sandbox->policy = std::move(*policy);
  auto seal_profile = policies::ParseSeccompProfile(kSealProfile);
  if (!seal_profile) return failed(seal_profile.error());
  auto seal = policies::CompileSeccomp(*seal_profile, 0);
  if (!seal) return failed(seal.error());
  sandbox->seal = std::move(*seal);
  return std::shared_ptr<const PluginSandbox>(std::move(sandbox));
}

Result<std::unique_ptr<PluginProcess>> PluginProcess::Start(const PluginHostOptions& options,
                                                            const PluginSandbox& sandbox,
                                                            const std::string& label) {
  auto failed = [&](const Error& e) {
    return Fail(SandboxFailed(e, "start plugin host " + label));
  };
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return failed(ErrnoError("module.io", "socketpair", "plugin host socket", errno));
  }
  UniqueFd engine_end(fds[0]);
  UniqueFd host_end(fds[1]);

  Error backend_error = InternalError("cgroup.unavailable", "no cgroup backend");
  policies::CgroupBackend* backend = SharedCgroupBackend(&backend_error);
  if (backend == nullptr) return failed(backend_error);
  policies::CgroupLimits limits;
  limits.memory_bytes = options.memory_limit_bytes;
  limits.pids_max = options.pids_limit;
  auto cgroup = backend->Create(NextCgroupName(), limits);
  if (!cgroup) return failed(cgroup.error());

  ns::SpawnSpec spec;
  spec.argv = {options.host_binary.string(),
               "--max-frame-bytes=" + std::to_string(options.max_frame_bytes),
               "--spin-us=" + std::to_string(options.spin_budget.count())};
  spec.hostname = "plugin-host";
  spec.stdin_fd = host_end.get();
  spec.stdout_fd = -1;
  spec.stderr_fd = options.stderr_fd;
  spec.policy.seccomp_bpf = sandbox.policy.seccomp->filter;
  spec.policy.keep_caps = 0;
  spec.policy.rlimits = sandbox.policy.rlimits;
  spec.policy.landlock_ruleset_fd = sandbox.policy.landlock.fd.get();
  spec.policy.no_new_privs = true;
  policies::Cgroup* group = cgroup->get();
  auto spawned = ns::Spawn(spec, [group](pid_t pid) { return group->Attach(pid); });
  if (!spawned) {
    (void)(*cgroup)->Destroy();
    return failed(spawned.error());
  }
  host_end.Reset();

  std::unique_ptr<PluginProcess> process(
      new PluginProcess(std::move(engine_end), options.max_frame_bytes));
  process->process_ = std::move(*spawned);
  process->pid_ = process->process_.pid();
  process->cgroup_ = std::move(*cgroup);
  if (auto timeout = process->channel_.SetReceiveTimeout(options.call_timeout); !timeout) {
    process->Stop(false);
    return failed(timeout.error());
  }
  if (auto spin = process->channel_.SetSpinBudget(options.spin_budget); !spin) {
    process->Stop(false);
    return failed(spin.error());
  }

  plugin::Frame seal;
  seal.type = plugin::FrameType::kSeal;
  seal.arg = sandbox.seal->flags;
  seal.fields.emplace_back(reinterpret_cast<const char*>(sandbox.seal->filter.data()),
                           sandbox.seal->filter.size() * sizeof(sock_filter));
  auto sealed = process->Request(seal, Clock::now() + options.start_timeout);
  if (!sealed || sealed->type != plugin::FrameType::kOk) {
    Error cause = sealed ? RemoteError(*sealed, label) : sealed.error();
    HostExit exit = process->Stop(true);
    return Fail(
        SandboxFailed(cause, "seal plugin host " + label).WithDetail("exit_code", exit.exit_code));
  }
  return process;
}

PluginProcess::~PluginProcess() { Stop(false); }

Result<plugin::Frame> PluginProcess::Request(plugin::Frame& request, Clock::time_point deadline) {
  request.id = next_id_++;
  ARSENAL_TRY(channel_.Write(request, deadline));
  ARSENAL_ASSIGN_OR_RETURN(plugin::Frame reply, channel_.Read(deadline));
  if (reply.id != request.id ||
      (reply.type != plugin::FrameType::kOk && reply.type != plugin::FrameType::kError)) {
    return Fail(InternalError(
        "plugin.protocol_error",
        "plugin host answered a " + std::string(plugin::FrameTypeName(request.type)) +
            " request with a " + std::string(plugin::FrameTypeName(reply.type)) + " frame (id " +
            std::to_string(reply.id) + ", expected " + std::to_string(request.id) + ")"));
  }
  return reply;
}

HostExit PluginProcess::Stop(bool graceful) {
  if (stopped_) return exit_;
  stopped_ = true;
  if (graceful && process_.running()) {
    // EOF tells a healthy host to exit; a crashing one is given the same moment to finish dying,
    // so that its own status (a signal, an OOM kill) is what gets reported.
    ::shutdown(socket_.get(), SHUT_RDWR);
    struct pollfd pfd {
      process_.pidfd(), POLLIN, 0
    };
    while (::poll(&pfd, 1, 200) < 0 && errno == EINTR) {
    }
  }
  socket_.Reset();
  if (process_.running()) {
    auto done = process_.TryWait();
    if (done && *done) {
      exit_ = ExitFrom(**done);
    } else {
      (void)process_.Signal(SIGKILL);
      auto status = process_.Wait();
      if (status) exit_ = ExitFrom(*status);
    }
  }
  if (cgroup_) {
    if (auto stats = cgroup_->ReadStats(); stats && stats->oom_kills > 0) exit_.oom = true;
    if (auto destroyed = cgroup_->Destroy(); !destroyed) {
      log::Get("hotreload")
          ->warn("cannot remove plugin host cgroup {}: {}", cgroup_->name(),
                 destroyed.error().ToString());
    }
    cgroup_.reset();
  }
  exit_.at = std::chrono::system_clock::now();
  return exit_;
}

Error RemoteError(const plugin::Frame& reply, const std::string& host) {
  auto field = [&](size_t i) -> std::string {
    if (i >= reply.fields.size()) return {};
    const std::string& text = reply.fields[i];
    return text.size() <= plugin::kMaxErrorMessageBytes
               ? text
               : text.substr(0, plugin::kMaxErrorMessageBytes);
  };
  std::string code = field(0);
  bool valid_code = code.starts_with("module.") && code.size() <= 64 &&
                    code.find_first_not_of(kAllowedCodeChars) == std::string::npos;
  ErrorCategory category = CategoryFromName(field(1));
  if (!valid_code) {
    code = "module.call_failed";
    category = ErrorCategory::kInternal;
  }
  std::string message = field(2);
  if (message.empty()) message = "failed without a message";
  Error error(category, code, "plugin host " + host + ": " + message);
  if (std::string hint = field(3); !hint.empty()) error.WithHint(std::move(hint));
  return error;
}

}  // namespace arsenal::hotreload
