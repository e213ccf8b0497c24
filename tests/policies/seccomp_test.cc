#include "arsenal/policies/seccomp.h"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <set>
#include <thread>

#include "arsenal/policies/capabilities.h"
#include "arsenal/policies/child.h"
#include "test_util.h"

namespace arsenal::policies {
namespace {

using testing::ChildValues;
using testing::RunInChild;

SeccompProfile DockerProfile() {
  auto p = LoadSeccompProfileFile(ARSENAL_DOCKER_PROFILE);
  EXPECT_TRUE(p.has_value()) << p.error().ToString();
  return p.value_or(SeccompProfile{});
}

bool HasRuleFor(const EffectiveSeccompPolicy& policy, const std::string& name) {
  for (const auto& r : policy.rules) {
    if (std::find(r.names.begin(), r.names.end(), name) != r.names.end()) return true;
  }
  return false;
}

TEST(SeccompResolve, DockerIncludesFollowCapsArchAndKernel) {
  SeccompProfile docker = DockerProfile();
  SeccompEnvironment env;
  env.go_arch = "amd64";
  env.kernel = KernelVersion{6, 1};
  auto none = ResolveSeccompProfile(docker, env);
  ASSERT_TRUE(none.has_value()) << none.error().ToString();
  EXPECT_FALSE(HasRuleFor(*none, "mount"));
  EXPECT_TRUE(HasRuleFor(*none, "ptrace"));       // minKernel 4.8
  EXPECT_TRUE(HasRuleFor(*none, "arch_prctl"));   // amd64 only
  EXPECT_FALSE(HasRuleFor(*none, "cacheflush"));  // arm only
  // archMap: x86_64 plus its sub-architectures.
  EXPECT_EQ(none->architectures.size(), 3u);

  env.kernel = KernelVersion{4, 4};
  auto old_kernel = ResolveSeccompProfile(docker, env);
  ASSERT_TRUE(old_kernel.has_value());
  EXPECT_FALSE(HasRuleFor(*old_kernel, "ptrace"));

  env.kernel = KernelVersion{6, 1};
  env.caps = CapBit(CAP_SYS_ADMIN);
  auto admin = ResolveSeccompProfile(docker, env);
  ASSERT_TRUE(admin.has_value());
  EXPECT_TRUE(HasRuleFor(*admin, "mount"));
  EXPECT_TRUE(HasRuleFor(*admin, "unshare"));
  // The ENOSYS rule for clone3 is excluded when CAP_SYS_ADMIN is kept.
  for (const auto& r : admin->rules) {
    if (r.names == std::vector<std::string>{"clone3"}) {
      EXPECT_EQ(r.action, SeccompAction::kAllow);
    }
  }
}

// The built-in profile allows nothing Docker's profile does not, for any capability choice, and
// never allows the syscalls docs/seccomp-profiles.md promises to deny.
TEST(SeccompResolve, DefaultProfileIsAtLeastAsStrictAsDocker) {
  SeccompProfile docker = DockerProfile();
  for (uint64_t caps : {uint64_t{0}, CapBit(CAP_SYS_ADMIN), CapBit(CAP_SYS_PTRACE),
                        CapBit(CAP_BPF) | CapBit(CAP_PERFMON), ~uint64_t{0}}) {
    SeccompEnvironment env;
    env.caps = caps;
    auto ours = ResolveSeccompProfile(DefaultSeccompProfile(), env);
    auto theirs = ResolveSeccompProfile(docker, env);
    ASSERT_TRUE(ours.has_value() && theirs.has_value());
    std::set<std::string> docker_any, docker_unconditional;
    for (const auto& r : theirs->rules) {
      if (r.action != SeccompAction::kAllow) continue;
      for (const auto& n : r.names) {
        docker_any.insert(n);
        if (r.args.empty()) docker_unconditional.insert(n);
      }
    }
    for (const auto& r : ours->rules) {
      if (r.action != SeccompAction::kAllow) continue;
      for (const auto& n : r.names) {
        EXPECT_TRUE(docker_any.contains(n)) << n << " caps=" << caps;
        if (r.args.empty()) {
          EXPECT_TRUE(docker_unconditional.contains(n)) << n;
        }
      }
    }
    for (const char* never :
         {"bpf", "perf_event_open", "kexec_load", "kexec_file_load", "init_module", "finit_module",
          "keyctl", "add_key", "userfaultfd", "io_uring_setup", "modify_ldt", "iopl", "swapon"}) {
      EXPECT_FALSE(HasRuleFor(*ours, never)) << never << " caps=" << caps;
    }
    EXPECT_EQ(HasRuleFor(*ours, "mount"), (caps & CapBit(CAP_SYS_ADMIN)) != 0);
    EXPECT_EQ(HasRuleFor(*ours, "ptrace"), (caps & CapBit(CAP_SYS_PTRACE)) != 0);
  }
}

TEST(SeccompResolve, NotifyIsUnsupported) {
  auto p = ParseSeccompProfile(R"({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
      {"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]})");
  ASSERT_TRUE(p.has_value());
  auto r = ResolveSeccompProfile(*p, {});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), "seccomp.unsupported");
}

TEST(SeccompCompile, DockerProfileCompiles) {
  SeccompProfile docker = DockerProfile();
  auto policy = ResolveSeccompProfile(docker, {});
  ASSERT_TRUE(policy.has_value());
  auto program = CompileSeccompUncached(*policy);
  ASSERT_TRUE(program.has_value()) << program.error().ToString();
  EXPECT_GT((*program)->filter.size(), 300u);
  EXPECT_LT((*program)->filter.size(), 0xffffu);
}

TEST(SeccompCompile, DefaultProfileCompilesForEveryCapabilityChoice) {
  for (uint64_t caps : {uint64_t{0}, CapBit(CAP_SYS_ADMIN), CapBit(CAP_SYS_PTRACE), ~uint64_t{0}}) {
    SeccompCache cache;
    SeccompEnvironment env;
    env.caps = caps;
    auto program = cache.Get(DefaultSeccompProfile(), env);
    ASSERT_TRUE(program.has_value()) << program.error().ToString();
    EXPECT_GT((*program)->filter.size(), 100u);
  }
}

TEST(SeccompCompile, RepeatedArgumentIndexBecomesSeparateRules) {
  auto p = ParseSeccompProfile(R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
      {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
        {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
        {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]})");
  ASSERT_TRUE(p.has_value());
  SeccompCache cache;
  auto program = cache.Get(*p, {});
  ASSERT_TRUE(program.has_value()) << program.error().ToString();
}

TEST(SeccompCache, HitReturnsTheSameProgramWithoutRecompiling) {
  SeccompCache cache;
  SeccompProfile docker = DockerProfile();
  SeccompEnvironment env;
  auto first = cache.Get(docker, env);
  ASSERT_TRUE(first.has_value());
  auto second = cache.Get(docker, env);
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(first->get(), second->get());
  SeccompCacheStats stats = cache.Stats();
  EXPECT_EQ(stats.compilations, 1u);
  EXPECT_EQ(stats.hits, 1u);
  EXPECT_EQ(stats.misses, 1u);

  // Different caps change the effective profile: a new program.
  env.caps = CapBit(CAP_SYS_ADMIN);
  auto admin = cache.Get(docker, env);
  ASSERT_TRUE(admin.has_value());
  EXPECT_NE(admin->get(), first->get());
  EXPECT_NE((*admin)->key_hash, (*first)->key_hash);
  EXPECT_EQ(cache.Stats().compilations, 2u);

  // A cap that no rule mentions resolves to the same rules but is part of the key.
  env.caps = CapBit(CAP_CHOWN);
  auto chown = cache.Get(docker, env);
  ASSERT_TRUE(chown.has_value());
  EXPECT_EQ((*chown)->filter.size(), (*first)->filter.size());
}

TEST(SeccompCache, IsThreadSafeAndBounded) {
  SeccompCache cache(2);
  SeccompProfile docker = DockerProfile();
  std::vector<std::thread> threads;
  std::vector<const SeccompProgram*> seen(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10; ++i) {
        auto p = cache.Get(docker, {});
        if (p) seen[t] = p->get();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(cache.Stats().hits + cache.Stats().misses, 40u);
  for (int c = 0; c < 5; ++c) {
    SeccompEnvironment env;
    env.caps = CapBit(c);
    ASSERT_TRUE(cache.Get(docker, env).has_value());
  }
  EXPECT_LE(cache.Stats().entries, 2u);
}

TEST(SeccompCache, GlobalCompileSeccompCaches) {
  auto a = CompileSeccomp(DefaultSeccompProfile(), 0);
  auto b = CompileSeccomp(DefaultSeccompProfile(), 0);
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_EQ(a->get(), b->get());
}

// Behaviour: a forked child drops all caps, sets no_new_privs, loads the filter, then probes.
enum Probe {
  kGetpid,
  kFork,
  kMount,
  kPtrace,
  kUnshare,
  kSetns,
  kClone3,
  kBpf,
  kKeyctl,
  kUserfaultfd,
  kKexec,
  kIoUring,
  kVsock,
  kPersonality,
  kApplied
};

ChildValues ProbeUnderFilter(const SeccompProgram& program, uint64_t caps) {
  auto outcome = RunInChild([&](ChildValues& v) {
    v[kApplied] = ApplyCapabilities(caps);
    if (v[kApplied] == 0) v[kApplied] = SetNoNewPrivs();
    if (v[kApplied] == 0) {
      v[kApplied] = ApplySeccomp(program.filter.data(), program.filter.size(), program.flags);
    }
    if (v[kApplied] != 0) return 0;
    v[kGetpid] = ::getpid() > 0 ? 0 : errno;
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(0);
    v[kFork] = pid > 0 ? 0 : errno;
    if (pid > 0) ::waitpid(pid, nullptr, 0);
    v[kMount] = ARSENAL_PROBE(::mount("none", "/tmp", "tmpfs", 0, nullptr));
    v[kPtrace] = ARSENAL_PROBE(::ptrace(PTRACE_PEEKUSER, ::getppid(), nullptr, nullptr));
    v[kUnshare] = ARSENAL_PROBE(::unshare(CLONE_NEWNS));
    v[kSetns] = ARSENAL_PROBE(::setns(-1, 0));
    v[kClone3] = ARSENAL_PROBE(::syscall(SYS_clone3, nullptr, 0));
    v[kBpf] = ARSENAL_PROBE(::syscall(SYS_bpf, 0, nullptr, 0));
    v[kKeyctl] = ARSENAL_PROBE(::syscall(SYS_keyctl, 0, 0, 0, 0, 0));
    v[kUserfaultfd] = ARSENAL_PROBE(::syscall(SYS_userfaultfd, 0));
    v[kKexec] = ARSENAL_PROBE(::syscall(SYS_kexec_load, 0, 0, nullptr, 0));
    v[kIoUring] = ARSENAL_PROBE(::syscall(SYS_io_uring_setup, 0, nullptr));
    v[kVsock] = ARSENAL_PROBE(::socket(40 /*AF_VSOCK*/, SOCK_STREAM, 0));
    v[kPersonality] = ARSENAL_PROBE(::syscall(SYS_personality, 0xffffffffUL));
    return 0;
  });
  EXPECT_TRUE(outcome.ok) << "wait status " << outcome.wait_status;
  return outcome.values;
}

TEST(SeccompBehaviour, DefaultProfileDeniesPrivilegedSyscalls) {
  auto program = CompileSeccomp(DefaultSeccompProfile(), 0);
  ASSERT_TRUE(program.has_value()) << program.error().ToString();
  ChildValues v = ProbeUnderFilter(**program, 0);
  ASSERT_EQ(v[kApplied], 0);
  EXPECT_EQ(v[kGetpid], 0);
  EXPECT_EQ(v[kFork], 0);
  EXPECT_EQ(v[kPersonality], 0);  // query persona is allowed
  EXPECT_EQ(v[kMount], EPERM);
  EXPECT_EQ(v[kPtrace], EPERM);
  EXPECT_EQ(v[kUnshare], EPERM);
  EXPECT_EQ(v[kSetns], EPERM);
  EXPECT_EQ(v[kClone3], ENOSYS);  // so libc falls back to clone, whose flags are checked
  EXPECT_EQ(v[kBpf], EPERM);
  EXPECT_EQ(v[kKeyctl], EPERM);
  EXPECT_EQ(v[kUserfaultfd], EPERM);
  EXPECT_EQ(v[kKexec], EPERM);
  EXPECT_EQ(v[kIoUring], EPERM);
  EXPECT_EQ(v[kVsock], EPERM);
}

TEST(SeccompBehaviour, DockerProfileBehavesAsDocker) {
  SeccompProfile docker = DockerProfile();
  auto program = CompileSeccomp(docker, 0);
  ASSERT_TRUE(program.has_value()) << program.error().ToString();
  ChildValues v = ProbeUnderFilter(**program, 0);
  ASSERT_EQ(v[kApplied], 0);
  EXPECT_EQ(v[kGetpid], 0);
  EXPECT_EQ(v[kFork], 0);
  EXPECT_EQ(v[kMount], EPERM);
  EXPECT_EQ(v[kUnshare], EPERM);
  EXPECT_EQ(v[kClone3], ENOSYS);
  EXPECT_EQ(v[kBpf], EPERM);
  EXPECT_EQ(v[kKeyctl], EPERM);
  // Docker allows ptrace on kernels >= 4.8: the filter lets it through and the kernel decides
  // (our parent is not traced by us: ESRCH, not EPERM from the filter).
  EXPECT_NE(v[kPtrace], EPERM);
  // io_uring is in Docker's allowlist: EINVAL/EFAULT from the kernel, not EPERM.
  EXPECT_NE(v[kIoUring], EPERM);
}

TEST(SeccompBehaviour, EmptyProgramIsRefused) { EXPECT_EQ(ApplySeccomp(nullptr, 0), EINVAL); }

}  // namespace
}  // namespace arsenal::policies
