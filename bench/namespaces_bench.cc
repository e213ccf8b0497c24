// Spawn latency: spawn + wait of /bin/true with default isolation (every namespace, id maps,
// read-only host root, /proc, /dev, pivot_root, PID 1 reaper, all capabilities dropped), plus
// lighter variants to show where the time goes. Peers measured on the reference machine:
// bwrap --unshare-all ≈ 4.5 ms, unshare -Urpimnf ≈ 3.1 ms, fork+exec ≈ 0.64 ms.
#include <benchmark/benchmark.h>
#include <spawn.h>
#include <sys/wait.h>

#include "arsenal/namespaces/features.h"
#include "arsenal/namespaces/spawn.h"

extern char** environ;

namespace {

using arsenal::ns::SpawnSpec;

bool HasUserNamespaces(benchmark::State& state) {
  if (arsenal::ns::DetectKernelFeatures().user_namespaces) return true;
  state.SkipWithError("user namespaces unavailable");
  return false;
}

// Times spawn(spec) + wait of /bin/true per iteration.
template <typename SpawnFn>
void RunLoop(benchmark::State& state, const SpawnSpec& spec, SpawnFn spawn) {
  for (auto _ : state) {
    auto proc = spawn(spec);
    if (!proc) {
      state.SkipWithError(proc.error().ToString().c_str());
      return;
    }
    auto status = proc->Wait();
    if (!status || !status->Success()) {
      state.SkipWithError("/bin/true failed");
      return;
    }
  }
}

void RunSpawnLoop(benchmark::State& state, const SpawnSpec& spec) {
  if (!HasUserNamespaces(state)) return;
  RunLoop(state, spec, [](const SpawnSpec& s) { return arsenal::ns::Spawn(s); });
}

void BM_SpawnTrueDefaultIsolation(benchmark::State& state) {
  SpawnSpec spec;
  spec.argv = {"/bin/true"};
  RunSpawnLoop(state, spec);
}
BENCHMARK(BM_SpawnTrueDefaultIsolation)->Unit(benchmark::kMillisecond)->MinTime(2.0);

void BM_SpawnTrueNoMountNamespace(benchmark::State& state) {
  SpawnSpec spec;
  spec.argv = {"/bin/true"};
  spec.namespaces.mount = false;
  RunSpawnLoop(state, spec);
}
BENCHMARK(BM_SpawnTrueNoMountNamespace)->Unit(benchmark::kMillisecond)->MinTime(1.0);

void BM_SpawnTrueUserNamespaceOnly(benchmark::State& state) {
  SpawnSpec spec;
  spec.argv = {"/bin/true"};
  spec.namespaces = arsenal::ns::NamespaceSet::None();
  spec.namespaces.user = true;
  RunSpawnLoop(state, spec);
}
BENCHMARK(BM_SpawnTrueUserNamespaceOnly)->Unit(benchmark::kMillisecond)->MinTime(1.0);

// SpawnInto + wait of /bin/true in a running default sandbox (an idle PID 1 holding every
// namespace): what execute_in_sandbox and a restart into a standby sandbox pay.
void BM_SpawnIntoTrue(benchmark::State& state) {
  if (!HasUserNamespaces(state)) return;
  SpawnSpec holder;
  holder.idle_init = true;
  holder.stdin_fd = holder.stdout_fd = holder.stderr_fd = -1;
  auto init = arsenal::ns::Spawn(holder);
  if (!init) {
    state.SkipWithError(init.error().ToString().c_str());
    return;
  }
  SpawnSpec spec;
  spec.argv = {"/bin/true"};
  RunLoop(state, spec,
          [&](const SpawnSpec& s) { return arsenal::ns::SpawnInto(init->pidfd(), s); });
}
BENCHMARK(BM_SpawnIntoTrue)->Unit(benchmark::kMillisecond)->MinTime(1.0);

// Baseline: plain posix_spawn + waitpid.
void BM_PosixSpawnTrue(benchmark::State& state) {
  char arg0[] = "/bin/true";
  char* argv[] = {arg0, nullptr};
  for (auto _ : state) {
    pid_t pid;
    if (posix_spawn(&pid, arg0, nullptr, nullptr, argv, environ) != 0) {
      state.SkipWithError("posix_spawn failed");
      return;
    }
    int status;
    waitpid(pid, &status, 0);
  }
}
BENCHMARK(BM_PosixSpawnTrue)->Unit(benchmark::kMillisecond)->MinTime(1.0);

}  // namespace

BENCHMARK_MAIN();
