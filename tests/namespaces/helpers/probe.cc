// probe: a tiny program that runs inside a sandbox and reports what it could do.
//
// Usage: probe SUBCOMMAND [ARGS...]. Each subcommand prints one line on stdout and exits 0 when
// the action succeeded, 1 when it was denied or failed (the line then ends with the errno name,
// e.g. "write-file /x: EROFS"), 2 on a usage error. Report-only subcommands always exit 0.
// It is linked statically when possible, so it also runs in a bare directory rootfs.
//
//   read-file PATH      read PATH                          -> "ok N bytes"
//   write-file PATH     create/truncate PATH, write "probe" -> "ok"
//   mount [PATH]        mount a tmpfs on PATH (default /tmp)
//   kill PID [SIG]      send SIG (default 9) to PID
//   ptrace PID          PTRACE_ATTACH to PID (detaches again)
//   raw-socket          socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)
//   connect PORT [IP]   TCP connect to IP (default 127.0.0.1):PORT
//   connect-self        listen on 127.0.0.1:0 and connect to it (works only with lo up)
//   lo                  exit 0 when the loopback interface is up
//   statfs PATH         -> "total=BYTES"
//   caps                -> "CapEff=HEX CapBnd=HEX CapAmb=HEX"           (report)
//   nnp                 -> "NoNewPrivs=N"                                (report)
//   fds                 -> open fds, space separated, e.g. "0 1 2"       (report)
//   env                 -> the environment, one entry per line (the one multi-line output)
//   hostname            -> the hostname (uses uname(2))
//   ids                 -> "uid=U gid=G groups=N"                        (report)
//   pid                 -> "pid=P ppid=Q"                                (report)
//   list-pids           -> pids in /proc, space separated, ascending     (report)
//   rlimit-nofile       -> "soft=S hard=H"                               (report)
//   exit CODE           exit with CODE
//   signal SIG          kill itself with SIG
//   sleep SECONDS       sleep, then exit 0
//   alloc MIB           allocate and touch MIB MiB, 1 MiB at a time    -> "ok MIB MiB"
//   forkbomb N          fork N children that sleep (killed on exit)    -> "forked N" / "fork: E.."
//   threads-io DIR N    N threads each write, fsync, read back and remove a 1 MiB file in DIR
//   print-bytes N       write N bytes ('x') to stdout
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

int Denied(const std::string& what) {
  int err = errno;
  std::printf("%s: %s\n", what.c_str(), strerrorname_np(err) ? strerrorname_np(err) : "E?");
  return 1;
}

int Ok(const std::string& line = "ok") {
  std::printf("%s\n", line.c_str());
  return 0;
}

std::string StatusField(const char* name) {
  FILE* f = std::fopen("/proc/self/status", "re");
  if (f == nullptr) return "?";
  char line[512];
  std::string value = "?";
  size_t len = std::strlen(name);
  while (std::fgets(line, sizeof(line), f)) {
    if (std::strncmp(line, name, len) == 0 && line[len] == ':') {
      char* v = line + len + 1;
      while (*v == ' ' || *v == '\t') ++v;
      v[std::strcspn(v, "\n")] = '\0';
      value = v;
      break;
    }
  }
  std::fclose(f);
  return value;
}

std::vector<int> ListNumeric(const char* dir_path, int skip) {
  std::vector<int> out;
  DIR* dir = ::opendir(dir_path);
  if (dir == nullptr) return out;
  while (dirent* e = ::readdir(dir)) {
    char* end = nullptr;
    long v = std::strtol(e->d_name, &end, 10);
    if (*e->d_name && *end == '\0' && v != skip) out.push_back(static_cast<int>(v));
  }
  ::closedir(dir);
  std::sort(out.begin(), out.end());
  return out;
}

std::string Join(const std::vector<int>& v) {
  std::string s;
  for (int x : v) s += (s.empty() ? "" : " ") + std::to_string(x);
  return s;
}

int Connect(int port, const char* ip) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Denied("socket");
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, ip, &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) {
    return Denied("connect " + std::string(ip) + ":" + std::to_string(port));
  }
  return Ok();
}

int ConnectSelf() {
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0) return Denied("socket");
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) < 0) return Denied("bind");
  if (::listen(lfd, 1) < 0) return Denied("listen");
  if (::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len) < 0)
    return Denied("getsockname");
  return Connect(ntohs(addr.sin_port), "127.0.0.1");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: probe SUBCOMMAND [ARGS]\n");
    return 2;
  }
  const std::string cmd = argv[1];
  const char* arg = argc > 2 ? argv[2] : nullptr;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);

  if (cmd == "read-file" && arg) {
    int fd = ::open(arg, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Denied("read-file " + std::string(arg));
    char buf[4096];
    ssize_t total = 0, n;
    while ((n = ::read(fd, buf, sizeof(buf))) > 0) total += n;
    if (n < 0) return Denied("read-file " + std::string(arg));
    return Ok("ok " + std::to_string(total) + " bytes");
  }
  if (cmd == "write-file" && arg) {
    int fd = ::open(arg, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return Denied("write-file " + std::string(arg));
    if (::write(fd, "probe\n", 6) != 6) return Denied("write-file " + std::string(arg));
    ::close(fd);
    return Ok();
  }
  if (cmd == "mount") {
    const char* path = arg ? arg : "/tmp";
    if (::mount("tmpfs", path, "tmpfs", 0, nullptr) < 0)
      return Denied("mount " + std::string(path));
    return Ok();
  }
  if (cmd == "kill" && arg) {
    int sig = argc > 3 ? std::atoi(argv[3]) : SIGKILL;
    if (::kill(std::atoi(arg), sig) < 0) return Denied("kill " + std::string(arg));
    return Ok();
  }
  if (cmd == "ptrace" && arg) {
    pid_t pid = std::atoi(arg);
    if (::ptrace(PTRACE_ATTACH, pid, nullptr, nullptr) < 0)
      return Denied("ptrace " + std::string(arg));
    ::waitpid(pid, nullptr, __WALL);
    ::ptrace(PTRACE_DETACH, pid, nullptr, nullptr);
    return Ok();
  }
  if (cmd == "raw-socket") {
    int fd = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
    if (fd < 0) return Denied("raw-socket");
    return Ok();
  }
  if (cmd == "connect" && arg) return Connect(std::atoi(arg), argc > 3 ? argv[3] : "127.0.0.1");
  if (cmd == "connect-self") return ConnectSelf();
  if (cmd == "lo") {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Denied("socket");
    ifreq req = {};
    std::strcpy(req.ifr_name, "lo");
    if (::ioctl(fd, SIOCGIFFLAGS, &req) < 0) return Denied("SIOCGIFFLAGS");
    if (!(req.ifr_flags & IFF_UP)) {
      std::printf("lo down\n");
      return 1;
    }
    return Ok("lo up");
  }
  if (cmd == "statfs" && arg) {
    struct statfs st = {};
    if (::statfs(arg, &st) < 0) return Denied("statfs " + std::string(arg));
    return Ok("total=" + std::to_string(static_cast<unsigned long long>(st.f_blocks) * st.f_bsize));
  }
  if (cmd == "caps") {
    return Ok("CapEff=" + StatusField("CapEff") + " CapBnd=" + StatusField("CapBnd") +
              " CapAmb=" + StatusField("CapAmb"));
  }
  if (cmd == "nnp") return Ok("NoNewPrivs=" + StatusField("NoNewPrivs"));
  if (cmd == "fds") {
    // opendir's own fd is the newest one; skip it by number after listing.
    DIR* dir = ::opendir("/proc/self/fd");
    if (dir == nullptr) return Denied("opendir /proc/self/fd");
    int self = ::dirfd(dir);
    std::vector<int> fds;
    while (dirent* e = ::readdir(dir)) {
      if (e->d_name[0] == '.') continue;
      int fd = std::atoi(e->d_name);
      if (fd != self) fds.push_back(fd);
    }
    ::closedir(dir);
    std::sort(fds.begin(), fds.end());
    return Ok(Join(fds));
  }
  if (cmd == "env") {
    for (char** e = environ; *e; ++e) std::printf("%s\n", *e);
    return 0;
  }
  if (cmd == "hostname") {
    utsname u = {};
    if (::uname(&u) < 0) return Denied("uname");
    return Ok(u.nodename);
  }
  if (cmd == "ids") {
    return Ok("uid=" + std::to_string(::getuid()) + " gid=" + std::to_string(::getgid()) +
              " groups=" + std::to_string(::getgroups(0, nullptr)));
  }
  if (cmd == "pid") {
    return Ok("pid=" + std::to_string(::getpid()) + " ppid=" + std::to_string(::getppid()));
  }
  if (cmd == "list-pids") return Ok(Join(ListNumeric("/proc", -1)));
  if (cmd == "rlimit-nofile") {
    rlimit r = {};
    ::getrlimit(RLIMIT_NOFILE, &r);
    return Ok("soft=" + std::to_string(r.rlim_cur) + " hard=" + std::to_string(r.rlim_max));
  }
  if (cmd == "exit" && arg) return std::atoi(arg);
  if (cmd == "signal" && arg) {
    ::kill(::getpid(), std::atoi(arg));
    ::pause();
    return 3;
  }
  if (cmd == "alloc" && arg) {
    long mib = std::atol(arg);
    for (long i = 0; i < mib; ++i) {
      char* p = static_cast<char*>(std::malloc(1 << 20));
      if (p == nullptr) return Denied("malloc");
      std::memset(p, static_cast<int>(i & 0xff) | 1, 1 << 20);
    }
    return Ok("ok " + std::to_string(mib) + " MiB");
  }
  if (cmd == "forkbomb" && arg) {
    long n = std::atol(arg);
    std::vector<pid_t> kids;
    for (long i = 0; i < n; ++i) {
      pid_t pid = ::fork();
      if (pid == 0) {
        ::pause();
        ::_exit(0);
      }
      if (pid < 0) {
        int err = errno;
        for (pid_t k : kids) ::kill(k, SIGKILL);
        errno = err;
        return Denied("fork after " + std::to_string(kids.size()));
      }
      kids.push_back(pid);
    }
    for (pid_t k : kids) ::kill(k, SIGKILL);
    for (pid_t k : kids) ::waitpid(k, nullptr, 0);
    return Ok("forked " + std::to_string(n));
  }
  if (cmd == "threads-io" && arg && argc > 3) {
    int n = std::atoi(argv[3]);
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < n; ++t) {
      threads.emplace_back([&, t] {
        std::string path = std::string(arg) + "/thread-" + std::to_string(t);
        std::string data(1 << 20, static_cast<char>('a' + t % 26));
        int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || ::write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size()) ||
            ::fsync(fd) != 0 || ::lseek(fd, 0, SEEK_SET) != 0) {
          ++failures;
          if (fd >= 0) ::close(fd);
          return;
        }
        std::string back(data.size(), '\0');
        if (::read(fd, back.data(), back.size()) != static_cast<ssize_t>(back.size()) ||
            back != data) {
          ++failures;
        }
        ::close(fd);
        if (::unlink(path.c_str()) != 0) ++failures;
      });
    }
    for (auto& th : threads) th.join();
    if (failures != 0) return Denied("threads-io " + std::to_string(failures.load()) + " failed");
    return Ok("ok " + std::to_string(n) + " threads");
  }
  if (cmd == "print-bytes" && arg) {
    long n = std::atol(arg);
    std::string chunk(4096, 'x');
    while (n > 0) {
      size_t len = static_cast<size_t>(std::min<long>(n, 4096));
      if (::write(1, chunk.data(), len) < 0) return 1;
      n -= static_cast<long>(len);
    }
    return 0;
  }
  if (cmd == "sleep" && arg) {
    ::sleep(static_cast<unsigned>(std::atoi(arg)));
    return Ok();
  }
  std::fprintf(stderr, "probe: unknown or incomplete subcommand '%s'\n", cmd.c_str());
  return 2;
}
