// Hot reload costs: the in-process call path against a direct function call, how long calls are
// blocked by a reload (snapshot + create + health + switch) with 1 KiB and 1 MiB of state, and
// the sandboxed plugin host's call round trip (p50/p99) against a bare unix-socket ping-pong.
//
// Needs the example modules (target hotreload_examples); their paths come from the compile
// definitions ARSENAL_COUNTER_V1 and ARSENAL_COUNTER_V2. The sandboxed benchmark needs the
// arsenal-plugin-host executable: ARSENAL_PLUGIN_HOST (compile definition, or the environment
// variable of that name at run time); without it that benchmark is skipped.
#include <benchmark/benchmark.h>
#include <dlfcn.h>
#include <malloc.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "arsenal/base/log.h"
#include "arsenal/hotreload/module_manager.h"
#include "arsenal/hotreload/plugin_host.h"
#include "arsenal/hotreload/plugin_protocol.h"
#include "arsenal/module.h"

namespace {

using arsenal::hotreload::ManagerOptions;
using arsenal::hotreload::ModuleManager;

// A private modules dir for one benchmark, removed afterwards.
class Fixture {
 public:
  Fixture() {
    arsenal::log::ConfigureLogging("warn", arsenal::log::Format::kText);
    std::string templ = (std::filesystem::temp_directory_path() / "arsenal-bench-XXXXXX");
    if (::mkdtemp(templ.data()) == nullptr) std::abort();
    dir_ = templ;
    ManagerOptions options;
    options.modules_dir = dir_ / "modules";
    manager_ = std::move(ModuleManager::Create(options).value());
  }
  ~Fixture() {
    manager_.reset();
    std::filesystem::remove_all(dir_);
  }
  ModuleManager& manager() { return *manager_; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<ModuleManager> manager_;
};

// The baseline: what the module's "noop" does, called directly.
[[gnu::noinline]] std::string DirectNoop(const std::string& method, std::string_view input) {
  benchmark::DoNotOptimize(method.data());
  benchmark::DoNotOptimize(input.data());
  return std::string();
}

void BM_DirectCall(benchmark::State& state) {
  const std::string method = "noop";
  for (auto _ : state) {
    auto out = DirectNoop(method, "x");
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_DirectCall);

// The module's table called by hand: the ABI's own cost (indirect call, method dispatch).
void BM_RawTableCall(benchmark::State& state) {
  void* handle = ::dlopen(ARSENAL_COUNTER_V1, RTLD_NOW | RTLD_LOCAL);
  auto entry =
      reinterpret_cast<arsenal_module_entry_v1>(::dlsym(handle, ARSENAL_MODULE_ENTRY_POINT));
  const arsenal_module_table_v1* table = entry();
  arsenal_module_instance* instance = nullptr;
  char* error = nullptr;
  table->create(nullptr, 0, 0, &instance, &error);
  const uint8_t input[] = {'x'};
  for (auto _ : state) {
    arsenal_module_bytes out{nullptr, 0};
    int rc = table->call(instance, "noop", input, 1, &out, &error);
    benchmark::DoNotOptimize(rc);
    table->free_buffer(out.data);
  }
  table->destroy(instance);
  ::dlclose(handle);
}
BENCHMARK(BM_RawTableCall);

// Through a cached ModuleHandle: gate + serialisation + ABI + copying the answer.
void BM_HandleCall(benchmark::State& state) {
  Fixture fixture;
  if (!fixture.manager().Load("counter", ARSENAL_COUNTER_V1)) std::abort();
  auto handle = fixture.manager().Handle("counter").value();
  const std::string method = "noop";
  for (auto _ : state) {
    auto out = handle.Call(method, "x");
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_HandleCall);

// Through ModuleManager::Call by name (adds the registry lookup).
void BM_ManagerCallByName(benchmark::State& state) {
  Fixture fixture;
  if (!fixture.manager().Load("counter", ARSENAL_COUNTER_V1)) std::abort();
  const std::string name = "counter";
  const std::string method = "noop";
  for (auto _ : state) {
    auto out = fixture.manager().Call(name, method, "x");
    benchmark::DoNotOptimize(out);
  }
}
BENCHMARK(BM_ManagerCallByName);

// Reload v1 <-> v2 with `state.range(0)` bytes of state. Reports the time calls were blocked
// (ModuleInfo::last_swap_ns) as the manual time, with p50/p99 counters; the wall time of a whole
// Reload (copy, hash, dlopen, swap, dlclose) is reported as reload_ms_mean.
void BM_ReloadSwap(benchmark::State& state) {
  Fixture fixture;
  auto& manager = fixture.manager();
  if (!manager.Load("counter", ARSENAL_COUNTER_V1)) std::abort();
  const auto state_bytes = static_cast<size_t>(state.range(0));
  if (!manager.Call("counter", "pad", std::string(state_bytes, 'p'))) std::abort();
  std::vector<double> swaps;
  double reload_total_ms = 0;
  int i = 0;
  for (auto _ : state) {
    auto start = std::chrono::steady_clock::now();
    auto info = manager.Reload("counter", i++ % 2 == 0 ? ARSENAL_COUNTER_V2 : ARSENAL_COUNTER_V1);
    reload_total_ms +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (!info) {
      state.SkipWithError(info.error().ToString().c_str());
      break;
    }
    double seconds = static_cast<double>(info->last_swap_ns) / 1e9;
    swaps.push_back(seconds);
    state.SetIterationTime(seconds);
  }
  if (swaps.empty()) return;
  std::sort(swaps.begin(), swaps.end());
  auto pct = [&](double p) {
    return swaps[std::min(swaps.size() - 1,
                          static_cast<size_t>(p * static_cast<double>(swaps.size())))] *
           1e6;
  };
  state.counters["swap_p50_us"] = pct(0.50);
  state.counters["swap_p99_us"] = pct(0.99);
  state.counters["swap_max_us"] = swaps.back() * 1e6;
  state.counters["reload_ms_mean"] = reload_total_ms / static_cast<double>(swaps.size());
  state.counters["state_bytes"] = static_cast<double>(state_bytes);
}
BENCHMARK(BM_ReloadSwap)
    ->Arg(1 << 10)
    ->Arg(1 << 20)
    ->UseManualTime()
    ->Iterations(300)
    ->Unit(benchmark::kMicrosecond);

// Percentiles of per-iteration wall times (seconds), as microsecond counters.
void ReportPercentiles(benchmark::State& state, std::vector<double> samples, const char* prefix) {
  if (samples.empty()) return;
  std::sort(samples.begin(), samples.end());
  auto pct = [&](double p) {
    return samples[std::min(samples.size() - 1,
                            static_cast<size_t>(p * static_cast<double>(samples.size())))] *
           1e6;
  };
  state.counters[std::string(prefix) + "_p50_us"] = pct(0.50);
  state.counters[std::string(prefix) + "_p99_us"] = pct(0.99);
  state.counters[std::string(prefix) + "_max_us"] = samples.back() * 1e6;
}

std::string PluginHostPath() {
#ifdef ARSENAL_PLUGIN_HOST
  return ARSENAL_PLUGIN_HOST;
#else
  const char* env = ::getenv("ARSENAL_PLUGIN_HOST");
  return env != nullptr ? env : "";
#endif
}

// The floor for any out-of-process call: one frame each way over a unix stream socket between
// two threads, with the same framing code the plugin host uses.
void BM_SocketPingPong(benchmark::State& state) {
  namespace plugin = arsenal::hotreload::plugin;
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
  std::thread echo([fd = fds[1]] {
    plugin::FrameChannel channel(fd, 1 << 20);
    for (;;) {
      auto frame = channel.Read();
      if (!frame) return;
      frame->type = plugin::FrameType::kOk;
      if (!channel.Write(*frame)) return;
    }
  });
  plugin::FrameChannel channel(fds[0], 1 << 20);
  plugin::Frame request;
  request.type = plugin::FrameType::kCall;
  request.fields = {"counter", "noop", "x"};
  std::vector<double> samples;
  samples.reserve(static_cast<size_t>(state.max_iterations));
  for (auto _ : state) {
    auto start = std::chrono::steady_clock::now();
    if (!channel.Write(request, std::chrono::steady_clock::now() + std::chrono::seconds(5))) {
      std::abort();
    }
    auto reply = channel.Read(std::chrono::steady_clock::now() + std::chrono::seconds(5));
    benchmark::DoNotOptimize(reply);
    samples.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  ::close(fds[0]);
  echo.join();
  ::close(fds[1]);
  ReportPercentiles(state, std::move(samples), "rt");
}
BENCHMARK(BM_SocketPingPong)->Iterations(20000)->Unit(benchmark::kMicrosecond);

// The same between two processes (a forked echo child, no sandbox): adds the address-space
// switches every out-of-process call pays; on VMs where they are expensive this, not the
// sandbox, is the floor of BM_SandboxedCall.
void BM_ProcessPingPong(benchmark::State& state) {
  namespace plugin = arsenal::hotreload::plugin;
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
  pid_t child = ::fork();
  if (child < 0) std::abort();
  if (child == 0) {
    ::close(fds[0]);
    plugin::FrameChannel channel(fds[1], 1 << 20);
    for (;;) {
      auto frame = channel.Read();
      if (!frame) ::_exit(0);
      frame->type = plugin::FrameType::kOk;
      if (!channel.Write(*frame)) ::_exit(0);
    }
  }
  ::close(fds[1]);
  plugin::FrameChannel channel(fds[0], 1 << 20);
  if (!channel.SetReceiveTimeout(std::chrono::seconds(5))) std::abort();
  plugin::Frame request;
  request.type = plugin::FrameType::kCall;
  request.fields = {"counter", "noop", "x"};
  std::vector<double> samples;
  samples.reserve(static_cast<size_t>(state.max_iterations));
  for (auto _ : state) {
    auto start = std::chrono::steady_clock::now();
    if (!channel.Write(request, start + std::chrono::seconds(5))) std::abort();
    auto reply = channel.Read(start + std::chrono::seconds(5));
    benchmark::DoNotOptimize(reply);
    samples.push_back(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  ReportPercentiles(state, std::move(samples), "rt");
}
BENCHMARK(BM_ProcessPingPong)->Iterations(20000)->Unit(benchmark::kMicrosecond);

// A call to a module in the sandboxed plugin host: PluginHost::Call -> frame -> host process
// (seccomp, Landlock, namespaces, cgroup) -> module -> frame back.
void BM_SandboxedCall(benchmark::State& state) {
  const std::string host_binary = PluginHostPath();
  if (host_binary.empty()) {
    state.SkipWithError("ARSENAL_PLUGIN_HOST is not set");
    return;
  }
  arsenal::log::ConfigureLogging("warn", arsenal::log::Format::kText);
  std::string templ = (std::filesystem::temp_directory_path() / "arsenal-bench-XXXXXX");
  if (::mkdtemp(templ.data()) == nullptr) std::abort();
  std::filesystem::path dir = templ;
  {
    arsenal::hotreload::PluginHostOptions options;
    options.host_binary = host_binary;
    options.modules_dir = dir / "modules";
    auto host = arsenal::hotreload::PluginHost::Create("bench", options);
    if (!host) {
      state.SkipWithError(host.error().ToString().c_str());
      std::filesystem::remove_all(dir);
      return;
    }
    if (!(*host)->Load("counter", ARSENAL_COUNTER_V1)) std::abort();
    const std::string name = "counter";
    const std::string method = "noop";
    for (int i = 0; i < 1000; ++i) benchmark::DoNotOptimize((*host)->Call(name, method, "x"));
    std::vector<double> samples;
    samples.reserve(static_cast<size_t>(state.max_iterations));
    for (auto _ : state) {
      auto start = std::chrono::steady_clock::now();
      auto out = (*host)->Call(name, method, "x");
      samples.push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      if (!out) {
        state.SkipWithError(out.error().ToString().c_str());
        break;
      }
    }
    ReportPercentiles(state, std::move(samples), "rt");
  }
  std::filesystem::remove_all(dir);
}
BENCHMARK(BM_SandboxedCall)->Iterations(20000)->Unit(benchmark::kMicrosecond);

// The same with glibc told to keep freed memory (no trimming, no per-allocation mmap). On VMs
// where a page fault is expensive, most of a large-state swap is first-touch faults on freshly
// mapped buffers; a daemon that swaps large states can make this choice process-wide. Registered
// last because mallopt() cannot be undone for the benchmarks after it.
void BM_ReloadSwapRetainedHeap(benchmark::State& state) {
  static const bool tuned = [] {
    ::mallopt(M_MMAP_THRESHOLD, 64 << 20);
    ::mallopt(M_TRIM_THRESHOLD, 256 << 20);
    return true;
  }();
  benchmark::DoNotOptimize(tuned);
  BM_ReloadSwap(state);
}
BENCHMARK(BM_ReloadSwapRetainedHeap)
    ->Arg(1 << 10)
    ->Arg(1 << 20)
    ->UseManualTime()
    ->Iterations(300)
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
