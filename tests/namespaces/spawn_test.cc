#include "arsenal/namespaces/spawn.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "test_util.h"

namespace arsenal::ns {
namespace {

using ::testing::HasSubstr;
using testing::ProbeSpec;
using testing::RunCaptured;
using testing::TempDir;

class SpawnTest : public testing::SandboxTest {};

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int CountLines(const std::string& text) {
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

// No child of this test process may remain (zombie or running).
void ExpectNoChildren() {
  siginfo_t info = {};
  int rc = ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT);
  EXPECT_TRUE(rc < 0 && errno == ECHILD)
      << "a child process was left behind (pid " << info.si_pid << ")";
}

TEST_F(SpawnTest, TrueExitsZero) {
  SpawnSpec spec;
  spec.argv = {"/bin/true"};
  auto proc = Spawn(spec);
  ASSERT_TRUE(proc) << proc.error().ToString();
  EXPECT_GT(proc->pid(), 0);
  EXPECT_GE(proc->pidfd(), 0);
  auto status = proc->Wait();
  ASSERT_TRUE(status) << status.error().ToString();
  EXPECT_TRUE(status->Success());
  ExpectNoChildren();
}

TEST_F(SpawnTest, ExitCodePropagatesThroughReaper) {
  auto out = RunCaptured(ProbeSpec({"exit", "7"}));
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_FALSE(out->status.signaled);
  EXPECT_EQ(out->status.code, 7);
}

TEST_F(SpawnTest, WorkloadSignalBecomes128PlusN) {
  auto out = RunCaptured(ProbeSpec({"signal", std::to_string(SIGSEGV)}));
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->status.code, 128 + SIGSEGV);
}

TEST_F(SpawnTest, WithoutPidNamespaceSignalIsReportedAsSignal) {
  SpawnSpec spec = ProbeSpec({"signal", std::to_string(SIGABRT)});
  spec.namespaces.pid = false;
  spec.mount_proc = false;
  auto out = RunCaptured(spec);
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_TRUE(out->status.signaled);
  EXPECT_EQ(out->status.signal, SIGABRT);
}

TEST_F(SpawnTest, ReaperForwardsSigterm) {
  for (int sig : {SIGTERM, SIGINT, SIGUSR1}) {
    auto proc = Spawn(ProbeSpec({"sleep", "30"}));
    ASSERT_TRUE(proc) << proc.error().ToString();
    ASSERT_TRUE(proc->Signal(sig));
    auto status = proc->Wait();
    ASSERT_TRUE(status);
    EXPECT_EQ(status->code, 128 + sig) << "signal " << sig;
  }
}

TEST_F(SpawnTest, PidNamespaceHidesHostPids) {
  auto out = RunCaptured(ProbeSpec({"pid"}));
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->out, "pid=2 ppid=1\n");
  out = RunCaptured(ProbeSpec({"list-pids"}));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->out, "1 2\n");
  // Our own pid is not reachable from inside.
  out = RunCaptured(ProbeSpec({"kill", std::to_string(::getpid()), "0"}));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status.code, 1);
  EXPECT_THAT(out->out, HasSubstr("ESRCH"));
}

TEST_F(SpawnTest, HostnameIsSet) {
  SpawnSpec spec = ProbeSpec({"hostname"});
  spec.hostname = "arsenal-box";
  auto out = RunCaptured(spec);
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->out, "arsenal-box\n");
}

TEST_F(SpawnTest, RootInsideIsUnprivilegedOutside) {
  auto out = RunCaptured(ProbeSpec({"ids"}));
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->out, "uid=0 gid=0 groups=0\n");  // supplementary groups cleared

  auto proc = Spawn(ProbeSpec({"sleep", "30"}));
  ASSERT_TRUE(proc) << proc.error().ToString();
  std::string status = ReadFile("/proc/" + std::to_string(proc->pid()) + "/status");
  EXPECT_THAT(status, HasSubstr("Uid:\t65534\t65534\t65534\t65534"));
  EXPECT_THAT(status, HasSubstr("Gid:\t65534\t65534\t65534\t65534"));
  EXPECT_THAT(status, ::testing::ContainsRegex("Groups:\t *\n"));
}

TEST_F(SpawnTest, CustomOutsideId) {
  SpawnSpec spec = ProbeSpec({"sleep", "30"});
  spec.ids.uid_map = {{0, 4242, 1}};
  spec.ids.gid_map = {{0, 4343, 1}};
  auto proc = Spawn(spec);
  ASSERT_TRUE(proc) << proc.error().ToString();
  std::string status = ReadFile("/proc/" + std::to_string(proc->pid()) + "/status");
  EXPECT_THAT(status, HasSubstr("Uid:\t4242\t4242"));
  EXPECT_THAT(status, HasSubstr("Gid:\t4343\t4343"));
}

TEST_F(SpawnTest, HostRootIsReadOnly) {
  auto out = RunCaptured(ProbeSpec({"write-file", "/etc/arsenal-should-not-exist"}));
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->status.code, 1);
  EXPECT_THAT(out->out, HasSubstr("EROFS"));
  EXPECT_FALSE(std::filesystem::exists("/etc/arsenal-should-not-exist"));
}

TEST_F(SpawnTest, ReadOnlyAndReadWriteBinds) {
  TempDir ro, rw;
  ::chmod(rw.path().c_str(), 0777);
  std::ofstream(ro.path() + "/existing") << "data";
  SpawnSpec spec = ProbeSpec({"write-file", "/mnt/ro/new"});
  // Mount points are created on the tmpfs at /mnt (the host root itself is read-only).
  spec.mounts = {MountSpec::Tmpfs("/mnt", 1 << 20), MountSpec::BindReadOnly(ro.path(), "/mnt/ro"),
                 MountSpec::BindReadWrite(rw.path(), "/mnt/rw")};
  auto out = RunCaptured(spec);
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->status.code, 1);
  EXPECT_THAT(out->out, HasSubstr("EROFS"));

  spec.argv = {testing::ProbePath(), "read-file", "/mnt/ro/existing"};
  out = RunCaptured(spec);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->out, "ok 4 bytes\n");

  spec.argv = {testing::ProbePath(), "write-file", "/mnt/rw/new"};
  out = RunCaptured(spec);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status.code, 0) << out->out;
  EXPECT_EQ(ReadFile(rw.path() + "/new"), "probe\n");
}

TEST_F(SpawnTest, TmpfsWithSize) {
  SpawnSpec spec = ProbeSpec({"statfs", "/scratch"});
  spec.mounts = {MountSpec::Tmpfs("/tmp", 4 << 20), MountSpec::Tmpfs("/tmp/scratch2", 1 << 20)};
  spec.argv = {testing::ProbePath(), "statfs", "/tmp"};
  auto out = RunCaptured(spec);
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->out, "total=" + std::to_string(4 << 20) + "\n");
  // A nested mount point is created on the (writable) tmpfs below it.
  spec.argv = {testing::ProbePath(), "statfs", "/tmp/scratch2"};
  out = RunCaptured(spec);
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->out, "total=" + std::to_string(1 << 20) + "\n");
  spec.argv = {testing::ProbePath(), "write-file", "/tmp/scratch2/f"};
  out = RunCaptured(spec);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status.code, 0) << out->out;
}

TEST_F(SpawnTest, DirectoryRootfsHidesHost) {
  TempDir root, secret;
  std::ofstream(secret.path() + "/secret") << "s3cret";
  for (const char* d : {"/proc", "/dev", "/tmp"}) ::mkdir((root.path() + d).c_str(), 0755);
  std::ofstream(root.path() + "/probe").close();
  SpawnSpec spec;
  spec.rootfs = root.path();
  spec.mounts = {MountSpec::BindReadOnly(testing::ProbePath(), "/probe")};
  spec.argv = {"/probe", "read-file", secret.path() + "/secret"};
  auto out = RunCaptured(spec);
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->status.code, 1);
  EXPECT_THAT(out->out, HasSubstr("ENOENT"));
  // The minimal /dev works in it.
  spec.argv = {"/probe", "read-file", "/dev/null"};
  out = RunCaptured(spec);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->out, "ok 0 bytes\n");
  spec.argv = {"/probe", "write-file", "/dev/full"};
  out = RunCaptured(spec);
  ASSERT_TRUE(out);
  EXPECT_THAT(out->out, HasSubstr("ENOSPC"));
}

TEST_F(SpawnTest, OnlyStdioFdsAreOpen) {
  // A non-CLOEXEC fd of ours must not leak in (besides whatever this process inherited).
  int leaky = ::open("/dev/null", O_RDONLY);
  ASSERT_GE(leaky, 3);
  auto out = RunCaptured(ProbeSpec({"fds"}));
  ::close(leaky);
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->out, "0 1 2\n");
}

TEST_F(SpawnTest, EnvIsExactlyWhatWasGiven) {
  SpawnSpec spec = ProbeSpec({"env"});
  ::setenv("ARSENAL_HOST_ONLY", "1", 1);
  auto out = RunCaptured(spec);
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->out, "");
  spec.env = {"A=1", "B=two words", "PATH=/usr/bin"};
  out = RunCaptured(spec);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->out, "A=1\nB=two words\nPATH=/usr/bin\n");
  ::unsetenv("ARSENAL_HOST_ONLY");
}

TEST_F(SpawnTest, PathLookupUsesSpecEnv) {
  SpawnSpec spec;
  spec.argv = {"true"};
  auto out = RunCaptured(spec);
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_TRUE(out->status.Success());
}

TEST_F(SpawnTest, CwdIsApplied) {
  SpawnSpec spec;
  spec.argv = {"/bin/sh", "-c", "pwd"};
  spec.cwd = "/usr/bin";
  auto out = RunCaptured(spec);
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->out, "/usr/bin\n");
}

class HostListener {
 public:
  HostListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr = {};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    ::listen(fd_, 4);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~HostListener() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST_F(SpawnTest, NoNetworkCannotReachHostLoopback) {
  HostListener listener;
  auto out = RunCaptured(ProbeSpec({"connect", std::to_string(listener.port())}));
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->status.code, 1) << out->out;
  out = RunCaptured(ProbeSpec({"lo"}));
  ASSERT_TRUE(out);
  EXPECT_EQ(out->out, "lo down\n");
}

TEST_F(SpawnTest, LoopbackModeHasLoUp) {
  HostListener listener;
  SpawnSpec spec = ProbeSpec({"lo"});
  spec.network = NetworkMode::kLoopback;
  auto out = RunCaptured(spec);
  ASSERT_TRUE(out) << out.error().ToString();
  EXPECT_EQ(out->out, "lo up\n");
  spec.argv = {testing::ProbePath(), "connect-self"};
  out = RunCaptured(spec);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status.code, 0) << out->out;
  // Its loopback is its own, not the host's.
  spec.argv = {testing::ProbePath(), "connect", std::to_string(listener.port())};
  out = RunCaptured(spec);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->status.code, 1) << out->out;
  EXPECT_THAT(out->out, HasSubstr("ECONNREFUSED"));
}

TEST_F(SpawnTest, MissingBindSourceNamesStepAndErrno) {
  const std::string mounts_before = ReadFile("/proc/self/mountinfo");
  SpawnSpec spec = ProbeSpec({"exit", "0"});
  spec.mounts = {MountSpec::BindReadOnly("/nonexistent/arsenal/src", "/mnt")};
  auto proc = Spawn(spec);
  ASSERT_FALSE(proc);
  EXPECT_EQ(proc.error().code(), "sandbox.setup_failed");
  EXPECT_EQ(proc.error().details().value("step", ""), "mount");
  EXPECT_EQ(proc.error().details().value("errno_name", ""), "ENOENT");
  EXPECT_FALSE(proc.error().hint().empty());
  ExpectNoChildren();
  EXPECT_EQ(ReadFile("/proc/self/mountinfo"), mounts_before);
}

TEST_F(SpawnTest, MountPointMissingInReadOnlyRootFailsInChild) {
  const std::string mounts_before = ReadFile("/proc/self/mountinfo");
  TempDir dir;
  SpawnSpec spec = ProbeSpec({"exit", "0"});
  spec.mounts = {MountSpec::BindReadOnly(dir.path(), "/nonexistent-arsenal-dir/x")};
  auto proc = Spawn(spec);
  ASSERT_FALSE(proc);
  EXPECT_EQ(proc.error().code(), "sandbox.setup_failed");
  EXPECT_EQ(proc.error().details().value("step", ""), "mount");
  EXPECT_EQ(proc.error().details().value("mount_index", -1), 0);
  EXPECT_EQ(proc.error().details().value("errno_name", ""), "EROFS");
  EXPECT_THAT(proc.error().message(), HasSubstr("/nonexistent-arsenal-dir/x"));
  ExpectNoChildren();
  EXPECT_FALSE(std::filesystem::exists("/nonexistent-arsenal-dir"));
  EXPECT_EQ(CountLines(ReadFile("/proc/self/mountinfo")), CountLines(mounts_before));
}

TEST_F(SpawnTest, ExecOfMissingBinaryNamesStepAndErrno) {
  SpawnSpec spec;
  spec.argv = {"/nonexistent/arsenal-binary"};
  auto proc = Spawn(spec);
  ASSERT_FALSE(proc);
  EXPECT_EQ(proc.error().code(), "sandbox.exec_failed");
  EXPECT_EQ(proc.error().details().value("step", ""), "exec");
  EXPECT_EQ(proc.error().details().value("errno_name", ""), "ENOENT");
  EXPECT_THAT(proc.error().message(), HasSubstr("/nonexistent/arsenal-binary"));
  ExpectNoChildren();

  spec.argv = {"no-such-command-arsenal"};
  proc = Spawn(spec);
  ASSERT_FALSE(proc);
  EXPECT_EQ(proc.error().details().value("errno_name", ""), "ENOENT");
  ExpectNoChildren();
}

TEST_F(SpawnTest, BadCwdFails) {
  SpawnSpec spec;
  spec.argv = {"/bin/true"};
  spec.cwd = "/nonexistent-arsenal";
  auto proc = Spawn(spec);
  ASSERT_FALSE(proc);
  EXPECT_EQ(proc.error().details().value("step", ""), "cwd");
  ExpectNoChildren();
}

TEST_F(SpawnTest, HookSeesPidBeforeExecAndCanAbort) {
  pid_t seen = 0;
  SpawnSpec spec;
  spec.argv = {"/bin/true"};
  auto proc = Spawn(spec, [&](pid_t pid) -> Status {
    seen = pid;
    // The child is still waiting for us: its id maps are already written.
    EXPECT_EQ(
        ReadFile("/proc/" + std::to_string(pid) + "/uid_map").find("65534") != std::string::npos,
        true);
    return {};
  });
  ASSERT_TRUE(proc) << proc.error().ToString();
  EXPECT_EQ(seen, proc->pid());
  ASSERT_TRUE(proc->Wait());

  proc = Spawn(spec, [](pid_t) -> Status {
    return Fail(InternalError("cgroup.attach_failed", "attach failed"));
  });
  ASSERT_FALSE(proc);
  EXPECT_EQ(proc.error().code(), "cgroup.attach_failed");
  ExpectNoChildren();
}

TEST_F(SpawnTest, InvalidSpecIsRejectedBeforeClone) {
  SpawnSpec spec;
  auto proc = Spawn(spec);
  ASSERT_FALSE(proc);
  EXPECT_EQ(proc.error().code(), "sandbox.invalid_spec");
  spec.argv = {"/bin/true"};
  spec.mounts = {MountSpec::Tmpfs("relative", 0)};
  proc = Spawn(spec);
  ASSERT_FALSE(proc);
  EXPECT_EQ(proc.error().code(), "sandbox.invalid_spec");
  ExpectNoChildren();
}

TEST_F(SpawnTest, DestroyingUnwaitedProcessKillsIt) {
  pid_t pid;
  {
    auto proc = Spawn(ProbeSpec({"sleep", "30"}));
    ASSERT_TRUE(proc) << proc.error().ToString();
    pid = proc->pid();
  }
  EXPECT_NE(::kill(pid, 0), 0);
  ExpectNoChildren();
}

}  // namespace
}  // namespace arsenal::ns
