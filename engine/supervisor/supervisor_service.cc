#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <fstream>
#include <future>
#include <sstream>

#include "arsenal/base/log.h"
#include "arsenal/base/syscalls.h"
#include "arsenal/base/unique_fd.h"
#include "arsenal/engine/engine.h"
#include "arsenal/engine/process_table.h"
#include "arsenal/engine/sandbox_service.h"
#include "arsenal/engine/supervisor.h"

namespace arsenal::supervisor {

namespace asio = boost::asio;

namespace {

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A graceful terminate never escalates by itself: the core's timer decides when to kill.
constexpr std::chrono::milliseconds kNoGrace{0};
constexpr std::chrono::milliseconds kForever{std::chrono::hours(24 * 365)};

Error NoSupervisor(const std::string& path) {
  return NotFoundError("supervisor.not_found", "no running supervisor '" + path + "'")
      .WithDetail("supervisor", path)
      .WithHint("list_supervisors shows the supervisors; nested ones are named parent/child");
}

// Fields 3.. of /proc/<pid>/stat (after the parenthesised command name).
std::optional<std::vector<std::string>> ReadStat(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  const auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  if (fields.size() < 20) return std::nullopt;
  return fields;
}

// The kernel's start time of `pid` in clock ticks since boot (field 22): with the pid it names
// one process for the lifetime of the machine.
std::optional<int64_t> StartTicks(pid_t pid) {
  auto fields = ReadStat(pid);
  if (!fields) return std::nullopt;
  return std::stoll((*fields)[19]);
}

ExitReason ReasonOf(const ProcessEvent& event) {
  if (!event.exit) return ExitReason::Abnormal("exited");
  if (event.exit->signal == 0 && event.exit->code == 0) return ExitReason::Normal("exit code 0");
  return ExitReason::Abnormal(event.exit->Describe());
}

}  // namespace

Json ChildInfo::ToJson() const {
  Json j = {{"id", id},
            {"supervisor", supervisor},
            {"type", ChildTypeName(type)},
            {"restart", RestartTypeName(restart)},
            {"shutdown", shutdown.ToJson()},
            {"backoff", backoff.ToJson()},
            {"state", ChildStateName(state)},
            {"pid", pid > 0 ? Json(pid) : Json()},
            {"restart_count", restart_count},
            {"sandboxed", sandboxed}};
  if (!process_id.empty()) j["process_id"] = process_id;
  if (!nested.empty()) j["nested"] = nested;
  if (started_unix_ms > 0) j["started_unix_ms"] = started_unix_ms;
  if (restart_at_unix_ms > 0) j["restart_at_unix_ms"] = restart_at_unix_ms;
  if (!last_exit.empty()) j["last_exit"] = last_exit;
  return j;
}

// ---- Impl ------------------------------------------------------------------------------------

struct SupervisorService::Impl {
  struct ChildRt {
    ChildSpec spec;
    std::string process_id;
    pid_t pid = 0;
    uint64_t nested_uid = 0;
    int64_t started_unix_ms = 0;
    std::optional<Error> last_start_error;
    // Keeps a fresh sandbox of an inline-sandboxed worker prepared for its next restart
    // (SandboxLauncher::KeepStandby); dropped with the child.
    std::shared_ptr<void> standby;
  };

  struct Node {
    uint64_t uid = 0;
    std::string path;
    std::string root;  // top-level id
    uint64_t parent_uid = 0;
    std::string child_in_parent;
    uint64_t instance_in_parent = 0;
    std::shared_ptr<const SupervisorSpec> spec;
    Json source;  // top-level: the persisted spec, kept in step with run-time changes
    std::unique_ptr<SupervisorCore> core;
    std::map<std::string, ChildRt> children;
    std::optional<ChildRt> tmpl;  // simple_one_for_one
    std::map<TimerId, std::unique_ptr<asio::steady_timer>> timers;
    std::map<RequestId, std::function<void(Status)>> waiting;
    std::vector<std::function<void()>> exit_waiters;
    bool started = false;
    bool pumping = false;
    bool dead = false;
    bool reconcile = false;
    uint64_t dynamic_counter = 0;
    int64_t epoch_offset_ms = 0;
  };

  struct ProcRef {
    uint64_t uid;
    std::string child;
    uint64_t instance;
  };

  struct Finished {
    std::string state;  // stopped | failed
    std::string reason;
    int64_t time_unix_ms = 0;
    Json source;
  };

  struct Write {
    enum class Kind { kHistory, kLiveUpsert, kLiveDelete, kDefinition, kForget } kind;
    std::string root, path, child, event, reason, detail, state, process_id;
    int64_t restart_count = 0, delay_ms = 0, time_unix_ms = 0;
    pid_t pid = 0;
    Json spec;
  };

  Engine& engine;
  asio::io_context& io;
  ProcessTable* table = nullptr;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  std::shared_ptr<spdlog::logger> log = log::Get("supervisor");
  const std::chrono::steady_clock::time_point epoch = std::chrono::steady_clock::now();
  bool restore = true;
  size_t history_retention = 10000;
  bool sandbox_standby = true;  // config supervisor.sandbox_standby
  std::once_flag started_once;
  uint64_t subscription = 0;

  // Loop-thread state.
  std::map<uint64_t, std::unique_ptr<Node>> nodes;
  std::map<std::string, uint64_t> by_path;
  std::map<std::string, ProcRef> by_process;
  std::map<std::string, Finished> finished;
  uint64_t next_uid = 1;
  RequestId next_request = 1;

  // Store writer thread.
  std::mutex wmu;
  std::condition_variable wcv;
  std::condition_variable wdone;
  std::deque<Write> writes;
  uint64_t enqueued = 0;
  uint64_t written = 0;
  bool wstop = false;
  int flush_requests = 0;
  std::thread writer;
  uint64_t history_since_prune = 0;

  explicit Impl(Engine& e) : engine(e), io(e.io()) {}

  int64_t NowMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 epoch)
        .count();
  }
  bool OnLoop() const { return io.get_executor().running_in_this_thread(); }

  // ---- Calls from other threads ----

  template <typename T>
  Result<T> Call(std::function<void(std::function<void(Result<T>)>)> body) {
    if (OnLoop()) {
      return Fail(Error(ErrorCategory::kInternal, "supervisor.would_block",
                        "supervisor calls cannot be made from the engine event loop thread")
                      .WithHint("call from another thread, or post the work"));
    }
    auto promise = std::make_shared<std::promise<Result<T>>>();
    auto future = promise->get_future();
    auto once = std::make_shared<std::atomic<bool>>(false);
    asio::post(io, [this, body = std::move(body), promise, once, alive = alive]() mutable {
      auto done = [promise, once](Result<T> r) {
        if (!once->exchange(true)) promise->set_value(std::move(r));
      };
      if (!*alive) {
        done(Fail(Error(ErrorCategory::kUnavailable, "supervisor.shutting_down",
                        "the supervisor service is shutting down")));
        return;
      }
      body(done);
    });
    return future.get();
  }

  Status CallStatus(std::function<void(std::function<void(Status)>)> body) {
    auto r = Call<bool>([body = std::move(body)](std::function<void(Result<bool>)> done) {
      body([done](Status s) {
        if (s) {
          done(true);
        } else {
          done(Fail(std::move(s).error()));
        }
      });
    });
    if (!r) return Fail(std::move(r).error());
    return {};
  }

  // ---- Nodes ----

  Node* FindNode(uint64_t uid) {
    auto it = nodes.find(uid);
    return it == nodes.end() || it->second->dead ? nullptr : it->second.get();
  }
  Node* FindPath(const std::string& path) {
    auto it = by_path.find(path);
    return it == by_path.end() ? nullptr : FindNode(it->second);
  }

  Node& NewNode(std::shared_ptr<const SupervisorSpec> spec, std::string path, std::string root,
                uint64_t parent_uid, std::string child_in_parent, uint64_t instance) {
    auto node = std::make_unique<Node>();
    node->uid = next_uid++;
    node->path = std::move(path);
    node->root = std::move(root);
    node->parent_uid = parent_uid;
    node->child_in_parent = std::move(child_in_parent);
    node->instance_in_parent = instance;
    node->spec = spec;
    node->source = spec->source;
    node->epoch_offset_ms = NowUnixMs() - NowMs();
    SupervisorCore::Options options{
        .strategy = spec->strategy,
        .intensity = spec->intensity,
        .seed = node->uid * 0x9e3779b97f4a7c15ULL ^ static_cast<uint64_t>(NowUnixMs())};
    node->core = std::make_unique<SupervisorCore>(options, spec->Policies());
    if (spec->strategy == Strategy::kSimpleOneForOne) {
      node->tmpl = ChildRt{.spec = spec->children.front()};
    } else {
      for (const auto& child : spec->children) {
        node->children.emplace(child.policy.id, ChildRt{.spec = child});
      }
    }
    Node& ref = *node;
    by_path[ref.path] = ref.uid;
    nodes.emplace(ref.uid, std::move(node));
    return ref;
  }

  void Pump(Node& node) {
    if (node.pumping) return;
    node.pumping = true;
    while (node.core->has_actions()) {
      for (auto& action : node.core->TakeActions()) Execute(node, action);
    }
    node.pumping = false;
    if (node.reconcile && !node.dead) {
      node.reconcile = false;
      for (auto it = node.children.begin(); it != node.children.end();) {
        it = node.core->Child(it->first) ? std::next(it) : node.children.erase(it);
      }
    }
  }

  void Execute(Node& node, Action& action) {
    std::visit(
        [&](auto& a) {
          using A = std::decay_t<decltype(a)>;
          if constexpr (std::is_same_v<A, StartAction>) {
            StartChild(node, a);
          } else if constexpr (std::is_same_v<A, TerminateAction>) {
            TerminateChild(node, a);
          } else if constexpr (std::is_same_v<A, TimerAction>) {
            ArmTimer(node, a);
          } else if constexpr (std::is_same_v<A, CancelTimerAction>) {
            if (auto it = node.timers.find(a.timer); it != node.timers.end()) {
              it->second->cancel();
              node.timers.erase(it);
            }
          } else if constexpr (std::is_same_v<A, ReplyAction>) {
            Reply(node, a);
          } else if constexpr (std::is_same_v<A, ExitedAction>) {
            Exited(node, a);
          } else if constexpr (std::is_same_v<A, HistoryEntry>) {
            RecordHistory(node, a);
          }
        },
        action);
  }

  ChildRt* Rt(Node& node, const std::string& id) {
    auto it = node.children.find(id);
    return it == node.children.end() ? nullptr : &it->second;
  }

  void StartChild(Node& node, const StartAction& a) {
    ChildRt* rt = Rt(node, a.id);
    if (rt == nullptr) {
      node.core->OnStartFailed(a.id, a.instance, ExitReason::Abnormal("unknown child"), NowMs());
      return;
    }
    rt->last_start_error.reset();
    if (rt->spec.policy.type == ChildType::kSupervisor) {
      StartNested(node, *rt, a);
      return;
    }
    ProcessSpec spec = *rt->spec.process;
    spec.supervisor = node.path;
    spec.labels["arsenal.supervisor"] = node.path;
    spec.labels["arsenal.child"] = a.id;
    StartOptions options;
    options.requested_by = "supervisor:" + node.path;
    auto started = table->Start(std::move(spec), std::move(options));
    if (!started) {
      log->warn("supervisor {}: child {} failed to start: {}", node.path, a.id,
                started.error().ToString());
      rt->last_start_error = started.error();
      node.core->OnStartFailed(a.id, a.instance, ExitReason::Abnormal(started.error().message()),
                               NowMs());
      return;
    }
    rt->process_id = started->id;
    rt->pid = started->pid;
    rt->started_unix_ms = started->started_unix_ms;
    // After the first start, so that start does not wait for the standby's build.
    const auto& sandbox = rt->spec.process->sandbox;
    if (sandbox_standby && !rt->standby && sandbox && sandbox->id.empty() &&
        rt->spec.policy.restart != RestartType::kTemporary) {
      if (auto launcher = table->sandbox_launcher()) {
        rt->standby = launcher->KeepStandby(sandbox->spec);
      }
    }
    by_process[started->id] = ProcRef{node.uid, a.id, a.instance};
    Enqueue(Write{.kind = Write::Kind::kLiveUpsert,
                  .root = node.root,
                  .path = node.path,
                  .child = a.id,
                  .process_id = started->id,
                  .pid = started->pid});
    node.core->OnStarted(a.id, a.instance, NowMs());
  }

  void StartNested(Node& parent, ChildRt& rt, const StartAction& a) {
    Node& nested = NewNode(rt.spec.supervisor, parent.path + "/" + a.id, parent.root, parent.uid,
                           a.id, a.instance);
    rt.nested_uid = nested.uid;
    rt.started_unix_ms = NowUnixMs();
    const RequestId request = next_request++;
    nested.waiting[request] = [this, parent_uid = parent.uid, nested_uid = nested.uid, id = a.id,
                               instance = a.instance](Status status) {
      Node* p = FindNode(parent_uid);
      auto it = nodes.find(nested_uid);
      if (status) {
        if (it != nodes.end()) it->second->started = true;
        if (p) p->core->OnStarted(id, instance, NowMs());
      } else if (p) {
        if (ChildRt* prt = Rt(*p, id)) prt->last_start_error = status.error();
        p->core->OnStartFailed(id, instance, ExitReason::Abnormal(status.error().message()),
                               NowMs());
      }
      if (p) Pump(*p);
    };
    nested.core->Start(request, NowMs());
    Pump(nested);
  }

  void TerminateChild(Node& node, const TerminateAction& a) {
    ChildRt* rt = Rt(node, a.id);
    if (rt == nullptr) return;
    if (rt->spec.policy.type == ChildType::kSupervisor) {
      Node* nested = FindNode(rt->nested_uid);
      if (nested == nullptr) return;  // already exited; its exit reached us
      if (a.kill) {
        nested->core->Kill(NowMs());
      } else {
        nested->core->Stop(next_request++, NowMs());  // the reply is not needed: Exited follows
      }
      Pump(*nested);
      return;
    }
    if (rt->process_id.empty()) return;
    KillOptions kill;
    kill.signal = a.kill ? SIGKILL : SIGTERM;
    kill.grace = a.kill ? kNoGrace : kForever;
    kill.process_group = true;
    kill.requested_by = "supervisor:" + node.path;
    kill.reason = a.kill ? "supervisor kill" : "supervisor shutdown";
    table->KillAsync(rt->process_id, std::move(kill),
                     [log = log, id = rt->process_id](Result<KillOutcome> outcome) {
                       if (!outcome && outcome.error().code() != "process.not_found") {
                         log->warn("terminate {}: {}", id, outcome.error().ToString());
                       }
                     });
  }

  void ArmTimer(Node& node, const TimerAction& a) {
    auto timer = std::make_unique<asio::steady_timer>(io);
    timer->expires_after(std::chrono::milliseconds(a.delay_ms));
    timer->async_wait(
        [this, alive = alive, uid = node.uid, id = a.timer](const boost::system::error_code& ec) {
          if (ec || !*alive) return;
          Node* n = FindNode(uid);
          if (n == nullptr) return;
          n->timers.erase(id);
          n->core->OnTimer(id, NowMs());
          Pump(*n);
        });
    node.timers[a.timer] = std::move(timer);
  }

  void Reply(Node& node, ReplyAction& a) {
    auto it = node.waiting.find(a.request);
    if (it == node.waiting.end()) return;
    auto done = std::move(it->second);
    node.waiting.erase(it);
    Status status = std::move(a.status);
    if (!status && status.error().code() == "supervisor.child_start_failed") {
      const std::string child = status.error().details().value("child", "");
      if (ChildRt* rt = Rt(node, child); rt != nullptr && rt->last_start_error) {
        Error e = std::move(status).error();
        e.WithDetail("cause", rt->last_start_error->ToJson());
        e.WithDetail("supervisor", node.path);
        status = Fail(std::move(e));
      }
    }
    node.reconcile = true;
    done(std::move(status));
  }

  void Exited(Node& node, const ExitedAction& a) {
    node.dead = true;
    for (auto& [_, timer] : node.timers) timer->cancel();
    node.timers.clear();
    if (auto it = by_path.find(node.path); it != by_path.end() && it->second == node.uid) {
      by_path.erase(it);
    }
    for (auto& [id, rt] : node.children) {
      if (!rt.process_id.empty()) by_process.erase(rt.process_id);
      rt.standby.reset();  // destroyed before anyone waiting for this exit hears of it
    }
    for (auto& [req, done] : node.waiting) {
      done(Fail(Error(ErrorCategory::kUnavailable, "supervisor.not_running",
                      "supervisor " + node.path + " exited")));
    }
    node.waiting.clear();
    log->info("supervisor {} exited: {}", node.path, a.reason.text);
    if (node.parent_uid != 0) {
      if (Node* parent = FindNode(node.parent_uid); parent != nullptr && node.started) {
        parent->core->OnExit(node.child_in_parent, node.instance_in_parent, a.reason, NowMs());
        Pump(*parent);
      }
    } else if (node.started) {
      const bool failed = a.reason.text != "stopped";
      finished[node.root] =
          Finished{failed ? "failed" : "stopped", a.reason.text, NowUnixMs(), node.source};
      Enqueue(Write{.kind = Write::Kind::kDefinition,
                    .root = node.root,
                    .reason = a.reason.text,
                    .state = failed ? "failed" : "stopped",
                    .spec = node.source});
      engine.events().Emit("arsenal.supervisor.exit", Json::object(),
                           {{"supervisor", node.path}, {"reason", a.reason.text}});
    }
    auto waiters = std::move(node.exit_waiters);
    for (auto& w : waiters) w();
    asio::post(io, [this, alive = alive, uid = node.uid] {
      if (*alive) nodes.erase(uid);
    });
  }

  void RecordHistory(Node& node, const HistoryEntry& e) {
    if (e.kind == HistoryEntry::Kind::kExit || e.kind == HistoryEntry::Kind::kDelete ||
        e.kind == HistoryEntry::Kind::kStartFailed) {
      node.reconcile = true;
    }
    const std::string event(HistoryKindName(e.kind));
    const int64_t when = e.at_ms + node.epoch_offset_ms;
    Enqueue(Write{.kind = Write::Kind::kHistory,
                  .root = node.root,
                  .path = node.path,
                  .child = e.child,
                  .event = event,
                  .reason = e.reason,
                  .detail = e.detail,
                  .restart_count = e.restart_count,
                  .delay_ms = e.delay_ms,
                  .time_unix_ms = when});
    engine.events().Emit("arsenal.supervisor." + event,
                         {{"restart_count", e.restart_count}, {"delay_ms", e.delay_ms}},
                         {{"supervisor", node.path},
                          {"child", e.child},
                          {"reason", e.reason},
                          {"detail", e.detail}});
  }

  // Exit of a worker process (the table's pidfd watch, on the loop thread).
  void OnProcessExit(const ProcessEvent& event) {
    auto it = by_process.find(event.id);
    if (it == by_process.end()) return;
    const ProcRef ref = it->second;
    by_process.erase(it);
    Node* node = FindNode(ref.uid);
    if (node == nullptr) return;
    if (ChildRt* rt = Rt(*node, ref.child); rt != nullptr && rt->process_id == event.id) {
      rt->process_id.clear();
      rt->pid = 0;
    }
    Enqueue(Write{.kind = Write::Kind::kLiveDelete,
                  .root = node->root,
                  .path = node->path,
                  .child = ref.child,
                  .process_id = event.id});
    node->core->OnExit(ref.child, ref.instance, ReasonOf(event), NowMs());
    Pump(*node);
  }

  // ---- Store ----

  void Enqueue(Write w) {
    std::lock_guard lock(wmu);
    // Only the first write of a batch wakes the writer; the rest join the batch it coalesces.
    const bool first = writes.empty();
    writes.push_back(std::move(w));
    ++enqueued;
    if (first) wcv.notify_one();
  }

  void Flush() {
    std::unique_lock lock(wmu);
    const uint64_t target = enqueued;
    ++flush_requests;
    wcv.notify_all();
    wdone.wait(lock, [&] { return written >= target || wstop; });
    --flush_requests;
  }

  void WriterLoop() {
    std::unique_lock lock(wmu);
    while (true) {
      wcv.wait(lock, [&] { return wstop || !writes.empty(); });
      if (writes.empty() && wstop) return;
      // Coalesce: restarts come in bursts, and waking up per restart would compete with the
      // restart itself for the CPU. A Flush() cuts the wait short.
      wcv.wait_for(lock, std::chrono::milliseconds(25),
                   [&] { return wstop || flush_requests > 0; });
      std::deque<Write> batch;
      batch.swap(writes);
      lock.unlock();
      auto status = engine.store().Transaction([&](Store& store) -> Status {
        for (const Write& w : batch) ARSENAL_TRY(Apply(store, w));
        return {};
      });
      if (!status) log->error("supervisor store write failed: {}", status.error().ToString());
      if (history_since_prune >= 1000) {
        history_since_prune = 0;
        Prune();
      }
      lock.lock();
      written += batch.size();
      wdone.notify_all();
    }
  }

  Status Apply(Store& store, const Write& w) {
    switch (w.kind) {
      case Write::Kind::kHistory:
        ++history_since_prune;
        return store.Run(
            "INSERT INTO supervisor_history(root, supervisor, child, event, reason, detail, "
            "restart_count, delay_ms, time_unix_ms) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
            {w.root, w.path, w.child, w.event, w.reason, w.detail, w.restart_count, w.delay_ms,
             w.time_unix_ms});
      case Write::Kind::kLiveUpsert: {
        // A process that is already gone needs no record: nothing can be left of it.
        auto ticks = StartTicks(w.pid);
        if (!ticks) return {};
        return store.Run(
            "INSERT INTO supervisor_live_children(supervisor, child, pid, start_ticks, process_id)"
            " VALUES (?1,?2,?3,?4,?5) ON CONFLICT(supervisor, child) DO UPDATE SET"
            " pid = excluded.pid, start_ticks = excluded.start_ticks,"
            " process_id = excluded.process_id",
            {w.path, w.child, w.pid, *ticks, w.process_id});
      }
      case Write::Kind::kLiveDelete:
        return store.Run(
            "DELETE FROM supervisor_live_children WHERE supervisor = ?1 AND child = ?2 AND "
            "process_id = ?3",
            {w.path, w.child, w.process_id});
      case Write::Kind::kDefinition:
        return store.Run(
            "INSERT INTO supervisor_definitions(id, spec, state, reason, created_unix_ms, "
            "updated_unix_ms) VALUES (?1,?2,?3,?4,?5,?5) ON CONFLICT(id) DO UPDATE SET"
            " spec = excluded.spec, state = excluded.state, reason = excluded.reason,"
            " updated_unix_ms = excluded.updated_unix_ms",
            {w.root, w.spec.dump(), w.state, w.reason, NowUnixMs()});
      case Write::Kind::kForget:
        ARSENAL_TRY(store.Run("DELETE FROM supervisor_definitions WHERE id = ?1", {w.root}));
        return store.Run("DELETE FROM supervisor_history WHERE root = ?1", {w.root});
    }
    return {};
  }

  void Prune() {
    auto roots = engine.store().Query("SELECT DISTINCT root FROM supervisor_history");
    if (!roots) return;
    for (const auto& row : *roots) {
      (void)engine.store().Run(
          "DELETE FROM supervisor_history WHERE root = ?1 AND seq <= (SELECT seq FROM "
          "supervisor_history WHERE root = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
          {row["root"], static_cast<int64_t>(history_retention)});
    }
  }

  // ---- Restore after a daemon restart ----

  void KillOrphans() {
    auto rows = engine.store().Query(
        "SELECT supervisor, child, pid, start_ticks FROM supervisor_live_children");
    if (!rows) return;
    for (const auto& row : *rows) {
      const pid_t pid = row["pid"].get<pid_t>();
      const int64_t ticks = row["start_ticks"].get<int64_t>();
      auto now_ticks = StartTicks(pid);
      if (!now_ticks || *now_ticks != ticks) continue;  // gone, or the pid was reused
      UniqueFd pidfd(sys::PidfdOpen(pid, 0));
      if (!pidfd) continue;
      // Confirm after pinning the pid with the pidfd: still the same process.
      auto fields = ReadStat(pid);
      if (!fields || std::stoll((*fields)[19]) != ticks) continue;
      const pid_t pgrp = static_cast<pid_t>(std::stol((*fields)[2]));
      if (pgrp == pid) ::kill(-pid, SIGKILL);
      sys::PidfdSendSignal(pidfd.get(), SIGKILL, nullptr, 0);
      struct pollfd pfd = {pidfd.get(), POLLIN, 0};
      ::poll(&pfd, 1, 2000);
      log->warn("killed orphan {} (pid {}) of supervisor {} left by a previous run",
                row["child"].get<std::string>(), pid, row["supervisor"].get<std::string>());
      const std::string path = row["supervisor"].get<std::string>();
      (void)engine.store().Run(
          "INSERT INTO supervisor_history(root, supervisor, child, event, reason, detail, "
          "restart_count, delay_ms, time_unix_ms) VALUES (?1,?2,?3,'orphan_killed',?4,'',0,0,?5)",
          {path.substr(0, path.find('/')), path, row["child"],
           "left running by a previous daemon (pid " + std::to_string(pid) + ")", NowUnixMs()});
    }
    (void)engine.store().Run("DELETE FROM supervisor_live_children");
  }

  void LoadFinished() {
    auto rows = engine.store().Query(
        "SELECT id, spec, state, reason, updated_unix_ms FROM supervisor_definitions");
    if (!rows) return;
    for (const auto& row : *rows) {
      Finished f;
      f.state = row["state"].get<std::string>();
      f.reason = row["reason"].is_string() ? row["reason"].get<std::string>() : "";
      f.time_unix_ms = row["updated_unix_ms"].get<int64_t>();
      f.source = Json::parse(row["spec"].get<std::string>(), nullptr, false);
      if (!restore && f.state == "running") {
        f.state = "stopped";
        f.reason = "not restored (supervisor.restore is false)";
      }
      finished[row["id"].get<std::string>()] = std::move(f);
    }
  }

  // ---- Tree ----

  Json NodeTree(Node& node) {
    Json children = Json::array();
    const std::vector<ChildView> views = node.core->Children();
    for (const auto& view : views) {
      ChildInfo info = Info(node, view);
      Json c = info.ToJson();
      if (info.type == ChildType::kSupervisor) {
        ChildRt* rt = Rt(node, view.policy.id);
        if (Node* nested = rt ? FindNode(rt->nested_uid) : nullptr) c["tree"] = NodeTree(*nested);
      }
      children.push_back(std::move(c));
    }
    Json t = {{"id", node.path.substr(node.path.rfind('/') + 1)},
              {"path", node.path},
              {"strategy", StrategyName(node.core->strategy())},
              {"state", SupervisorStateName(node.core->state())},
              {"max_restarts", node.core->intensity().max_restarts},
              {"max_seconds", node.core->intensity().period_ms / 1000.0},
              {"restarts_in_window", node.core->RestartsInWindow(NowMs())},
              {"children", std::move(children)}};
    return t;
  }

  ChildInfo Info(Node& node, const ChildView& view) {
    ChildInfo info;
    info.id = view.policy.id;
    info.supervisor = node.path;
    info.type = view.policy.type;
    info.restart = view.policy.restart;
    info.shutdown = view.policy.shutdown;
    info.backoff = view.policy.backoff;
    info.state = view.state;
    info.restart_count = view.restart_count;
    info.last_exit = view.last_exit;
    if (view.restart_at_ms >= 0)
      info.restart_at_unix_ms = view.restart_at_ms + node.epoch_offset_ms;
    if (ChildRt* rt = Rt(node, view.policy.id)) {
      const bool running =
          view.state == ChildState::kRunning || view.state == ChildState::kTerminating;
      if (running && !rt->process_id.empty()) {
        info.pid = rt->pid;
        info.process_id = rt->process_id;
        info.started_unix_ms = rt->started_unix_ms;
      }
      if (rt->spec.process) info.sandboxed = rt->spec.process->sandbox.has_value();
      if (info.type == ChildType::kSupervisor && running) {
        if (Node* nested = FindNode(rt->nested_uid)) {
          info.nested = nested->path;
          info.started_unix_ms = rt->started_unix_ms;
        }
      }
    }
    return info;
  }

  Json FinishedTree(const std::string& id, const Finished& f) {
    return {{"id", id},
            {"path", id},
            {"strategy", f.source.value("strategy", "one_for_one")},
            {"state", f.state},
            {"reason", f.reason},
            {"children", Json::array()}};
  }
};

// ---- Service ---------------------------------------------------------------------------------

SupervisorService::SupervisorService(Engine& engine) : impl_(std::make_unique<Impl>(engine)) {
  Impl& d = *impl_;
  const Json& config = engine.options().config;
  if (config.is_object() && config.contains("supervisor") && config["supervisor"].is_object()) {
    const Json& c = config["supervisor"];
    d.restore = c.value("restore", true);
    d.history_retention = c.value("history_retention", size_t{10000});
    d.sandbox_standby = c.value("sandbox_standby", true);
  }
  auto migrated = engine.store().Migrate(
      "supervisor", 1,
      "CREATE TABLE IF NOT EXISTS supervisor_definitions("
      " id TEXT PRIMARY KEY, spec TEXT NOT NULL, state TEXT NOT NULL, reason TEXT,"
      " created_unix_ms INTEGER NOT NULL, updated_unix_ms INTEGER NOT NULL);"
      "CREATE TABLE IF NOT EXISTS supervisor_history("
      " seq INTEGER PRIMARY KEY AUTOINCREMENT, root TEXT NOT NULL, supervisor TEXT NOT NULL,"
      " child TEXT, event TEXT NOT NULL, reason TEXT, detail TEXT, restart_count INTEGER,"
      " delay_ms INTEGER, time_unix_ms INTEGER NOT NULL);"
      "CREATE INDEX IF NOT EXISTS supervisor_history_by_root ON supervisor_history(root, seq);"
      "CREATE TABLE IF NOT EXISTS supervisor_live_children("
      " supervisor TEXT NOT NULL, child TEXT NOT NULL, pid INTEGER NOT NULL,"
      " start_ticks INTEGER NOT NULL, process_id TEXT, PRIMARY KEY(supervisor, child));");
  if (!migrated) d.log->error("supervisor store migration: {}", migrated.error().ToString());
  // Before anything of this run starts: what a previous daemon left running goes first.
  d.KillOrphans();
  d.LoadFinished();
  d.writer = std::thread([&d] { d.WriterLoop(); });
}

SupervisorService::~SupervisorService() {
  Impl& d = *impl_;
  if (d.table != nullptr && !d.OnLoop()) {
    // Stop every top-level supervisor; each terminates its children in reverse order.
    auto stopped = std::make_shared<std::promise<void>>();
    auto future = stopped->get_future();
    asio::post(d.io, [&d, stopped] {
      auto remaining = std::make_shared<int>(0);
      auto one_done = [stopped, remaining] {
        if (--*remaining == 0) stopped->set_value();
      };
      std::vector<uint64_t> tops;
      for (auto& [uid, node] : d.nodes) {
        if (!node->dead && node->parent_uid == 0) tops.push_back(uid);
      }
      *remaining = static_cast<int>(tops.size()) + 1;
      for (uint64_t uid : tops) {
        Impl::Node* node = d.FindNode(uid);
        if (node == nullptr) {
          one_done();
          continue;
        }
        node->exit_waiters.push_back(one_done);
        // Daemon shutdown: keep the definition "running" so the next start restores it.
        node->started = false;
        node->core->Stop(d.next_request++, d.NowMs());
        d.Pump(*node);
      }
      one_done();
    });
    if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
      asio::post(d.io, [&d] {
        for (auto& [uid, node] : d.nodes) {
          if (!node->dead) {
            node->core->Kill(d.NowMs());
            d.Pump(*node);
          }
        }
      });
      future.wait_for(std::chrono::seconds(10));
    }
    // Nothing of ours may run on the loop after this point.
    std::promise<void> fenced;
    asio::post(d.io, [&d, &fenced] {
      *d.alive = false;
      // Loop objects (timers) are destroyed on the loop thread.
      d.nodes.clear();
      d.by_path.clear();
      d.by_process.clear();
      fenced.set_value();
    });
    fenced.get_future().wait_for(std::chrono::seconds(10));
    if (d.subscription != 0) d.table->Unsubscribe(d.subscription);
  }
  {
    std::lock_guard lock(d.wmu);
    d.wstop = true;
    d.wcv.notify_all();
  }
  if (d.writer.joinable()) d.writer.join();
}

SupervisorService& SupervisorService::Get(Engine& engine) {
  // The sandbox service installs the table's sandbox launcher; without it a restored sandboxed
  // child would fail to start with sandbox.not_found.
  SandboxService::Get(engine);
  ProcessTable& table = engine.Service<ProcessTable>();
  SupervisorService& service = engine.Service<SupervisorService>();
  std::call_once(service.impl_->started_once, [&] {
    Impl& d = *service.impl_;
    d.table = &table;
    d.subscription = table.SubscribeAll(static_cast<uint32_t>(ProcessEventKind::kExit),
                                        [&d, alive = d.alive](const ProcessEvent& event) {
                                          if (*alive) d.OnProcessExit(event);
                                        });
    if (!d.restore || d.OnLoop()) return;
    std::vector<Json> specs;
    for (const auto& [id, f] : d.finished) {
      if (f.state == "running") specs.push_back(f.source);
    }
    for (const auto& spec : specs) {
      auto started = service.StartSupervisor(spec);
      if (!started) {
        d.log->error("cannot restore supervisor {}: {}", spec.value("id", "?"),
                     started.error().ToString());
        d.Enqueue(Impl::Write{.kind = Impl::Write::Kind::kDefinition,
                              .root = spec.value("id", ""),
                              .reason = "restore failed: " + started.error().message(),
                              .state = "failed",
                              .spec = spec});
      } else {
        d.log->info("restored supervisor {}", spec.value("id", "?"));
      }
    }
  });
  return service;
}

Result<Json> SupervisorService::StartSupervisor(const Json& spec_json) {
  ARSENAL_ASSIGN_OR_RETURN(SupervisorSpec parsed, ParseSupervisorSpec(spec_json));
  auto spec = std::make_shared<const SupervisorSpec>(std::move(parsed));
  Impl& d = *impl_;
  if (d.table == nullptr) {
    return Fail(InternalError("supervisor.not_initialized", "use SupervisorService::Get(engine)"));
  }
  return d.Call<Json>([&d, spec](std::function<void(Result<Json>)> done) {
    if (d.FindPath(spec->id) != nullptr) {
      done(Fail(ConflictError("supervisor.already_running",
                              "supervisor '" + spec->id + "' is already running")
                    .WithDetail("field", "id")
                    .WithHint("stop_supervisor first, or choose another id")));
      return;
    }
    Impl::Node& node = d.NewNode(spec, spec->id, spec->id, 0, "", 0);
    const RequestId request = d.next_request++;
    node.waiting[request] = [&d, uid = node.uid, done](Status status) {
      Impl::Node* n = d.FindNode(uid);
      if (!status || n == nullptr) {
        done(Fail(status ? Error(ErrorCategory::kUnavailable, "supervisor.not_running",
                                 "the supervisor exited while starting")
                         : std::move(status).error()));
        return;
      }
      n->started = true;
      d.finished.erase(n->root);
      d.Enqueue(Impl::Write{.kind = Impl::Write::Kind::kDefinition,
                            .root = n->root,
                            .state = "running",
                            .spec = n->source});
      done(d.NodeTree(*n));
    };
    node.core->Start(request, d.NowMs());
    d.Pump(node);
  });
}

Status SupervisorService::StopSupervisor(const std::string& id, bool forget) {
  Impl& d = *impl_;
  return d.CallStatus([&d, id, forget](std::function<void(Status)> done) {
    auto finish = [&d, id, forget, done] {
      if (forget) {
        d.finished.erase(id);
        d.Enqueue(Impl::Write{.kind = Impl::Write::Kind::kForget, .root = id});
      }
      done({});
    };
    Impl::Node* node = d.FindPath(id);
    if (node == nullptr || node->parent_uid != 0) {
      if (id.find('/') != std::string::npos) {
        done(Fail(ValidationError("supervisor.nested",
                                  "'" + id +
                                      "' is a nested supervisor; delete_child or "
                                      "restart_child on its parent",
                                  "id")));
        return;
      }
      if (!d.finished.contains(id)) {
        done(Fail(NoSupervisor(id)));
        return;
      }
      finish();
      return;
    }
    node->exit_waiters.push_back(finish);
    node->core->Stop(d.next_request++, d.NowMs());
    d.Pump(*node);
  });
}

Result<std::vector<ChildInfo>> SupervisorService::WhichChildren(const std::string& path) {
  Impl& d = *impl_;
  return d.Call<std::vector<ChildInfo>>(
      [&d, path](std::function<void(Result<std::vector<ChildInfo>>)> done) {
        Impl::Node* node = d.FindPath(path);
        if (node == nullptr) return done(Fail(NoSupervisor(path)));
        std::vector<ChildInfo> out;
        for (const auto& view : node->core->Children()) out.push_back(d.Info(*node, view));
        done(std::move(out));
      });
}

namespace {

// Keeps a top-level definition in step with a successful run-time change.
void Persist(SupervisorService::Impl& d, SupervisorService::Impl::Node& node) {
  if (node.parent_uid != 0 || !node.started) return;
  d.Enqueue(
      SupervisorService::Impl::Write{.kind = SupervisorService::Impl::Write::Kind::kDefinition,
                                     .root = node.root,
                                     .state = "running",
                                     .spec = node.source});
}

}  // namespace

Status SupervisorService::RestartChild(const std::string& path, const std::string& child) {
  Impl& d = *impl_;
  return d.CallStatus([&d, path, child](std::function<void(Status)> done) {
    Impl::Node* node = d.FindPath(path);
    if (node == nullptr) return done(Fail(NoSupervisor(path)));
    const RequestId request = d.next_request++;
    node->waiting[request] = done;
    node->core->RestartChild(request, child, d.NowMs());
    d.Pump(*node);
  });
}

Result<std::string> SupervisorService::AddChild(const std::string& path, const Json& params) {
  Impl& d = *impl_;
  return d.Call<std::string>([&d, path, params](std::function<void(Result<std::string>)> done) {
    Impl::Node* node = d.FindPath(path);
    if (node == nullptr) return done(Fail(NoSupervisor(path)));
    Impl::ChildRt rt;
    if (node->tmpl) {
      // simple_one_for_one: a dynamic child from the template, argv extended by "args".
      if (!params.is_object()) {
        return done(Fail(ValidationError("supervisor.invalid_spec", "params must be an object")));
      }
      for (const auto& [key, _] : params.items()) {
        if (key != "args") {
          return done(Fail(ValidationError(
              "supervisor.invalid_spec",
              key + ": a simple_one_for_one child takes only \"args\" (the template is fixed)",
              key)));
        }
      }
      rt.spec = node->tmpl->spec;
      if (params.contains("args")) {
        const Json& args = params["args"];
        if (!args.is_array() || !rt.spec.process) {
          return done(Fail(
              ValidationError("supervisor.invalid_spec",
                              "args: must be an array of strings, for a worker template", "args")));
        }
        for (size_t i = 0; i < args.size(); ++i) {
          if (!args[i].is_string()) {
            return done(Fail(ValidationError("supervisor.invalid_spec",
                                             "args[" + std::to_string(i) + "]: must be a string",
                                             "args[" + std::to_string(i) + "]")));
          }
          rt.spec.process->argv.push_back(args[i].get<std::string>());
        }
      }
      do {
        rt.spec.policy.id =
            node->tmpl->spec.policy.id + "-" + std::to_string(++node->dynamic_counter);
      } while (node->children.contains(rt.spec.policy.id));
    } else {
      auto parsed = ParseChildSpec(params, node->source, "child");
      if (!parsed) return done(Fail(std::move(parsed).error()));
      rt.spec = std::move(*parsed);
      if (node->children.contains(rt.spec.policy.id)) {
        return done(
            Fail(ValidationError("supervisor.duplicate_child_id",
                                 "child.id: a child '" + rt.spec.policy.id + "' already exists",
                                 "child.id")
                     .WithHint("choose another id or delete_child first")));
      }
    }
    const std::string id = rt.spec.policy.id;
    ChildPolicy policy = rt.spec.policy;
    node->children.emplace(id, std::move(rt));
    const RequestId request = d.next_request++;
    node->waiting[request] = [&d, uid = node->uid, id, done](Status status) {
      Impl::Node* n = d.FindNode(uid);
      if (!status) {
        if (n != nullptr && !n->core->Child(id)) n->children.erase(id);
        return done(Fail(std::move(status).error()));
      }
      if (n != nullptr && !n->tmpl) {
        Impl::ChildRt* added = d.Rt(*n, id);
        if (added != nullptr) {
          if (!n->source.contains("children")) n->source["children"] = Json::array();
          n->source["children"].push_back(added->spec.source);
          Persist(d, *n);
        }
      }
      done(id);
    };
    node->core->AddChild(request, std::move(policy), d.NowMs());
    d.Pump(*node);
  });
}

Status SupervisorService::DeleteChild(const std::string& path, const std::string& child) {
  Impl& d = *impl_;
  return d.CallStatus([&d, path, child](std::function<void(Status)> done) {
    Impl::Node* node = d.FindPath(path);
    if (node == nullptr) return done(Fail(NoSupervisor(path)));
    const RequestId request = d.next_request++;
    node->waiting[request] = [&d, uid = node->uid, child, done](Status status) {
      if (status) {
        if (Impl::Node* n = d.FindNode(uid)) {
          n->children.erase(child);
          if (!n->tmpl && n->source.contains("children")) {
            Json& children = n->source["children"];
            for (auto it = children.begin(); it != children.end(); ++it) {
              if (it->value("id", "") == child) {
                children.erase(it);
                break;
              }
            }
            Persist(d, *n);
          }
        }
      }
      done(std::move(status));
    };
    node->core->DeleteChild(request, child, d.NowMs());
    d.Pump(*node);
  });
}

Status SupervisorService::ChangeStrategy(const std::string& path, Strategy strategy,
                                         std::optional<Intensity> intensity) {
  Impl& d = *impl_;
  return d.CallStatus([&d, path, strategy, intensity](std::function<void(Status)> done) {
    Impl::Node* node = d.FindPath(path);
    if (node == nullptr) return done(Fail(NoSupervisor(path)));
    const RequestId request = d.next_request++;
    node->waiting[request] = [&d, uid = node->uid, strategy, intensity, done](Status status) {
      if (status) {
        if (Impl::Node* n = d.FindNode(uid)) {
          n->source["strategy"] = StrategyName(strategy);
          if (intensity) {
            n->source["max_restarts"] = intensity->max_restarts;
            n->source["max_seconds"] = intensity->period_ms / 1000.0;
          }
          Persist(d, *n);
        }
      }
      done(std::move(status));
    };
    node->core->ChangeStrategy(request, strategy, intensity, d.NowMs());
    d.Pump(*node);
  });
}

Status SupervisorService::SetBackoff(const std::string& path, const std::string& child,
                                     const Json& backoff_json) {
  Impl& d = *impl_;
  return d.CallStatus([&d, path, child, backoff_json](std::function<void(Status)> done) {
    Impl::Node* node = d.FindPath(path);
    if (node == nullptr) return done(Fail(NoSupervisor(path)));
    BackoffPolicy base;
    if (!child.empty()) {
      if (auto view = node->core->Child(child)) base = view->policy.backoff;
    }
    auto backoff = ParseBackoff(backoff_json, "backoff", base);
    if (!backoff) return done(Fail(std::move(backoff).error()));
    const RequestId request = d.next_request++;
    node->waiting[request] = [&d, uid = node->uid, child, b = *backoff, done](Status status) {
      if (status) {
        if (Impl::Node* n = d.FindNode(uid)) {
          auto apply = [&](Impl::ChildRt& rt) {
            rt.spec.policy.backoff = b;
            rt.spec.source["backoff"] = b.ToJson();
          };
          if (child.empty()) {
            for (auto& [_, rt] : n->children) apply(rt);
            if (n->tmpl) apply(*n->tmpl);
            n->source["backoff"] = b.ToJson();
            if (n->source.contains("children")) {
              for (auto& c : n->source["children"]) c.erase("backoff");
            }
          } else if (Impl::ChildRt* rt = d.Rt(*n, child)) {
            apply(*rt);
            if (n->source.contains("children")) {
              for (auto& c : n->source["children"]) {
                if (c.value("id", "") == child) c["backoff"] = b.ToJson();
              }
            }
          }
          Persist(d, *n);
        }
      }
      done(std::move(status));
    };
    node->core->SetBackoff(request, child, *backoff, d.NowMs());
    d.Pump(*node);
  });
}

Result<Json> SupervisorService::Summary(const std::string& path) {
  Impl& d = *impl_;
  return d.Call<Json>([&d, path](std::function<void(Result<Json>)> done) {
    Impl::Node* node = d.FindPath(path);
    if (node == nullptr) {
      auto it = d.finished.find(path);
      if (it == d.finished.end()) return done(Fail(NoSupervisor(path)));
      const Json& src = it->second.source;
      return done(Json{{"id", path},
                       {"state", it->second.state},
                       {"reason", it->second.reason},
                       {"updated_unix_ms", it->second.time_unix_ms},
                       {"strategy", src.value("strategy", "one_for_one")},
                       {"max_restarts", src.value("max_restarts", 1)},
                       {"max_seconds", src.value("max_seconds", 5.0)},
                       {"restarts_in_window", 0},
                       {"children", Json::array()}});
    }
    Json children = Json::array();
    for (const auto& view : node->core->Children()) {
      children.push_back({{"id", view.policy.id},
                          {"state", ChildStateName(view.state)},
                          {"restart_count", view.restart_count},
                          {"last_exit", view.last_exit}});
    }
    done(Json{{"id", path},
              {"state", SupervisorStateName(node->core->state())},
              {"strategy", StrategyName(node->core->strategy())},
              {"max_restarts", node->core->intensity().max_restarts},
              {"max_seconds", node->core->intensity().period_ms / 1000.0},
              {"restarts_in_window", node->core->RestartsInWindow(d.NowMs())},
              {"children", std::move(children)}});
  });
}

Result<std::vector<Json>> SupervisorService::History(const std::string& path, bool include_nested) {
  Impl& d = *impl_;
  d.Flush();
  const std::string root = path.substr(0, path.find('/'));
  ARSENAL_ASSIGN_OR_RETURN(
      auto rows,
      d.engine.store().Query(
          "SELECT seq, time_unix_ms, supervisor, child, event, reason, detail, restart_count, "
          "delay_ms FROM supervisor_history WHERE root = ?1 AND (supervisor = ?2 OR (?3 AND "
          "supervisor LIKE ?4)) ORDER BY seq",
          {root, path, include_nested ? 1 : 0, path + "/%"}));
  return rows;
}

Result<Json> SupervisorService::RestartFrequency(const std::string& path, int64_t window_ms,
                                                 double threshold) {
  ARSENAL_ASSIGN_OR_RETURN(Json summary, Summary(path));
  const int max_restarts = summary["max_restarts"].get<int>();
  const int64_t period_ms = std::llround(summary["max_seconds"].get<double>() * 1000);
  if (window_ms <= 0) window_ms = period_ms;
  ARSENAL_ASSIGN_OR_RETURN(auto history, History(path, false));
  const int64_t now = NowUnixMs();
  std::map<std::string, std::pair<int64_t, int64_t>> counts;  // child -> (in window, in period)
  for (const auto& child : summary["children"]) counts[child["id"].get<std::string>()] = {0, 0};
  for (const auto& row : history) {
    const std::string event = row["event"].get<std::string>();
    // A restart decision: an exit that was restarted, or a start that failed and is retried.
    const bool decision =
        (event == "exit" && row["detail"] == "restart") || event == "start_failed";
    if (!decision) continue;
    const int64_t t = row["time_unix_ms"].get<int64_t>();
    auto& c = counts[row["child"].get<std::string>()];
    if (t >= now - window_ms) ++c.first;
    if (t >= now - period_ms) ++c.second;
  }
  const double limit = std::max(1.0, threshold * max_restarts);
  Json items = Json::array();
  for (const auto& [child, c] : counts) {
    items.push_back(
        {{"id", child},
         {"restarts", c.first},
         {"per_minute", static_cast<double>(c.first) * 60000.0 / static_cast<double>(window_ms)},
         {"restarts_in_period", c.second},
         {"near_limit", c.second > 0 && c.second >= limit}});
  }
  return Json{
      {"supervisor", path},
      {"window_ms", window_ms},
      {"max_restarts", max_restarts},
      {"max_seconds", period_ms / 1000.0},
      {"restarts_in_window", summary["restarts_in_window"]},
      {"intensity_used",
       max_restarts == 0 ? 0.0 : summary["restarts_in_window"].get<double>() / max_restarts},
      {"items", std::move(items)}};
}

Result<Json> SupervisorService::Tree(const std::string& path) {
  Impl& d = *impl_;
  return d.Call<Json>([&d, path](std::function<void(Result<Json>)> done) {
    if (!path.empty()) {
      if (Impl::Node* node = d.FindPath(path)) return done(d.NodeTree(*node));
      if (auto it = d.finished.find(path); it != d.finished.end()) {
        return done(d.FinishedTree(path, it->second));
      }
      return done(Fail(NoSupervisor(path)));
    }
    Json roots = Json::array();
    std::map<std::string, Json> sorted;
    for (auto& [p, uid] : d.by_path) {
      Impl::Node* node = d.FindNode(uid);
      if (node != nullptr && node->parent_uid == 0) sorted[p] = d.NodeTree(*node);
    }
    for (const auto& [id, f] : d.finished) {
      if (!sorted.contains(id)) sorted[id] = d.FinishedTree(id, f);
    }
    for (auto& [_, t] : sorted) roots.push_back(std::move(t));
    done(Json{{"id", "arsenal"},
              {"path", ""},
              {"strategy", ""},
              {"state", "running"},
              {"children", Json::array()},
              {"supervisors", std::move(roots)}});
  });
}

std::vector<Json> SupervisorService::List() {
  Impl& d = *impl_;
  auto r = d.Call<std::vector<Json>>([&d](std::function<void(Result<std::vector<Json>>)> done) {
    std::map<std::string, Json> out;
    for (auto& [p, uid] : d.by_path) {
      Impl::Node* node = d.FindNode(uid);
      if (node == nullptr || node->parent_uid != 0) continue;
      int running = 0;
      const auto views = node->core->Children();
      for (const auto& v : views) running += v.state == ChildState::kRunning ? 1 : 0;
      out[p] = {{"id", p},
                {"state", SupervisorStateName(node->core->state())},
                {"strategy", StrategyName(node->core->strategy())},
                {"children", views.size()},
                {"running_children", running},
                {"restarts_in_window", node->core->RestartsInWindow(d.NowMs())}};
    }
    for (const auto& [id, f] : d.finished) {
      if (out.contains(id)) continue;
      out[id] = {{"id", id},
                 {"state", f.state},
                 {"strategy", f.source.value("strategy", "one_for_one")},
                 {"children", 0},
                 {"running_children", 0},
                 {"restarts_in_window", 0},
                 {"reason", f.reason}};
    }
    std::vector<Json> list;
    for (auto& [_, j] : out) list.push_back(std::move(j));
    done(std::move(list));
  });
  return r ? std::move(*r) : std::vector<Json>{};
}

void SupervisorService::FlushStore() { impl_->Flush(); }

ProcessTable* SupervisorService::process_table() const { return impl_->table; }

}  // namespace arsenal::supervisor
