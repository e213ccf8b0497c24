// CompileDefaultSeccomp: the built-in profile's compiled filters, kept in memory and on disk so a
// fresh process skips parsing and compiling (see seccomp.h).
#include <fcntl.h>
#include <seccomp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "arsenal/base/unique_fd.h"
#include "arsenal/policies/seccomp.h"
#include "seccomp_internal.h"

namespace arsenal::policies {
namespace {

using seccomp_internal::Fnv1a;

constexpr char kMagic[8] = {'A', 'R', 'S', 'B', 'P', 'F', '0', '1'};
constexpr size_t kMaxKey = 4096;
constexpr uint32_t kMaxInstructions = 4096;  // BPF_MAXINSNS

std::string Hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// Everything the compiled filter depends on. The profile text is represented by its FNV-1a hash
// and length: it is compiled into this binary, not supplied by anyone at run time.
std::string KeyFor(uint64_t caps) {
  const std::string_view text = DefaultSeccompProfileJson();
  const KernelVersion k = RunningKernelVersion();
  const scmp_version* v = seccomp_version();
  return "default-profile|text=" + Hex(Fnv1a(text)) + ":" + std::to_string(text.size()) +
         "|arch=" + std::to_string(seccomp_arch_native()) + "|go=" + std::string(NativeGoArch()) +
         "|kernel=" + std::to_string(k.major) + "." + std::to_string(k.minor) +
         "|caps=" + std::to_string(caps) + "|layout=tree|libseccomp=" + std::to_string(v->major) +
         "." + std::to_string(v->minor) + "." + std::to_string(v->micro);
}

// A directory we may trust: a real directory (no symlink), owned by us, writable only by us.
bool Trusted(const struct stat& st, bool dir) {
  if (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) return false;
  return st.st_uid == ::geteuid() && (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
}

// Creates `path` (0700) and its parent (0755) if missing; true when `path` exists and is
// trusted. Only the leaf must be trusted, since it is the one that holds the files. The usual
// case, an existing directory, costs one lstat.
bool EnsureDir(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) return Trusted(st, true);
  if (errno != ENOENT) return false;
  const std::string parent = path.substr(0, path.rfind('/'));
  if (!parent.empty() && ::mkdir(parent.c_str(), 0755) < 0 && errno != EEXIST) return false;
  if (::mkdir(path.c_str(), 0700) < 0 && errno != EEXIST) return false;
  return ::lstat(path.c_str(), &st) == 0 && Trusted(st, true);
}

bool ReadAll(int fd, void* buf, size_t len) {
  auto* p = static_cast<char*>(buf);
  while (len > 0) {
    ssize_t n = ::read(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

std::shared_ptr<const SeccompProgram> Load(const std::string& file, const std::string& key) {
  UniqueFd fd(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd) return nullptr;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !Trusted(st, false)) return nullptr;
  char magic[sizeof(kMagic)];
  uint32_t key_len = 0, flags = 0, count = 0;
  if (!ReadAll(fd.get(), magic, sizeof(magic)) || std::memcmp(magic, kMagic, sizeof(kMagic)) != 0 ||
      !ReadAll(fd.get(), &key_len, sizeof(key_len)) || key_len != key.size() || key_len > kMaxKey) {
    return nullptr;
  }
  std::string stored(key_len, '\0');
  if (!ReadAll(fd.get(), stored.data(), key_len) || stored != key) return nullptr;
  if (!ReadAll(fd.get(), &flags, sizeof(flags)) || !ReadAll(fd.get(), &count, sizeof(count)) ||
      count == 0 || count > kMaxInstructions) {
    return nullptr;
  }
  auto program = std::make_shared<SeccompProgram>();
  program->filter.resize(count);
  if (!ReadAll(fd.get(), program->filter.data(), count * sizeof(sock_filter))) return nullptr;
  char extra;
  if (::read(fd.get(), &extra, 1) != 0) return nullptr;  // trailing bytes: not ours
  program->flags = flags;
  program->key_hash = Fnv1a(key);
  return program;
}

void Store(const std::string& dir, const std::string& file, const std::string& key,
           const SeccompProgram& program) {
  std::string tmp = dir + "/.tmp-XXXXXX";
  UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd) return;
  std::string data(kMagic, sizeof(kMagic));
  auto put = [&](const void* p, size_t n) { data.append(static_cast<const char*>(p), n); };
  uint32_t key_len = static_cast<uint32_t>(key.size());
  uint32_t flags = program.flags;
  uint32_t count = static_cast<uint32_t>(program.filter.size());
  put(&key_len, sizeof(key_len));
  put(key.data(), key.size());
  put(&flags, sizeof(flags));
  put(&count, sizeof(count));
  put(program.filter.data(), program.filter.size() * sizeof(sock_filter));
  bool ok = ::fchmod(fd.get(), 0600) == 0 &&
            ::write(fd.get(), data.data(), data.size()) == static_cast<ssize_t>(data.size());
  fd.Reset();
  if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0) ::unlink(tmp.c_str());
}

}  // namespace

std::string SeccompCacheDirectory() {
  std::string base;
  if (const char* env = std::getenv("ARSENAL_CACHE_DIR"); env != nullptr && *env != '\0') {
    if (std::strcmp(env, "off") == 0) return {};
    base = env;
  } else if (::geteuid() == 0) {
    base = "/var/cache/arsenal";
  } else if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg == '/') {
    base = std::string(xdg) + "/arsenal";
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home == '/') {
    base = std::string(home) + "/.cache/arsenal";
  } else {
    return {};
  }
  return base + "/seccomp";
}

Result<std::shared_ptr<const SeccompProgram>> CompileDefaultSeccomp(uint64_t keep_caps) {
  static std::mutex mu;
  // Keyed by directory too, so a changed ARSENAL_CACHE_DIR is honoured.
  static auto* memo =
      new std::map<std::pair<std::string, uint64_t>, std::shared_ptr<const SeccompProgram>>();
  const std::string dir = SeccompCacheDirectory();
  {
    std::lock_guard lock(mu);
    if (auto it = memo->find({dir, keep_caps}); it != memo->end()) return it->second;
  }
  const std::string key = KeyFor(keep_caps);
  std::string file;
  bool dir_ok = false;
  if (!dir.empty()) {
    dir_ok = EnsureDir(dir);
    file = dir + "/default-" + Hex(Fnv1a(key)) + ".bpf";
  }
  std::shared_ptr<const SeccompProgram> program = dir_ok ? Load(file, key) : nullptr;
  if (!program) {
    ARSENAL_ASSIGN_OR_RETURN(program, CompileSeccomp(DefaultSeccompProfile(), keep_caps));
    if (dir_ok) Store(dir, file, key, *program);
  }
  std::lock_guard lock(mu);
  memo->emplace(std::pair{dir, keep_caps}, program);
  return program;
}

}  // namespace arsenal::policies
