// FileStore: the content-addressed copies of module versions in modules_dir.
//
// Why a store: every loaded version is dlopen()ed from its own private copy so that replacing
// the source file on disk cannot change running code, and so that glibc (which shares a mapping
// between dlopen()s of the same inode) gives every load its own mapping. A copy is first written
// as `.incoming-XXXXXX.so` (deleted if the load fails) and, once validated, renamed to
// `<module>@<version>-<sha16>.so`. Stored files are reference counted: the file is deleted
// when the last loaded version or history entry using it goes away.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "arsenal/base/result.h"

namespace arsenal::hotreload {

class FileStore;

// A file being loaded; unlinked on destruction unless Commit() took it over.
class IncomingFile {
 public:
  IncomingFile() = default;
  explicit IncomingFile(std::filesystem::path path) : path_(std::move(path)) {}
  IncomingFile(IncomingFile&& other) noexcept : path_(std::exchange(other.path_, {})) {}
  IncomingFile& operator=(IncomingFile&&) = delete;
  IncomingFile(const IncomingFile&) = delete;
  ~IncomingFile();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path Release() { return std::exchange(path_, {}); }

 private:
  std::filesystem::path path_;
};

// One committed file; deleted when the last shared_ptr to it is dropped.
class StoredFile {
 public:
  StoredFile(std::shared_ptr<FileStore> store, std::filesystem::path path)
      : store_(std::move(store)), path_(std::move(path)) {}
  StoredFile(const StoredFile&) = delete;
  StoredFile& operator=(const StoredFile&) = delete;
  ~StoredFile();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::shared_ptr<FileStore> store_;
  std::filesystem::path path_;
};

class FileStore : public std::enable_shared_from_this<FileStore> {
 public:
  // Creates `dir` (0700) if needed, refuses a directory that is not owned by the effective user
  // or is writable by group/others (module.insecure_dir), removes leftover `.incoming-*` files.
  static Result<std::shared_ptr<FileStore>> Open(const std::filesystem::path& dir);

  const std::filesystem::path& dir() const { return dir_; }
  // Writes `bytes` to a fresh `.incoming-XXXXXX.so` (mode 0500, O_EXCL).
  Result<IncomingFile> WriteIncoming(std::string_view bytes);
  // Renames `incoming` to dir/file_name and returns the shared owner of that path (an existing
  // one if the same content is already stored under that name).
  Result<std::shared_ptr<StoredFile>> Commit(IncomingFile incoming, const std::string& file_name);

 private:
  friend class StoredFile;
  explicit FileStore(std::filesystem::path dir) : dir_(std::move(dir)) {}
  void Release(const std::filesystem::path& path);

  std::filesystem::path dir_;
  std::mutex mu_;
  std::map<std::filesystem::path, std::weak_ptr<StoredFile>> files_;
};

}  // namespace arsenal::hotreload
