// Library and Instance: one dlopen()ed module version and one instance of it.
//
// Library::Open does all the checking of an untrusted-format file before any of its code runs
// beyond static constructors: size limit, ELF magic, shared-object type, SHA-256, private copy,
// dlopen(RTLD_NOW | RTLD_LOCAL), entry point, table (ABI version, size, names, functions).
// Every failure releases what was acquired (the mapping via the handle's deleter, the copy via
// IncomingFile/StoredFile), so a failed load leaves nothing behind.
#pragma once

#include <dlfcn.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "arsenal/base/result.h"
#include "arsenal/base/unique_fd.h"
#include "arsenal/module.h"
#include "src/file_store.h"

namespace arsenal::hotreload {

struct DlCloser {
  void operator()(void* handle) const {
    if (handle != nullptr) ::dlclose(handle);
  }
};
using DlHandle = std::unique_ptr<void, DlCloser>;

class Library {
 public:
  static Result<std::unique_ptr<Library>> Open(const std::filesystem::path& source,
                                               FileStore& store, size_t max_bytes);
  // Loads a module image received as bytes (the sandboxed plugin host): the ELF checks, then a
  // sealed memfd named `label` dlopen()ed through /proc/self/fd (needs /proc). The memfd stays
  // open while the library is loaded, so its /proc path is unique among loaded objects (glibc
  // matches dlopen() names against loaded ones). No file, no hash; file() is null.
  static Result<std::unique_ptr<Library>> OpenBytes(std::string_view bytes,
                                                    const std::string& label);

  const arsenal_module_table_v1& table() const { return *table_; }
  std::string_view module_name() const { return table_->name; }
  std::string_view version() const { return table_->version; }
  bool thread_safe() const { return (table_->flags & ARSENAL_MODULE_FLAG_THREAD_SAFE) != 0; }
  const std::string& sha256() const { return sha256_; }
  const std::shared_ptr<StoredFile>& file() const { return file_; }

 private:
  Library() = default;
  // dlopen()s `dl_path` and validates the entry point and table; `source` names it in errors.
  Status Bind(const std::string& dl_path, const std::string& source);

  std::string sha256_;
  // Declared before handle_ so that the mapping is gone before the file is unlinked.
  std::shared_ptr<StoredFile> file_;
  UniqueFd memfd_;  // OpenBytes only; closed after the mapping is gone
  DlHandle handle_;
  const arsenal_module_table_v1* table_ = nullptr;
};

// Owns a module instance; destroys it through its table. Must not outlive its Library.
class Instance {
 public:
  Instance(const arsenal_module_table_v1* table, arsenal_module_instance* instance)
      : table_(table), instance_(instance) {}
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;
  ~Instance() { table_->destroy(instance_); }

  // create() from `state`; module.create_failed or module.bad_state.
  static Result<std::unique_ptr<Instance>> Create(const Library& library, std::string_view state,
                                                  uint32_t state_version);
  // Errors: module.no_such_method, module.call_failed.
  Result<std::string> Call(const std::string& method, std::string_view input) const;
  // A state blob as the module returned it, released with the module's free_buffer: handed to
  // the next version's create() without a copy (state can be large and is copied while calls are
  // blocked).
  class Snapshot {
   public:
    std::string_view bytes() const {
      return size_ == 0 ? std::string_view()
                        : std::string_view(static_cast<const char*>(data_.get()), size_);
    }
    uint32_t version() const { return version_; }

   private:
    friend class Instance;
    struct Free {
      const arsenal_module_table_v1* table;
      void operator()(void* p) const {
        if (p != nullptr) table->free_buffer(p);
      }
    };
    std::unique_ptr<void, Free> data_{nullptr, Free{nullptr}};
    size_t size_ = 0;
    uint32_t version_ = 0;
  };
  // Errors: module.snapshot_failed, module.bad_state (more than max_bytes).
  // The Snapshot must not outlive this instance's Library.
  Result<Snapshot> TakeSnapshot(uint32_t wanted_state_version, size_t max_bytes) const;
  // Error: module.health_check_failed.
  Status Health() const;

 private:
  const arsenal_module_table_v1* table_;
  arsenal_module_instance* instance_;
};

// Reads a module file (a regular file of at most max_bytes). Errors: module.io, module.not_elf
// (not a regular file), module.too_large; all name the field "path".
Result<std::string> ReadModuleFile(const std::filesystem::path& path, size_t max_bytes);
// module.not_elf unless `bytes` is a 64-bit ELF shared object; `source` names it in the message.
Status CheckElfImage(std::string_view bytes, const std::string& source);
// Lower-case hex SHA-256.
std::string Sha256Hex(std::string_view bytes);

// Version and name syntax (also used for file names, so no '/', no leading '.').
bool IsValidModuleName(std::string_view name);
bool IsValidVersion(std::string_view version);

}  // namespace arsenal::hotreload
