// Process table benchmarks.
//
//  - BM_StartAndWait/PosixSpawn: raw posix_spawn("/bin/true") + waitpid, the floor.
//  - BM_StartAndWait/Engine: Engine::Execute("start_process", {argv: ["/bin/true"], wait_ms})
//    end to end (schema validation, spawn + pidfd, exit seen on the event loop, events, audit).
//    Target: at most 1.5x the floor. BM_StartAndWait_Interleaved alternates both in one loop
//    (stdout/stderr captured) and reports the ratio of the medians.
//  - BM_ListPage10k: list_processes through Engine::Execute with 10,000 managed sleeping
//    processes, page size 50, walking the pages with next_cursor; reports p50/p99 per page.
//    Target: p99 at most 2 ms.
//
// Run: arsenal_process_bench [--benchmark_filter=...]. The 10k benchmark needs ~10k free pids
// and raises RLIMIT_NOFILE to its hard limit (one pidfd per process).
#include <benchmark/benchmark.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "arsenal/engine/engine.h"
#include "arsenal/engine/process_table.h"

namespace arsenal {
namespace {

extern "C" char** environ;

std::unique_ptr<Engine> MakeEngine() {
  EngineOptions options;
  options.config = {{"process", {{"exited_retention", 100}}}};
  auto engine = Engine::Create(options);
  if (!engine) {
    std::fprintf(stderr, "engine: %s\n", engine.error().ToString().c_str());
    std::abort();
  }
  return std::move(*engine);
}

void BM_StartAndWait_PosixSpawn(benchmark::State& state) {
  char arg0[] = "/bin/true";
  char* argv[] = {arg0, nullptr};
  char* envp[] = {nullptr};
  for (auto _ : state) {
    pid_t pid = 0;
    if (posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, envp) != 0) {
      state.SkipWithError("posix_spawn failed");
      return;
    }
    int status = 0;
    waitpid(pid, &status, 0);
  }
}
BENCHMARK(BM_StartAndWait_PosixSpawn)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_StartAndWait_Engine(benchmark::State& state) {
  auto engine = MakeEngine();
  const bool capture = state.range(0) != 0;
  Json params = {{"argv", {"/bin/true"}}, {"wait_ms", 10000}};
  if (!capture) {
    params["stdout"] = "null";
    params["stderr"] = "null";
  }
  const Principal root = Principal::Root();
  for (auto _ : state) {
    auto out = engine->Execute("start_process", params, root);
    if (!out || (*out)["state"] != "exited") {
      state.SkipWithError(out ? "process did not exit" : out.error().ToString().c_str());
      return;
    }
  }
  state.SetLabel(capture ? "stdout/stderr captured" : "stdout/stderr null");
}
BENCHMARK(BM_StartAndWait_Engine)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Both paths alternately in one loop, so machine load drifts affect them equally; reports the
// medians and their ratio (the target is ratio <= 1.5).
void BM_StartAndWait_Interleaved(benchmark::State& state) {
  auto engine = MakeEngine();
  const Json params = {{"argv", {"/bin/true"}}, {"wait_ms", 10000}};
  const Principal root = Principal::Root();
  char arg0[] = "/bin/true";
  char* argv[] = {arg0, nullptr};
  char* envp[] = {nullptr};
  std::vector<double> raw_us, engine_us;
  for (auto _ : state) {
    auto start = std::chrono::steady_clock::now();
    pid_t pid = 0;
    if (posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, envp) != 0) {
      state.SkipWithError("posix_spawn failed");
      return;
    }
    waitpid(pid, nullptr, 0);
    raw_us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
            .count());
    start = std::chrono::steady_clock::now();
    auto out = engine->Execute("start_process", params, root);
    engine_us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
            .count());
    if (!out || (*out)["state"] != "exited") {
      state.SkipWithError("start_process did not finish");
      return;
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  state.counters["posix_spawn_p50_us"] = median(raw_us);
  state.counters["engine_p50_us"] = median(engine_us);
  state.counters["ratio"] = median(engine_us) / median(raw_us);
}
BENCHMARK(BM_StartAndWait_Interleaved)->Unit(benchmark::kMicrosecond)->UseRealTime()->MinTime(3);

void BM_ListPage10k(benchmark::State& state) {
  const int processes = static_cast<int>(state.range(0));
  rlimit lim{};
  getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  setrlimit(RLIMIT_NOFILE, &lim);
  if (lim.rlim_max < static_cast<rlim_t>(processes) + 1000) {
    state.SkipWithError("RLIMIT_NOFILE hard limit too low for one pidfd per process");
    return;
  }
  auto engine = MakeEngine();
  auto& table = engine->Service<ProcessTable>();
  ProcessSpec spec;
  spec.argv = {"/bin/sleep", "3600"};
  spec.stdout_spec.mode = OutputMode::kNull;
  spec.stderr_spec.mode = OutputMode::kNull;
  for (int i = 0; i < processes; ++i) {
    spec.name = "sleeper-" + std::to_string(i % 100);
    spec.labels = {{"shard", std::to_string(i % 8)}};
    if (!table.Start(spec)) {
      state.SkipWithError("could not start the sleeping processes");
      return;
    }
  }
  const Principal root = Principal::Root();
  std::vector<double> latencies_us;
  Json params = {{"page", {{"size", 50}}}};
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    auto page = engine->Execute("list_processes", params, root);
    const auto took = std::chrono::steady_clock::now() - start;
    if (!page || (*page)["items"].size() != 50) {
      state.SkipWithError("list_processes failed");
      return;
    }
    latencies_us.push_back(std::chrono::duration<double, std::micro>(took).count());
    if ((*page)["next_cursor"].is_null()) {
      params["page"].erase("after");  // wrap around to the first page
    } else {
      params["page"]["after"] = (*page)["next_cursor"];
    }
  }
  std::sort(latencies_us.begin(), latencies_us.end());
  auto pct = [&](double p) {
    return latencies_us[std::min(
        latencies_us.size() - 1,
        static_cast<size_t>(p * static_cast<double>(latencies_us.size())))];
  };
  state.counters["p50_us"] = pct(0.50);
  state.counters["p99_us"] = pct(0.99);
  state.counters["max_us"] = latencies_us.back();
  state.counters["processes"] = processes;
}
BENCHMARK(BM_ListPage10k)
    ->Arg(10000)
    ->Unit(benchmark::kMicrosecond)
    ->UseRealTime()
    ->Iterations(2000);

}  // namespace
}  // namespace arsenal

BENCHMARK_MAIN();
