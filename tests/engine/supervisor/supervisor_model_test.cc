// Property tests of SupervisorCore against a reference model of OTP's supervisor.erl.
//
// The model below is written the way supervisor.erl is: synchronous, recursive, one function per
// OTP clause (do_restart, restart/2, restart_multiple_children, terminate_children,
// start_children, try_again_restart). The core is an asynchronous event machine; a driver answers
// its actions at once. For random child sets, strategies, restart types, intensities, crash
// sequences, start failures and time steps, both must start and terminate the same children in
// the same order and take the same escalation decision.
//
// A second property drives the core with events delivered late and out of order, commands
// (including change_strategy and backoff changes) and timers, and checks the invariants that make
// supervision safe: one live instance per child, exactly one reply per request, nothing left
// running after the supervisor exits, and at quiescence every child that must run runs.
#include <gtest/gtest.h>
#include <rapidcheck.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "arsenal/engine/supervisor_core.h"

namespace arsenal::supervisor {
namespace {

// ---- Reference model (OTP semantics) ---------------------------------------------------------

struct ModelChild {
  std::string id;
  RestartType restart;
  bool alive = false;
  bool restarting = false;  // OTP {restarting, Pid}
};

class OtpModel {
 public:
  OtpModel(Strategy strategy, int max_restarts, int64_t period_ms, std::vector<ModelChild> children,
           std::map<std::string, int>* start_failures)
      : strategy_(strategy),
        max_restarts_(max_restarts),
        period_ms_(period_ms),
        start_failures_(start_failures) {
    if (strategy_ == Strategy::kSimpleOneForOne) {
      template_ = children.front();
    } else {
      children_ = std::move(children);
    }
  }

  std::vector<std::string> log;
  bool dead = false;

  // init/1 + start_children: false if a child failed (started ones terminated in reverse).
  bool Init() {
    for (size_t i = 0; i < children_.size(); ++i) {
      if (!StartChild(children_[i])) {
        for (size_t j = i; j-- > 0;) Terminate(children_[j]);
        dead = true;
        return false;
      }
    }
    return true;
  }

  void Crash(const std::string& id, ExitKind kind, int64_t now) {
    if (dead) return;
    ModelChild* child = Find(id);
    if (child == nullptr || !child->alive) return;
    child->alive = false;
    // do_restart/3
    const bool normal = kind != ExitKind::kAbnormal;
    if (child->restart == RestartType::kPermanent ||
        (child->restart == RestartType::kTransient && !normal)) {
      Restart(id, now);
    } else if (child->restart == RestartType::kTemporary || Simple()) {
      Erase(id);  // del_child: temporary removed; simple_one_for_one dyn_erase
    }
    RunMailbox(now);
  }

  bool Add(const ModelChild& spec) {
    if (dead) return false;
    ModelChild child = spec;
    if (!StartChild(child)) return false;
    children_.push_back(child);
    return true;
  }

  void Delete(const std::string& id) {
    if (dead) return;
    ModelChild* child = Find(id);
    if (child == nullptr) return;
    if (child->alive) Terminate(*child);
    Erase(id);
  }

  void ManualRestart(const std::string& id) {
    if (dead) return;
    ModelChild* child = Find(id);
    if (child == nullptr) return;
    child->restarting = false;
    std::erase(mailbox_, id);
    if (child->alive) Terminate(*child);
    if (!StartChild(*child) && child->restart == RestartType::kTemporary) Erase(id);
  }

  std::set<std::string> Alive() const {
    std::set<std::string> out;
    for (const auto& c : children_) {
      if (c.alive) out.insert(c.id);
    }
    return out;
  }
  std::vector<std::string> Ids() const {
    std::vector<std::string> out;
    for (const auto& c : children_) out.push_back(c.id);
    return out;
  }
  const std::vector<ModelChild>& children() const { return children_; }
  std::optional<ModelChild> tmpl() const { return template_; }

 private:
  bool Simple() const { return strategy_ == Strategy::kSimpleOneForOne; }
  ModelChild* Find(const std::string& id) {
    for (auto& c : children_) {
      if (c.id == id) return &c;
    }
    return nullptr;
  }
  void Erase(const std::string& id) {
    std::erase_if(children_, [&](const ModelChild& c) { return c.id == id; });
  }

  bool StartChild(ModelChild& child) {
    int& failures = (*start_failures_)[child.id];
    if (failures > 0) {
      --failures;
      log.push_back("fail " + child.id);
      child.alive = false;
      return false;
    }
    log.push_back("start " + child.id);
    child.alive = true;
    child.restarting = false;
    return true;
  }

  void Terminate(ModelChild& child) {
    if (!child.alive) return;
    log.push_back("terminate " + child.id);
    child.alive = false;
  }

  // add_restart/1 (milliseconds instead of seconds).
  bool AddRestart(int64_t now) {
    restarts_.push_back(now);
    while (!restarts_.empty() && restarts_.front() < now - period_ms_) restarts_.pop_front();
    return static_cast<int>(restarts_.size()) <= max_restarts_;
  }

  // restart/2
  void Restart(const std::string& id, int64_t now) {
    if (!AddRestart(now)) {
      log.push_back("escalate");
      // terminate/2 -> terminate_children in reverse start order; dynamic children in parallel
      // (the core signals them in creation order).
      if (Simple()) {
        for (auto& c : children_) Terminate(c);
      } else {
        for (auto it = children_.rbegin(); it != children_.rend(); ++it) Terminate(*it);
      }
      dead = true;
      return;
    }
    ModelChild* child = Find(id);
    switch (strategy_) {
      case Strategy::kOneForOne:
      case Strategy::kSimpleOneForOne:
        if (!StartChild(*child)) TryAgainLater(*child);
        return;
      case Strategy::kOneForAll:
        RestartMultiple(id, 0);
        return;
      case Strategy::kRestForOne: {
        size_t pos = 0;
        while (children_[pos].id != id) ++pos;
        RestartMultiple(id, pos);
        return;
      }
    }
  }

  // restart_multiple_children/3 over children_[from..].
  void RestartMultiple(const std::string& /*trigger*/, size_t from) {
    // terminate_children: reverse start order; temporary children removed.
    std::vector<std::string> remove;
    for (size_t i = children_.size(); i-- > from;) {
      Terminate(children_[i]);
      if (children_[i].restart == RestartType::kTemporary) remove.push_back(children_[i].id);
    }
    for (const auto& r : remove) Erase(r);
    // start_children: start order; abort at the first failure.
    for (size_t i = from; i < children_.size(); ++i) {
      children_[i].restarting = false;
      if (!StartChild(children_[i])) {
        TryAgainLater(children_[i]);
        return;
      }
    }
  }

  void TryAgainLater(ModelChild& child) {
    child.restarting = true;
    mailbox_.push_back(child.id);
  }

  // handle_cast({try_again_restart, Id})
  void RunMailbox(int64_t now) {
    while (!mailbox_.empty() && !dead) {
      std::string id = mailbox_.front();
      mailbox_.pop_front();
      ModelChild* child = Find(id);
      if (child == nullptr || !child->restarting) continue;
      Restart(id, now);
    }
  }

  Strategy strategy_;
  int max_restarts_;
  int64_t period_ms_;
  std::vector<ModelChild> children_;
  std::optional<ModelChild> template_;
  std::deque<int64_t> restarts_;
  std::deque<std::string> mailbox_;
  std::map<std::string, int>* start_failures_;
};

// ---- A driver that answers the core's actions at once ------------------------------------------

class ImmediateDriver {
 public:
  ImmediateDriver(SupervisorCore& core, std::map<std::string, int>* start_failures)
      : core_(core), start_failures_(start_failures) {}

  std::vector<std::string> log;
  bool exited = false;
  std::string exit_reason;
  std::map<RequestId, Status> replies;
  std::set<std::string> alive;  // ids with a live instance in the world

  void Pump(int64_t now) {
    while (core_.has_actions()) {
      for (auto& action : core_.TakeActions()) {
        if (auto* start = std::get_if<StartAction>(&action)) {
          int& failures = (*start_failures_)[start->id];
          if (failures > 0) {
            --failures;
            log.push_back("fail " + start->id);
            core_.OnStartFailed(start->id, start->instance, ExitReason::Abnormal("enoent"), now);
          } else {
            log.push_back("start " + start->id);
            instances_[start->id] = start->instance;
            alive.insert(start->id);
            core_.OnStarted(start->id, start->instance, now);
          }
        } else if (auto* term = std::get_if<TerminateAction>(&action)) {
          if (alive.contains(term->id) && instances_[term->id] == term->instance) {
            log.push_back("terminate " + term->id);
            alive.erase(term->id);
            core_.OnExit(term->id, term->instance, ExitReason::Shutdown(), now);
          }
        } else if (auto* reply = std::get_if<ReplyAction>(&action)) {
          replies[reply->request] = reply->status;
        } else if (auto* ex = std::get_if<ExitedAction>(&action)) {
          exited = true;
          exit_reason = ex->reason.text;
        } else if (auto* entry = std::get_if<HistoryEntry>(&action)) {
          if (entry->kind == HistoryEntry::Kind::kEscalate) log.push_back("escalate");
        }
        // Timers are shutdown timers only (no backoff here): the child exits before they fire.
      }
    }
  }

  void Crash(const std::string& id, ExitKind kind, int64_t now) {
    if (!alive.contains(id)) return;
    alive.erase(id);
    core_.OnExit(id, instances_[id], ExitReason{kind, "crash"}, now);
    Pump(now);
  }

 private:
  SupervisorCore& core_;
  std::map<std::string, int>* start_failures_;
  std::map<std::string, uint64_t> instances_;
};

rc::Gen<RestartType> GenRestartType() {
  return rc::gen::element(RestartType::kPermanent, RestartType::kTransient,
                          RestartType::kTemporary);
}

rc::Gen<Strategy> GenStrategy() {
  return rc::gen::element(Strategy::kOneForOne, Strategy::kOneForAll, Strategy::kRestForOne,
                          Strategy::kSimpleOneForOne);
}

ChildPolicy Policy(const std::string& id, RestartType restart) {
  ChildPolicy p;
  p.id = id;
  p.restart = restart;
  p.shutdown = ShutdownPolicy::Timeout(100);
  return p;
}

void CoreMatchesOtpModel() {
  const Strategy strategy = *GenStrategy();
  const int max_restarts = *rc::gen::inRange(0, 5);
  const int64_t period_ms = *rc::gen::inRange(1, 6) * 1000;
  const int n = *rc::gen::inRange(1, 7);

  std::vector<ModelChild> model_children;
  std::vector<ChildPolicy> policies;
  if (strategy == Strategy::kSimpleOneForOne) {
    const RestartType t = *GenRestartType();
    model_children.push_back({"tmpl", t});
    policies.push_back(Policy("tmpl", t));
  } else {
    for (int i = 0; i < n; ++i) {
      const RestartType t = *GenRestartType();
      const std::string id = "c" + std::to_string(i);
      model_children.push_back({id, t});
      policies.push_back(Policy(id, t));
    }
  }
  std::map<std::string, int> model_failures;
  std::map<std::string, int> core_failures;
  // Initial start failures (rare).
  if (strategy != Strategy::kSimpleOneForOne && *rc::gen::inRange(0, 8) == 0) {
    const std::string id = "c" + std::to_string(*rc::gen::inRange(0, n));
    model_failures[id] = core_failures[id] = 1;
  }

  OtpModel model(strategy, max_restarts, period_ms, model_children, &model_failures);
  SupervisorCore core({.strategy = strategy, .intensity = {max_restarts, period_ms}}, policies);
  ImmediateDriver driver(core, &core_failures);

  int64_t now = 0;
  const bool model_ok = model.Init();
  core.Start(1, now);
  driver.Pump(now);
  RC_ASSERT(driver.log == model.log);
  RC_ASSERT(driver.replies.at(1).has_value() == model_ok);
  RC_ASSERT(driver.exited == model.dead);

  int next_dynamic = 0;
  RequestId next_request = 2;
  if (strategy == Strategy::kSimpleOneForOne) {
    for (int i = 0; i < n; ++i) {
      const std::string id = "d" + std::to_string(next_dynamic++);
      const bool ok = model.Add({id, model.tmpl()->restart});
      core.AddChild(next_request, Policy(id, model.tmpl()->restart), now);
      driver.Pump(now);
      RC_ASSERT(driver.replies.at(next_request++).has_value() == ok);
    }
    RC_ASSERT(driver.log == model.log);
  }
  const int steps = *rc::gen::inRange(1, 40);
  for (int step = 0; step < steps && !model.dead; ++step) {
    const int op = *rc::gen::inRange(0, 100);
    const auto ids = model.Ids();
    if (op < 50) {
      if (ids.empty()) continue;
      const std::string id = ids[*rc::gen::inRange<size_t>(0, ids.size())];
      const ExitKind kind = *rc::gen::element(ExitKind::kAbnormal, ExitKind::kAbnormal,
                                              ExitKind::kNormal, ExitKind::kShutdown);
      model.Crash(id, kind, now);
      driver.Crash(id, kind, now);
    } else if (op < 70) {
      now += *rc::gen::inRange<int64_t>(0, 3000);
    } else if (op < 80) {
      // The next k starts of a child fail (for the next restart or an add).
      std::string id;
      if (strategy == Strategy::kSimpleOneForOne) {
        id = "d" + std::to_string(next_dynamic);
      } else {
        if (ids.empty()) continue;
        id = ids[*rc::gen::inRange<size_t>(0, ids.size())];
      }
      const int k = *rc::gen::inRange(1, 3);
      model_failures[id] += k;
      core_failures[id] += k;
    } else if (op < 88) {
      RestartType t;
      std::string id;
      if (strategy == Strategy::kSimpleOneForOne) {
        t = model.tmpl()->restart;
        id = "d" + std::to_string(next_dynamic++);
      } else {
        t = *GenRestartType();
        id = "a" + std::to_string(next_dynamic++);
      }
      const bool ok = model.Add({id, t});
      const RequestId req = next_request++;
      core.AddChild(req, Policy(id, t), now);
      driver.Pump(now);
      RC_ASSERT(driver.replies.at(req).has_value() == ok);
    } else if (op < 94) {
      if (ids.empty()) continue;
      const std::string id = ids[*rc::gen::inRange<size_t>(0, ids.size())];
      model.Delete(id);
      const RequestId req = next_request++;
      core.DeleteChild(req, id, now);
      driver.Pump(now);
      RC_ASSERT(driver.replies.at(req).has_value());
    } else {
      if (ids.empty()) continue;
      const std::string id = ids[*rc::gen::inRange<size_t>(0, ids.size())];
      model.ManualRestart(id);
      const RequestId req = next_request++;
      core.RestartChild(req, id, now);
      driver.Pump(now);
    }
    RC_ASSERT(driver.log == model.log);
    RC_ASSERT(driver.exited == model.dead);
    if (!model.dead) {
      RC_ASSERT(driver.alive == model.Alive());
      std::vector<std::string> core_ids;
      for (const auto& c : core.Children()) core_ids.push_back(c.policy.id);
      RC_ASSERT(core_ids == model.Ids());
    } else {
      RC_ASSERT(driver.exit_reason == std::string("reached_max_restart_intensity"));
      RC_ASSERT(driver.alive.empty());
    }
  }
  RC_CLASSIFY(model.dead, "escalated");
  RC_TAG(std::string(StrategyName(strategy)));
}

// ---- Invariants under asynchronous delivery ----------------------------------------------------

class AsyncWorld {
 public:
  explicit AsyncWorld(SupervisorCore& core) : core_(core) {}

  struct Pending {
    enum Kind { kStartResult, kExit, kTimer } kind;
    std::string id;
    uint64_t instance = 0;
    bool fail = false;
    ExitReason reason;
    TimerId timer = 0;
  };

  std::map<std::string, uint64_t> live;  // id -> live instance in the world
  std::set<uint64_t> dead_instances;
  std::deque<Pending> pending;
  std::set<TimerId> timers;
  std::map<RequestId, int> replies;
  std::set<RequestId> requested;
  bool exited = false;
  std::map<std::string, int> fail_next;
  std::map<uint64_t, std::string> exit_delivered;  // instance -> id, after OnExit delivered

  void Collect() {
    for (auto& action : core_.TakeActions()) {
      if (auto* start = std::get_if<StartAction>(&action)) {
        RC_ASSERT(!exited);
        // One live instance per child.
        RC_ASSERT(!live.contains(start->id));
        const bool fail = fail_next[start->id] > 0;
        if (fail) --fail_next[start->id];
        if (!fail) live[start->id] = start->instance;
        pending.push_back({Pending::kStartResult, start->id, start->instance, fail, {}, 0});
      } else if (auto* term = std::get_if<TerminateAction>(&action)) {
        // Never for an instance whose exit was already delivered.
        RC_ASSERT(!exit_delivered.contains(term->instance));
        auto it = live.find(term->id);
        if (it != live.end() && it->second == term->instance) {
          live.erase(it);
          pending.push_back(
              {Pending::kExit, term->id, term->instance, false, ExitReason::Shutdown(), 0});
        }
      } else if (auto* timer = std::get_if<TimerAction>(&action)) {
        timers.insert(timer->timer);
        pending.push_back({Pending::kTimer, "", 0, false, {}, timer->timer});
      } else if (auto* cancel = std::get_if<CancelTimerAction>(&action)) {
        timers.erase(cancel->timer);
      } else if (auto* reply = std::get_if<ReplyAction>(&action)) {
        RC_ASSERT(requested.contains(reply->request));
        RC_ASSERT(++replies[reply->request] == 1);
      } else if (std::get_if<ExitedAction>(&action) != nullptr) {
        RC_ASSERT(!exited);
        exited = true;
      }
    }
  }

  void Deliver(size_t index, int64_t now) {
    Pending p = pending[index];
    pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(index));
    switch (p.kind) {
      case Pending::kStartResult:
        if (p.fail) {
          core_.OnStartFailed(p.id, p.instance, ExitReason::Abnormal("fail"), now);
        } else {
          core_.OnStarted(p.id, p.instance, now);
        }
        break;
      case Pending::kExit:
        exit_delivered[p.instance] = p.id;
        core_.OnExit(p.id, p.instance, p.reason, now);
        break;
      case Pending::kTimer:
        if (timers.erase(p.timer) > 0) core_.OnTimer(p.timer, now);
        break;
    }
    Collect();
  }

  // A running child crashes on its own (its start result may still be pending).
  void Crash(const std::string& id, ExitKind kind) {
    auto it = live.find(id);
    if (it == live.end()) return;
    for (const auto& p : pending) {
      if (p.kind == Pending::kStartResult && p.instance == it->second) return;
    }
    pending.push_back({Pending::kExit, id, it->second, false, ExitReason{kind, "crash"}, 0});
    live.erase(it);
  }

 private:
  SupervisorCore& core_;
};

void InvariantsUnderReorderedEvents() {
  const Strategy strategy = *GenStrategy();
  const int max_restarts = *rc::gen::inRange(0, 30);
  const int n = *rc::gen::inRange(1, 6);
  std::vector<ChildPolicy> policies;
  if (strategy == Strategy::kSimpleOneForOne) {
    policies.push_back(Policy("tmpl", *GenRestartType()));
  } else {
    for (int i = 0; i < n; ++i) {
      ChildPolicy p = Policy("c" + std::to_string(i), *GenRestartType());
      p.shutdown = *rc::gen::element(ShutdownPolicy::BrutalKill(), ShutdownPolicy::Timeout(50),
                                     ShutdownPolicy::Infinity());
      if (*rc::gen::inRange(0, 3) == 0) p.backoff.initial_ms = 10;
      p.backoff.jitter = 0.5;
      policies.push_back(p);
    }
  }
  SupervisorCore core({.strategy = strategy, .intensity = {max_restarts, 1000}, .seed = 7},
                      policies);
  AsyncWorld world(core);
  RequestId next_request = 1;
  auto request = [&] {
    world.requested.insert(next_request);
    return next_request++;
  };
  int64_t now = 0;
  core.Start(request(), now);
  world.Collect();

  const int steps = *rc::gen::inRange(1, 80);
  int dyn = 0;
  for (int step = 0; step < steps && !world.exited; ++step) {
    const int op = *rc::gen::inRange(0, 100);
    now += *rc::gen::inRange(0, 50);
    std::vector<std::string> ids;
    for (const auto& c : core.Children()) ids.push_back(c.policy.id);
    if (op < 40 && !world.pending.empty()) {
      world.Deliver(*rc::gen::inRange<size_t>(0, world.pending.size()), now);
    } else if (op < 65) {
      if (ids.empty()) continue;
      world.Crash(ids[*rc::gen::inRange<size_t>(0, ids.size())],
                  *rc::gen::element(ExitKind::kAbnormal, ExitKind::kNormal));
    } else if (op < 72) {
      if (strategy == Strategy::kSimpleOneForOne) continue;
      const Strategy next =
          *rc::gen::element(Strategy::kOneForOne, Strategy::kOneForAll, Strategy::kRestForOne);
      core.ChangeStrategy(request(), next, std::nullopt, now);
      world.Collect();
    } else if (op < 78) {
      if (ids.empty()) continue;
      core.DeleteChild(request(), ids[*rc::gen::inRange<size_t>(0, ids.size())], now);
      world.Collect();
    } else if (op < 84) {
      if (ids.empty()) continue;
      core.RestartChild(request(), ids[*rc::gen::inRange<size_t>(0, ids.size())], now);
      world.Collect();
    } else if (op < 90) {
      const RestartType t =
          strategy == Strategy::kSimpleOneForOne ? policies[0].restart : *GenRestartType();
      core.AddChild(request(), Policy("d" + std::to_string(dyn++), t), now);
      world.Collect();
    } else if (op < 95) {
      if (ids.empty()) continue;
      world.fail_next[ids[*rc::gen::inRange<size_t>(0, ids.size())]] = 1;
    } else if (op < 97) {
      BackoffPolicy b;
      b.initial_ms = *rc::gen::inRange(0, 20);
      core.SetBackoff(request(), "", b, now);
      world.Collect();
    } else if (op < 98) {
      core.Kill(now);
      world.Collect();
    } else {
      core.Stop(request(), now);
      world.Collect();
    }
  }
  // Quiescence: deliver everything, fire every timer, no new crashes.
  for (int guard = 0; guard < 100000 && !world.pending.empty(); ++guard) {
    now += 1;
    world.Deliver(0, now);
  }
  RC_ASSERT(world.pending.empty());
  // Every request answered exactly once.
  for (RequestId r : world.requested) RC_ASSERT(world.replies[r] == 1);
  if (world.exited) {
    RC_ASSERT(world.live.empty());
    RC_ASSERT(core.state() == SupervisorState::kStopped);
  } else {
    RC_ASSERT(core.mailbox_size() == 0u);
    RC_ASSERT(!core.busy());
    std::set<std::string> running;
    for (const auto& c : core.Children()) {
      RC_ASSERT(c.state == ChildState::kRunning || c.state == ChildState::kStopped);
      if (c.state == ChildState::kRunning) running.insert(c.policy.id);
      // A permanent child is only ever stopped after a failed manual restart.
      if (c.state == ChildState::kStopped) RC_ASSERT(c.policy.restart != RestartType::kTemporary);
    }
    std::set<std::string> live;
    for (const auto& [id, _] : world.live) live.insert(id);
    RC_ASSERT(running == live);
  }
}

// Runs a property with 2000 cases by default (RapidCheck's default is 100); RC_PARAMS
// (seed=..., max_success=..., reproduce=...) still applies when it names the key.
template <typename Fn>
bool CheckProperty(const std::string& name, Fn fn) {
  using namespace rc::detail;
  TestParams params = configuration().testParams;
  const char* env = std::getenv("RC_PARAMS");
  if (env == nullptr || std::string(env).find("max_success") == std::string::npos) {
    params.maxSuccess = 2000;
  }
  TestMetadata metadata;
  metadata.id = name;
  metadata.description = name;
  const TestResult result = checkProperty(toProperty(fn), metadata, params);
  std::cerr << "- " << name << std::endl;
  printResultMessage(result, std::cerr);
  std::cerr << std::endl;
  return result.template is<SuccessResult>();
}

TEST(SupervisorModelTest, CoreMatchesOtpModel) {
  EXPECT_TRUE(CheckProperty("core matches the OTP model", CoreMatchesOtpModel));
}

TEST(SupervisorModelTest, InvariantsUnderReorderedEvents) {
  EXPECT_TRUE(CheckProperty("invariants under reordered events", InvariantsUnderReorderedEvents));
}

}  // namespace
}  // namespace arsenal::supervisor
