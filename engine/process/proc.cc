// /proc and cgroup readers. Files are read with plain read(2) into a stack buffer: they are small,
// and list pages read dozens of them per request, so iostreams would dominate the cost.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <unordered_map>

#include "arsenal/base/syscalls.h"
#include "arsenal/base/unique_fd.h"
#include "arsenal/engine/process_inspect.h"

namespace arsenal {
namespace {

// Reads a whole small /proc or cgroupfs file; nullopt when it cannot be opened or read. These
// files are generated whole on each read (seq_file, kernfs): a read that returns less than asked
// for has reached the end, so the usual closing read that returns 0 is skipped. System calls are
// the dearest part of an inspection (get_process_info makes a few dozen), and on a virtual
// machine most so.
std::optional<std::string> ReadSmallFile(const std::string& path, size_t limit = 1 << 20) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return std::nullopt;
  std::string out;
  char buf[4096];
  while (out.size() < limit) {
    const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::nullopt;
    }
    out.append(buf, static_cast<size_t>(n));
    if (static_cast<size_t>(n) < sizeof(buf)) break;
  }
  return out;
}

std::string ProcPath(pid_t pid, const char* leaf) {
  return "/proc/" + std::to_string(pid) + "/" + leaf;
}

Error Vanished(pid_t pid) {
  return NotFoundError("process.not_found", "no process with pid " + std::to_string(pid))
      .WithHint("the process has exited; list_processes shows what runs now");
}

// "Key:\tvalue" lines of /proc/<pid>/status.
std::unordered_map<std::string, std::string> ParseStatus(const std::string& text) {
  std::unordered_map<std::string, std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    const std::string_view line(text.data() + pos, eol - pos);
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      std::string_view value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
      }
      out.emplace(std::string(line.substr(0, colon)), std::string(value));
    }
    pos = eol + 1;
  }
  return out;
}

uint64_t ParseKb(const std::string& value) {  // "2184 kB"
  return std::strtoull(value.c_str(), nullptr, 10) * 1024;
}

uint64_t ParseHex(const std::string& value) { return std::strtoull(value.c_str(), nullptr, 16); }

std::string SignalNameOf(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  if (abbrev != nullptr) return std::string("SIG") + abbrev;
  if (sig >= SIGRTMIN && sig <= SIGRTMAX) return "SIGRTMIN+" + std::to_string(sig - SIGRTMIN);
  return "SIG" + std::to_string(sig);
}

Json SignalSet(uint64_t mask) {
  Json names = Json::array();
  for (int sig = 1; sig <= 64; ++sig) {
    if (mask & (1ULL << (sig - 1))) names.push_back(SignalNameOf(sig));
  }
  return names;
}

Json CapabilitySet(uint64_t mask) {
  Json names = Json::array();
  for (int cap = 0; cap < 64; ++cap) {
    if (!(mask & (1ULL << cap))) continue;
    // libcap knows the names of every capability it was built with; newer ones print as numbers.
    char* name = ::cap_to_name(static_cast<cap_value_t>(cap));
    if (name != nullptr) {
      names.push_back(name);
      ::cap_free(name);
    } else {
      names.push_back(std::to_string(cap));
    }
  }
  return names;
}

std::string HexMask(uint64_t mask) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(mask));
  return buf;
}

// /proc/<pid>/cgroup → {"memory": "/process_api/x", "": "/"} (v2 entry under "").
std::map<std::string, std::string> ParseCgroups(const std::string& text) {
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    const std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    const size_t a = line.find(':');
    const size_t b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    std::string controllers = line.substr(a + 1, b - a - 1);
    const std::string path = line.substr(b + 1);
    size_t start = 0;
    do {
      size_t comma = controllers.find(',', start);
      if (comma == std::string::npos) comma = controllers.size();
      out[controllers.substr(start, comma - start)] = path;
      start = comma + 1;
    } while (start <= controllers.size() && !controllers.empty());
    if (controllers.empty()) out[""] = path;
  }
  return out;
}

std::optional<uint64_t> ReadU64(const std::string& path) {
  auto text = ReadSmallFile(path, 64);
  if (!text || text->empty() || !std::isdigit(static_cast<unsigned char>((*text)[0]))) {
    return std::nullopt;
  }
  return std::strtoull(text->c_str(), nullptr, 10);
}

Json CgroupMemory(const std::map<std::string, std::string>& cgroups) {
  Json out = Json::object();
  if (auto it = cgroups.find("memory"); it != cgroups.end()) {  // cgroup v1
    const std::string dir = "/sys/fs/cgroup/memory" + it->second;
    if (auto usage = ReadU64(dir + "/memory.usage_in_bytes")) out["usage_bytes"] = *usage;
    if (auto peak = ReadU64(dir + "/memory.max_usage_in_bytes")) out["peak_bytes"] = *peak;
    if (auto limit = ReadU64(dir + "/memory.limit_in_bytes")) out["limit_bytes"] = *limit;
    out["cgroup"] = it->second;
    out["version"] = 1;
  } else if (auto v2 = cgroups.find(""); v2 != cgroups.end()) {
    for (const char* root : {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"}) {
      const std::string dir = root + v2->second;
      auto usage = ReadU64(dir + "/memory.current");
      if (!usage) continue;
      out["usage_bytes"] = *usage;
      if (auto peak = ReadU64(dir + "/memory.peak")) out["peak_bytes"] = *peak;
      out["cgroup"] = v2->second;
      out["version"] = 2;
      break;
    }
  }
  return out;
}

std::string SeccompMode(const std::string& value) {
  if (value == "0") return "disabled";
  if (value == "1") return "strict";
  if (value == "2") return "filter";
  return "unknown";
}

}  // namespace

uint64_t ClockTicksToMs(uint64_t ticks) {
  static const long hz = ::sysconf(_SC_CLK_TCK);
  return ticks * 1000 / static_cast<uint64_t>(hz > 0 ? hz : 100);
}

uint64_t PageSizeBytes() {
  static const long page = ::sysconf(_SC_PAGESIZE);
  return static_cast<uint64_t>(page > 0 ? page : 4096);
}

int64_t UptimeMsSinceBoot(uint64_t starttime_ticks) {
  auto text = ReadSmallFile("/proc/uptime", 128);
  if (!text) return 0;
  const double uptime_s = std::strtod(text->c_str(), nullptr);
  const int64_t now_ms = static_cast<int64_t>(uptime_s * 1000);
  return std::max<int64_t>(0, now_ms - static_cast<int64_t>(ClockTicksToMs(starttime_ticks)));
}

Result<ProcStat> ReadProcStat(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", pid);
  UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd) return Fail(Vanished(pid));
  char buf[1024];
  ssize_t n;
  do {
    n = ::read(fd.get(), buf, sizeof(buf) - 1);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return Fail(Vanished(pid));
  buf[n] = '\0';
  // comm is between the first '(' and the *last* ')': it may contain both characters.
  char* open = std::strchr(buf, '(');
  char* close = std::strrchr(buf, ')');
  if (open == nullptr || close == nullptr || close < open) {
    return Fail(InternalError("process.proc_parse", std::string("cannot parse ") + path));
  }
  ProcStat st;
  st.pid = pid;
  st.comm.assign(open + 1, close);
  // Fields after comm, 1-based from field 3 (state).
  std::array<const char*, 52> fields{};
  size_t count = 0;
  char* p = close + 2;
  while (*p != '\0' && count < fields.size()) {
    fields[count++] = p;
    while (*p != '\0' && *p != ' ') ++p;
    while (*p == ' ') ++p;
  }
  if (count < 22) {
    return Fail(InternalError("process.proc_parse", std::string("short ") + path));
  }
  auto num = [&](size_t field) {  // field number as in proc(5)
    return std::strtoull(fields[field - 3], nullptr, 10);
  };
  st.state = fields[0][0];
  st.ppid = static_cast<pid_t>(num(4));
  st.pgrp = static_cast<pid_t>(num(5));
  st.session = static_cast<pid_t>(num(6));
  st.utime_ticks = num(14);
  st.stime_ticks = num(15);
  st.num_threads = static_cast<int64_t>(num(20));
  st.starttime_ticks = num(22);
  st.vsize_bytes = num(23);
  st.rss_pages = num(24);
  return st;
}

bool PidfdRefersTo(int pidfd, pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
  auto text = ReadSmallFile(path, 4096);
  if (!text) return false;
  const size_t pos = text->find("\nPid:");
  if (pos == std::string::npos) return false;
  return std::strtol(text->c_str() + pos + 5, nullptr, 10) == pid;
}

std::string ProcStateName(char state) {
  switch (state) {
    case 'R':
      return "running";
    case 'S':
      return "sleeping";
    case 'D':
      return "disk_sleep";
    case 'T':
      return "stopped";
    case 't':
      return "tracing_stop";
    case 'Z':
      return "zombie";
    case 'X':
    case 'x':
      return "dead";
    case 'I':
      return "idle";
    default:
      return "unknown";
  }
}

std::vector<pid_t> ListHostPids() {
  std::vector<pid_t> pids;
  DIR* dir = ::opendir("/proc");
  if (dir == nullptr) return pids;
  while (dirent* ent = ::readdir(dir)) {
    if (ent->d_name[0] < '1' || ent->d_name[0] > '9') continue;
    char* end = nullptr;
    const long pid = std::strtol(ent->d_name, &end, 10);
    if (end != nullptr && *end == '\0') pids.push_back(static_cast<pid_t>(pid));
  }
  ::closedir(dir);
  std::sort(pids.begin(), pids.end());
  return pids;
}

std::optional<ProcUsage> ReadProcUsage(pid_t pid, int pidfd) {
  auto st = ReadProcStat(pid);
  if (!st) return std::nullopt;
  // Signal 0 through the pidfd (one syscall, cheaper than reading fdinfo) fails with ESRCH once
  // the process has been reaped, i.e. once its pid could have been reused.
  if (pidfd >= 0 && sys::PidfdSendSignal(pidfd, 0, nullptr, 0) != 0) return std::nullopt;
  return ProcUsage{st->rss_pages * PageSizeBytes(),
                   ClockTicksToMs(st->utime_ticks + st->stime_ticks), st->num_threads};
}

Result<Json> InspectProcess(pid_t pid, int pidfd) {
  ARSENAL_ASSIGN_OR_RETURN(ProcStat st, ReadProcStat(pid));
  auto status_text = ReadSmallFile(ProcPath(pid, "status"));
  if (!status_text) return Fail(Vanished(pid));
  auto status = ParseStatus(*status_text);
  auto field = [&](const char* key) -> std::string {
    auto it = status.find(key);
    return it == status.end() ? std::string() : it->second;
  };

  Json j;
  j["pid"] = pid;
  j["ppid"] = st.ppid;
  j["pgid"] = st.pgrp;
  j["sid"] = st.session;
  j["comm"] = st.comm;
  j["os_state"] = ProcStateName(st.state);
  j["threads"] = st.num_threads;
  j["uptime_ms"] = UptimeMsSinceBoot(st.starttime_ticks);
  j["cpu"] = {{"user_ms", ClockTicksToMs(st.utime_ticks)},
              {"system_ms", ClockTicksToMs(st.stime_ticks)}};
  Json memory = {{"rss_bytes", st.rss_pages * PageSizeBytes()}, {"vsize_bytes", st.vsize_bytes}};
  if (auto hwm = field("VmHWM"); !hwm.empty()) memory["peak_rss_bytes"] = ParseKb(hwm);
  if (auto cmdline = ReadSmallFile(ProcPath(pid, "cmdline"), 64 * 1024)) {
    Json argv = Json::array();
    size_t start = 0;
    while (start < cmdline->size()) {
      size_t end = cmdline->find('\0', start);
      if (end == std::string::npos) end = cmdline->size();
      argv.push_back(cmdline->substr(start, end - start));
      start = end + 1;
    }
    j["cmdline"] = std::move(argv);
  }

  // Signals: "pending" merges the thread's and the process's (shared) pending sets.
  j["signals"] = {{"pending", SignalSet(ParseHex(field("SigPnd")) | ParseHex(field("ShdPnd")))},
                  {"blocked", SignalSet(ParseHex(field("SigBlk")))},
                  {"ignored", SignalSet(ParseHex(field("SigIgn")))},
                  {"caught", SignalSet(ParseHex(field("SigCgt")))}};
  j["seccomp"] = {{"mode", SeccompMode(field("Seccomp"))},
                  {"filters", std::strtoll(field("Seccomp_filters").c_str(), nullptr, 10)}};
  j["no_new_privs"] = field("NoNewPrivs") == "1";
  Json caps = Json::object();
  for (const auto& [key, name] :
       std::vector<std::pair<const char*, const char*>>{{"CapInh", "inheritable"},
                                                        {"CapPrm", "permitted"},
                                                        {"CapEff", "effective"},
                                                        {"CapBnd", "bounding"},
                                                        {"CapAmb", "ambient"}}) {
    const uint64_t mask = ParseHex(field(key));
    caps[name] = {{"mask", HexMask(mask)}, {"names", CapabilitySet(mask)}};
  }
  j["capabilities"] = std::move(caps);
  j["uid"] = field("Uid");
  j["gid"] = field("Gid");

  // Open descriptors: since Linux 6.2 the size of /proc/<pid>/fd is their count (one stat
  // instead of opening and listing the directory); older kernels report 0 and are listed.
  int fds = -1;
  const std::string fd_dir = ProcPath(pid, "fd");
  struct stat fd_st {};
  if (::stat(fd_dir.c_str(), &fd_st) == 0 && fd_st.st_size > 0) {
    fds = static_cast<int>(fd_st.st_size);
  } else if (DIR* dir = ::opendir(fd_dir.c_str())) {
    fds = 0;
    while (dirent* ent = ::readdir(dir)) fds += ent->d_name[0] != '.';
    ::closedir(dir);
  }
  j["open_fds"] = fds < 0 ? Json(nullptr) : Json(fds);

  Json ns = Json::object();
  for (const char* kind : {"cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"}) {
    char target[128];
    const std::string link = ProcPath(pid, "ns/") + kind;
    const ssize_t n = ::readlink(link.c_str(), target, sizeof(target) - 1);
    if (n > 0) ns[kind] = std::string(target, static_cast<size_t>(n));
  }
  j["namespaces"] = std::move(ns);

  Json cgroups = Json::object();
  std::map<std::string, std::string> parsed;
  if (auto text = ReadSmallFile(ProcPath(pid, "cgroup"))) {
    parsed = ParseCgroups(*text);
    for (const auto& [controller, path] : parsed) {
      cgroups[controller.empty() ? "unified" : controller] = path;
    }
  }
  j["cgroups"] = std::move(cgroups);
  memory["cgroup"] = CgroupMemory(parsed);
  j["memory"] = std::move(memory);

  // Everything above was read by pid; make sure that pid was still ours throughout. The pidfd was
  // opened for `pid`, and a pid is reused only after its process is reaped, which is exactly
  // when signal 0 through the pidfd starts failing (one call, cheaper than reading fdinfo).
  if (pidfd >= 0 && sys::PidfdSendSignal(pidfd, 0, nullptr, 0) != 0) return Fail(Vanished(pid));
  return j;
}

Result<Json> BuildProcessTree(pid_t root, const std::function<void(pid_t, Json&)>& annotate,
                              size_t max_nodes) {
  std::unordered_map<pid_t, ProcStat> stats;
  std::unordered_map<pid_t, std::vector<pid_t>> children;
  for (pid_t pid : ListHostPids()) {
    auto st = ReadProcStat(pid);
    if (!st) continue;  // exited while we listed
    children[st->ppid].push_back(pid);
    stats.emplace(pid, std::move(*st));
  }
  if (!stats.contains(root)) return Fail(Vanished(root));
  size_t nodes = 0;
  bool truncated = false;
  // Recursive: real process trees are shallow; max_nodes bounds the total work.
  std::function<Json(pid_t)> build = [&](pid_t pid) -> Json {
    const ProcStat& st = stats.at(pid);
    Json node = {{"pid", pid},
                 {"ppid", st.ppid},
                 {"name", st.comm},
                 {"os_state", ProcStateName(st.state)},
                 {"threads", st.num_threads}};
    if (annotate) annotate(pid, node);
    ++nodes;
    Json kids = Json::array();
    if (auto it = children.find(pid); it != children.end()) {
      for (pid_t child : it->second) {
        if (nodes >= max_nodes) {
          truncated = true;
          break;
        }
        kids.push_back(build(child));
      }
    }
    node["children"] = std::move(kids);
    return node;
  };
  Json tree = build(root);
  if (truncated) tree["truncated"] = true;
  return tree;
}

}  // namespace arsenal
