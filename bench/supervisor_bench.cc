// Supervisor restart latency and a restart soak.
//
//   BM_RestartLatency/plain, /sandboxed: 1000 crashes (SIGKILL) of a supervised child, each sent
//     once the child runs (asleep in /bin/sleep, not still loading); each sample is the time from
//     sending SIGKILL to the table's "started" event of the replacement (spawned, exec done).
//     Reported as counters p50_us, p99_us, mean_us, max_us. Targets: p50 <= 1 ms plain, <= 5 ms
//     sandboxed (a fresh default sandbox per restart: namespaces, cgroup, seccomp, Landlock).
//     The second argument, uptime_ms, is how long each child runs before it is killed: 0 is a
//     crash loop (killed as soon as it sleeps); 50 is a service that crashes after running a
//     while, by which time a sandboxed child's standby sandbox (the next restart's fresh sandbox,
//     prepared in the background) is ready. A crash loop faster than a sandbox can be built
//     waits for the rest of that build. The third argument, standby, 0 sets
//     supervisor.sandbox_standby false: every sandboxed restart creates its sandbox.
//   BM_RestartSoak: 10,000 crash-restart cycles, plain and sandboxed, after a warm-up that fills
//     the bounded buffers (process table retention, history retention, event bus, destroyed
//     sandboxes); reports the growth of open fds, RSS and the number of zombie children over the
//     10,000: all should stay ~0.
#include <benchmark/benchmark.h>
#include <dirent.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <numeric>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "arsenal/base/log.h"
#include "arsenal/engine/engine.h"
#include "arsenal/engine/process_table.h"
#include "arsenal/engine/supervisor.h"

namespace arsenal {
namespace {

using Clock = std::chrono::steady_clock;
using supervisor::SupervisorService;

int64_t OpenFds() {
  int64_t n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n - 3;  // ".", "..", the dir's own fd
}

int64_t RssKb() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return 0;
}

// Zombie children of this process.
int64_t Zombies() {
  int64_t n = 0;
  const std::string me = std::to_string(::getpid());
  if (DIR* d = ::opendir("/proc")) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      std::ifstream stat(std::string("/proc/") + e->d_name + "/stat");
      std::string line;
      if (!std::getline(stat, line)) continue;
      const auto close = line.rfind(')');
      if (close == std::string::npos || close + 4 >= line.size()) continue;
      std::istringstream rest(line.substr(close + 2));
      std::string state, ppid;
      rest >> state >> ppid;
      if (state == "Z" && ppid == me) ++n;
    }
    ::closedir(d);
  }
  return n;
}

// Waits (up to 2 s) until the program started as `pid` (or, behind a sandbox's PID 1, its
// deepest descendant) is /bin/sleep asleep in its nanosleep: a crash hits a running child, not
// one still loading its libraries, whose start-up would otherwise be billed to the restart.
bool WaitSettled(pid_t pid) {
  const auto deadline = Clock::now() + std::chrono::seconds(2);
  while (Clock::now() < deadline) {
    pid_t leaf = pid;
    for (;;) {
      std::ifstream children("/proc/" + std::to_string(leaf) + "/task/" + std::to_string(leaf) +
                             "/children");
      pid_t child = 0;
      if (!(children >> child) || child <= 0) break;
      leaf = child;
    }
    std::ifstream stat("/proc/" + std::to_string(leaf) + "/stat");
    std::string line;
    if (std::getline(stat, line)) {
      const auto open = line.find('(');
      const auto close = line.rfind(')');
      if (open != std::string::npos && close != std::string::npos && close + 2 < line.size() &&
          line.substr(open + 1, close - open - 1) == "sleep" && line[close + 2] == 'S') {
        return true;
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return false;
}

// One engine with a one-child supervisor, and a way to crash the child and wait for its
// replacement.
class Rig {
 public:
  explicit Rig(bool sandboxed, Json config = Json::object()) {
    log::ConfigureLogging("warn", log::Format::kText);
    engine_ = std::move(Engine::Create({.config = std::move(config)}).value());
    sup_ = &SupervisorService::Get(*engine_);
    table_ = sup_->process_table();
    sub_ = table_->SubscribeAll(static_cast<uint32_t>(ProcessEventKind::kStarted) |
                                    static_cast<uint32_t>(ProcessEventKind::kExit),
                                [this](const ProcessEvent& e) {
                                  std::lock_guard lock(mu_);
                                  if (e.kind == ProcessEventKind::kExit) {
                                    // The supervisor, subscribed first, restarts the child
                                    // inside this same delivery: the replacement's "started"
                                    // can reach us before this exit does.
                                    exit_stamp_ns_ = e.time_unix_ns;  // when the table saw it
                                    exited_id_ = e.id;
                                    cv_.notify_all();
                                    return;
                                  }
                                  current_ = e.id;
                                  current_pid_ = e.pid;
                                  started_at_ = Clock::now();
                                  ++starts_;
                                  cv_.notify_all();
                                });
    Json process = {{"argv", {"/bin/sleep", "100000"}}};
    if (sandboxed) process["sandbox"] = Json::object();
    auto started = sup_->StartSupervisor(
        {{"id", "bench"},
         {"max_restarts", 1000000},
         {"max_seconds", 1},
         {"children", {{{"id", "child"}, {"shutdown", "brutal_kill"}, {"process", process}}}}});
    if (!started) error_ = started.error().ToString();
  }
  ~Rig() {
    if (table_ != nullptr) table_->Unsubscribe(sub_);
    engine_.reset();
  }
  const std::string& error() const { return error_; }

  // Kills the current child once it has settled; returns the time until its replacement
  // started (or -1).
  double CrashAndWaitUs(std::chrono::milliseconds uptime = std::chrono::milliseconds(0)) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(5), [&] { return !current_.empty(); });
    const std::string victim = current_;
    const pid_t victim_pid = current_pid_;
    const uint64_t starts = starts_;
    const auto started_at = started_at_;
    lock.unlock();
    if (!WaitSettled(victim_pid)) return -1;
    std::this_thread::sleep_until(started_at + uptime);
    const auto t0 = Clock::now();
    const int64_t t0_unix_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
    if (!table_->Signal(victim, SIGKILL)) return -1;
    lock.lock();
    if (!cv_.wait_for(lock, std::chrono::seconds(5),
                      [&] { return starts_ > starts && exited_id_ == victim; })) {
      return -1;
    }
    detect_us = static_cast<double>(exit_stamp_ns_ - t0_unix_ns) / 1000.0;
    return std::chrono::duration<double, std::micro>(started_at_ - t0).count();
  }
  // Of the last CrashAndWaitUs: SIGKILL to the exit event (the rest is the restart itself).
  double detect_us = 0;

 private:
  std::unique_ptr<Engine> engine_;
  SupervisorService* sup_ = nullptr;
  ProcessTable* table_ = nullptr;
  ProcessTable::SubscriptionId sub_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string current_;
  pid_t current_pid_ = 0;
  Clock::time_point started_at_;
  int64_t exit_stamp_ns_ = 0;
  std::string exited_id_;
  uint64_t starts_ = 0;
  std::string error_;
};

void BM_RestartLatency(benchmark::State& state) {
  const bool sandboxed = state.range(0) == 1;
  const std::chrono::milliseconds uptime(state.range(1));
  const bool standby = state.range(2) == 1;
  Rig rig(sandboxed, {{"supervisor", {{"sandbox_standby", standby}}}});
  if (!rig.error().empty()) {
    state.SkipWithError(("supervisor did not start: " + rig.error()).c_str());
    return;
  }
  std::vector<double> samples;
  std::vector<double> detect;
  for (auto _ : state) {
    samples.clear();
    for (int i = 0; i < 1000; ++i) {
      const double us = rig.CrashAndWaitUs(uptime);
      if (us < 0) {
        state.SkipWithError(
            "a child did not settle within 2 s, or its restart did not happen within 5 s");
        return;
      }
      samples.push_back(us);
      detect.push_back(rig.detect_us);
    }
  }
  std::sort(detect.begin(), detect.end());
  // How much of it is the kernel + pidfd wake-up + reaping before the supervisor is told.
  state.counters["exit_seen_p50_us"] = detect[detect.size() / 2];
  std::sort(samples.begin(), samples.end());
  state.counters["p50_us"] = samples[samples.size() / 2];
  state.counters["p99_us"] = samples[samples.size() * 99 / 100];
  state.counters["max_us"] = samples.back();
  state.counters["mean_us"] =
      std::accumulate(samples.begin(), samples.end(), 0.0) / static_cast<double>(samples.size());
  state.counters["crashes"] = static_cast<double>(samples.size());
}
BENCHMARK(BM_RestartLatency)
    ->ArgNames({"sandboxed", "uptime_ms", "standby"})
    ->Args({0, 0, 1})
    ->Args({1, 0, 1})
    ->Args({0, 50, 1})
    ->Args({1, 50, 1})
    ->Args({1, 0, 0})
    ->Args({1, 50, 0})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// Reference under the same machine load: the bare minimum a restart needs (SIGKILL, waitpid,
// posix_spawn of the same program), without any supervisor, after the same uptimes.
void BM_RawRespawnBaseline(benchmark::State& state) {
  char arg0[] = "/bin/sleep";
  char arg1[] = "100000";
  char* argv[] = {arg0, arg1, nullptr};
  char* envp[] = {nullptr};
  pid_t pid = 0;
  if (::posix_spawn(&pid, arg0, nullptr, nullptr, argv, envp) != 0) {
    state.SkipWithError("posix_spawn failed");
    return;
  }
  const std::chrono::milliseconds uptime(state.range(0));
  std::vector<double> samples;
  for (auto _ : state) {
    for (int i = 0; i < 1000; ++i) {
      const auto started = Clock::now();
      if (!WaitSettled(pid)) return state.SkipWithError("the child did not settle");
      std::this_thread::sleep_until(started + uptime);
      const auto t0 = Clock::now();
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      ::posix_spawn(&pid, arg0, nullptr, nullptr, argv, envp);
      samples.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  std::sort(samples.begin(), samples.end());
  state.counters["p50_us"] = samples[samples.size() / 2];
  state.counters["p99_us"] = samples[samples.size() * 99 / 100];
}
BENCHMARK(BM_RawRespawnBaseline)
    ->ArgName("uptime_ms")
    ->Arg(0)
    ->Arg(50)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_RestartSoak(benchmark::State& state) {
  // Small retention so the bounded buffers are full after the warm-up.
  Rig rig(state.range(1) == 1, {{"process", {{"exited_retention", 100}}},
                                {"supervisor", {{"history_retention", 1000}}}});
  if (!rig.error().empty()) {
    state.SkipWithError(rig.error().c_str());
    return;
  }
  const int warmup = 1500;
  const int cycles = static_cast<int>(state.range(0));
  int64_t fds0 = 0, rss0 = 0, zombies0 = 0;
  for (auto _ : state) {
    for (int i = 0; i < warmup; ++i) {
      if (rig.CrashAndWaitUs() < 0) return state.SkipWithError("restart missing in warm-up");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    fds0 = OpenFds();
    rss0 = RssKb();
    zombies0 = Zombies();
    for (int i = 0; i < cycles; ++i) {
      if (rig.CrashAndWaitUs() < 0) return state.SkipWithError("restart missing in soak");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const int64_t fds1 = OpenFds(), rss1 = RssKb(), zombies1 = Zombies();
  state.counters["restarts"] = cycles;
  state.counters["fds_before"] = static_cast<double>(fds0);
  state.counters["fds_after"] = static_cast<double>(fds1);
  state.counters["rss_kb_before"] = static_cast<double>(rss0);
  state.counters["rss_kb_after"] = static_cast<double>(rss1);
  state.counters["zombies_before"] = static_cast<double>(zombies0);
  state.counters["zombies_after"] = static_cast<double>(zombies1);
  std::printf(
      "soak: %d restarts; open fds %lld -> %lld, RSS %lld -> %lld KiB, zombies %lld -> %lld\n",
      cycles, static_cast<long long>(fds0), static_cast<long long>(fds1),
      static_cast<long long>(rss0), static_cast<long long>(rss1), static_cast<long long>(zombies0),
      static_cast<long long>(zombies1));
}
BENCHMARK(BM_RestartSoak)
    ->ArgNames({"restarts", "sandboxed"})
    ->Args({10000, 0})
    ->Args({10000, 1})
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace arsenal

BENCHMARK_MAIN();
