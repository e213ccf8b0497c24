// Acceptance: helper programs inside default sandboxes try, and must fail, to escape or abuse
// the host; ordinary programs must work under the default profile.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "sandbox_test_util.h"

namespace arsenal {
namespace {

using sandbox_testing::Probe;
using sandbox_testing::ProbeArgv;
using namespace std::chrono_literals;

class AcceptanceTest : public sandbox_testing::SandboxTest {
 protected:
  // Runs the probe in a default sandbox (optionally customised) and returns the result.
  SandboxResult RunProbe(std::vector<std::string> args, SandboxSpecBuilder builder = {}) {
    auto spec = builder.Build();
    EXPECT_TRUE(spec) << spec.error().ToString();
    if (!spec) return {};
    auto r = RunSandboxed(*spec, ProbeArgv(std::move(args)));
    EXPECT_TRUE(r) << r.error().ToString();
    return r ? *r : SandboxResult{};
  }
  // Expects the probe's action to be denied with `errno_name` (any errno when empty).
  void ExpectDenied(const SandboxResult& r, const std::string& errno_name = "") {
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    if (!errno_name.empty()) {
      EXPECT_NE(r.out.find(errno_name), std::string::npos) << r.out;
    }
  }
};

// A directory rootfs with only the probe in it: the host's files do not exist there.
TEST_F(AcceptanceTest, CannotReadHostFilesOutsideRootfsAndBinds) {
  std::string root = "/tmp/arsenal-accept-root-" + std::to_string(::getpid());
  std::filesystem::create_directories(root + "/proc");
  std::filesystem::create_directories(root + "/dev");
  std::filesystem::create_directories(root + "/bin");
  std::filesystem::permissions(root, std::filesystem::perms(0755));
  { std::ofstream(root + "/bin/probe") << ""; }
  std::string secret = "/tmp/arsenal-accept-secret-" + std::to_string(::getpid());
  { std::ofstream(secret) << "host secret"; }
  SandboxSpecBuilder b;
  b.Rootfs(root).BindReadOnly(Probe(), "/bin/probe");
  auto spec = b.Build();
  ASSERT_TRUE(spec) << spec.error().ToString();
  for (const std::string& path : {std::string("/etc/passwd"), secret, std::string("/root")}) {
    auto r = RunSandboxed(*spec, {"/bin/probe", "read-file", path});
    ASSERT_TRUE(r) << r.error().ToString();
    EXPECT_EQ(r->exit_code, 1) << path << ": " << r->out;
    EXPECT_NE(r->out.find("ENOENT"), std::string::npos) << r->out;
  }
  // With the default (host) rootfs, host files are visible but only read-only; a bind is the
  // only other way in.
  auto visible = RunProbe({"read-file", secret});
  EXPECT_EQ(visible.exit_code, 0);
  std::filesystem::remove_all(root);
  std::filesystem::remove(secret);
}

TEST_F(AcceptanceTest, CannotWriteReadOnlyBindsOrTheHostRoot) {
  std::string dir = "/tmp/arsenal-accept-ro-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  // The host root is read-only, so the bind goes onto the directory's own path.
  ExpectDenied(
      RunProbe({"write-file", dir + "/x"}, std::move(SandboxSpecBuilder().BindReadOnly(dir, dir))),
      "EROFS");
  ExpectDenied(RunProbe({"write-file", "/etc/arsenal-accept"}), "EROFS");
  ExpectDenied(RunProbe({"write-file", dir + "/y"}), "EROFS");
  EXPECT_FALSE(std::filesystem::exists(dir + "/x"));
  EXPECT_FALSE(std::filesystem::exists(dir + "/y"));
  std::filesystem::remove_all(dir);
}

TEST_F(AcceptanceTest, CannotMount) { ExpectDenied(RunProbe({"mount", "/tmp"}), "EPERM"); }

TEST_F(AcceptanceTest, CannotSeeOrSignalOrPtraceHostProcesses) {
  // A host process the sandbox must not reach.
  pid_t host = ::fork();
  if (host == 0) {
    ::pause();
    ::_exit(0);
  }
  ASSERT_GT(host, 0);
  auto pids = RunProbe({"list-pids"});
  EXPECT_EQ(pids.exit_code, 0);
  EXPECT_EQ(pids.out.find(std::to_string(host)), std::string::npos) << pids.out;
  EXPECT_EQ(pids.out.find(std::to_string(::getpid())), std::string::npos) << pids.out;
  EXPECT_LT(pids.out.size(), 8u) << "only the sandbox's own pids: " << pids.out;
  ExpectDenied(RunProbe({"kill", std::to_string(host)}));
  ExpectDenied(RunProbe({"kill", "-1"}));
  ExpectDenied(RunProbe({"ptrace", std::to_string(host)}));
  ExpectDenied(RunProbe({"ptrace", "1"}));  // its own PID 1 reaper
  int status = 0;
  EXPECT_EQ(::waitpid(host, &status, WNOHANG), 0) << "the host process must still run";
  ::kill(host, SIGKILL);
  ::waitpid(host, &status, 0);
}

TEST_F(AcceptanceTest, CannotOpenRawSockets) { ExpectDenied(RunProbe({"raw-socket"})); }

TEST_F(AcceptanceTest, CannotReachHostLoopback) {
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string port = std::to_string(ntohs(addr.sin_port));
  ExpectDenied(RunProbe({"connect", port}), "ENETUNREACH");
  // Loopback mode brings up the sandbox's own lo, which is not the host's.
  ExpectDenied(RunProbe({"connect", port},
                        std::move(SandboxSpecBuilder().Network(SandboxNetwork::kLoopback))),
               "ECONNREFUSED");
  ::close(listener);
}

TEST_F(AcceptanceTest, KeepsNoCapability) {
  auto r = RunProbe({"caps"});
  EXPECT_EQ(r.out, "CapEff=0000000000000000 CapBnd=0000000000000000 CapAmb=0000000000000000\n");
  auto nnp = RunProbe({"nnp"});
  EXPECT_EQ(nnp.out, "NoNewPrivs=1\n");
}

TEST_F(AcceptanceTest, ForkBombIsCappedByThePidsLimit) {
  ARSENAL_REQUIRE_CGROUPS();
  auto r = RunProbe({"forkbomb", "200"}, std::move(SandboxSpecBuilder().Pids(16)));
  ExpectDenied(r, "EAGAIN");
  // The host can still fork.
  pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ASSERT_GT(pid, 0);
  ::waitpid(pid, nullptr, 0);
  auto fine = RunProbe({"forkbomb", "8"}, std::move(SandboxSpecBuilder().Pids(16)));
  EXPECT_EQ(fine.exit_code, 0) << fine.out;
}

TEST_F(AcceptanceTest, MemoryHogIsOomKilledAndReportedWhileOthersRunOn) {
  ARSENAL_REQUIRE_CGROUPS();
  // A neighbour sandbox that must survive the hog's OOM.
  auto neighbour = Sandbox::Create(*SandboxSpecBuilder().Memory(64 << 20).Build());
  ASSERT_TRUE(neighbour) << neighbour.error().ToString();
  auto sleeper = (*neighbour)->Launch({"/bin/sleep", "30"});
  ASSERT_TRUE(sleeper) << sleeper.error().ToString();

  auto spec = SandboxSpecBuilder().Memory(32 << 20).Build();
  ASSERT_TRUE(spec);
  auto r = RunSandboxed(*spec, ProbeArgv({"alloc", "256"}));
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_TRUE(r->oom);
  EXPECT_EQ(r->signal, SIGKILL);
  EXPECT_EQ(r->exit_code, 128 + SIGKILL);
  EXPECT_GE(r->peak_memory_bytes, 30u << 20);
  EXPECT_LE(r->peak_memory_bytes, 33u << 20);

  EXPECT_EQ((*neighbour)->state(), SandboxState::kRunning);
  EXPECT_EQ((*neighbour)->Pids().size(), 2u);  // PID 1 and sleep, untouched
  ASSERT_TRUE((*sleeper)->Kill());
  auto done = (*sleeper)->Wait();
  ASSERT_TRUE(done);
  EXPECT_FALSE(done->oom);
}

TEST_F(AcceptanceTest, OomInALongLivedSandboxKillsTheRest) {
  ARSENAL_REQUIRE_CGROUPS();
  auto box = Sandbox::Create(*SandboxSpecBuilder().Memory(32 << 20).Build());
  ASSERT_TRUE(box);
  ASSERT_TRUE((*box)->Start());
  auto bystander = (*box)->LaunchExec({"/bin/sleep", "30"});
  ASSERT_TRUE(bystander);
  auto hog = (*box)->Exec(ProbeArgv({"alloc", "256"}));
  ASSERT_TRUE(hog) << hog.error().ToString();
  EXPECT_TRUE(hog->oom);
  auto other = (*bystander)->Wait();
  ASSERT_TRUE(other);
  EXPECT_EQ(other->signal, SIGKILL);  // killed as "the rest" of the sandbox
  EXPECT_EQ((*box)->state(), SandboxState::kStopped);
  EXPECT_TRUE((*box)->Pids().empty());
  // The sandbox reached its limit. (oom_kills may still be 0: reacting to the cgroup's OOM
  // notification can kill the hog before the kernel's OOM killer picks it.)
  auto usage = (*box)->Usage();
  ASSERT_TRUE(usage);
  EXPECT_GE(usage->memory_peak, 30u << 20);
}

TEST_F(AcceptanceTest, InheritsNoHostFdAndNoHostEnvironment) {
  int leaked = ::open("/etc/hostname", O_RDONLY);  // deliberately not O_CLOEXEC
  ASSERT_GE(leaked, 0);
  ::setenv("ARSENAL_ACCEPT_SECRET", "s3cret", 1);
  auto fds = RunProbe({"fds"});
  EXPECT_EQ(fds.out, "0 1 2\n");
  auto env = RunProbe({"env"});
  EXPECT_EQ(env.exit_code, 0);
  EXPECT_EQ(env.out, "");
  ::unsetenv("ARSENAL_ACCEPT_SECRET");
  ::close(leaked);
}

TEST_F(AcceptanceTest, ShellScriptsWorkUnderTheDefaultProfile) {
  auto spec = SandboxSpecBuilder().Tmpfs("/tmp", 16 << 20).Build();
  ASSERT_TRUE(spec);
  auto r = RunSandboxed(*spec, {"/bin/sh", "-c",
                                "set -e; cd /tmp; for i in 1 2 3; do echo line$i >> f; done; "
                                "sort -r f | head -n 1; ls -l f >/dev/null; wc -l < f; "
                                "(sleep 0.01; echo sub) & wait; exit 0"});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_EQ(r->out, "line3\n3\nsub\n");
}

TEST_F(AcceptanceTest, ThreadedProgramDoesFileIoInATmpfs) {
  auto r = RunProbe({"threads-io", "/mnt", "8"},
                    std::move(SandboxSpecBuilder().Tmpfs("/mnt", 32 << 20).Pids(64)));
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.out, "ok 8 threads\n");
}

}  // namespace
}  // namespace arsenal
