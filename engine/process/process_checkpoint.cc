// restart_process with preserve_state: dump the process with CRIU, restore it detached, and adopt
// the restored task (re-parented to the daemon, which is a child subreaper) under the same id.
#include "arsenal/engine/process_checkpoint.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>

#include "arsenal/base/cleanup.h"
#include "arsenal/base/syscalls.h"
#include "arsenal/engine/engine.h"
#include "arsenal/engine/process_inspect.h"
#include "process/table_impl.h"

namespace arsenal {
namespace {

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr, truncated to 64 KiB
};

// Runs a helper program (never a user-supplied one) with a deadline, collecting its output.
// With `table`, the child is kept from the table's orphan reaper (see ChildClaim) from the moment
// it exists until it has been waited for here.
Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout, ProcessTable::Impl* table) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return Fail(ErrnoError("process.pipe", "pipe2", argv[0], errno));
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  ::posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
  ::posix_spawn_file_actions_adddup2(&actions, write_end.get(), 2);
  ::posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  char path_env[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  char* envp[] = {path_env, nullptr};
  pid_t pid = 0;
  std::optional<ProcessTable::ChildClaim> claim;
  int rc;
  if (table != nullptr) {
    std::unique_lock lock(table->mu);
    ++table->spawning;
    lock.unlock();
    rc = ::posix_spawnp(&pid, argv[0].c_str(), &actions, nullptr, args.data(), envp);
    if (rc == 0) claim.emplace(table->owner.ClaimChild(pid));
    lock.lock();
    --table->spawning;
  } else {
    rc = ::posix_spawnp(&pid, argv[0].c_str(), &actions, nullptr, args.data(), envp);
  }
  ::posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return Fail(ErrnoError("process.helper_failed", "posix_spawn", argv[0], rc));
  UniqueFd pidfd(sys::PidfdOpen(pid, 0));
  write_end.Reset();
  CommandResult result;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{read_end.get(), POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      timed_out = n == 0;
      break;
    }
    char buf[4096];
    const ssize_t got = ::read(read_end.get(), buf, sizeof(buf));
    if (got <= 0) break;
    if (result.output.size() < 65536) result.output.append(buf, static_cast<size_t>(got));
  }
  if (timed_out) {
    if (pidfd) sys::PidfdSendSignal(pidfd.get(), SIGKILL, nullptr, 0);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      return Fail(ErrnoError("process.helper_failed", "waitpid", argv[0], errno));
    }
  }
  if (timed_out) {
    return Fail(
        Error(ErrorCategory::kTimeout, "process.helper_timeout",
              argv[0] + " did not finish within " + std::to_string(timeout.count()) + " ms"));
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::string FindInPath(const std::string& name) {
  for (const char* dir :
       {"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}) {
    std::string path = std::string(dir) + "/" + name;
    if (::access(path.c_str(), X_OK) == 0) return path;
  }
  return {};
}

std::string LastLines(const std::string& text, size_t lines) {
  size_t pos = text.size();
  while (pos > 0 && text[pos - 1] == '\n') --pos;
  const size_t end = pos;
  for (size_t n = 0; pos > 0 && n < lines; --pos) {
    if (text[pos - 1] == '\n' && ++n == lines) break;
  }
  return text.substr(pos, end - pos);
}

}  // namespace

CheckpointSupport ProbeCheckpointSupportImpl(bool refresh, ProcessTable::Impl* table) {
  static std::mutex mu;
  static std::optional<CheckpointSupport> cached;
  std::lock_guard lock(mu);
  if (cached && !refresh) return *cached;
  CheckpointSupport support;
  support.criu_path = FindInPath("criu");
  if (support.criu_path.empty()) {
    support.reason = "criu is not installed (apt-get install criu)";
  } else {
    auto run = RunCommand({support.criu_path, "check"}, std::chrono::seconds(30), table);
    if (!run) {
      support.reason = "criu check could not run: " + run.error().message();
    } else if (run->exit_code != 0) {
      support.reason = "criu check failed on this kernel: " + LastLines(run->output, 3);
    } else {
      support.supported = true;
    }
  }
  cached = support;
  return support;
}

CheckpointSupport ProbeCheckpointSupport(bool refresh) {
  return ProbeCheckpointSupportImpl(refresh, nullptr);
}

Result<ProcessSnapshot> ProcessTable::Impl::RestartWithCheckpoint(
    const std::shared_ptr<process_internal::Entry>& entry, const RestartOptions& options) {
  (void)options;
  const CheckpointSupport support = ProbeCheckpointSupportImpl(false, this);
  if (!support.supported) {
    return Fail(UnsupportedError("process.checkpoint_unsupported",
                                 "cannot checkpoint " + entry->id + ": " + support.reason)
                    .WithDetail("reason", support.reason)
                    .WithHint("restart without preserve_state, or install a CRIU that supports "
                              "this kernel"));
  }
  pid_t pid;
  {
    std::shared_lock lock(mu);
    if (entry->exit) {
      return Fail(ConflictError("process.not_running",
                                "process " + entry->id + " has exited: there is no state to keep")
                      .WithHint("restart without preserve_state"));
    }
    pid = entry->pid;
  }
  std::error_code ec;
  const auto dir =
      engine.state_dir() / "checkpoints" / (entry->id + "-" + std::to_string(entry->restarts + 1));
  std::filesystem::create_directories(dir, ec);
  if (ec) return Fail(ErrnoError("process.checkpoint_failed", "mkdir", dir.string(), ec.value()));
  ::chmod(dir.c_str(), 0700);
  Cleanup remove_images([&] { std::filesystem::remove_all(dir, ec); });

  // Dumping kills the process (CRIU's default); its exit is reported as usual, then the restored
  // task takes the entry over.
  ARSENAL_ASSIGN_OR_RETURN(CommandResult dump,
                           RunCommand({support.criu_path, "dump", "-t", std::to_string(pid), "-D",
                                       dir.string(), "--shell-job", "-o", "dump.log"},
                                      std::chrono::minutes(2), this));
  if (dump.exit_code != 0) {
    std::ifstream in(dir / "dump.log");
    std::string log_text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return Fail(InternalError("process.checkpoint_failed",
                              "criu dump of " + entry->id + " failed: " + LastLines(log_text, 3))
                    .WithHint("the process keeps running; see the CRIU log in details"));
  }
  {
    std::shared_lock lock(mu);
    exited_cv.wait_for(lock, std::chrono::seconds(10), [&] { return entry->exit.has_value(); });
  }
  const std::string pidfile = (dir / "restored.pid").string();
  ARSENAL_ASSIGN_OR_RETURN(
      CommandResult restore,
      RunCommand({support.criu_path, "restore", "-D", dir.string(), "--shell-job",
                  "--restore-detached", "--pidfile", pidfile, "-o", "restore.log"},
                 std::chrono::minutes(2), this));
  if (restore.exit_code != 0) {
    std::ifstream in(dir / "restore.log");
    std::string log_text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return Fail(InternalError("process.restore_failed",
                              "criu restore of " + entry->id + " failed: " + LastLines(log_text, 3))
                    .WithHint("restart without preserve_state to start it afresh"));
  }
  std::ifstream pid_in(pidfile);
  pid_t restored_pid = 0;
  pid_in >> restored_pid;
  LaunchedChild child;
  child.pid = restored_pid;
  child.pidfd = UniqueFd(sys::PidfdOpen(restored_pid, 0));
  if (restored_pid <= 0 || !child.pidfd) {
    return Fail(InternalError("process.restore_failed",
                              "restored process of " + entry->id + " is not reachable"));
  }
  return Relaunch(entry, std::move(child));
}

}  // namespace arsenal
