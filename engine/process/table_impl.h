// Private state of ProcessTable, shared by the engine/process/*.cc files. Not a public header.
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "arsenal/engine/process_table.h"
#include "process/ring_buffer.h"

namespace spdlog {
class logger;
}

namespace arsenal {

namespace process_internal {

int64_t NowUnixMs();
int64_t NowUnixNs();
int64_t NowSteadyNs();

// Output capture of one stream. The ring and counters are guarded by the table mutex; `watch` is
// touched only on the event loop.
struct Capture {
  OutputMode mode = OutputMode::kNull;
  RingBuffer ring{0};
  UniqueFd pipe;    // parent read end (non-blocking)
  UniqueFd log_fd;  // optional log file
  bool eof = true;
  uint64_t log_errors = 0;
  std::unique_ptr<boost::asio::posix::stream_descriptor> watch;
};

struct PendingKill {
  KillOptions options;
  std::function<void(Result<KillOutcome>)> done;
  int64_t started_steady_ns = 0;
  bool sigkill_sent = false;
  std::unique_ptr<boost::asio::steady_timer> timer;
};

struct Entry {
  uint64_t seq = 0;
  std::string id;
  ProcessSpec spec;
  pid_t pid = 0;
  UniqueFd pidfd;
  uint64_t generation = 0;  // bumped on restart; stale loop callbacks compare it
  ProcessState state = ProcessState::kRunning;
  int64_t started_unix_ms = 0;
  int64_t started_steady_ns = 0;
  std::optional<ExitStatus> exit;
  uint32_t restarts = 0;
  std::string sandbox_id;
  std::shared_ptr<ProcessControl> control;
  UniqueFd workload_status;  // see LaunchedChild::workload_status
  std::string requested_by;
  uint64_t oom_kills_at_start = 0;  // memcg oom_kill counter when started (plain processes)
  bool tracing = false;             // a tracer thread may reap it (see process_trace.cc)
  bool restarting = false;          // Restart() in progress: keep the entry through retention
  std::optional<ExitStatus> reaped_by_tracer;

  Capture out;
  Capture err;

  // stdin pipe: bytes queued for the loop to write.
  UniqueFd stdin_pipe;
  std::string stdin_pending;
  bool stdin_close_requested = false;
  bool stdin_writing = false;
  std::unique_ptr<boost::asio::posix::stream_descriptor> stdin_watch;

  // Loop-only state.
  std::unique_ptr<boost::asio::posix::stream_descriptor> pid_watch;
  std::vector<std::unique_ptr<PendingKill>> kills;
  std::chrono::milliseconds sample_interval{0};
  std::unique_ptr<boost::asio::steady_timer> sample_timer;
};

struct Subscription {
  std::string process_id;  // empty: every process
  uint32_t mask = 0;
  ProcessEventCallback callback;
  uint64_t replayed_exit_generation = UINT64_MAX;  // its exit was replayed at subscription
};

}  // namespace process_internal

struct ProcessTable::Impl {
  explicit Impl(ProcessTable& owner, Engine& engine);

  ProcessTable& owner;
  Engine& engine;
  boost::asio::io_context& io;
  std::shared_ptr<spdlog::logger> log;

  // Config.
  bool subreaper = true;
  int64_t shutdown_grace_ms = 0;
  size_t exited_retention = 1000;
  bool fd_handoff = true;  // plain children fetch their stdio instead of copying our fd table

  mutable std::shared_mutex mu;  // entries, pids, claims, every Entry field not marked loop-only
  std::condition_variable_any exited_cv;
  std::map<uint64_t, std::shared_ptr<process_internal::Entry>> entries;
  std::unordered_map<pid_t, uint64_t> live_pids;  // unreaped managed pids -> seq
  std::unordered_map<pid_t, int> claims;
  uint64_t next_seq = 1;
  size_t exited_count = 0;
  int spawning = 0;
  bool reap_deferred = false;
  bool shutting_down = false;
  std::shared_ptr<SandboxLauncher> sandbox_launcher;

  std::recursive_mutex delivery_mu;  // held while subscriber callbacks run
  std::mutex subs_mu;
  std::map<SubscriptionId, process_internal::Subscription> subs;
  SubscriptionId next_sub = 1;

  // Orphan reaping.
  UniqueFd sigchld_event;  // eventfd written by the SIGCHLD handler
  std::unique_ptr<boost::asio::posix::stream_descriptor> sigchld_watch;
  std::unique_ptr<boost::asio::steady_timer> reap_timer;  // a pending orphan scan (loop only)
  bool set_subreaper = false;
  std::atomic<std::thread::id> loop_thread{};
  UniqueFd oom_control;  // the daemon memcg's memory.oom_control (OOM kills of plain children)
  uint64_t oom_kills_seen = 0;
  uint64_t orphans_reaped = 0;
  pid_t own_pgrp = 0;                 // orphans from other process groups are reaped
  std::deque<uint64_t> exited_order;  // seqs in exit order, for retention

  // False once the table is torn down; every loop callback checks it first (loop thread only).
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  std::array<char, 65536> read_buffer;  // loop only: output draining

  // Helpers (process_table.cc).
  std::shared_ptr<process_internal::Entry> Find(std::string_view id) const;  // caller holds mu
  Error NotFound(std::string_view id) const;
  bool OnLoopThread() const;
  void Emit(ProcessEventKind kind, const process_internal::Entry& entry, Json data,
            std::optional<ExitStatus> exit = std::nullopt);
  void Deliver(const ProcessEvent& event, uint64_t generation);
  void Watch(std::shared_ptr<process_internal::Entry> entry);
  void ArmPidfd(std::shared_ptr<process_internal::Entry> entry, uint64_t generation);
  void OnPidfdReadable(const std::shared_ptr<process_internal::Entry>& entry, uint64_t generation);
  void ArmCapture(std::shared_ptr<process_internal::Entry> entry, bool is_stdout);
  void DrainCapture(process_internal::Entry& entry, process_internal::Capture& cap);
  void PumpStdin(std::shared_ptr<process_internal::Entry> entry);
  void CompleteExit(const std::shared_ptr<process_internal::Entry>& entry, ExitStatus status);
  void StartKill(const std::shared_ptr<process_internal::Entry>& entry,
                 std::unique_ptr<process_internal::PendingKill> kill);
  void FinishKills(process_internal::Entry& entry);
  void RecordTermination(const process_internal::Entry& entry, const KillOptions& options,
                         const KillOutcome& outcome);
  void ArmSampling(std::shared_ptr<process_internal::Entry> entry, uint64_t generation);
  void ArmSigchld();
  void ReapOrphans();
  // Drops the oldest exited entries beyond the retention; caller holds mu and detaches the
  // returned entries' loop objects afterwards.
  std::vector<std::shared_ptr<process_internal::Entry>> EvictExitedLocked();
  void DetachLoopObjects(process_internal::Entry& entry);
  // Suspend (pause) or Resume (!pause).
  Result<bool> SetPaused(std::string_view id, bool pause);
  Result<ProcessSnapshot> Relaunch(const std::shared_ptr<process_internal::Entry>& entry,
                                   std::optional<LaunchedChild> restored);
  // process_checkpoint.cc
  Result<ProcessSnapshot> RestartWithCheckpoint(
      const std::shared_ptr<process_internal::Entry>& entry, const RestartOptions& options);
};

}  // namespace arsenal
