// Seccomp compilation cost: cold (libseccomp generates the BPF every time) versus cached (the
// process-wide SeccompCache returns the program compiled for the first sandbox).
//
// The Docker profile path comes from ARSENAL_DOCKER_PROFILE (compile definition or environment
// variable), defaulting to ../shared/data/docker-default-seccomp.json.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include "arsenal/policies/seccomp.h"

namespace {

using arsenal::policies::SeccompProfile;

const SeccompProfile& DockerProfile() {
  static const SeccompProfile profile = [] {
    std::string path = "../shared/data/docker-default-seccomp.json";
#ifdef ARSENAL_DOCKER_PROFILE
    path = ARSENAL_DOCKER_PROFILE;
#endif
    if (const char* env = std::getenv("ARSENAL_DOCKER_PROFILE")) path = env;
    auto p = arsenal::policies::LoadSeccompProfileFile(path);
    if (!p) {
      std::fprintf(stderr, "cannot load %s: %s\n", path.c_str(), p.error().ToString().c_str());
      std::abort();
    }
    return *p;
  }();
  return profile;
}

void BM_SeccompCompileCold(benchmark::State& state) {
  const SeccompProfile& profile = DockerProfile();
  for (auto _ : state) {
    auto policy = arsenal::policies::ResolveSeccompProfile(profile, {});
    auto program = arsenal::policies::CompileSeccompUncached(*policy);
    if (!program) state.SkipWithError(program.error().ToString().c_str());
    benchmark::DoNotOptimize(program);
  }
}
BENCHMARK(BM_SeccompCompileCold)->Unit(benchmark::kMicrosecond);

void BM_SeccompCompileColdDefault(benchmark::State& state) {
  const SeccompProfile& profile = arsenal::policies::DefaultSeccompProfile();
  for (auto _ : state) {
    auto policy = arsenal::policies::ResolveSeccompProfile(profile, {});
    auto program = arsenal::policies::CompileSeccompUncached(*policy);
    benchmark::DoNotOptimize(program);
  }
}
BENCHMARK(BM_SeccompCompileColdDefault)->Unit(benchmark::kMicrosecond);

void BM_SeccompCompileCached(benchmark::State& state) {
  const SeccompProfile& profile = DockerProfile();
  (void)arsenal::policies::CompileSeccomp(profile, 0);  // warm the cache
  for (auto _ : state) {
    auto program = arsenal::policies::CompileSeccomp(profile, 0);
    if (!program) state.SkipWithError(program.error().ToString().c_str());
    benchmark::DoNotOptimize(program);
  }
}
BENCHMARK(BM_SeccompCompileCached)->Unit(benchmark::kMicrosecond);

void BM_SeccompCompileCachedDefault(benchmark::State& state) {
  const SeccompProfile& profile = arsenal::policies::DefaultSeccompProfile();
  (void)arsenal::policies::CompileSeccomp(profile, 0);
  for (auto _ : state) {
    auto program = arsenal::policies::CompileSeccomp(profile, 0);
    benchmark::DoNotOptimize(program);
  }
}
BENCHMARK(BM_SeccompCompileCachedDefault)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
