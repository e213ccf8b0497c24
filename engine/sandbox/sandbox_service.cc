// SandboxService: sandboxes by id, the process table's launcher, and the monitor thread that
// notices PID 1 exits, OOM kills and timeouts.
#include "arsenal/engine/sandbox_service.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

#include "arsenal/base/log.h"
#include "arsenal/base/syscalls.h"
#include "arsenal/engine/engine.h"
#include "arsenal/engine/process_table.h"

namespace arsenal {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kDestroyedRetention = 256;

Error NotFound(std::string_view id) {
  return NotFoundError("sandbox.not_found", "sandbox '" + std::string(id) + "' does not exist")
      .WithDetail("field", "id")
      .WithHint("list_sandboxes shows the sandboxes that exist");
}

}  // namespace

// Named (not anonymous): SandboxService::Impl, which has external linkage, holds these.
namespace sandbox_internal {

struct SandboxEntry {
  uint64_t seq = 0;
  std::string id;
  std::shared_ptr<Sandbox> box;
  std::string created_by;
  bool ephemeral = false;
  bool destroyed = false;  // kept for listing only
  uint64_t execs = 0;
  // Counted by the monitor before it stops the sandbox, so a process-table control that sees the
  // exit (which that stop causes) also sees the OOM. Atomic: read without the service lock.
  std::atomic<uint64_t> oom_events = 0;
  // Monitor registrations (fds in the epoll set); owned here, closed on unregister.
  UniqueFd init_watch;
  UniqueFd oom_watch;
};

// The standby sandbox kept for one inline spec while leases on it exist (KeepStandby).
struct StandbySlot {
  Json spec;  // as the leases gave it; parsed again for every build
  size_t leases = 0;
  std::shared_ptr<Sandbox> ready;  // started and never used, or null
  bool building = false;
};

// A table-launched process with a wall-clock limit.
struct SandboxDeadline {
  Clock::time_point when;
  pid_t pid = 0;
  UniqueFd pidfd;  // a dup: signalling it can never hit a recycled pid
  std::string sandbox_id;
  bool ephemeral = false;
};

}  // namespace sandbox_internal

using sandbox_internal::SandboxDeadline;
using sandbox_internal::SandboxEntry;

Json SandboxInfo::ToJson(bool with_spec) const {
  Json out = {{"id", id},
              {"state", SandboxStateName(state)},
              {"labels", labels},
              {"created_unix_ms", created_unix_ms},
              {"created_by", created_by},
              {"ephemeral", ephemeral},
              {"init_pid", init_pid == 0 ? Json(nullptr) : Json(init_pid)},
              {"pids", pids},
              {"usage", usage.ToJson()},
              {"execs", execs},
              {"oom_events", oom_events}};
  if (with_spec) out["spec"] = spec;
  return out;
}

struct SandboxService::Impl : std::enable_shared_from_this<SandboxService::Impl> {
  explicit Impl(Engine& e) : engine(e) {}

  Engine& engine;
  ProcessTable* table = nullptr;
  ProcessTable::SubscriptionId subscription = 0;
  std::once_flag wired;

  mutable std::mutex mu;
  std::map<uint64_t, std::shared_ptr<SandboxEntry>> entries;
  std::map<std::string, std::shared_ptr<SandboxEntry>, std::less<>> by_id;
  std::deque<uint64_t> destroyed_order;
  uint64_t next_seq = 1;
  std::map<pid_t, std::string> launched;  // table process pid -> sandbox id
  std::vector<SandboxDeadline> deadlines;
  std::map<int, std::pair<std::string, bool /*oom*/>> watches;  // fd -> (sandbox id, kind)
  std::deque<std::function<void()>> tasks;
  bool stopping = false;

  UniqueFd epoll;
  UniqueFd wake;
  std::thread monitor;

  // Standbys, by the canonical text of their spec; built one at a time by `standby_thread`
  // (started with the first lease), off both the caller's thread and the monitor's (a build
  // takes milliseconds, which would delay OOM handling). Guarded by `mu`.
  std::map<std::string, sandbox_internal::StandbySlot, std::less<>> standbys;
  std::deque<std::string> standby_queue;
  std::condition_variable standby_cv;
  std::thread standby_thread;

  // ---- helpers ---------------------------------------------------------------------------------

  void Emit(std::string name, const std::string& id, Json measurements = Json::object(),
            Json metadata = Json::object()) {
    metadata["sandbox"] = id;
    engine.events().Emit("arsenal.sandbox." + name, std::move(measurements), std::move(metadata));
  }

  std::shared_ptr<SandboxEntry> Lookup(std::string_view id) const {
    std::lock_guard lock(mu);
    auto it = by_id.find(id);
    return it == by_id.end() ? nullptr : it->second;
  }

  SandboxInfo Describe(const SandboxEntry& e, bool with_usage) const {
    SandboxInfo info;
    info.id = e.id;
    info.state = e.box->state();
    info.labels = e.box->spec().labels;
    info.created_unix_ms = e.box->created_unix_ms();
    info.created_by = e.created_by;
    info.ephemeral = e.ephemeral;
    info.init_pid = e.box->init_pid();
    {
      std::lock_guard lock(mu);
      info.execs = e.execs;
      info.oom_events = e.oom_events.load();
    }
    if (with_usage && info.state != SandboxState::kDestroyed) {
      info.pids = e.box->Pids();
      if (auto u = e.box->Usage()) info.usage = *u;
    }
    info.spec = e.box->spec().ToJson();
    return info;
  }

  void Post(std::function<void()> task) {
    {
      std::lock_guard lock(mu);
      if (stopping) return;
      tasks.push_back(std::move(task));
    }
    uint64_t one = 1;
    (void)::write(wake.get(), &one, sizeof(one));
  }

  void WakeMonitor() {
    uint64_t one = 1;
    (void)::write(wake.get(), &one, sizeof(one));
  }

  // Registers the sandbox's PID 1 and OOM eventfd with the monitor (running sandboxes).
  void Watch(SandboxEntry& e) {
    std::lock_guard lock(mu);
    UnwatchLocked(e);
    pid_t init = e.box->init_pid();
    if (init > 0) {
      UniqueFd fd(sys::PidfdOpen(init, 0));
      // The pid belongs to our own unreaped child (the box holds its pidfd), so it cannot have
      // been recycled between init_pid() and pidfd_open.
      if (fd) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd.get();
        if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd.get(), &ev) == 0) {
          watches[fd.get()] = {e.id, false};
          e.init_watch = std::move(fd);
        }
      }
    }
    if (e.box->spec().limits.memory_bytes) {
      if (auto fd = e.box->OpenOomEventFd()) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.fd = fd->get();
        if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd->get(), &ev) == 0) {
          watches[fd->get()] = {e.id, true};
          e.oom_watch = std::move(*fd);
        }
      }
    }
  }

  void UnwatchLocked(SandboxEntry& e) {
    for (UniqueFd* fd : {&e.init_watch, &e.oom_watch}) {
      if (!*fd) continue;
      ::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, fd->get(), nullptr);
      watches.erase(fd->get());
      fd->Reset();
    }
  }

  void Unwatch(SandboxEntry& e) {
    std::lock_guard lock(mu);
    UnwatchLocked(e);
  }

  // Adds an entry for a new sandbox; returns it.
  std::shared_ptr<SandboxEntry> Insert(std::shared_ptr<Sandbox> box, std::string created_by,
                                       bool ephemeral) {
    auto e = std::make_shared<SandboxEntry>();
    e->box = std::move(box);
    e->id = e->box->id();
    e->created_by = std::move(created_by);
    e->ephemeral = ephemeral;
    std::lock_guard lock(mu);
    e->seq = next_seq;
    entries[e->seq] = e;
    by_id[e->id] = e;
    return e;
  }

  std::string NewId() {
    std::lock_guard lock(mu);
    return "sb-" + std::to_string(next_seq++);
  }

  // Kills, removes the cgroup, keeps the entry listed as destroyed.
  Status DestroyEntry(const std::shared_ptr<SandboxEntry>& e, const std::string& requested_by) {
    Unwatch(*e);
    ARSENAL_TRY(e->box->Destroy());
    bool first = false;
    {
      std::lock_guard lock(mu);
      if (!e->destroyed) {
        first = true;
        e->destroyed = true;
        destroyed_order.push_back(e->seq);
        while (destroyed_order.size() > kDestroyedRetention) {
          auto old = entries.find(destroyed_order.front());
          if (old != entries.end()) {
            by_id.erase(old->second->id);
            entries.erase(old);
          }
          destroyed_order.pop_front();
        }
      }
    }
    if (first) Emit("destroyed", e->id, Json::object(), {{"requested_by", requested_by}});
    return {};
  }

  // ---- monitor thread
  // ----------------------------------------------------------------------------

  void OnWatch(int fd) {
    std::string id;
    bool oom = false;
    {
      std::lock_guard lock(mu);
      auto it = watches.find(fd);
      if (it == watches.end()) return;
      id = it->second.first;
      oom = it->second.second;
    }
    auto e = Lookup(id);
    if (!e) return;
    if (oom) {
      uint64_t count = 0;
      (void)::read(fd, &count, sizeof(count));
      // cgroup v1 has no group OOM kill: the kernel killed (or is about to kill) one task; kill
      // the rest. Counted first: the exits this stop causes must find the OOM already recorded.
      ++e->oom_events;
      Status stopped = e->box->Stop();
      {
        std::lock_guard lock(mu);
        UnwatchLocked(*e);
      }
      log::Get("sandbox")->warn("sandbox {}: OOM kill; killed the rest of the sandbox", id);
      Emit("oom", id, {{"oom_kills", e->box->Usage() ? e->box->Usage()->oom_kills : 0}},
           {{"killed_rest", stopped.has_value()}});
      Emit("stopped", id, Json::object(), {{"reason", "oom"}});
      return;
    }
    if (e->box->CheckInitExited()) {
      Unwatch(*e);
      Emit("stopped", id, Json::object(), {{"reason", "init_exited"}});
    }
  }

  void RunDeadlines() {
    std::vector<SandboxDeadline> due;
    {
      std::lock_guard lock(mu);
      auto now = Clock::now();
      for (auto it = deadlines.begin(); it != deadlines.end();) {
        if (it->when <= now) {
          due.push_back(std::move(*it));
          it = deadlines.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& d : due) {
      auto e = Lookup(d.sandbox_id);
      if (d.ephemeral && e) {
        (void)e->box->Stop();
      } else {
        sys::PidfdSendSignal(d.pidfd.get(), SIGKILL, nullptr, 0);
      }
      Emit("timeout", d.sandbox_id, Json::object(), {{"pid", d.pid}});
    }
  }

  int NextTimeoutMs() {
    std::lock_guard lock(mu);
    if (deadlines.empty()) return -1;
    auto next = deadlines.front().when;
    for (const auto& d : deadlines) next = std::min(next, d.when);
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(next - Clock::now()).count();
    return static_cast<int>(std::clamp<int64_t>(ms, 0, 60000));
  }

  void MonitorLoop() {
    epoll_event events[16];
    for (;;) {
      int n = ::epoll_wait(epoll.get(), events, 16, NextTimeoutMs());
      if (n < 0 && errno != EINTR) {
        log::Get("sandbox")->error("sandbox monitor: epoll_wait: {}", std::strerror(errno));
        return;
      }
      for (int i = 0; i < n; ++i) {
        if (events[i].data.fd == wake.get()) {
          uint64_t count;
          (void)::read(wake.get(), &count, sizeof(count));
          continue;
        }
        OnWatch(events[i].data.fd);
      }
      std::deque<std::function<void()>> run;
      bool stop;
      {
        std::lock_guard lock(mu);
        run.swap(tasks);
        stop = stopping;
      }
      for (auto& task : run) task();
      if (stop) return;
      RunDeadlines();
    }
  }

  // ---- standbys
  // ----------------------------------------------------------------------------------

  // A started sandbox of `spec`, or null (logged: the launch that wanted it creates a fresh one
  // and reports the error itself).
  std::shared_ptr<Sandbox> BuildStandby(const Json& spec) {
    auto parsed = SandboxSpec::FromJson(spec);
    if (!parsed) return nullptr;
    SandboxOptions options;
    options.id = NewId();
    auto made = Sandbox::Create(std::move(*parsed), options);
    if (!made) {
      log::Get("sandbox")->warn("standby sandbox not created: {}", made.error().ToString());
      return nullptr;
    }
    std::shared_ptr<Sandbox> box(std::move(*made));
    if (auto started = box->Start(); !started) {
      log::Get("sandbox")->warn("standby sandbox {} did not start: {}", box->id(),
                                started.error().ToString());
      return nullptr;  // `box` destroys itself
    }
    return box;
  }

  void StandbyLoop() {
    std::unique_lock lock(mu);
    for (;;) {
      standby_cv.wait(lock, [&] { return stopping || !standby_queue.empty(); });
      if (stopping) return;
      const std::string key = std::move(standby_queue.front());
      standby_queue.pop_front();
      auto it = standbys.find(key);
      if (it == standbys.end() || it->second.leases == 0 || it->second.ready ||
          it->second.building) {
        continue;
      }
      it->second.building = true;
      const Json spec = it->second.spec;
      lock.unlock();
      std::shared_ptr<Sandbox> box = BuildStandby(spec);
      lock.lock();
      // The slot outlives the build: the last lease waits for `building` to clear, and shutdown
      // joins this thread before it clears the slots.
      it = standbys.find(key);
      if (it != standbys.end()) {
        it->second.building = false;
        it->second.ready = std::move(box);
      }
      standby_cv.notify_all();
      if (box) {
        lock.unlock();
        box.reset();  // destroys it
        lock.lock();
      }
    }
  }

  // Queues a build of `key`'s standby (under `mu`).
  void RequestStandbyLocked(const std::string& key) {
    if (stopping) return;
    standby_queue.push_back(key);
    if (!standby_thread.joinable()) standby_thread = std::thread([this] { StandbyLoop(); });
    standby_cv.notify_all();
  }

  // The standby of `key` if leases keep one; waits for a build in progress (it is further along
  // than a fresh sandbox would be). Queues the next build.
  std::shared_ptr<Sandbox> TakeStandby(const std::string& key) {
    std::unique_lock lock(mu);
    auto it = standbys.find(key);
    if (it == standbys.end()) return nullptr;
    standby_cv.wait_for(lock, std::chrono::seconds(10), [&] {
      auto at = standbys.find(key);
      return stopping || at == standbys.end() || !at->second.building;
    });
    it = standbys.find(key);
    if (it == standbys.end()) return nullptr;
    std::shared_ptr<Sandbox> box = std::move(it->second.ready);
    RequestStandbyLocked(key);
    return box;
  }

  std::shared_ptr<void> Lease(const Json& spec) {
    const Json canonical = spec.is_null() ? Json::object() : spec;
    // Only a sandbox with a pid namespace can be started ahead of its workload.
    auto parsed = SandboxSpec::FromJson(canonical);
    if (!parsed || !parsed->namespaces.pid) return nullptr;
    std::string key = canonical.dump();
    {
      std::lock_guard lock(mu);
      if (stopping) return nullptr;
      auto& slot = standbys[key];
      if (slot.leases++ == 0) {
        slot.spec = canonical;
        RequestStandbyLocked(key);
      }
    }
    struct StandbyLease {
      std::weak_ptr<Impl> service;
      std::string key;
      ~StandbyLease() {
        if (auto self = service.lock()) self->Release(key);
      }
    };
    auto lease = std::make_shared<StandbyLease>();
    lease->service = weak_from_this();
    lease->key = std::move(key);
    return lease;
  }

  void Release(const std::string& key) {
    std::shared_ptr<Sandbox> box;
    {
      std::unique_lock lock(mu);
      auto it = standbys.find(key);
      if (it == standbys.end() || --it->second.leases > 0) return;
      standby_cv.wait(lock, [&] {
        auto at = standbys.find(key);
        return at == standbys.end() || !at->second.building;
      });
      it = standbys.find(key);
      // Gone (the service shut down and destroyed it), or leased again meanwhile.
      if (it == standbys.end() || it->second.leases > 0) return;
      box = std::move(it->second.ready);
      standbys.erase(it);
    }
    if (box) {
      if (auto s = box->Destroy(); !s) {
        log::Get("sandbox")->warn("standby sandbox {}: destroy failed: {}", box->id(),
                                  s.error().ToString());
      }
    }
  }

  // ---- process table integration
  // -----------------------------------------------------------------

  void OnProcessExit(const ProcessEvent& event) {
    std::string id;
    {
      std::lock_guard lock(mu);
      auto it = launched.find(event.pid);
      if (it == launched.end()) return;
      id = it->second;
      launched.erase(it);
      std::erase_if(deadlines, [&](const SandboxDeadline& d) { return d.pid == event.pid; });
    }
    // Runs on the engine loop: the cleanup (which may wait for the cgroup) goes to the monitor.
    Post([self = shared_from_this(), id] {
      auto e = self->Lookup(id);
      if (!e || !e->ephemeral) return;
      e->box->NoteExited();
      if (auto s = self->DestroyEntry(e, "process-exit"); !s) {
        log::Get("sandbox")->warn("sandbox {}: cleanup after its process exited failed: {}", id,
                                  s.error().ToString());
      }
    });
  }

  void Shutdown() {
    {
      std::lock_guard lock(mu);
      if (stopping) return;
      stopping = true;
    }
    WakeMonitor();
    if (monitor.joinable()) monitor.join();
    {
      std::lock_guard lock(mu);
      standby_cv.notify_all();
    }
    if (standby_thread.joinable()) standby_thread.join();
    std::vector<std::shared_ptr<Sandbox>> spares;
    {
      std::lock_guard lock(mu);
      for (auto& [_, slot] : standbys) {
        if (slot.ready) spares.push_back(std::move(slot.ready));
      }
      standbys.clear();
    }
    for (auto& box : spares) (void)box->Destroy();
    std::vector<std::shared_ptr<SandboxEntry>> all;
    std::deque<std::function<void()>> dropped;
    {
      std::lock_guard lock(mu);
      for (auto& [_, e] : entries) all.push_back(e);
      deadlines.clear();
      dropped.swap(tasks);  // they hold references to this Impl
    }
    for (auto& e : all) {
      if (e->destroyed) continue;
      if (auto s = DestroyEntry(e, "shutdown"); !s) {
        log::Get("sandbox")->warn("sandbox {}: destroy at shutdown failed: {}", e->id,
                                  s.error().ToString());
      }
    }
  }
};

namespace {

// ProcessControl for a process that is a whole (inline) sandbox: freezer and memory from its
// cgroup.
class SandboxControl final : public ProcessControl {
 public:
  SandboxControl(std::shared_ptr<Sandbox> box, std::shared_ptr<SandboxEntry> entry)
      : box_(std::move(box)), entry_(std::move(entry)) {
    if (auto u = box_->Usage()) oom_seen_ = u->oom_kills;
    events_seen_ = entry_->oom_events.load();
  }
  Status Freeze() override { return box_->Freeze(); }
  Status Thaw() override { return box_->Thaw(); }
  std::optional<std::pair<uint64_t, uint64_t>> CgroupMemory() override {
    auto u = box_->Usage();
    if (!u || !u->has_cgroup) return std::nullopt;
    return std::pair<uint64_t, uint64_t>{u->memory_current, u->memory_peak};
  }
  // Either the kernel's OOM killer struck (the memcg counter), or the cgroup went under OOM and
  // the sandbox monitor stopped everything first (cgroup v1 notifies before it kills), in which
  // case the counter may still be 0 but the entry counted the event.
  bool ConsumeOom() override {
    bool oom = false;
    if (auto u = box_->Usage(); u && u->oom_kills > oom_seen_) {
      oom_seen_ = u->oom_kills;
      oom = true;
    }
    if (const uint64_t events = entry_->oom_events.load(); events > events_seen_) {
      events_seen_ = events;
      oom = true;
    }
    return oom;
  }

 private:
  std::shared_ptr<Sandbox> box_;
  std::shared_ptr<SandboxEntry> entry_;
  uint64_t oom_seen_ = 0;
  uint64_t events_seen_ = 0;
};

class Launcher final : public SandboxLauncher {
 public:
  explicit Launcher(std::weak_ptr<SandboxService::Impl> impl) : impl_(std::move(impl)) {}

  Result<LaunchedChild> Launch(const ProcessSpec& ps, const ChildStdio& stdio) override {
    auto d = impl_.lock();
    if (!d) {
      return Fail(Error(ErrorCategory::kUnavailable, "sandbox.unavailable",
                        "the sandbox service is shutting down"));
    }
    if (ps.inherit_env) {
      return Fail(ValidationError("process.invalid_spec",
                                  "inherit_env cannot be used with a sandbox: a sandbox gets no "
                                  "host environment",
                                  "inherit_env")
                      .WithHint("pass the variables you need in env"));
    }
    RunOptions o;
    for (const auto& [k, v] : ps.env) o.env[k] = v;
    if (ps.cwd != "/") o.cwd = ps.cwd;
    o.stdin_fd = stdio.in;
    o.stdout_fd = stdio.out;
    o.stderr_fd = stdio.err;
    const SandboxRef& ref = *ps.sandbox;
    LaunchedChild child;
    std::shared_ptr<Sandbox> box;
    bool ephemeral = false;
    bool from_standby = false;
    std::unique_ptr<SandboxProcess> proc;
    if (!ref.id.empty()) {
      auto e = d->Lookup(ref.id);
      if (!e || e->destroyed) {
        // The caller named the sandbox by the `sandbox` parameter itself (a string id).
        Error missing = NotFound(ref.id);
        missing.WithDetail("field", "sandbox");
        return Fail(std::move(missing));
      }
      box = e->box;
      ARSENAL_ASSIGN_OR_RETURN(proc, box->LaunchExec(ps.argv, o));
    } else {
      const Json& inline_spec = ref.spec.is_null() ? Json::object() : ref.spec;
      // A standby (KeepStandby) has its namespaces, mounts and cgroup ready: the workload joins
      // it like execute_in_sandbox does. The command's own errors (a program that does not
      // exist, a bad argv) are returned as they are; if the standby itself failed, it is
      // destroyed and a fresh sandbox is made, so those errors are always a fresh sandbox's.
      if (auto spare = d->TakeStandby(inline_spec.dump())) {
        auto joined = spare->LaunchExec(ps.argv, o);
        if (joined) {
          box = std::move(spare);
          proc = std::move(*joined);
          from_standby = true;
        } else if (joined.error().code() == "sandbox.exec_failed" ||
                   joined.error().category() == ErrorCategory::kValidation) {
          return Fail(std::move(joined).error());
        } else {
          log::Get("sandbox")->warn("standby sandbox {} not usable: {}", spare->id(),
                                    joined.error().ToString());
        }
      }
      if (!box) {
        auto spec = SandboxSpec::FromJson(inline_spec);
        if (!spec) return Fail(std::move(spec).error().NestField("sandbox"));
        SandboxOptions so;
        so.id = d->NewId();
        ARSENAL_ASSIGN_OR_RETURN(auto made, Sandbox::Create(std::move(*spec), so));
        box = std::shared_ptr<Sandbox>(std::move(made));
        ARSENAL_ASSIGN_OR_RETURN(proc, box->Launch(ps.argv, o));
      }
      ephemeral = true;
    }
    child.pid = proc->pid();
    UniqueFd dup(::fcntl(proc->pidfd(), F_DUPFD_CLOEXEC, 3));
    child.pidfd = proc->ReleasePidfd();
    child.workload_status = proc->ReleaseStatusPipe();
    child.sandbox_id = box->id();
    std::shared_ptr<SandboxEntry> entry;
    if (ephemeral) {
      entry = d->Insert(box, "process", true);
      d->Emit("created", box->id(), Json::object(),
              {{"ephemeral", true}, {"standby", from_standby}});
      d->Watch(*entry);
      if (auto usage = box->Usage(); usage && usage->has_cgroup) {
        child.control = std::make_shared<SandboxControl>(box, entry);
      }
    }
    {
      std::lock_guard lock(d->mu);
      d->launched[child.pid] = box->id();
      if (auto t = box->spec().limits.timeout; t && dup) {
        d->deadlines.push_back(
            {Clock::now() + *t, child.pid, std::move(dup), box->id(), ephemeral});
      }
    }
    d->WakeMonitor();  // a new deadline may be the nearest
    return child;
  }

  Result<pid_t> SandboxRootPid(const std::string& sandbox_id) override {
    auto d = impl_.lock();
    if (!d) return Fail(NotFound(sandbox_id));
    auto e = d->Lookup(sandbox_id);
    if (!e || e->destroyed) return Fail(NotFound(sandbox_id));
    pid_t pid = e->box->init_pid();
    if (pid == 0) {
      return Fail(ConflictError("sandbox.invalid_state",
                                "sandbox '" + sandbox_id + "' has no running PID 1"));
    }
    return pid;
  }

  std::shared_ptr<void> KeepStandby(const Json& sandbox_spec) override {
    auto d = impl_.lock();
    return d ? d->Lease(sandbox_spec) : nullptr;
  }

 private:
  std::weak_ptr<SandboxService::Impl> impl_;
};

}  // namespace

SandboxService::SandboxService(Engine& engine) : impl_(std::make_shared<Impl>(engine)) {
  Impl& d = *impl_;
  d.epoll.Reset(::epoll_create1(EPOLL_CLOEXEC));
  d.wake.Reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (d.epoll && d.wake) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = d.wake.get();
    ::epoll_ctl(d.epoll.get(), EPOLL_CTL_ADD, d.wake.get(), &ev);
    d.monitor = std::thread([&d] { d.MonitorLoop(); });
  } else {
    log::Get("sandbox")->error("sandbox monitor not started: {}", std::strerror(errno));
  }
}

SandboxService::~SandboxService() {
  Impl& d = *impl_;
  if (d.table != nullptr) {
    d.table->SetSandboxLauncher(nullptr);
    if (d.subscription != 0) d.table->Unsubscribe(d.subscription);
  }
  d.Shutdown();
}

SandboxService& SandboxService::Get(Engine& engine) {
  // The table first, so it is destroyed after this service (which kills what runs in sandboxes).
  ProcessTable& table = engine.Service<ProcessTable>();
  SandboxService& service = engine.Service<SandboxService>();
  std::call_once(service.impl_->wired, [&] {
    Impl& d = *service.impl_;
    d.table = &table;
    std::weak_ptr<Impl> weak = service.impl_;
    d.subscription = table.SubscribeAll(static_cast<uint32_t>(ProcessEventKind::kExit),
                                        [weak](const ProcessEvent& event) {
                                          if (auto self = weak.lock()) self->OnProcessExit(event);
                                        });
    table.SetSandboxLauncher(std::make_shared<Launcher>(weak));
  });
  return service;
}

Result<SandboxInfo> SandboxService::Create(SandboxSpec spec, std::string requested_by, bool start) {
  Impl& d = *impl_;
  SandboxOptions options;
  options.id = d.NewId();
  options.cgroup_only_when_needed = false;  // long-lived: stop/usage need the cgroup
  ARSENAL_ASSIGN_OR_RETURN(auto made, Sandbox::Create(std::move(spec), options));
  std::shared_ptr<Sandbox> box(std::move(made));
  if (start) ARSENAL_TRY(box->Start());  // on failure `box` destroys itself: nothing is left
  auto e = d.Insert(box, requested_by, false);
  d.Emit("created", e->id, Json::object(), {{"requested_by", requested_by}});
  if (start) {
    d.Watch(*e);
    d.Emit("started", e->id);
  }
  return d.Describe(*e, true);
}

Result<SandboxInfo> SandboxService::Start(std::string_view id) {
  Impl& d = *impl_;
  auto e = d.Lookup(id);
  if (!e) return Fail(NotFound(id));
  ARSENAL_TRY(e->box->Start());
  d.Watch(*e);
  d.Emit("started", e->id);
  return d.Describe(*e, true);
}

Result<SandboxInfo> SandboxService::Stop(std::string_view id) {
  Impl& d = *impl_;
  auto e = d.Lookup(id);
  if (!e) return Fail(NotFound(id));
  bool was_running = e->box->state() == SandboxState::kRunning;
  d.Unwatch(*e);
  ARSENAL_TRY(e->box->Stop());
  if (was_running) d.Emit("stopped", e->id, Json::object(), {{"reason", "requested"}});
  return d.Describe(*e, true);
}

Result<SandboxInfo> SandboxService::Destroy(std::string_view id, std::string requested_by) {
  Impl& d = *impl_;
  auto e = d.Lookup(id);
  if (!e) return Fail(NotFound(id));
  ARSENAL_TRY(d.DestroyEntry(e, requested_by));
  return d.Describe(*e, false);
}

Result<SandboxInfo> SandboxService::Info(std::string_view id) const {
  auto e = impl_->Lookup(id);
  if (!e) return Fail(NotFound(id));
  return impl_->Describe(*e, true);
}

Result<std::shared_ptr<Sandbox>> SandboxService::Find(std::string_view id) const {
  auto e = impl_->Lookup(id);
  if (!e) return Fail(NotFound(id));
  return e->box;
}

size_t SandboxService::standbys_ready() const {
  std::lock_guard lock(impl_->mu);
  size_t n = 0;
  for (const auto& [_, slot] : impl_->standbys) n += slot.ready ? 1 : 0;
  return n;
}

size_t SandboxService::size() const {
  std::lock_guard lock(impl_->mu);
  return impl_->entries.size();
}

Result<SandboxResult> SandboxService::Execute(std::string_view id, ExecuteRequest request) {
  Impl& d = *impl_;
  auto e = d.Lookup(id);
  if (!e) return Fail(NotFound(id));
  auto result = e->box->Exec(request.argv, request.options);
  {
    std::lock_guard lock(d.mu);
    ++e->execs;
  }
  Json metadata = {{"argv0", request.argv.empty() ? "" : request.argv[0]},
                   {"requested_by", request.requested_by}};
  if (result) {
    metadata["outcome"] = result->timed_out ? "timeout" : result->oom ? "oom" : "exited";
    d.Emit("exec", e->id,
           {{"duration_us", result->wall_time.count()}, {"exit_code", result->exit_code}},
           std::move(metadata));
  } else {
    metadata["outcome"] = "error";
    metadata["error"] = result.error().code();
    d.Emit("exec", e->id, Json::object(), std::move(metadata));
  }
  return result;
}

const ListSpec& SandboxService::ListSpecification() {
  static const ListSpec* spec = [] {
    auto* s = new ListSpec;
    s->id_field = "id";
    s->filterable = {"id", "state", "ephemeral", "created_unix_ms", "created_by"};
    s->sortable = {"id", "state", "created_unix_ms", "created_by"};
    s->default_sort = "created_unix_ms";
    s->default_page_size = 50;
    s->max_page_size = 500;
    return s;
  }();
  return *spec;
}

Result<Json> SandboxService::List(const Json& params) const {
  // Labels are matched here ("key=value" or "key"); the rest follows the list convention.
  Json rest = params;
  std::vector<std::string> label_terms;
  if (auto f = rest.find("filter"); f != rest.end() && f->is_object()) {
    if (auto l = f->find("label"); l != f->end()) {
      if (l->is_string()) {
        label_terms.push_back(l->get<std::string>());
      } else if (l->is_array()) {
        for (const auto& t : *l) {
          if (!t.is_string()) {
            return Fail(ValidationError("list.invalid_filter",
                                        "filter.label must be \"key=value\" or \"key\"",
                                        "filter.label"));
          }
          label_terms.push_back(t.get<std::string>());
        }
      } else {
        return Fail(ValidationError("list.invalid_filter",
                                    "filter.label must be \"key=value\" or \"key\"",
                                    "filter.label"));
      }
      f->erase(l);
    }
  }
  ARSENAL_ASSIGN_OR_RETURN(ListQuery query, ListQuery::FromParams(rest, ListSpecification()));
  std::vector<std::shared_ptr<SandboxEntry>> all;
  {
    std::lock_guard lock(impl_->mu);
    for (const auto& [_, e] : impl_->entries) all.push_back(e);
  }
  std::vector<Json> items;
  items.reserve(all.size());
  for (const auto& e : all) {
    const auto& labels = e->box->spec().labels;
    bool match = true;
    for (const auto& term : label_terms) {
      auto eq = term.find('=');
      std::string key = term.substr(0, eq);
      auto it = labels.find(key);
      if (it == labels.end() || (eq != std::string::npos && it->second != term.substr(eq + 1))) {
        match = false;
        break;
      }
    }
    if (!match) continue;
    SandboxInfo info = impl_->Describe(*e, false);
    Json item = info.ToJson(false);
    item.erase("pids");
    item.erase("usage");
    items.push_back(std::move(item));
  }
  return query.Apply(items);
}

}  // namespace arsenal
