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
#include <sched.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "arsenal/base/log.h"
#include "arsenal/hotreload/module_manager.h"
#include "arsenal/hotreload/plugin_host.h"
#include "arsenal/hotreload/plugin_host_server.h"
#include "arsenal/hotreload/plugin_protocol.h"
#include "arsenal/module.h"

namespace {

using arsenal::hotreload::ManagerOptions;
using arsenal::hotreload::ModuleManager;

// A private modules dir for one benchmark, removed afterwards.
class Fixture {
 public:
  explicit Fixture(bool retain_freed_heap = false) {
    arsenal::log::ConfigureLogging("warn", arsenal::log::Format::kText);
    std::string templ = (std::filesystem::temp_directory_path() / "arsenal-bench-XXXXXX");
    if (::mkdtemp(templ.data()) == nullptr) std::abort();
    dir_ = templ;
    ManagerOptions options;
    options.modules_dir = dir_ / "modules";
    options.retain_freed_heap = retain_freed_heap;
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
void ReloadSwap(benchmark::State& state, bool retain_freed_heap) {
  Fixture fixture(retain_freed_heap);
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
void BM_ReloadSwap(benchmark::State& state) { ReloadSwap(state, false); }
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

namespace plugin = arsenal::hotreload::plugin;
using Clock = std::chrono::steady_clock;

// Times `round_trip` (returns false on failure) once per iteration; reports p50/p99/max.
template <typename RoundTrip>
void TimeRoundTrips(benchmark::State& state, RoundTrip&& round_trip) {
  std::vector<double> samples;
  samples.reserve(static_cast<size_t>(state.max_iterations));
  for (auto _ : state) {
    auto start = Clock::now();
    bool ok = round_trip();
    samples.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    if (!ok) {
      state.SkipWithError("round trip failed");
      break;
    }
  }
  ReportPercentiles(state, std::move(samples), "rt");
}

// One request and its reply on `channel`.
bool Ask(plugin::FrameChannel& channel, const plugin::Frame& request) {
  auto deadline = Clock::now() + std::chrono::seconds(5);
  if (!channel.Write(request, deadline)) return false;
  auto reply = channel.Read(deadline);
  return reply && reply->type == plugin::FrameType::kOk;
}

// Answers every frame with itself as kOk until the peer closes; polls for `spin` before sleeping.
void Echo(int fd, std::chrono::microseconds spin = {}) {
  plugin::FrameChannel channel(fd, 1 << 20);
  if (!channel.SetSpinBudget(spin)) std::abort();
  for (;;) {
    auto frame = channel.Read();
    if (!frame) return;
    frame->type = plugin::FrameType::kOk;
    if (!channel.Write(*frame)) return;
  }
}

const plugin::Frame kNoopCall = {plugin::FrameType::kCall, 3, 0, {"counter", "noop", "x"}};

// A forked child running `serve(fd)` on its end of a socket pair; the parent's end is `fd()`.
class Child {
 public:
  template <typename Serve>
  explicit Child(Serve&& serve) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
    pid_ = ::fork();
    if (pid_ < 0) std::abort();
    if (pid_ == 0) {
      ::close(fds[0]);
      serve(fds[1]);
      ::_exit(0);
    }
    ::close(fds[1]);
    fd_ = fds[0];
  }
  ~Child() {
    ::close(fd_);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  int fd() const { return fd_; }

 private:
  pid_t pid_ = -1;
  int fd_ = -1;
};

// The floor for any out-of-process call: one frame each way over a unix stream socket between
// two threads, with the same framing code the plugin host uses.
void BM_SocketPingPong(benchmark::State& state) {
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) std::abort();
  std::thread echo([fd = fds[1]] { Echo(fd); });
  {
    plugin::FrameChannel channel(fds[0], 1 << 20);
    TimeRoundTrips(state, [&] { return Ask(channel, kNoopCall); });
  }
  ::close(fds[0]);
  echo.join();
  ::close(fds[1]);
}
BENCHMARK(BM_SocketPingPong)->Iterations(20000)->Unit(benchmark::kMicrosecond);

// Reports FrameChannel's busy-polling counters per round trip.
void ReportSpin(benchmark::State& state, const plugin::FrameChannel& channel) {
  const auto& spin = channel.spin_stats();
  const double n = static_cast<double>(std::max<int64_t>(1, state.iterations()));
  state.counters["spin_hit_ratio"] = static_cast<double>(spin.hits) / n;
  state.counters["same_cpu_ratio"] = static_cast<double>(spin.same_cpu) / n;
}

// The same between two processes (a forked echo child, no sandbox): adds the address-space
// switches every out-of-process call pays; on VMs where they are expensive this, not the
// sandbox, is the floor of BM_SandboxedCall. Argument: the spin budget of both ends in us (0:
// both sleep while waiting, the floor without busy-polling).
void BM_ProcessPingPong(benchmark::State& state) {
  const std::chrono::microseconds spin(state.range(0));
  Child child([spin](int fd) { Echo(fd, spin); });
  plugin::FrameChannel channel(child.fd(), 1 << 20);
  if (!channel.SetReceiveTimeout(std::chrono::seconds(5))) std::abort();
  if (!channel.SetSpinBudget(spin)) std::abort();
  TimeRoundTrips(state, [&] { return Ask(channel, kNoopCall); });
  ReportSpin(state, channel);
}
BENCHMARK(BM_ProcessPingPong)->Arg(0)->Arg(50)->Iterations(20000)->Unit(benchmark::kMicrosecond);

// The plugin host's request loop and the module, in a forked child without any sandbox and
// driven by raw frames: with BM_ProcessPingPong and BM_SandboxedCall, it splits a sandboxed
// call's cost into transport, host loop + module, and sandbox + PluginHost bookkeeping.
void BM_UnsandboxedHostCall(benchmark::State& state) {
  Child child([](int fd) {
    arsenal::hotreload::ServePluginHost(fd, {.max_frame_bytes = 64u << 20, .require_seal = false});
  });
  plugin::FrameChannel channel(child.fd(), 64u << 20);
  if (!channel.SetReceiveTimeout(std::chrono::seconds(5))) std::abort();
  std::ifstream in(ARSENAL_COUNTER_V1, std::ios::binary);
  std::string image((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!Ask(channel, {plugin::FrameType::kLoad, 1, 0, {"counter", image}}) ||
      !Ask(channel, {plugin::FrameType::kCreate, 2, 0, {"counter", ""}})) {
    std::abort();
  }
  TimeRoundTrips(state, [&] { return Ask(channel, kNoopCall); });
}
BENCHMARK(BM_UnsandboxedHostCall)->Iterations(20000)->Unit(benchmark::kMicrosecond);

// A plugin host in a private temp dir with counter 1.0.0 loaded as "counter", removed afterwards.
// host() is null (and the benchmark skipped) when the plugin host cannot be found or started.
class SandboxFixture {
 public:
  explicit SandboxFixture(
      benchmark::State& state,
      std::chrono::microseconds spin_budget = arsenal::hotreload::PluginHostOptions().spin_budget) {
    const std::string host_binary = PluginHostPath();
    if (host_binary.empty()) {
      state.SkipWithError("ARSENAL_PLUGIN_HOST is not set");
      return;
    }
    arsenal::log::ConfigureLogging("warn", arsenal::log::Format::kText);
    std::string templ = (std::filesystem::temp_directory_path() / "arsenal-bench-XXXXXX");
    if (::mkdtemp(templ.data()) == nullptr) std::abort();
    dir_ = templ;
    arsenal::hotreload::PluginHostOptions options;
    options.host_binary = host_binary;
    options.modules_dir = dir_ / "modules";
    options.spin_budget = spin_budget;
    auto host = arsenal::hotreload::PluginHost::Create("bench", options);
    if (!host) {
      state.SkipWithError(host.error().ToString().c_str());
      return;
    }
    host_ = std::move(*host);
    if (!host_->Load("counter", ARSENAL_COUNTER_V1)) std::abort();
  }
  ~SandboxFixture() {
    host_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }
  arsenal::hotreload::PluginHost* host() { return host_.get(); }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<arsenal::hotreload::PluginHost> host_;
};

// The processes of a sandbox: its init and every descendant.
std::vector<pid_t> ProcessTree(pid_t root) {
  std::vector<pid_t> out{root};
  for (size_t i = 0; i < out.size(); ++i) {
    const std::string at = "/proc/" + std::to_string(out[i]) + "/task/" + std::to_string(out[i]);
    std::ifstream children(at + "/children");
    for (pid_t child; children >> child;) out.push_back(child);
  }
  return out;
}

// Gives the calling thread one CPU and the sandbox's processes another, as the scheduler does on
// an idle or larger machine (on a loaded 2-core one it mostly runs both ends on one CPU).
// Restores the thread's affinity when destroyed; skips the benchmark with fewer than two CPUs.
class SplitPlacement {
 public:
  SplitPlacement(benchmark::State& state, pid_t sandbox_init) {
    if (::sched_getaffinity(0, sizeof(saved_), &saved_) != 0) std::abort();
    std::vector<int> cpus;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
      if (CPU_ISSET(cpu, &saved_)) cpus.push_back(cpu);
    }
    if (cpus.size() < 2) {
      state.SkipWithError("needs two CPUs");
      return;
    }
    cpu_set_t caller, host;
    CPU_ZERO(&caller);
    CPU_ZERO(&host);
    CPU_SET(cpus[0], &caller);
    CPU_SET(cpus[1], &host);
    if (::sched_setaffinity(0, sizeof(caller), &caller) != 0) std::abort();
    pinned_ = true;
    for (pid_t pid : ProcessTree(sandbox_init)) {
      if (::sched_setaffinity(pid, sizeof(host), &host) != 0) std::abort();
    }
  }
  ~SplitPlacement() {
    if (pinned_) ::sched_setaffinity(0, sizeof(saved_), &saved_);
  }

 private:
  cpu_set_t saved_{};
  bool pinned_ = false;
};

// A call to a module in the sandboxed plugin host: PluginHost::Call -> frame -> host process
// (seccomp, Landlock, namespaces, cgroup) -> module -> frame back. Arguments:
// PluginHostOptions::spin_budget in us (0: no busy-polling; 50: the default), and the placement
// (0: the scheduler's; 1: caller and host on separate CPUs, SplitPlacement).
void BM_SandboxedCall(benchmark::State& state) {
  SandboxFixture fixture(state, std::chrono::microseconds(state.range(0)));
  auto* host = fixture.host();
  if (host == nullptr) return;
  std::optional<SplitPlacement> placement;
  if (state.range(1) == 1) placement.emplace(state, host->HostInfo().pid);
  const std::string name = "counter";
  const std::string method = "noop";
  for (int i = 0; i < 1000; ++i) benchmark::DoNotOptimize(host->Call(name, method, "x"));
  const auto before = host->HostInfo().polling;
  TimeRoundTrips(state, [&] { return host->Call(name, method, "x").has_value(); });
  // Which waits polled: on a loaded machine the scheduler often runs both ends on one CPU, where
  // neither polls (same_cpu) and a call costs two process switches.
  const auto after = host->HostInfo().polling;
  const double n = static_cast<double>(std::max<int64_t>(1, state.iterations()));
  state.counters["spin_hit_ratio"] = static_cast<double>(after.hits - before.hits) / n;
  state.counters["same_cpu_ratio"] = static_cast<double>(after.same_cpu - before.same_cpu) / n;
}
BENCHMARK(BM_SandboxedCall)
    ->Args({0, 0})
    ->Args({50, 0})
    ->Args({0, 1})
    ->Args({50, 1})
    ->Iterations(20000)
    ->Unit(benchmark::kMicrosecond);

// A sandboxed reload (a fresh host process takes over the module with its state): the wall time
// of Reload (spawn, cgroup, exec, seal, load, then the handover) as the iteration time, and how
// long calls were blocked (snapshot + create round trips) as swap_p50_us/swap_p99_us.
void BM_SandboxedReload(benchmark::State& state) {
  SandboxFixture fixture(state);
  auto* host = fixture.host();
  if (host == nullptr) return;
  std::vector<double> swaps;
  int i = 0;
  for (auto _ : state) {
    auto reloaded =
        host->Reload({{"counter", i++ % 2 == 0 ? ARSENAL_COUNTER_V2 : ARSENAL_COUNTER_V1}});
    if (!reloaded) {
      state.SkipWithError(reloaded.error().ToString().c_str());
      break;
    }
    swaps.push_back(static_cast<double>(reloaded->front().last_swap_ns) / 1e9);
  }
  ReportPercentiles(state, std::move(swaps), "swap");
}
BENCHMARK(BM_SandboxedReload)->Iterations(30)->Unit(benchmark::kMillisecond);

// The same with ManagerOptions::retain_freed_heap (glibc keeps freed memory instead of trimming
// it or mapping large chunks separately), the choice a daemon that swaps large states makes;
// ModuleService turns it on. Registered last because the allocator setting is process-wide and
// stays for the benchmarks after it.
void BM_ReloadSwapRetainedHeap(benchmark::State& state) { ReloadSwap(state, true); }
BENCHMARK(BM_ReloadSwapRetainedHeap)
    ->Arg(1 << 10)
    ->Arg(1 << 20)
    ->UseManualTime()
    ->Iterations(300)
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
