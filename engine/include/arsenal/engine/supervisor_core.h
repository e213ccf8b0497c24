// SupervisorCore: the OTP supervisor semantics as a deterministic state machine, without I/O.
//
// Purpose: one place that decides *what* a supervisor does (which children to start, terminate
// or kill, in which order, when to give up and fail upward), separated from *how* it is done
// (processes, pidfds, nested supervisors, timers, the store). The runtime (supervisor.h) feeds it
// events and carries out the actions it emits; the property tests drive it against a reference
// model of OTP's supervisor.erl. It never reads a clock, never blocks and never allocates file
// descriptors: time comes in with every event (`now_ms`, a monotonic millisecond tick), and the
// jitter of the restart backoff comes from a PRNG seeded at construction, so the same events give
// the same actions.
//
// Vocabulary and guarantees (as OTP):
//  - Strategies: one_for_one (restart the child that exited), one_for_all (terminate every other
//    child in reverse start order, then start them all in start order), rest_for_one (the child
//    and every child started after it), simple_one_for_one (dynamic children of one template,
//    each restarted on its own; terminated in parallel at shutdown).
//  - Restart types: permanent (always restarted), transient (restarted unless the exit was
//    normal or shutdown), temporary (never restarted; removed when it exits).
//  - Intensity: every restart decision is recorded; when more than `max_restarts` happened within
//    the last `period_ms` (inclusive), the supervisor terminates all its children in reverse
//    start order and exits with reason shutdown ("reached_max_restart_intensity"); the runtime
//    reports that exit to the parent supervisor, which treats it like any child exit.
//  - Shutdown per child: brutal_kill (kill at once), a timeout (graceful, then kill when the
//    timer fires) or infinity (graceful, wait forever; the default for supervisor children).
//  - While a multi-step sequence runs (terminating siblings, starting the group), other events
//    queue in a mailbox and are handled after it, in arrival order, like messages in a
//    gen_server mailbox. An exit of a child that the running sequence is about to terminate is
//    consumed by that termination (as OTP's shutdown/2 flushes the EXIT message): it is not a
//    second crash. Exits of an instance that is no longer current are ignored.
//  - A restart whose start fails is retried ("try again") after the mailbox drains, and each
//    retry counts toward the intensity, so a child that cannot start escalates.
//
// Beyond OTP:
//  - Per-child restart backoff: the n-th consecutive restart of a child waits
//    min(max_ms, initial_ms * multiplier^(n-1)) with +/- jitter, and the count resets when the
//    child had been running for reset_after_ms before it exited. While a restart waits, the
//    supervisor is idle (other events are handled). A group restart (one_for_all, rest_for_one)
//    waits for the backoff of the child that triggered it. initial_ms = 0 disables backoff
//    (immediate restarts, exactly OTP). Backoff never bypasses the intensity limit: restarts are
//    counted when decided, not when performed.
//  - ChangeStrategy / SetBackoff take effect at once, even during a sequence: every exit is
//    handled by exactly one strategy (the one in force when it is taken from the mailbox), and no
//    child is restarted or stopped by the change itself.
//  - DeleteChild terminates a running child first; it also works on a child that is waiting to
//    be restarted (the pending restart is cancelled). RestartChild restarts a running child too.
//
// Driver contract (preconditions):
//  - Every StartAction is answered by exactly one OnStarted or OnStartFailed for that instance;
//    every TerminateAction by one OnExit for that instance (a kill must end in an exit). The
//    driver may deliver them later and interleaved with other events.
//  - Timers are one-shot: a TimerAction is answered by OnTimer(timer) unless cancelled by a
//    CancelTimerAction; a late OnTimer for a cancelled timer is ignored.
//  - Every command (Start, Stop, AddChild, ...) carries a request id and gets exactly one
//    ReplyAction with that id, possibly after several rounds of events.
//  - Not thread-safe: call it from one thread (the engine's event loop).
//
// Example (a driver that starts children synchronously):
//   SupervisorCore core({.strategy = Strategy::kOneForOne, .intensity = {3, 5000}}, children);
//   core.Start(/*request=*/1, now);
//   for (auto& action : core.TakeActions()) { ... execute, then feed results back ... }
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "arsenal/base/result.h"

namespace arsenal::supervisor {

enum class Strategy : uint8_t { kOneForOne, kOneForAll, kRestForOne, kSimpleOneForOne };
enum class RestartType : uint8_t { kPermanent, kTransient, kTemporary };
enum class ChildType : uint8_t { kWorker, kSupervisor };

// Stable names used in JSON and the store ("one_for_one", "permanent", "worker", ...).
std::string_view StrategyName(Strategy strategy);
std::string_view RestartTypeName(RestartType type);
std::string_view ChildTypeName(ChildType type);
std::optional<Strategy> ParseStrategy(std::string_view name);
std::optional<RestartType> ParseRestartType(std::string_view name);
std::optional<ChildType> ParseChildType(std::string_view name);

struct ShutdownPolicy {
  enum class Kind : uint8_t { kBrutalKill, kTimeout, kInfinity };
  Kind kind = Kind::kTimeout;
  int64_t timeout_ms = 5000;  // only for kTimeout

  static ShutdownPolicy BrutalKill() { return {Kind::kBrutalKill, 0}; }
  static ShutdownPolicy Timeout(int64_t ms) { return {Kind::kTimeout, ms}; }
  static ShutdownPolicy Infinity() { return {Kind::kInfinity, 0}; }
  // "brutal_kill", "infinity" or the timeout in ms as a number.
  Json ToJson() const;
  bool operator==(const ShutdownPolicy&) const = default;
};

struct BackoffPolicy {
  int64_t initial_ms = 0;  // 0: no backoff (OTP behaviour)
  int64_t max_ms = 30'000;
  double multiplier = 2.0;  // >= 1
  double jitter = 0.0;      // [0, 1]: delay drawn uniformly from [d*(1-j), d*(1+j)], capped
  int64_t reset_after_ms = 60'000;

  bool enabled() const { return initial_ms > 0; }
  Json ToJson() const;
  bool operator==(const BackoffPolicy&) const = default;
};

// What the core needs to know about a child (the runtime keeps the rest: process spec, ...).
struct ChildPolicy {
  std::string id;
  ChildType type = ChildType::kWorker;
  RestartType restart = RestartType::kPermanent;
  ShutdownPolicy shutdown;
  BackoffPolicy backoff;
};

struct Intensity {
  int max_restarts = 1;      // >= 0
  int64_t period_ms = 5000;  // > 0
};

// How a child ended, in OTP's three classes: normal (exit status 0), shutdown (terminated on
// purpose, or a nested supervisor that gave up) and anything else (abnormal).
enum class ExitKind : uint8_t { kNormal, kShutdown, kAbnormal };
std::string_view ExitKindName(ExitKind kind);

struct ExitReason {
  ExitKind kind = ExitKind::kAbnormal;
  std::string text;  // "exit status 3", "killed by SIGSEGV", "reached_max_restart_intensity"

  static ExitReason Normal(std::string text = "normal") { return {ExitKind::kNormal, text}; }
  static ExitReason Shutdown(std::string text = "shutdown") { return {ExitKind::kShutdown, text}; }
  static ExitReason Abnormal(std::string text) { return {ExitKind::kAbnormal, text}; }
};

using RequestId = uint64_t;
using TimerId = uint64_t;

// ---- Actions the driver carries out --------------------------------------------------------

// Start a new instance of child `id`. `restart` is false for the first start and for add_child.
struct StartAction {
  std::string id;
  uint64_t instance = 0;
  bool restart = false;
};
// Terminate instance `instance` of `id`: gracefully (SIGTERM; a nested supervisor shuts its
// children down in order) or, with kill, at once (SIGKILL; a nested supervisor kills its subtree).
// A graceful terminate may be followed by a kill for the same instance when the timeout expires.
struct TerminateAction {
  std::string id;
  uint64_t instance = 0;
  bool kill = false;
};
struct TimerAction {
  TimerId timer = 0;
  int64_t delay_ms = 0;
};
struct CancelTimerAction {
  TimerId timer = 0;
};
struct ReplyAction {
  RequestId request = 0;
  Status status;
};
// The supervisor has terminated every child and is done; nothing follows. kShutdown with text
// "reached_max_restart_intensity" is the escalation that the parent must see as a child exit.
struct ExitedAction {
  ExitReason reason;
};

// What happened, for supervisor_stats and the store.
struct HistoryEntry {
  enum class Kind : uint8_t {
    kExit,            // child exited: reason, decision in `detail`
    kRestart,         // child (re)started by the supervisor; detail says why
    kStartFailed,     // a start failed: reason
    kEscalate,        // intensity exceeded: the supervisor gives up
    kManualRestart,   // restart_child
    kAdd,             // add_child
    kDelete,          // delete_child
    kStrategyChange,  // change_strategy: detail "old -> new"
    kBackoffChange,   // set backoff
    kStop,            // supervisor stopped on request
  };
  int64_t at_ms = 0;
  Kind kind = Kind::kExit;
  std::string child;  // empty for supervisor-level entries
  std::string reason;
  std::string detail;
  uint32_t restart_count = 0;  // the child's restart count after this entry
  int64_t delay_ms = 0;        // backoff delay for a scheduled restart
};
std::string_view HistoryKindName(HistoryEntry::Kind kind);

using Action = std::variant<StartAction, TerminateAction, TimerAction, CancelTimerAction,
                            ReplyAction, ExitedAction, HistoryEntry>;

// ---- Observable state ------------------------------------------------------------------------

enum class ChildState : uint8_t {
  kStopped,   // not running and not scheduled (transient that exited normally, failed manual
              // start, or not started yet)
  kStarting,  // StartAction emitted, result pending
  kRunning,
  kTerminating,  // TerminateAction emitted, exit pending
  kRestarting,   // waiting for its restart (backoff timer or a try-again)
};
std::string_view ChildStateName(ChildState state);

enum class SupervisorState : uint8_t {
  kIdle,      // constructed, Start not called
  kStarting,  // starting its children
  kRunning,
  kStopping,  // terminating its children (stop, escalation or failed start)
  kStopped,   // ExitedAction emitted
};
std::string_view SupervisorStateName(SupervisorState state);

struct ChildView {
  ChildPolicy policy;
  ChildState state = ChildState::kStopped;
  uint64_t instance = 0;       // current or last instance (0: never started)
  uint32_t restart_count = 0;  // restarts performed by the supervisor (not the first start)
  uint32_t consecutive = 0;    // consecutive restarts counted by the backoff
  int64_t started_at_ms = -1;  // of the current instance
  int64_t restart_at_ms = -1;  // when waiting for a backoff timer
  std::string last_exit;       // reason of the last exit, empty if none
};

class SupervisorCore {
 public:
  struct Options {
    Strategy strategy = Strategy::kOneForOne;
    Intensity intensity;
    uint64_t seed = 0;  // jitter PRNG
  };

  // `children` are in start order; for simple_one_for_one exactly one entry, the template (it is
  // not started; dynamic children are added with AddChild). Validation is the caller's (see
  // supervisor_spec.h); ids must be unique.
  SupervisorCore(Options options, std::vector<ChildPolicy> children);

  // ---- Commands: each gets one ReplyAction with `request`. ----
  // Starts the children in order. If one fails to start, the ones already started are
  // terminated in reverse order and the reply carries the error (supervisor.child_start_failed);
  // the supervisor then exits.
  void Start(RequestId request, int64_t now_ms);
  // Terminates every child in reverse start order (in parallel for simple_one_for_one), replies,
  // then exits with reason shutdown("stopped").
  void Stop(RequestId request, int64_t now_ms);
  // Adds and starts a child (for simple_one_for_one: a dynamic child, policy usually copied from
  // the template). Replies with the start error and forgets the child if it fails to start.
  void AddChild(RequestId request, ChildPolicy policy, int64_t now_ms);
  // Terminates the child if it runs (with its shutdown policy), then forgets it.
  void DeleteChild(RequestId request, const std::string& id, int64_t now_ms);
  // Terminates the child if it runs and starts it again; not counted toward the intensity; resets
  // its backoff.
  void RestartChild(RequestId request, const std::string& id, int64_t now_ms);
  // Takes effect immediately. Changes to or from simple_one_for_one are refused.
  void ChangeStrategy(RequestId request, Strategy strategy, std::optional<Intensity> intensity,
                      int64_t now_ms);
  // Sets the backoff of one child, or of every child (and the template) when `id` is empty.
  void SetBackoff(RequestId request, const std::string& id, BackoffPolicy backoff, int64_t now_ms);

  // Brutal termination (a parent's brutal_kill, or its shutdown timeout expired): kills every
  // child at once, replies to all pending commands with an error and exits with
  // shutdown("killed") once every child has exited. Idempotent.
  void Kill(int64_t now_ms);

  // ---- Events from the driver ----
  void OnStarted(const std::string& id, uint64_t instance, int64_t now_ms);
  void OnStartFailed(const std::string& id, uint64_t instance, ExitReason reason, int64_t now_ms);
  void OnExit(const std::string& id, uint64_t instance, ExitReason reason, int64_t now_ms);
  void OnTimer(TimerId timer, int64_t now_ms);

  // Actions emitted since the last call, in order.
  std::vector<Action> TakeActions();
  bool has_actions() const { return !actions_.empty(); }

  // ---- Introspection ----
  SupervisorState state() const { return state_; }
  Strategy strategy() const { return options_.strategy; }
  const Intensity& intensity() const { return options_.intensity; }
  // Children in start order (for simple_one_for_one: dynamic children in creation order).
  std::vector<ChildView> Children() const;
  std::optional<ChildView> Child(const std::string& id) const;
  const ChildPolicy* Template() const;  // simple_one_for_one only
  // Restart decisions within the intensity window ending at `now_ms`.
  int RestartsInWindow(int64_t now_ms) const;
  // Timestamps of the restart decisions still relevant for the intensity (oldest first).
  const std::deque<int64_t>& restart_times() const { return restart_times_; }
  size_t mailbox_size() const { return mailbox_.size(); }
  bool busy() const { return plan_.has_value(); }

 private:
  struct ChildRec {
    ChildPolicy policy;
    ChildState state = ChildState::kStopped;
    uint64_t instance = 0;
    uint32_t restart_count = 0;
    uint32_t consecutive = 0;
    int64_t started_at_ms = -1;
    int64_t restart_at_ms = -1;
    TimerId shutdown_timer = 0;
    bool kill_sent = false;
    bool try_again = false;  // kRestarting because a start failed (not a backoff wait)
    std::string last_exit;
  };

  // A message waiting for the current sequence to end.
  struct Mail {
    enum class Kind : uint8_t { kExit, kTimer, kTryAgain, kCommand } kind;
    std::string id;
    uint64_t instance = 0;
    ExitReason reason;
    TimerId timer = 0;
    // Commands.
    enum class Command : uint8_t { kStop, kAdd, kDelete, kRestart } command = Command::kStop;
    RequestId request = 0;
    ChildPolicy policy;
  };

  // A multi-step sequence. Steps run in order; a terminate step waits for all its children.
  struct Step {
    enum class Kind : uint8_t { kTerminate, kStart } kind;
    std::vector<std::string> ids;  // terminate: all in parallel; start: exactly one
  };
  enum class PlanKind : uint8_t {
    kInitialStart,   // Start(): abort on failure -> terminate started, reply error, exit
    kRestart,        // strategy restart; failed start -> try again
    kAdd,            // AddChild: failure -> forget child, reply error
    kDelete,         // DeleteChild: after terminate -> forget, reply
    kManualRestart,  // RestartChild: failure -> child stopped, reply error
    kShutdown,       // Stop / escalation / aborted start: then Exited
  };
  struct Plan {
    PlanKind kind;
    std::deque<Step> steps;
    RequestId request = 0;
    bool has_request = false;
    std::string subject;     // child of kAdd/kDelete/kManualRestart, trigger of kRestart
    ExitReason exit_reason;  // kShutdown: reason of the final ExitedAction
    Status failure;          // kInitialStart: the start error to reply with
    bool step_started = false;
    std::vector<std::string> waiting;  // terminate step: ids still to exit
    // kRestart only.
    std::vector<std::string> group;   // children to start, in start order
    std::vector<std::string> forget;  // temporary siblings terminated and then removed
    int64_t delay_ms = 0;             // backoff: the group starts when a timer fires
    std::string why;
  };
  // Children waiting together for one backoff timer, in start order.
  // With `real_timer` false it waits for a try-again message in the mailbox instead.
  struct PendingGroup {
    std::vector<std::string> ids;
    std::string trigger;
    bool real_timer = false;
  };

  void Emit(Action action) { actions_.push_back(std::move(action)); }
  void History(HistoryEntry::Kind kind, std::string child, std::string reason, std::string detail,
               int64_t now_ms, int64_t delay_ms = 0);
  ChildRec* Find(const std::string& id);
  const ChildRec* Find(const std::string& id) const;
  void Forget(const std::string& id);
  bool Simple() const { return options_.strategy == Strategy::kSimpleOneForOne; }

  // Event handling when no sequence runs.
  void Dispatch(Mail mail, int64_t now_ms);
  void HandleExit(const std::string& id, uint64_t instance, const ExitReason& reason,
                  int64_t now_ms);
  void HandleCommand(Mail mail, int64_t now_ms);
  // OTP restart/2: counts the restart, escalates or plans the strategy's restart.
  // `extra`: children left unstarted by the failed start that a try-again stands for.
  void Restart(const std::string& id, const std::string& why, int64_t now_ms,
               const std::vector<std::string>& extra);
  bool AddRestart(int64_t now_ms);
  int64_t BackoffDelay(ChildRec& child, int64_t now_ms);
  void Escalate(const std::string& id, int64_t now_ms);
  void BeginShutdown(ExitReason reason, std::optional<RequestId> request, int64_t now_ms);
  void RemoveFromPendingGroups(const std::string& id);

  // Sequence machinery.
  void RunPlan(Plan plan, int64_t now_ms);
  void Advance(int64_t now_ms);
  void FinishPlan(int64_t now_ms);
  void StartFailedInPlan(const std::string& id, const ExitReason& reason, int64_t now_ms);
  void TerminateChild(ChildRec& child, int64_t now_ms);
  bool ScheduledForTermination(const std::string& id) const;
  bool TakeQueuedExit(const std::string& id, uint64_t instance, ExitReason* reason);
  void DrainMailbox(int64_t now_ms);
  void ChildGone(ChildRec& child, const ExitReason& reason);
  void FinishKill(int64_t now_ms);

  Options options_;
  std::vector<std::string> order_;  // start order
  std::map<std::string, ChildRec> children_;
  std::optional<ChildPolicy> template_;
  SupervisorState state_ = SupervisorState::kIdle;
  std::deque<int64_t> restart_times_;
  std::optional<Plan> plan_;
  std::deque<Mail> mailbox_;
  std::map<TimerId, PendingGroup> pending_groups_;
  std::map<TimerId, std::string> shutdown_timers_;
  TimerId next_timer_ = 1;
  uint64_t next_instance_ = 1;
  bool killing_ = false;
  bool draining_ = false;
  std::mt19937_64 rng_;
  std::vector<Action> actions_;
};

}  // namespace arsenal::supervisor
