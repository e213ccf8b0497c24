#include "arsenal/engine/supervisor_core.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace arsenal::supervisor {

namespace {

// Each enum's names in one table, read both ways.
template <typename E>
using NameTable = std::initializer_list<std::pair<E, std::string_view>>;

template <typename E>
std::string_view NameIn(NameTable<E> table, E value) {
  for (const auto& [v, name] : table) {
    if (v == value) return name;
  }
  return table.begin()->second;
}

template <typename E>
std::optional<E> ValueIn(NameTable<E> table, std::string_view name) {
  for (const auto& [v, n] : table) {
    if (n == name) return v;
  }
  return std::nullopt;
}

const NameTable<Strategy> kStrategies = {{Strategy::kOneForOne, "one_for_one"},
                                         {Strategy::kOneForAll, "one_for_all"},
                                         {Strategy::kRestForOne, "rest_for_one"},
                                         {Strategy::kSimpleOneForOne, "simple_one_for_one"}};
const NameTable<RestartType> kRestartTypes = {{RestartType::kPermanent, "permanent"},
                                              {RestartType::kTransient, "transient"},
                                              {RestartType::kTemporary, "temporary"}};
const NameTable<ChildType> kChildTypes = {{ChildType::kWorker, "worker"},
                                          {ChildType::kSupervisor, "supervisor"}};
const NameTable<ExitKind> kExitKinds = {{ExitKind::kAbnormal, "abnormal"},
                                        {ExitKind::kNormal, "normal"},
                                        {ExitKind::kShutdown, "shutdown"}};
const NameTable<HistoryEntry::Kind> kHistoryKinds = {
    {HistoryEntry::Kind::kExit, "exit"},
    {HistoryEntry::Kind::kRestart, "restart"},
    {HistoryEntry::Kind::kStartFailed, "start_failed"},
    {HistoryEntry::Kind::kEscalate, "escalate"},
    {HistoryEntry::Kind::kManualRestart, "manual_restart"},
    {HistoryEntry::Kind::kAdd, "add"},
    {HistoryEntry::Kind::kDelete, "delete"},
    {HistoryEntry::Kind::kStrategyChange, "strategy_change"},
    {HistoryEntry::Kind::kBackoffChange, "backoff_change"},
    {HistoryEntry::Kind::kStop, "stop"}};
const NameTable<ChildState> kChildStates = {{ChildState::kStopped, "stopped"},
                                            {ChildState::kStarting, "starting"},
                                            {ChildState::kRunning, "running"},
                                            {ChildState::kTerminating, "terminating"},
                                            {ChildState::kRestarting, "restarting"}};
const NameTable<SupervisorState> kSupervisorStates = {{SupervisorState::kStopped, "stopped"},
                                                      {SupervisorState::kIdle, "idle"},
                                                      {SupervisorState::kStarting, "starting"},
                                                      {SupervisorState::kRunning, "running"},
                                                      {SupervisorState::kStopping, "stopping"}};

}  // namespace

std::string_view StrategyName(Strategy strategy) { return NameIn(kStrategies, strategy); }
std::string_view RestartTypeName(RestartType type) { return NameIn(kRestartTypes, type); }
std::string_view ChildTypeName(ChildType type) { return NameIn(kChildTypes, type); }
std::optional<Strategy> ParseStrategy(std::string_view name) { return ValueIn(kStrategies, name); }
std::optional<RestartType> ParseRestartType(std::string_view name) {
  return ValueIn(kRestartTypes, name);
}
std::optional<ChildType> ParseChildType(std::string_view name) {
  return ValueIn(kChildTypes, name);
}
std::string_view ExitKindName(ExitKind kind) { return NameIn(kExitKinds, kind); }
std::string_view HistoryKindName(HistoryEntry::Kind kind) { return NameIn(kHistoryKinds, kind); }
std::string_view ChildStateName(ChildState state) { return NameIn(kChildStates, state); }
std::string_view SupervisorStateName(SupervisorState state) {
  return NameIn(kSupervisorStates, state);
}

Json ShutdownPolicy::ToJson() const {
  switch (kind) {
    case Kind::kBrutalKill:
      return "brutal_kill";
    case Kind::kInfinity:
      return "infinity";
    case Kind::kTimeout:
      return timeout_ms;
  }
  return timeout_ms;
}

Json BackoffPolicy::ToJson() const {
  return {{"initial_ms", initial_ms},
          {"max_ms", max_ms},
          {"multiplier", multiplier},
          {"jitter", jitter},
          {"reset_after_ms", reset_after_ms}};
}

namespace {

Error NotRunning() {
  return ConflictError("supervisor.not_running", "the supervisor is not running")
      .WithHint("start it again with start_supervisor");
}

Error UnknownChild(const std::string& id) {
  return NotFoundError("supervisor.child_not_found", "no child '" + id + "' in this supervisor")
      .WithDetail("child", id)
      .WithHint("which_children lists the children");
}

Error StartFailed(const std::string& id, const std::string& reason) {
  return Error(ErrorCategory::kUnavailable, "supervisor.child_start_failed",
               "child '" + id + "' failed to start: " + reason)
      .WithDetail("child", id)
      .WithHint("check the child's spec (command, sandbox) and its log");
}

}  // namespace

SupervisorCore::SupervisorCore(Options options, std::vector<ChildPolicy> children)
    : options_(options), rng_(options.seed) {
  if (options_.strategy == Strategy::kSimpleOneForOne) {
    if (!children.empty()) template_ = std::move(children.front());
    return;
  }
  for (auto& policy : children) {
    order_.push_back(policy.id);
    ChildRec rec;
    rec.policy = std::move(policy);
    children_.emplace(order_.back(), std::move(rec));
  }
}

void SupervisorCore::History(HistoryEntry::Kind kind, std::string child, std::string reason,
                             std::string detail, int64_t now_ms, int64_t delay_ms) {
  HistoryEntry entry;
  entry.at_ms = now_ms;
  entry.kind = kind;
  if (const ChildRec* rec = Find(child)) entry.restart_count = rec->restart_count;
  entry.child = std::move(child);
  entry.reason = std::move(reason);
  entry.detail = std::move(detail);
  entry.delay_ms = delay_ms;
  Emit(std::move(entry));
}

SupervisorCore::ChildRec* SupervisorCore::Find(const std::string& id) {
  auto it = children_.find(id);
  return it == children_.end() ? nullptr : &it->second;
}

const SupervisorCore::ChildRec* SupervisorCore::Find(const std::string& id) const {
  auto it = children_.find(id);
  return it == children_.end() ? nullptr : &it->second;
}

void SupervisorCore::Forget(const std::string& id) {
  RemoveFromPendingGroups(id);
  children_.erase(id);
  std::erase(order_, id);
}

std::vector<Action> SupervisorCore::TakeActions() {
  std::vector<Action> out;
  out.swap(actions_);
  return out;
}

std::vector<ChildView> SupervisorCore::Children() const {
  std::vector<ChildView> out;
  out.reserve(order_.size());
  for (const auto& id : order_) {
    if (auto view = Child(id)) out.push_back(std::move(*view));
  }
  return out;
}

std::optional<ChildView> SupervisorCore::Child(const std::string& id) const {
  const ChildRec* rec = Find(id);
  if (rec == nullptr) return std::nullopt;
  ChildView view;
  view.policy = rec->policy;
  view.state = rec->state;
  view.instance = rec->instance;
  view.restart_count = rec->restart_count;
  view.consecutive = rec->consecutive;
  view.started_at_ms = rec->started_at_ms;
  view.restart_at_ms = rec->state == ChildState::kRestarting ? rec->restart_at_ms : -1;
  view.last_exit = rec->last_exit;
  return view;
}

const ChildPolicy* SupervisorCore::Template() const { return template_ ? &*template_ : nullptr; }

int SupervisorCore::RestartsInWindow(int64_t now_ms) const {
  const int64_t threshold = now_ms - options_.intensity.period_ms;
  return static_cast<int>(std::count_if(restart_times_.begin(), restart_times_.end(),
                                        [&](int64_t t) { return t >= threshold; }));
}

// ---- Commands --------------------------------------------------------------------------------

void SupervisorCore::Start(RequestId request, int64_t now_ms) {
  if (state_ != SupervisorState::kIdle) {
    Emit(ReplyAction{request, Fail(ConflictError("supervisor.already_started",
                                                 "the supervisor was already started"))});
    return;
  }
  if (order_.empty()) {
    state_ = SupervisorState::kRunning;
    Emit(ReplyAction{request, {}});
    return;
  }
  state_ = SupervisorState::kStarting;
  Plan plan{.kind = PlanKind::kInitialStart};
  plan.request = request;
  plan.has_request = true;
  for (const auto& id : order_) plan.steps.push_back({Step::Kind::kStart, {id}});
  RunPlan(std::move(plan), now_ms);
}

void SupervisorCore::Stop(RequestId request, int64_t now_ms) {
  Mail mail{.kind = Mail::Kind::kCommand};
  mail.command = Mail::Command::kStop;
  mail.request = request;
  HandleCommand(std::move(mail), now_ms);
}

void SupervisorCore::AddChild(RequestId request, ChildPolicy policy, int64_t now_ms) {
  Mail mail{.kind = Mail::Kind::kCommand};
  mail.command = Mail::Command::kAdd;
  mail.request = request;
  mail.policy = std::move(policy);
  HandleCommand(std::move(mail), now_ms);
}

void SupervisorCore::DeleteChild(RequestId request, const std::string& id, int64_t now_ms) {
  Mail mail{.kind = Mail::Kind::kCommand};
  mail.command = Mail::Command::kDelete;
  mail.request = request;
  mail.id = id;
  HandleCommand(std::move(mail), now_ms);
}

void SupervisorCore::RestartChild(RequestId request, const std::string& id, int64_t now_ms) {
  Mail mail{.kind = Mail::Kind::kCommand};
  mail.command = Mail::Command::kRestart;
  mail.request = request;
  mail.id = id;
  HandleCommand(std::move(mail), now_ms);
}

void SupervisorCore::ChangeStrategy(RequestId request, Strategy strategy,
                                    std::optional<Intensity> intensity, int64_t now_ms) {
  if (state_ == SupervisorState::kStopped || state_ == SupervisorState::kStopping || killing_) {
    Emit(ReplyAction{request, Fail(NotRunning())});
    return;
  }
  if ((strategy == Strategy::kSimpleOneForOne) != Simple()) {
    Emit(ReplyAction{
        request, Fail(ValidationError(
                          "supervisor.strategy_change_unsupported",
                          "cannot change strategy between simple_one_for_one and " +
                              std::string(StrategyName(Simple() ? strategy : options_.strategy)) +
                              ": their children are declared differently",
                          "strategy")
                          .WithHint("start a new supervisor with the other strategy"))});
    return;
  }
  const std::string detail =
      std::string(StrategyName(options_.strategy)) + " -> " + std::string(StrategyName(strategy));
  // Applied at once, even during a sequence: the sequence in progress finishes as planned and
  // every exit taken from the mailbox afterwards is handled by the new strategy, so no exit is
  // handled by neither.
  options_.strategy = strategy;
  if (intensity) options_.intensity = *intensity;
  History(HistoryEntry::Kind::kStrategyChange, "", "", detail, now_ms);
  Emit(ReplyAction{request, {}});
}

void SupervisorCore::SetBackoff(RequestId request, const std::string& id, BackoffPolicy backoff,
                                int64_t now_ms) {
  if (state_ == SupervisorState::kStopped || killing_) {
    Emit(ReplyAction{request, Fail(NotRunning())});
    return;
  }
  if (id.empty()) {
    for (auto& [_, rec] : children_) rec.policy.backoff = backoff;
    if (template_) template_->backoff = backoff;
  } else if (ChildRec* rec = Find(id)) {
    rec->policy.backoff = backoff;
  } else if (template_ && template_->id == id) {
    template_->backoff = backoff;
  } else {
    Emit(ReplyAction{request, Fail(UnknownChild(id))});
    return;
  }
  History(HistoryEntry::Kind::kBackoffChange, id, "", backoff.ToJson().dump(), now_ms);
  Emit(ReplyAction{request, {}});
}

void SupervisorCore::HandleCommand(Mail mail, int64_t now_ms) {
  const RequestId request = mail.request;
  if (killing_ || state_ == SupervisorState::kStopped) {
    Emit(ReplyAction{request, Fail(NotRunning())});
    return;
  }
  if (plan_) {
    mailbox_.push_back(std::move(mail));
    return;
  }
  switch (mail.command) {
    case Mail::Command::kStop: {
      if (state_ == SupervisorState::kIdle) {
        state_ = SupervisorState::kStopped;
        Emit(ReplyAction{request, {}});
        Emit(ExitedAction{ExitReason::Shutdown("stopped")});
        return;
      }
      History(HistoryEntry::Kind::kStop, "", "stop requested", "", now_ms);
      BeginShutdown(ExitReason::Shutdown("stopped"), request, now_ms);
      return;
    }
    case Mail::Command::kAdd: {
      if (state_ != SupervisorState::kRunning) {
        Emit(ReplyAction{request, Fail(NotRunning())});
        return;
      }
      const std::string id = mail.policy.id;
      if (Find(id) != nullptr || (template_ && template_->id == id)) {
        Emit(ReplyAction{request, Fail(ConflictError("supervisor.duplicate_child_id",
                                                     "a child with id '" + id + "' already exists")
                                           .WithDetail("field", "id")
                                           .WithHint("choose another id or delete_child first"))});
        return;
      }
      ChildRec rec;
      rec.policy = std::move(mail.policy);
      children_.emplace(id, std::move(rec));
      order_.push_back(id);
      Plan plan{.kind = PlanKind::kAdd};
      plan.request = request;
      plan.has_request = true;
      plan.subject = id;
      plan.steps.push_back({Step::Kind::kStart, {id}});
      RunPlan(std::move(plan), now_ms);
      return;
    }
    case Mail::Command::kDelete: {
      ChildRec* child = Find(mail.id);
      if (child == nullptr) {
        Emit(ReplyAction{request, Fail(UnknownChild(mail.id))});
        return;
      }
      if (child->state == ChildState::kRunning) {
        Plan plan{.kind = PlanKind::kDelete};
        plan.request = request;
        plan.has_request = true;
        plan.subject = mail.id;
        plan.steps.push_back({Step::Kind::kTerminate, {mail.id}});
        RunPlan(std::move(plan), now_ms);
        return;
      }
      // Stopped, or waiting for a restart: the pending restart is cancelled with the child.
      History(HistoryEntry::Kind::kDelete, mail.id, "", ChildStateName(child->state).data(),
              now_ms);
      Forget(mail.id);
      Emit(ReplyAction{request, {}});
      return;
    }
    case Mail::Command::kRestart: {
      ChildRec* child = Find(mail.id);
      if (child == nullptr) {
        Emit(ReplyAction{request, Fail(UnknownChild(mail.id))});
        return;
      }
      RemoveFromPendingGroups(mail.id);
      child->consecutive = 0;
      child->try_again = false;
      Plan plan{.kind = PlanKind::kManualRestart};
      plan.request = request;
      plan.has_request = true;
      plan.subject = mail.id;
      if (child->state == ChildState::kRunning) {
        plan.steps.push_back({Step::Kind::kTerminate, {mail.id}});
      }
      plan.steps.push_back({Step::Kind::kStart, {mail.id}});
      RunPlan(std::move(plan), now_ms);
      return;
    }
  }
}

void SupervisorCore::Kill(int64_t now_ms) {
  if (state_ == SupervisorState::kStopped || killing_) return;
  killing_ = true;
  if (state_ == SupervisorState::kIdle) {
    state_ = SupervisorState::kStopped;
    Emit(ExitedAction{ExitReason::Shutdown("killed")});
    return;
  }
  state_ = SupervisorState::kStopping;
  if (plan_ && plan_->has_request) {
    Emit(ReplyAction{plan_->request,
                     Fail(Error(ErrorCategory::kUnavailable, "supervisor.killed",
                                "the supervisor was killed before the request completed"))});
  }
  plan_.reset();
  // Exits already queued belong to children that are dead: they must not be waited for.
  for (auto& mail : mailbox_) {
    if (mail.kind == Mail::Kind::kExit) {
      ChildRec* child = Find(mail.id);
      if (child != nullptr && child->instance == mail.instance &&
          child->state == ChildState::kRunning) {
        child->state = ChildState::kStopped;
        child->last_exit = mail.reason.text;
      }
    } else if (mail.kind == Mail::Kind::kCommand) {
      Emit(ReplyAction{mail.request, Fail(NotRunning())});
    }
  }
  mailbox_.clear();
  for (auto& [timer, group] : pending_groups_) {
    if (group.real_timer) Emit(CancelTimerAction{timer});
  }
  pending_groups_.clear();
  for (auto& [timer, id] : shutdown_timers_) Emit(CancelTimerAction{timer});
  shutdown_timers_.clear();
  for (const auto& id : order_) {
    ChildRec& child = children_.at(id);
    if (child.state == ChildState::kRestarting) child.state = ChildState::kStopped;
    if ((child.state == ChildState::kRunning || child.state == ChildState::kTerminating) &&
        !child.kill_sent) {
      child.state = ChildState::kTerminating;
      child.kill_sent = true;
      Emit(TerminateAction{id, child.instance, true});
    }
  }
  FinishKill(now_ms);
}

void SupervisorCore::FinishKill(int64_t /*now_ms*/) {
  for (const auto& [id, child] : children_) {
    if (child.state == ChildState::kStarting || child.state == ChildState::kTerminating) return;
  }
  state_ = SupervisorState::kStopped;
  Emit(ExitedAction{ExitReason::Shutdown("killed")});
}

// ---- Events ----------------------------------------------------------------------------------

void SupervisorCore::OnStarted(const std::string& id, uint64_t instance, int64_t now_ms) {
  ChildRec* child = Find(id);
  if (child == nullptr || child->instance != instance || child->state != ChildState::kStarting) {
    return;
  }
  child->state = ChildState::kRunning;
  child->started_at_ms = now_ms;
  child->kill_sent = false;
  if (killing_) {
    child->state = ChildState::kTerminating;
    child->kill_sent = true;
    Emit(TerminateAction{id, instance, true});
    return;
  }
  if (!plan_ || plan_->steps.empty() || plan_->steps.front().kind != Step::Kind::kStart ||
      plan_->steps.front().ids.front() != id) {
    return;  // cannot happen under the driver contract
  }
  if (plan_->kind == PlanKind::kRestart || plan_->kind == PlanKind::kManualRestart) {
    ++child->restart_count;
    History(plan_->kind == PlanKind::kRestart ? HistoryEntry::Kind::kRestart
                                              : HistoryEntry::Kind::kManualRestart,
            id, plan_->subject == id ? "" : "restart of " + plan_->subject,
            plan_->kind == PlanKind::kRestart ? "restarted" : "restarted on request", now_ms);
  }
  plan_->steps.pop_front();
  plan_->step_started = false;
  Advance(now_ms);
}

void SupervisorCore::OnStartFailed(const std::string& id, uint64_t instance, ExitReason reason,
                                   int64_t now_ms) {
  ChildRec* child = Find(id);
  if (child == nullptr || child->instance != instance || child->state != ChildState::kStarting) {
    return;
  }
  child->state = ChildState::kStopped;
  child->started_at_ms = -1;  // a failed start is not a healthy period for the backoff
  child->last_exit = reason.text;
  History(HistoryEntry::Kind::kStartFailed, id, reason.text, "", now_ms);
  if (killing_) {
    FinishKill(now_ms);
    return;
  }
  if (!plan_ || plan_->steps.empty() || plan_->steps.front().kind != Step::Kind::kStart ||
      plan_->steps.front().ids.front() != id) {
    return;
  }
  StartFailedInPlan(id, reason, now_ms);
}

void SupervisorCore::OnExit(const std::string& id, uint64_t instance, ExitReason reason,
                            int64_t now_ms) {
  if (state_ == SupervisorState::kStopped) return;
  ChildRec* child = Find(id);
  if (child == nullptr || child->instance != instance) return;  // stale instance
  if (killing_) {
    if (child->state == ChildState::kRunning || child->state == ChildState::kTerminating) {
      child->state = ChildState::kStopped;
      child->last_exit = reason.text;
      FinishKill(now_ms);
    }
    return;
  }
  switch (child->state) {
    case ChildState::kTerminating: {
      ChildGone(*child, reason);
      if (plan_ && plan_->step_started && !plan_->steps.empty() &&
          plan_->steps.front().kind == Step::Kind::kTerminate) {
        std::erase(plan_->waiting, id);
        if (plan_->waiting.empty()) {
          plan_->steps.pop_front();
          plan_->step_started = false;
          Advance(now_ms);
        }
      }
      return;
    }
    case ChildState::kRunning: {
      if (plan_ && ScheduledForTermination(id)) {
        // The sequence would terminate it anyway: its exit is consumed by that termination.
        ChildGone(*child, reason);
        History(HistoryEntry::Kind::kExit, id, reason.text, "exited before its termination",
                now_ms);
        return;
      }
      if (plan_) {
        Mail mail{.kind = Mail::Kind::kExit};
        mail.id = id;
        mail.instance = instance;
        mail.reason = std::move(reason);
        mailbox_.push_back(std::move(mail));
        return;
      }
      HandleExit(id, instance, reason, now_ms);
      return;
    }
    case ChildState::kStarting: {
      // Only a driver that reports the exit before the start result gets here: keep it for later.
      Mail mail{.kind = Mail::Kind::kExit};
      mail.id = id;
      mail.instance = instance;
      mail.reason = std::move(reason);
      mailbox_.push_back(std::move(mail));
      return;
    }
    case ChildState::kStopped:
    case ChildState::kRestarting:
      return;
  }
}

void SupervisorCore::OnTimer(TimerId timer, int64_t now_ms) {
  if (state_ == SupervisorState::kStopped) return;
  if (auto it = shutdown_timers_.find(timer); it != shutdown_timers_.end()) {
    const std::string id = it->second;
    shutdown_timers_.erase(it);
    ChildRec* child = Find(id);
    if (child != nullptr && child->state == ChildState::kTerminating && !child->kill_sent) {
      child->kill_sent = true;
      child->shutdown_timer = 0;
      Emit(TerminateAction{id, child->instance, true});
    }
    return;
  }
  if (!pending_groups_.contains(timer)) return;
  Mail mail{.kind = Mail::Kind::kTimer};
  mail.timer = timer;
  if (plan_) {
    mailbox_.push_back(std::move(mail));
    return;
  }
  Dispatch(std::move(mail), now_ms);
}

// ---- Handling --------------------------------------------------------------------------------

void SupervisorCore::Dispatch(Mail mail, int64_t now_ms) {
  switch (mail.kind) {
    case Mail::Kind::kExit: {
      ChildRec* child = Find(mail.id);
      if (child == nullptr || child->instance != mail.instance ||
          child->state != ChildState::kRunning) {
        return;
      }
      HandleExit(mail.id, mail.instance, mail.reason, now_ms);
      return;
    }
    case Mail::Kind::kTimer:
    case Mail::Kind::kTryAgain: {
      auto it = pending_groups_.find(mail.timer);
      if (it == pending_groups_.end()) return;
      PendingGroup group = std::move(it->second);
      pending_groups_.erase(it);
      std::vector<std::string> ids;
      for (const auto& id : group.ids) {
        const ChildRec* child = Find(id);
        if (child != nullptr && child->state == ChildState::kRestarting) ids.push_back(id);
      }
      if (ids.empty()) return;
      const ChildRec* trigger = Find(group.trigger);
      if (trigger != nullptr && trigger->state == ChildState::kRestarting && trigger->try_again) {
        // OTP's try_again_restart: a full restart decision again (counted, may escalate).
        std::erase(ids, group.trigger);
        Restart(group.trigger, "try again", now_ms, ids);
        return;
      }
      Plan plan{.kind = PlanKind::kRestart};
      plan.subject = group.trigger;
      for (const auto& id : ids) plan.steps.push_back({Step::Kind::kStart, {id}});
      RunPlan(std::move(plan), now_ms);
      return;
    }
    case Mail::Kind::kCommand:
      HandleCommand(std::move(mail), now_ms);
      return;
  }
}

void SupervisorCore::HandleExit(const std::string& id, uint64_t /*instance*/,
                                const ExitReason& reason, int64_t now_ms) {
  ChildRec& child = children_.at(id);
  child.state = ChildState::kStopped;
  child.last_exit = reason.text;
  const bool normal = reason.kind != ExitKind::kAbnormal;
  switch (child.policy.restart) {
    case RestartType::kPermanent:
      break;
    case RestartType::kTransient:
      if (normal) {
        History(HistoryEntry::Kind::kExit, id, reason.text, "not restarted: transient", now_ms);
        // simple_one_for_one forgets dynamic children that will not be restarted (OTP dyn_erase).
        if (Simple()) Forget(id);
        return;
      }
      break;
    case RestartType::kTemporary:
      History(HistoryEntry::Kind::kExit, id, reason.text, "removed: temporary", now_ms);
      Forget(id);
      return;
  }
  History(HistoryEntry::Kind::kExit, id, reason.text, "restart", now_ms);
  Restart(id, reason.text, now_ms, {});
}

bool SupervisorCore::AddRestart(int64_t now_ms) {
  restart_times_.push_back(now_ms);
  const int64_t threshold = now_ms - options_.intensity.period_ms;
  while (!restart_times_.empty() && restart_times_.front() < threshold) restart_times_.pop_front();
  return static_cast<int64_t>(restart_times_.size()) <= options_.intensity.max_restarts;
}

int64_t SupervisorCore::BackoffDelay(ChildRec& child, int64_t now_ms) {
  const BackoffPolicy& b = child.policy.backoff;
  if (!b.enabled()) return 0;
  if (child.started_at_ms >= 0 && now_ms - child.started_at_ms >= b.reset_after_ms) {
    child.consecutive = 0;
  }
  const double base = static_cast<double>(b.initial_ms) *
                      std::pow(std::max(1.0, b.multiplier), static_cast<double>(child.consecutive));
  double delay = std::min(base, static_cast<double>(b.max_ms));
  if (b.jitter > 0) {
    const double j = std::clamp(b.jitter, 0.0, 1.0);
    std::uniform_real_distribution<double> dist(1.0 - j, 1.0 + j);
    delay = std::min(delay * dist(rng_), static_cast<double>(b.max_ms));
  }
  ++child.consecutive;
  return std::max<int64_t>(0, std::llround(delay));
}

void SupervisorCore::Restart(const std::string& id, const std::string& why, int64_t now_ms,
                             const std::vector<std::string>& extra) {
  ChildRec& trigger = children_.at(id);
  if (!AddRestart(now_ms)) {
    Escalate(id, now_ms);
    return;
  }
  const int64_t delay = BackoffDelay(trigger, now_ms);
  trigger.try_again = false;

  // Which children are terminated (reverse start order) and which are started (start order).
  std::vector<std::string> affected;  // in start order, including `id`
  switch (options_.strategy) {
    case Strategy::kOneForOne:
    case Strategy::kSimpleOneForOne:
      affected = {id};
      break;
    case Strategy::kOneForAll:
      affected = order_;
      break;
    case Strategy::kRestForOne: {
      auto it = std::find(order_.begin(), order_.end(), id);
      affected.assign(it, order_.end());
      break;
    }
  }
  // Children left unstarted by the failed start this retry stands for stay in the group even if
  // the strategy was changed meanwhile (with an unchanged strategy they are in `affected`).
  for (const auto& e : extra) {
    if (std::find(affected.begin(), affected.end(), e) == affected.end()) affected.push_back(e);
  }
  if (!extra.empty()) {
    std::vector<std::string> sorted;
    for (const auto& o : order_) {
      if (std::find(affected.begin(), affected.end(), o) != affected.end()) sorted.push_back(o);
    }
    affected = std::move(sorted);
  }

  Plan plan{.kind = PlanKind::kRestart};
  plan.subject = id;
  std::vector<std::string> group;
  for (auto it = affected.rbegin(); it != affected.rend(); ++it) {
    ChildRec& child = children_.at(*it);
    if (child.state == ChildState::kRunning) {
      plan.steps.push_back({Step::Kind::kTerminate, {*it}});
    }
  }
  for (const auto& cid : affected) {
    ChildRec& child = children_.at(cid);
    if (child.policy.restart == RestartType::kTemporary && cid != id) {
      plan.forget.push_back(cid);  // OTP terminates temporary siblings and does not restart them
      continue;
    }
    RemoveFromPendingGroups(cid);
    if (child.state != ChildState::kRunning) {
      child.state = ChildState::kRestarting;
      child.try_again = false;
    }
    group.push_back(cid);
  }
  plan.group = group;
  plan.delay_ms = delay;
  plan.why = why;
  if (delay == 0) {
    for (const auto& cid : group) plan.steps.push_back({Step::Kind::kStart, {cid}});
  }
  RunPlan(std::move(plan), now_ms);
}

void SupervisorCore::Escalate(const std::string& id, int64_t now_ms) {
  History(HistoryEntry::Kind::kEscalate, id, "reached_max_restart_intensity",
          std::to_string(options_.intensity.max_restarts) + " restarts in " +
              std::to_string(options_.intensity.period_ms) + " ms",
          now_ms);
  BeginShutdown(ExitReason::Shutdown("reached_max_restart_intensity"), std::nullopt, now_ms);
}

void SupervisorCore::BeginShutdown(ExitReason reason, std::optional<RequestId> request,
                                   int64_t now_ms) {
  state_ = SupervisorState::kStopping;
  for (auto& [timer, group] : pending_groups_) {
    if (group.real_timer) Emit(CancelTimerAction{timer});
  }
  pending_groups_.clear();
  Plan plan{.kind = PlanKind::kShutdown};
  plan.exit_reason = std::move(reason);
  if (request) {
    plan.request = *request;
    plan.has_request = true;
  }
  if (Simple()) {
    // Dynamic children have no order: terminated in parallel, as OTP does.
    Step step{Step::Kind::kTerminate, {}};
    for (const auto& id : order_) step.ids.push_back(id);
    if (!step.ids.empty()) plan.steps.push_back(std::move(step));
  } else {
    for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
      plan.steps.push_back({Step::Kind::kTerminate, {*it}});
    }
  }
  for (auto& [_, child] : children_) {
    if (child.state == ChildState::kRestarting) {
      child.state = ChildState::kStopped;
      child.try_again = false;
    }
  }
  RunPlan(std::move(plan), now_ms);
}

void SupervisorCore::RemoveFromPendingGroups(const std::string& id) {
  for (auto it = pending_groups_.begin(); it != pending_groups_.end();) {
    std::erase(it->second.ids, id);
    if (it->second.ids.empty()) {
      if (it->second.real_timer) Emit(CancelTimerAction{it->first});
      it = pending_groups_.erase(it);
    } else {
      ++it;
    }
  }
}

// ---- Sequences -------------------------------------------------------------------------------

void SupervisorCore::RunPlan(Plan plan, int64_t now_ms) {
  plan_ = std::move(plan);
  Advance(now_ms);
}

bool SupervisorCore::ScheduledForTermination(const std::string& id) const {
  if (!plan_) return false;
  for (size_t i = plan_->step_started ? 1 : 0; i < plan_->steps.size(); ++i) {
    const Step& step = plan_->steps[i];
    if (step.kind == Step::Kind::kTerminate &&
        std::find(step.ids.begin(), step.ids.end(), id) != step.ids.end()) {
      return true;
    }
  }
  return false;
}

bool SupervisorCore::TakeQueuedExit(const std::string& id, uint64_t instance, ExitReason* reason) {
  for (auto it = mailbox_.begin(); it != mailbox_.end(); ++it) {
    if (it->kind == Mail::Kind::kExit && it->id == id && it->instance == instance) {
      *reason = std::move(it->reason);
      mailbox_.erase(it);
      return true;
    }
  }
  return false;
}

void SupervisorCore::ChildGone(ChildRec& child, const ExitReason& reason) {
  child.state = ChildState::kStopped;
  child.last_exit = reason.text;
  child.kill_sent = false;
  if (child.shutdown_timer != 0) {
    shutdown_timers_.erase(child.shutdown_timer);
    Emit(CancelTimerAction{child.shutdown_timer});
    child.shutdown_timer = 0;
  }
}

void SupervisorCore::TerminateChild(ChildRec& child, int64_t /*now_ms*/) {
  child.state = ChildState::kTerminating;
  child.kill_sent = false;
  switch (child.policy.shutdown.kind) {
    case ShutdownPolicy::Kind::kBrutalKill:
      child.kill_sent = true;
      Emit(TerminateAction{child.policy.id, child.instance, true});
      break;
    case ShutdownPolicy::Kind::kTimeout: {
      Emit(TerminateAction{child.policy.id, child.instance, false});
      const TimerId timer = next_timer_++;
      child.shutdown_timer = timer;
      shutdown_timers_[timer] = child.policy.id;
      Emit(TimerAction{timer, child.policy.shutdown.timeout_ms});
      break;
    }
    case ShutdownPolicy::Kind::kInfinity:
      Emit(TerminateAction{child.policy.id, child.instance, false});
      break;
  }
}

void SupervisorCore::Advance(int64_t now_ms) {
  while (plan_ && !plan_->steps.empty()) {
    Step& step = plan_->steps.front();
    if (step.kind == Step::Kind::kTerminate) {
      plan_->waiting.clear();
      for (const auto& id : step.ids) {
        ChildRec* child = Find(id);
        if (child == nullptr || child->state != ChildState::kRunning) continue;
        ExitReason queued;
        if (TakeQueuedExit(id, child->instance, &queued)) {
          // Already dead, its exit waiting in the mailbox: OTP's unlink_flush.
          ChildGone(*child, queued);
          History(HistoryEntry::Kind::kExit, id, queued.text, "exited before its termination",
                  now_ms);
          continue;
        }
        TerminateChild(*child, now_ms);
        plan_->waiting.push_back(id);
      }
      if (!plan_->waiting.empty()) {
        plan_->step_started = true;
        return;
      }
      plan_->steps.pop_front();
      // End of the terminate phase of a backoff-delayed restart: schedule the group.
      continue;
    }
    // Start step.
    const std::string id = step.ids.front();
    ChildRec* child = Find(id);
    if (child == nullptr || child->state == ChildState::kRunning) {
      plan_->steps.pop_front();
      continue;
    }
    child->state = ChildState::kStarting;
    child->instance = next_instance_++;
    child->try_again = false;
    plan_->step_started = true;
    const bool restart =
        plan_->kind == PlanKind::kRestart || plan_->kind == PlanKind::kManualRestart;
    Emit(StartAction{id, child->instance, restart});
    return;
  }
  if (plan_) FinishPlan(now_ms);
}

void SupervisorCore::StartFailedInPlan(const std::string& id, const ExitReason& reason,
                                       int64_t now_ms) {
  Plan& plan = *plan_;
  plan.steps.pop_front();
  plan.step_started = false;
  switch (plan.kind) {
    case PlanKind::kInitialStart: {
      // OTP init: terminate what was started, in reverse order, and fail.
      Plan shutdown{.kind = PlanKind::kShutdown};
      shutdown.request = plan.request;
      shutdown.has_request = plan.has_request;
      shutdown.failure = Fail(StartFailed(id, reason.text));
      shutdown.exit_reason = ExitReason::Shutdown("failed_to_start_child " + id);
      for (auto it = order_.rbegin(); it != order_.rend(); ++it) {
        shutdown.steps.push_back({Step::Kind::kTerminate, {*it}});
      }
      state_ = SupervisorState::kStopping;
      plan_.reset();
      RunPlan(std::move(shutdown), now_ms);
      return;
    }
    case PlanKind::kRestart: {
      // OTP restart_multiple_children: the rest of the group is not started; the failed child
      // is retried after the mailbox drains (or after its backoff), with the unstarted rest.
      ChildRec& child = children_.at(id);
      child.state = ChildState::kRestarting;
      child.try_again = true;
      PendingGroup group;
      group.trigger = id;
      group.ids.push_back(id);
      for (const auto& step : plan.steps) {
        if (step.kind != Step::Kind::kStart) continue;
        ChildRec* rest = Find(step.ids.front());
        if (rest == nullptr) continue;
        rest->state = ChildState::kRestarting;
        group.ids.push_back(step.ids.front());
      }
      plan.steps.clear();
      const TimerId timer = next_timer_++;
      pending_groups_[timer] = std::move(group);
      Mail mail{.kind = Mail::Kind::kTryAgain};
      mail.timer = timer;
      mailbox_.push_back(std::move(mail));
      FinishPlan(now_ms);
      return;
    }
    case PlanKind::kAdd: {
      Forget(id);
      Emit(ReplyAction{plan.request, Fail(StartFailed(id, reason.text))});
      plan.has_request = false;
      plan.steps.clear();
      FinishPlan(now_ms);
      return;
    }
    case PlanKind::kManualRestart: {
      // A temporary child never waits stopped to be started again: OTP forgets it when it ends.
      if (children_.at(id).policy.restart == RestartType::kTemporary) Forget(id);
      Emit(ReplyAction{plan.request, Fail(StartFailed(id, reason.text))});
      plan.has_request = false;
      plan.steps.clear();
      FinishPlan(now_ms);
      return;
    }
    case PlanKind::kDelete:
    case PlanKind::kShutdown:
      FinishPlan(now_ms);
      return;
  }
}

void SupervisorCore::FinishPlan(int64_t now_ms) {
  Plan plan = std::move(*plan_);
  plan_.reset();
  switch (plan.kind) {
    case PlanKind::kInitialStart:
      state_ = SupervisorState::kRunning;
      Emit(ReplyAction{plan.request, {}});
      break;
    case PlanKind::kRestart: {
      for (const auto& id : plan.forget) {
        if (ChildRec* child = Find(id); child != nullptr && child->state == ChildState::kStopped) {
          Forget(id);
        }
      }
      if (plan.delay_ms > 0 && !plan.group.empty()) {
        // Terminate phase done; the group starts when the backoff timer fires.
        PendingGroup group;
        group.trigger = plan.subject;
        group.real_timer = true;
        for (const auto& id : plan.group) {
          ChildRec* child = Find(id);
          if (child == nullptr || child->state == ChildState::kRunning) continue;
          child->state = ChildState::kRestarting;
          child->restart_at_ms = now_ms + plan.delay_ms;
          group.ids.push_back(id);
        }
        if (!group.ids.empty()) {
          const TimerId timer = next_timer_++;
          pending_groups_[timer] = std::move(group);
          History(HistoryEntry::Kind::kRestart, plan.subject, plan.why, "scheduled", now_ms,
                  plan.delay_ms);
          Emit(TimerAction{timer, plan.delay_ms});
        }
      }
      break;
    }
    case PlanKind::kAdd:
      if (plan.has_request) {
        History(HistoryEntry::Kind::kAdd, plan.subject, "", "", now_ms);
        Emit(ReplyAction{plan.request, {}});
      }
      break;
    case PlanKind::kDelete:
      History(HistoryEntry::Kind::kDelete, plan.subject, "", "terminated", now_ms);
      Forget(plan.subject);
      Emit(ReplyAction{plan.request, {}});
      break;
    case PlanKind::kManualRestart:
      if (plan.has_request) Emit(ReplyAction{plan.request, {}});
      break;
    case PlanKind::kShutdown: {
      state_ = SupervisorState::kStopped;
      if (plan.has_request) Emit(ReplyAction{plan.request, plan.failure});
      for (auto& mail : mailbox_) {
        if (mail.kind == Mail::Kind::kCommand) Emit(ReplyAction{mail.request, Fail(NotRunning())});
      }
      mailbox_.clear();
      for (auto& [timer, id] : shutdown_timers_) Emit(CancelTimerAction{timer});
      shutdown_timers_.clear();
      Emit(ExitedAction{plan.exit_reason});
      return;
    }
  }
  DrainMailbox(now_ms);
}

void SupervisorCore::DrainMailbox(int64_t now_ms) {
  if (draining_) return;
  draining_ = true;
  while (!plan_ && !mailbox_.empty() && state_ != SupervisorState::kStopped && !killing_) {
    Mail mail = std::move(mailbox_.front());
    mailbox_.pop_front();
    Dispatch(std::move(mail), now_ms);
  }
  draining_ = false;
}

}  // namespace arsenal::supervisor
