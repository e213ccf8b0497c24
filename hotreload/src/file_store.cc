#include "src/file_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "arsenal/base/log.h"
#include "arsenal/base/unique_fd.h"

namespace arsenal::hotreload {
namespace {

constexpr std::string_view kIncomingPrefix = ".incoming-";

Status WriteAll(int fd, std::string_view bytes, const std::filesystem::path& path) {
  while (!bytes.empty()) {
    ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(ErrnoError("module.io", "write", path.string(), errno));
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return {};
}

}  // namespace

IncomingFile::~IncomingFile() {
  if (!path_.empty()) ::unlink(path_.c_str());
}

StoredFile::~StoredFile() { store_->Release(path_); }

Result<std::shared_ptr<FileStore>> FileStore::Open(const std::filesystem::path& dir) {
  if (dir.empty()) {
    return Fail(ValidationError("module.bad_options", "modules_dir is empty", "modules_dir")
                    .WithHint("set ManagerOptions::modules_dir to a private directory"));
  }
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Fail(ErrnoError("module.io", "mkdir", dir.string(), ec.value()));
  // Only the directory itself is created with a restrictive mode; parents use the umask.
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    return Fail(ErrnoError("module.io", "lstat", dir.string(), errno));
  }
  if (!S_ISDIR(st.st_mode)) {
    return Fail(
        ValidationError("module.insecure_dir",
                        "modules_dir " + dir.string() + " is not a directory (or a symlink)",
                        "modules_dir")
            .WithHint("point modules_dir at a real directory"));
  }
  // Anything in this directory may be dlopen()ed into the host: another user able to write
  // there could inject code.
  if (st.st_uid != ::geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    return Fail(Error(ErrorCategory::kPermission, "module.insecure_dir",
                      "modules_dir " + dir.string() +
                          " is writable by others or not owned by the current user")
                    .WithHint("chown it to the daemon's user and chmod 0700"));
  }
  // Leftovers of loads interrupted by a crash.
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().filename().string().starts_with(kIncomingPrefix)) {
      ::unlink(entry.path().c_str());
    }
  }
  return std::shared_ptr<FileStore>(new FileStore(std::filesystem::absolute(dir)));
}

Result<IncomingFile> FileStore::WriteIncoming(std::string_view bytes) {
  std::string templ = (dir_ / (std::string(kIncomingPrefix) + "XXXXXX.so")).string();
  UniqueFd fd(::mkostemps(templ.data(), 3, O_CLOEXEC));
  if (!fd) return Fail(ErrnoError("module.io", "mkostemps", templ, errno));
  IncomingFile file(templ);
  ARSENAL_TRY(WriteAll(fd.get(), bytes, file.path()));
  if (::fchmod(fd.get(), 0500) != 0) {
    return Fail(ErrnoError("module.io", "fchmod", templ, errno));
  }
  return file;
}

Result<std::shared_ptr<StoredFile>> FileStore::Commit(IncomingFile incoming,
                                                      const std::string& file_name) {
  std::filesystem::path target = dir_ / file_name;
  // Rename and interning happen under one lock so that a StoredFile being released for the same
  // path cannot unlink the file we just put there (see Release).
  std::lock_guard lock(mu_);
  if (::rename(incoming.path().c_str(), target.c_str()) != 0) {
    return Fail(ErrnoError("module.io", "rename", target.string(), errno));
  }
  incoming.Release();
  auto& slot = files_[target];
  if (auto existing = slot.lock()) return existing;
  auto stored = std::make_shared<StoredFile>(shared_from_this(), target);
  slot = stored;
  return stored;
}

void FileStore::Release(const std::filesystem::path& path) {
  std::lock_guard lock(mu_);
  auto it = files_.find(path);
  // If a Commit re-interned the path after our refcount hit zero, the file belongs to it now.
  if (it == files_.end() || !it->second.expired()) return;
  files_.erase(it);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    log::Get("hotreload")
        ->warn("cannot delete module file {}: {}", path.string(), std::strerror(errno));
  }
}

}  // namespace arsenal::hotreload
