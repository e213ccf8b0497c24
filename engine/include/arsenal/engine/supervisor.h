// SupervisorService: supervision trees of real processes (plain or sandboxed) and nested
// supervisors, run on the engine event loop.
//
// Purpose: the engine service behind the supervisor operations (start_supervisor,
// which_children, ...). Each supervisor is a SupervisorCore (supervisor_core.h: the OTP decisions)
// driven by this runtime, which carries out its actions:
//   - a worker child is a process started through the ProcessTable (ProcessSpec, with its
//     `sandbox` when given); its exit arrives through the table's pidfd watch on Engine::io();
//   - a graceful terminate sends SIGTERM to the child's process group, a kill SIGKILL (the group
//     too, so a shell's children do not outlive it); the core arms the shutdown timeout;
//   - a supervisor child is a nested SupervisorCore; terminating it shuts its children down in
//     reverse order (or kills its subtree), and its escalation reaches the parent as an exit with
//     reason shutdown ("reached_max_restart_intensity");
//   - timers are asio steady timers on Engine::io().
// Nothing polls: every decision is taken on the event loop thread when an exit, a timer or a
// command arrives.
//
// Persistence (Engine::store(), component "supervisor"): top-level definitions (the spec as given,
// with run-time changes from add_child, delete_child, change_strategy and set_restart_backoff),
// their state (running, stopped, failed), the restart history (bounded per supervisor by config
// supervisor.history_retention, default 10000 entries) and, for every running worker, its pid and
// kernel start time. When the service starts (SupervisorService::Get on a fresh engine), it first
// kills processes left by a previous daemon that died without stopping its supervisors
// (identified by pid *and* start time, so a recycled pid is never signalled), then restarts every
// definition whose state is running (config supervisor.restore, default true). Nested supervisors
// are rebuilt from their parent's spec, as OTP does when a supervisor restarts; dynamic children
// of simple_one_for_one supervisors are not restored.
//
// Sandboxed restarts: a restartable worker with an inline sandbox spec keeps a standby sandbox
// of that spec ready for its next restart (SandboxLauncher::KeepStandby); config
// supervisor.sandbox_standby (default true) set to false makes every restart create its sandbox,
// for hosts where an idle sandbox per distinct spec costs too much.
//
// Threading: every public method may be called from any thread except the engine loop thread
// (they post to the loop and wait; on the loop thread they return supervisor.would_block).
// Ordering: commands on one supervisor are handled in the order they reach the loop; a command
// that arrives while the supervisor restarts children waits for that sequence to finish (OTP's
// mailbox order), except change_strategy and set_restart_backoff, which apply at once.
//
// Lifetime: use SupervisorService::Get(engine), which creates the ProcessTable first so that the
// table outlives the supervisors at engine shutdown. The destructor stops every supervisor (each
// terminates its children in reverse start order with their shutdown policies; after 30 s the
// rest is killed), so no child outlives the engine; definitions stay "running" so the next daemon
// restores them.
//
// Security: supervised processes are started with the same ProcessSpec rules as start_process
// (no inherited environment unless asked, sandbox policies). The operations that create or change
// supervisors need supervisor.write.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "arsenal/base/result.h"
#include "arsenal/engine/supervisor_core.h"
#include "arsenal/engine/supervisor_spec.h"

namespace arsenal {
class Engine;
class ProcessTable;
struct ProcessEvent;
}  // namespace arsenal

namespace arsenal::supervisor {

struct ChildInfo {
  std::string id;
  std::string supervisor;  // path of the supervisor holding it ("web", "web/jobs")
  ChildType type = ChildType::kWorker;
  RestartType restart = RestartType::kPermanent;
  ShutdownPolicy shutdown;
  BackoffPolicy backoff;
  ChildState state = ChildState::kStopped;
  pid_t pid = 0;           // workers, while running
  std::string process_id;  // ProcessTable id ("p-12"), while running
  std::string nested;      // supervisor children: the nested supervisor's path
  bool sandboxed = false;
  uint32_t restart_count = 0;
  int64_t started_unix_ms = 0;
  int64_t restart_at_unix_ms = 0;  // when waiting for a backoff timer
  std::string last_exit;

  // {"id","pid"(null if none),"type","restart","state","restart_count",...}
  Json ToJson() const;
};

class SupervisorService {
 public:
  // Constructed by Engine::Service; use Get() instead.
  explicit SupervisorService(Engine& engine);
  ~SupervisorService();
  SupervisorService(const SupervisorService&) = delete;
  SupervisorService& operator=(const SupervisorService&) = delete;

  // The engine's service, created after the ProcessTable and the SandboxService (so sandboxed
  // children can start, and are stopped before their sandboxes go); on first use it cleans up
  // orphans of a previous daemon and restores persisted supervisors. A daemon calls it at start:
  // until then, restored children are not running.
  static SupervisorService& Get(Engine& engine);

  // Validates the whole spec (supervisor_spec.h), then starts the children in order. If a child
  // fails to start, the ones started are terminated in reverse order and the error names the
  // child (supervisor.child_start_failed, details.cause = the start error). A running supervisor
  // with the same id: supervisor.already_running. Returns the supervisor's tree (Tree()).
  Result<Json> StartSupervisor(const Json& spec);
  // Terminates the children in reverse order and waits until they are gone. `forget` also
  // deletes the definition and its history. A supervisor that is not running: ok (idempotent),
  // unless it is unknown (supervisor.not_found).
  Status StopSupervisor(const std::string& id, bool forget = false);

  // `path` names a top-level supervisor ("web") or a nested one ("web/jobs").
  Result<std::vector<ChildInfo>> WhichChildren(const std::string& path);
  // Terminates the child if it runs, then starts it again (not counted toward the intensity).
  Status RestartChild(const std::string& path, const std::string& child);
  // Static strategies: `params` is a child spec; the child is started last in order. For
  // simple_one_for_one: {"args": [...]} appended to the template's argv (optional); the new
  // child's id is "<template id>-<n>". Returns the child's id. Start failure: the child is not
  // added and the error is returned.
  Result<std::string> AddChild(const std::string& path, const Json& params);
  // Terminates the child if it runs (also while it waits to be restarted), then removes it.
  Status DeleteChild(const std::string& path, const std::string& child);
  // Applies at once without restarting any child (see supervisor_core.h).
  Status ChangeStrategy(const std::string& path, Strategy strategy,
                        std::optional<Intensity> intensity);
  // Backoff of one child, or of every child when `child` is empty.
  Status SetBackoff(const std::string& path, const std::string& child, const Json& backoff);

  // Summary of a supervisor (running or not): state, strategy, intensity, restarts in the
  // current window, per-child restart counts.
  Result<Json> Summary(const std::string& path);
  // Restart history of a supervisor and, when `include_nested`, of the supervisors below it;
  // oldest first. Each entry: {seq, time_unix_ms, supervisor, child, event, reason, detail,
  // restart_count, delay_ms}. Persisted: survives daemon restarts.
  Result<std::vector<Json>> History(const std::string& path, bool include_nested = true);
  // Restart decisions per child within the last `window_ms` (0: the intensity period), and a flag
  // for children whose count reaches `threshold` (0..1) of max_restarts.
  Result<Json> RestartFrequency(const std::string& path, int64_t window_ms, double threshold);

  // The tree below `path` (all top-level supervisors when empty) as JSON, as Graphviz DOT, and
  // as an SVG picture rendered by Graphviz's `dot` (supervisor.graphviz_unavailable if missing).
  Result<Json> Tree(const std::string& path);
  Result<std::string> TreeDot(const std::string& path);
  Result<std::string> TreeSvg(const std::string& path);

  // Every known top-level supervisor (running, stopped or failed) with its summary.
  std::vector<Json> List();

  // Waits until pending history and state writes are in the store.
  void FlushStore();

  // The process table the workers run in (null before Get()).
  ProcessTable* process_table() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Renders a tree (as returned by Tree()) as Graphviz DOT. Pure; exposed for tests.
std::string TreeToDot(const Json& tree);

}  // namespace arsenal::supervisor
