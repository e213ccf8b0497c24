// Unit tests of SupervisorCore scenarios that the model test does not reach: shutdown timers,
// backoff (delays, cap, jitter, reset), run-time strategy changes, deleting a child that waits to
// be restarted, and the escalation exit.
#include "arsenal/engine/supervisor_core.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace arsenal::supervisor {
namespace {

ChildPolicy Child(const std::string& id, RestartType restart = RestartType::kPermanent,
                  ShutdownPolicy shutdown = ShutdownPolicy::Timeout(100)) {
  ChildPolicy p;
  p.id = id;
  p.restart = restart;
  p.shutdown = shutdown;
  return p;
}

// Records actions; answers starts at once; terminations only when told (or at once if `auto_exit`).
class Harness {
 public:
  Harness(SupervisorCore::Options options, std::vector<ChildPolicy> children)
      : core(options, std::move(children)) {}

  SupervisorCore core;
  std::vector<std::string> log;
  std::map<std::string, uint64_t> instance;
  std::map<TimerId, int64_t> timers;  // timer -> delay
  std::map<RequestId, Status> replies;
  std::vector<std::pair<std::string, bool>> terminations;  // (id, kill)
  std::optional<ExitReason> exited;
  std::vector<HistoryEntry> history;
  bool auto_exit = true;
  int64_t now = 0;

  void Pump() {
    while (core.has_actions()) {
      for (auto& action : core.TakeActions()) {
        if (auto* s = std::get_if<StartAction>(&action)) {
          log.push_back("start " + s->id);
          instance[s->id] = s->instance;
          core.OnStarted(s->id, s->instance, now);
        } else if (auto* t = std::get_if<TerminateAction>(&action)) {
          log.push_back((t->kill ? "kill " : "term ") + t->id);
          terminations.emplace_back(t->id, t->kill);
          if (auto_exit) core.OnExit(t->id, t->instance, ExitReason::Shutdown(), now);
        } else if (auto* tm = std::get_if<TimerAction>(&action)) {
          timers[tm->timer] = tm->delay_ms;
        } else if (auto* c = std::get_if<CancelTimerAction>(&action)) {
          timers.erase(c->timer);
        } else if (auto* r = std::get_if<ReplyAction>(&action)) {
          replies[r->request] = r->status;
        } else if (auto* e = std::get_if<ExitedAction>(&action)) {
          exited = e->reason;
        } else if (auto* h = std::get_if<HistoryEntry>(&action)) {
          history.push_back(*h);
        }
      }
    }
  }
  void Start() {
    core.Start(1, now);
    Pump();
    ASSERT_TRUE(replies.at(1).has_value());
    log.clear();
  }
  void Crash(const std::string& id, ExitReason reason = ExitReason::Abnormal("exit status 1")) {
    core.OnExit(id, instance.at(id), reason, now);
    Pump();
  }
  void Exit(const std::string& id) {
    core.OnExit(id, instance.at(id), ExitReason::Shutdown(), now);
    Pump();
  }
  void Fire(TimerId timer) {
    timers.erase(timer);
    core.OnTimer(timer, now);
    Pump();
  }
  TimerId OnlyTimer() const {
    EXPECT_EQ(timers.size(), 1u);
    return timers.empty() ? 0 : timers.begin()->first;
  }
};

TEST(SupervisorCoreTest, StartsInOrderAndStopsInReverseOrder) {
  Harness h({.strategy = Strategy::kOneForOne}, {Child("a"), Child("b"), Child("c")});
  h.core.Start(1, 0);
  h.Pump();
  EXPECT_EQ(h.log, (std::vector<std::string>{"start a", "start b", "start c"}));
  h.log.clear();
  h.core.Stop(2, 0);
  h.Pump();
  EXPECT_EQ(h.log, (std::vector<std::string>{"term c", "term b", "term a"}));
  ASSERT_TRUE(h.replies.at(2).has_value());
  ASSERT_TRUE(h.exited);
  EXPECT_EQ(h.exited->text, "stopped");
}

TEST(SupervisorCoreTest, ShutdownWaitsForEachChildBeforeTheNext) {
  Harness h({.strategy = Strategy::kOneForOne},
            {Child("a"), Child("b", RestartType::kPermanent, ShutdownPolicy::Timeout(250))});
  h.Start();
  h.auto_exit = false;
  h.core.Stop(2, 0);
  h.Pump();
  // Only b is asked; a waits for b.
  EXPECT_EQ(h.log, (std::vector<std::string>{"term b"}));
  ASSERT_EQ(h.timers.size(), 1u);
  EXPECT_EQ(h.timers.begin()->second, 250);
  // b ignores SIGTERM: the timer fires and b is killed.
  h.now = 250;
  h.Fire(h.OnlyTimer());
  EXPECT_EQ(h.log, (std::vector<std::string>{"term b", "kill b"}));
  h.Exit("b");
  EXPECT_EQ(h.log, (std::vector<std::string>{"term b", "kill b", "term a"}));
  h.Exit("a");
  ASSERT_TRUE(h.exited);
  EXPECT_TRUE(h.replies.at(2).has_value());
  EXPECT_TRUE(h.timers.empty());
}

TEST(SupervisorCoreTest, BrutalKillAndInfinity) {
  Harness h({.strategy = Strategy::kOneForOne},
            {Child("sup", RestartType::kPermanent, ShutdownPolicy::Infinity()),
             Child("w", RestartType::kPermanent, ShutdownPolicy::BrutalKill())});
  h.Start();
  h.core.Stop(2, 0);
  h.Pump();
  EXPECT_EQ(h.log, (std::vector<std::string>{"kill w", "term sup"}));
  EXPECT_TRUE(h.timers.empty());  // neither arms a timer
}

TEST(SupervisorCoreTest, OneForAllRestartsEveryoneInOrder) {
  Harness h({.strategy = Strategy::kOneForAll, .intensity = {5, 5000}},
            {Child("a"), Child("b"), Child("c")});
  h.Start();
  h.Crash("b");
  EXPECT_EQ(h.log, (std::vector<std::string>{"term c", "term a", "start a", "start b", "start c"}));
  EXPECT_EQ(h.core.Child("a")->restart_count, 1u);
}

TEST(SupervisorCoreTest, RestForOneRestartsTheRest) {
  Harness h({.strategy = Strategy::kRestForOne, .intensity = {5, 5000}},
            {Child("a"), Child("b"), Child("c"), Child("d")});
  h.Start();
  h.Crash("b");
  EXPECT_EQ(h.log, (std::vector<std::string>{"term d", "term c", "start b", "start c", "start d"}));
}

TEST(SupervisorCoreTest, RestartTypes) {
  Harness h({.strategy = Strategy::kOneForOne, .intensity = {10, 5000}},
            {Child("p"), Child("t", RestartType::kTransient), Child("x", RestartType::kTemporary)});
  h.Start();
  h.Crash("p", ExitReason::Normal());
  h.Crash("t", ExitReason::Normal());
  h.Crash("x", ExitReason::Abnormal("killed by SIGSEGV"));
  EXPECT_EQ(h.log, (std::vector<std::string>{"start p"}));
  EXPECT_EQ(h.core.Child("t")->state, ChildState::kStopped);
  EXPECT_FALSE(h.core.Child("x").has_value());
  h.core.RestartChild(2, "t", h.now);
  h.Pump();
  h.Crash("t", ExitReason::Abnormal("exit status 2"));
  EXPECT_EQ(h.log, (std::vector<std::string>{"start p", "start t", "start t"}));
}

TEST(SupervisorCoreTest, EscalatesWhenIntensityExceeded) {
  Harness h({.strategy = Strategy::kOneForOne, .intensity = {2, 1000}}, {Child("a"), Child("b")});
  h.Start();
  h.Crash("a");
  h.now = 400;
  h.Crash("a");
  EXPECT_FALSE(h.exited);
  h.now = 1001;  // the first restart (t=0) has left the window [1, 1001]
  h.Crash("a");
  EXPECT_FALSE(h.exited);
  h.now = 1300;  // 400, 1001, 1300: three in the window
  h.Crash("a");
  ASSERT_TRUE(h.exited);
  EXPECT_EQ(h.exited->kind, ExitKind::kShutdown);
  EXPECT_EQ(h.exited->text, "reached_max_restart_intensity");
  EXPECT_EQ(h.log.back(), "term b");
  EXPECT_TRUE(std::any_of(h.history.begin(), h.history.end(), [](const HistoryEntry& e) {
    return e.kind == HistoryEntry::Kind::kEscalate;
  }));
}

TEST(SupervisorCoreTest, IntensityZeroEscalatesOnFirstRestart) {
  Harness h({.strategy = Strategy::kOneForOne, .intensity = {0, 1000}}, {Child("a")});
  h.Start();
  h.Crash("a");
  ASSERT_TRUE(h.exited);
}

TEST(SupervisorCoreTest, FailedStartRetriesAndCountsTowardIntensity) {
  Harness h({.strategy = Strategy::kOneForOne, .intensity = {3, 5000}}, {Child("a")});
  h.Start();
  // Make every start fail from now on.
  h.core.OnExit("a", h.instance["a"], ExitReason::Abnormal("exit status 1"), 0);
  int starts = 0;
  while (h.core.has_actions()) {
    for (auto& action : h.core.TakeActions()) {
      if (auto* s = std::get_if<StartAction>(&action)) {
        ++starts;
        h.core.OnStartFailed(s->id, s->instance, ExitReason::Abnormal("enoent"), 0);
      } else if (auto* e = std::get_if<ExitedAction>(&action)) {
        h.exited = e->reason;
      }
    }
  }
  EXPECT_EQ(starts, 3);  // restarts 1..3 attempted, the 4th decision escalates
  ASSERT_TRUE(h.exited);
  EXPECT_EQ(h.exited->text, "reached_max_restart_intensity");
}

TEST(SupervisorCoreTest, InitialStartFailureTerminatesStartedChildren) {
  SupervisorCore core({.strategy = Strategy::kOneForOne}, {Child("a"), Child("b"), Child("c")});
  core.Start(1, 0);
  std::vector<std::string> log;
  std::optional<Status> reply;
  bool exited = false;
  while (core.has_actions()) {
    for (auto& action : core.TakeActions()) {
      if (auto* s = std::get_if<StartAction>(&action)) {
        log.push_back("start " + s->id);
        if (s->id == "c") {
          core.OnStartFailed("c", s->instance, ExitReason::Abnormal("exec failed"), 0);
        } else {
          core.OnStarted(s->id, s->instance, 0);
        }
      } else if (auto* t = std::get_if<TerminateAction>(&action)) {
        log.push_back("term " + t->id);
        core.OnExit(t->id, t->instance, ExitReason::Shutdown(), 0);
      } else if (auto* r = std::get_if<ReplyAction>(&action)) {
        reply = r->status;
      } else if (std::get_if<ExitedAction>(&action) != nullptr) {
        exited = true;
      }
    }
  }
  EXPECT_EQ(log, (std::vector<std::string>{"start a", "start b", "start c", "term b", "term a"}));
  ASSERT_TRUE(reply);
  ASSERT_FALSE(reply->has_value());
  EXPECT_EQ(reply->error().code(), "supervisor.child_start_failed");
  EXPECT_EQ(reply->error().details()["child"], "c");
  EXPECT_TRUE(exited);
}

TEST(SupervisorCoreTest, BackoffGrowsIsCappedAndResetsAfterHealthyPeriod) {
  ChildPolicy a = Child("a");
  a.backoff = {
      .initial_ms = 100, .max_ms = 350, .multiplier = 2.0, .jitter = 0.0, .reset_after_ms = 10'000};
  Harness h({.strategy = Strategy::kOneForOne, .intensity = {100, 1000}}, {a});
  h.Start();
  std::vector<int64_t> delays;
  for (int i = 0; i < 4; ++i) {
    h.now += 10;
    h.Crash("a");
    EXPECT_EQ(h.core.Child("a")->state, ChildState::kRestarting);
    const TimerId timer = h.OnlyTimer();
    delays.push_back(h.timers[timer]);
    h.now += h.timers[timer];
    h.Fire(timer);
    EXPECT_EQ(h.core.Child("a")->state, ChildState::kRunning);
  }
  EXPECT_EQ(delays, (std::vector<int64_t>{100, 200, 350, 350}));
  // A healthy run resets the sequence.
  h.now += 10'000;
  h.Crash("a");
  EXPECT_EQ(h.timers[h.OnlyTimer()], 100);
}

TEST(SupervisorCoreTest, BackoffJitterStaysWithinBounds) {
  ChildPolicy a = Child("a");
  a.backoff = {.initial_ms = 1000,
               .max_ms = 1200,
               .multiplier = 1.0,
               .jitter = 0.5,
               .reset_after_ms = 1'000'000};
  Harness h({.strategy = Strategy::kOneForOne, .intensity = {1000, 1}, .seed = 42}, {a});
  h.Start();
  std::set<int64_t> seen;
  for (int i = 0; i < 200; ++i) {
    h.now += 2;
    h.Crash("a");
    const TimerId timer = h.OnlyTimer();
    const int64_t d = h.timers[timer];
    EXPECT_GE(d, 500);
    EXPECT_LE(d, 1200);  // capped
    seen.insert(d);
    h.Fire(timer);
  }
  EXPECT_GT(seen.size(), 50u);  // really random
}

TEST(SupervisorCoreTest, SupervisorStaysResponsiveDuringBackoff) {
  ChildPolicy a = Child("a");
  a.backoff.initial_ms = 5000;
  Harness h({.strategy = Strategy::kOneForOne, .intensity = {10, 1000}}, {a, Child("b")});
  h.Start();
  h.Crash("a");
  EXPECT_FALSE(h.core.busy());
  h.Crash("b");  // handled at once, not after a's backoff
  EXPECT_EQ(h.log, (std::vector<std::string>{"start b"}));
}

TEST(SupervisorCoreTest, DeleteChildWhileWaitingForBackoff) {
  ChildPolicy a = Child("a");
  a.backoff.initial_ms = 5000;
  Harness h({.strategy = Strategy::kOneForOne, .intensity = {10, 1000}}, {a, Child("b")});
  h.Start();
  h.Crash("a");
  const TimerId timer = h.OnlyTimer();
  h.core.DeleteChild(2, "a", h.now);
  h.Pump();
  ASSERT_TRUE(h.replies.at(2).has_value());
  EXPECT_FALSE(h.core.Child("a").has_value());
  EXPECT_TRUE(h.timers.empty());  // cancelled
  h.core.OnTimer(timer, h.now);   // a late timer is ignored
  h.Pump();
  EXPECT_EQ(h.log, std::vector<std::string>{});
}

TEST(SupervisorCoreTest, DeleteChildDuringGroupRestartIsHandledAfterIt) {
  Harness h({.strategy = Strategy::kOneForAll, .intensity = {10, 1000}},
            {Child("a"), Child("b"), Child("c")});
  h.Start();
  h.auto_exit = false;
  h.Crash("a");  // terminating c first
  EXPECT_EQ(h.log, (std::vector<std::string>{"term c"}));
  h.core.DeleteChild(2, "b", h.now);  // queued behind the restart
  h.Pump();
  EXPECT_FALSE(h.replies.contains(2));
  h.auto_exit = true;
  h.Exit("c");
  // b is terminated by the restart, restarted, then terminated again and deleted.
  EXPECT_EQ(h.log, (std::vector<std::string>{"term c", "term b", "start a", "start b", "start c",
                                             "term b"}));
  ASSERT_TRUE(h.replies.at(2).has_value());
  EXPECT_FALSE(h.core.Child("b").has_value());
}

TEST(SupervisorCoreTest, ExitOfChildAboutToBeTerminatedIsConsumed) {
  Harness h({.strategy = Strategy::kOneForAll, .intensity = {1, 1000}},
            {Child("a"), Child("b"), Child("c")});
  h.Start();
  h.auto_exit = false;
  h.Crash("c");  // one_for_all: terminate b, then a
  EXPECT_EQ(h.log, (std::vector<std::string>{"term b"}));
  // a crashes on its own while b is being terminated: part of this restart, not a 2nd restart
  // (which would exceed max_restarts = 1).
  h.core.OnExit("a", h.instance["a"], ExitReason::Abnormal("exit status 1"), h.now);
  h.auto_exit = true;
  h.Exit("b");
  EXPECT_FALSE(h.exited);
  EXPECT_EQ(h.log, (std::vector<std::string>{"term b", "start a", "start b", "start c"}));
}

TEST(SupervisorCoreTest, ChangeStrategyTakesEffectWithoutRestarting) {
  Harness h({.strategy = Strategy::kOneForOne, .intensity = {10, 1000}},
            {Child("a"), Child("b"), Child("c")});
  h.Start();
  h.core.ChangeStrategy(2, Strategy::kOneForAll, Intensity{20, 2000}, h.now);
  h.Pump();
  ASSERT_TRUE(h.replies.at(2).has_value());
  EXPECT_TRUE(h.log.empty());  // nothing restarted by the change
  EXPECT_EQ(h.core.intensity().max_restarts, 20);
  h.Crash("b");
  EXPECT_EQ(h.log, (std::vector<std::string>{"term c", "term a", "start a", "start b", "start c"}));
  h.core.ChangeStrategy(3, Strategy::kSimpleOneForOne, std::nullopt, h.now);
  h.Pump();
  ASSERT_FALSE(h.replies.at(3).has_value());
  EXPECT_EQ(h.replies.at(3).error().code(), "supervisor.strategy_change_unsupported");
}

TEST(SupervisorCoreTest, ChangeStrategyDuringRestartAppliesToQueuedExits) {
  Harness h({.strategy = Strategy::kOneForAll, .intensity = {10, 1000}},
            {Child("a"), Child("b"), Child("c")});
  h.Start();
  h.auto_exit = false;
  h.Crash("c");
  EXPECT_EQ(h.log, (std::vector<std::string>{"term b"}));
  h.core.ChangeStrategy(2, Strategy::kOneForOne, std::nullopt, h.now);
  h.Pump();
  h.auto_exit = true;
  h.Exit("b");
  // The sequence in progress finishes as a one_for_all restart.
  EXPECT_EQ(h.log, (std::vector<std::string>{"term b", "term a", "start a", "start b", "start c"}));
  h.log.clear();
  h.Crash("b");  // now one_for_one
  EXPECT_EQ(h.log, (std::vector<std::string>{"start b"}));
}

TEST(SupervisorCoreTest, SimpleOneForOne) {
  Harness h({.strategy = Strategy::kSimpleOneForOne, .intensity = {10, 1000}},
            {Child("tmpl", RestartType::kTransient)});
  h.Start();
  EXPECT_TRUE(h.log.empty());
  for (int i = 0; i < 3; ++i) {
    h.core.AddChild(10 + i, Child("w" + std::to_string(i), RestartType::kTransient), h.now);
    h.Pump();
  }
  h.Crash("w1");                        // abnormal: restarted alone
  h.Crash("w0", ExitReason::Normal());  // normal: forgotten
  EXPECT_EQ(h.log, (std::vector<std::string>{"start w0", "start w1", "start w2", "start w1"}));
  EXPECT_EQ(h.core.Children().size(), 2u);
  h.core.AddChild(20, Child("w1"), h.now);
  h.Pump();
  EXPECT_EQ(h.replies.at(20).error().code(), "supervisor.duplicate_child_id");
  h.log.clear();
  h.core.Stop(30, h.now);
  h.auto_exit = true;
  h.Pump();
  EXPECT_EQ(h.log, (std::vector<std::string>{"term w1", "term w2"}));  // parallel
}

TEST(SupervisorCoreTest, KillTerminatesEverythingAtOnce) {
  Harness h({.strategy = Strategy::kOneForOne}, {Child("a"), Child("b")});
  h.Start();
  h.auto_exit = false;
  h.core.Stop(2, h.now);
  h.Pump();
  EXPECT_EQ(h.log, (std::vector<std::string>{"term b"}));
  h.core.Kill(h.now);
  h.Pump();
  EXPECT_EQ(h.log, (std::vector<std::string>{"term b", "kill a", "kill b"}));
  EXPECT_FALSE(h.replies.at(2).has_value());
  EXPECT_FALSE(h.exited);
  h.Exit("a");
  h.Exit("b");
  ASSERT_TRUE(h.exited);
  EXPECT_EQ(h.exited->text, "killed");
}

TEST(SupervisorCoreTest, StaleExitsAreIgnored) {
  Harness h({.strategy = Strategy::kOneForOne, .intensity = {10, 1000}}, {Child("a")});
  h.Start();
  const uint64_t old = h.instance["a"];
  h.Crash("a");
  h.core.OnExit("a", old, ExitReason::Abnormal("again"), h.now);
  h.Pump();
  EXPECT_EQ(h.log, (std::vector<std::string>{"start a"}));
}

}  // namespace
}  // namespace arsenal::supervisor
