#include "src/library.h"

#include <elf.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "arsenal/base/unique_fd.h"
#include "arsenal/hotreload/module_manager.h"

namespace arsenal::hotreload {
namespace {

// Releases a buffer with the module's own free_buffer.
struct ModuleFree {
  const arsenal_module_table_v1* table;
  void operator()(void* p) const {
    if (p != nullptr) table->free_buffer(p);
  }
};
using ModuleBuffer = std::unique_ptr<void, ModuleFree>;

std::string TakeError(const arsenal_module_table_v1* table, char* error,
                      std::string_view fallback) {
  ModuleBuffer owned(error, ModuleFree{table});
  if (error == nullptr || *error == '\0') return std::string(fallback);
  return std::string(error);
}

bool IsToken(std::string_view s, std::string_view extra) {
  if (s.empty() || s.size() > 64 || s.front() == '.') return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              extra.find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Result<std::string> ReadModuleFile(const std::filesystem::path& path, size_t max_bytes) {
  // O_NONBLOCK: a FIFO given as a module path must not hang the caller (it is refused below).
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd) {
    return Fail(ErrnoError("module.io", "open", path.string(), errno).WithDetail("field", "path"));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0)
    return Fail(ErrnoError("module.io", "fstat", path.string(), errno));
  if (!S_ISREG(st.st_mode)) {
    return Fail(ValidationError("module.not_elf", path.string() + " is not a regular file", "path")
                    .WithHint("pass the path of a module .so file"));
  }
  if (static_cast<size_t>(st.st_size) > max_bytes) {
    return Fail(ValidationError("module.too_large",
                                path.string() + " is " + std::to_string(st.st_size) +
                                    " bytes, more than the limit of " + std::to_string(max_bytes),
                                "path")
                    .WithHint("raise ManagerOptions::max_module_bytes or strip the module"));
  }
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(ErrnoError("module.io", "read", path.string(), errno));
    if (n == 0) break;  // truncated while reading: the ELF checks or dlopen will reject it
    done += static_cast<size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

Status CheckElfImage(std::string_view bytes, const std::string& path) {
  if (bytes.size() < sizeof(Elf64_Ehdr) || std::memcmp(bytes.data(), ELFMAG, SELFMAG) != 0) {
    return Fail(ValidationError("module.not_elf", path + " is not an ELF file", "path")
                    .WithHint("build the module as a shared library (.so)"));
  }
  Elf64_Ehdr header;
  std::memcpy(&header, bytes.data(), sizeof(header));
  if (header.e_ident[EI_CLASS] != ELFCLASS64 || header.e_type != ET_DYN) {
    return Fail(
        ValidationError("module.not_elf", path + " is ELF but not a 64-bit shared object", "path")
            .WithHint("build the module as a shared library (.so) for this architecture"));
  }
  return {};
}

Status CheckModulePath(const std::string& path, const std::string& field) {
  auto invalid = [&](std::string code, std::string message, std::string hint) {
    return Fail(ValidationError(std::move(code), std::move(message), field).WithHint(hint));
  };
  if (path.empty() || path.find('\0') != std::string::npos || path.front() != '/') {
    return invalid("module.invalid_path", field + " must be an absolute path to a module .so",
                   "pass the absolute path of the module file on the engine's host");
  }
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return invalid("module.file_not_found", "no module file at " + path,
                     "check the path; it is resolved on the engine's host");
    }
    return Fail(ErrnoError("module.io", "open", path, errno).WithDetail("field", field));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return Fail(ErrnoError("module.io", "fstat", path, errno).WithDetail("field", field));
  }
  if (!S_ISREG(st.st_mode)) {
    return invalid("module.not_elf", path + " is not a regular file",
                   "pass the path of a module .so file");
  }
  std::string header(sizeof(Elf64_Ehdr), '\0');
  ssize_t n = ::pread(fd.get(), header.data(), header.size(), 0);
  if (n < 0) return Fail(ErrnoError("module.io", "read", path, errno).WithDetail("field", field));
  header.resize(static_cast<size_t>(n));
  if (auto elf = CheckElfImage(header, path); !elf) {
    return Fail(std::move(elf).error().WithDetail("field", field));
  }
  return {};
}

std::string Sha256Hex(std::string_view bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  // EVP_Digest only fails on allocation failure inside OpenSSL; an empty hash then makes the
  // file name collide only with other failed hashes, and the load still validates the content.
  EVP_Digest(bytes.data(), bytes.size(), digest.data(), &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xf]);
  }
  return hex;
}

namespace {

Error TableError(std::string code, const std::string& path, std::string what) {
  return ValidationError(std::move(code), "module " + path + ": " + std::move(what), "path");
}

Status ValidateTable(const arsenal_module_table_v1* table, const std::string& path) {
  if (table == nullptr) {
    return Fail(TableError("module.invalid_table", path, "entry point returned NULL")
                    .WithHint("the module refused to load; check its own logs"));
  }
  if (table->abi_version != ARSENAL_MODULE_ABI_VERSION) {
    return Fail(TableError("module.abi_mismatch", path,
                           "ABI version " + std::to_string(table->abi_version) +
                               ", this host supports " + std::to_string(ARSENAL_MODULE_ABI_VERSION))
                    .WithDetail("module_abi_version", table->abi_version)
                    .WithDetail("host_abi_version", ARSENAL_MODULE_ABI_VERSION)
                    .WithHint("rebuild the module against this Arsenal's arsenal/module.h"));
  }
  if (table->table_size < sizeof(arsenal_module_table_v1)) {
    return Fail(TableError("module.abi_mismatch", path,
                           "table is " + std::to_string(table->table_size) + " bytes, expected " +
                               std::to_string(sizeof(arsenal_module_table_v1)))
                    .WithHint("rebuild the module against this Arsenal's arsenal/module.h"));
  }
  if (table->name == nullptr || !IsValidModuleName(table->name)) {
    return Fail(TableError("module.invalid_table", path,
                           "module name must be 1-64 characters of [A-Za-z0-9_-]"));
  }
  if (table->version == nullptr || !IsValidVersion(table->version)) {
    return Fail(TableError("module.invalid_table", path,
                           "version must be 1-64 characters of [A-Za-z0-9._+-]"));
  }
  if (table->create == nullptr || table->call == nullptr || table->snapshot == nullptr ||
      table->health == nullptr || table->destroy == nullptr || table->free_buffer == nullptr) {
    return Fail(TableError("module.invalid_table", path, "a table function pointer is NULL"));
  }
  if ((table->flags & ~ARSENAL_MODULE_FLAG_THREAD_SAFE) != 0) {
    return Fail(
        TableError("module.invalid_table", path, "unknown flags " + std::to_string(table->flags)));
  }
  return {};
}

}  // namespace

bool IsValidModuleName(std::string_view name) { return IsToken(name, "_-"); }
bool IsValidVersion(std::string_view version) { return IsToken(version, "._+-"); }

Status Library::Bind(const std::string& dl_path, const std::string& source) {
  // RTLD_NOW: an unresolved symbol fails here, not in the middle of a call. RTLD_LOCAL: the
  // module's symbols (all versions export the same entry point) never interpose on each other.
  handle_.reset(::dlopen(dl_path.c_str(), RTLD_NOW | RTLD_LOCAL));
  if (!handle_) {
    const char* why = ::dlerror();
    return Fail(ValidationError("module.load_failed",
                                "dlopen " + source + ": " + (why ? why : "unknown error"), "path")
                    .WithHint("check that the module's dependencies are installed and that it "
                              "was built for this system"));
  }
  ::dlerror();
  void* entry = ::dlsym(handle_.get(), ARSENAL_MODULE_ENTRY_POINT);
  if (entry == nullptr) {
    return Fail(TableError("module.missing_entry_point", source,
                           "does not export " + std::string(ARSENAL_MODULE_ENTRY_POINT))
                    .WithHint("define the entry point with ARSENAL_MODULE(...) from "
                              "arsenal/module.hpp, or export it with ARSENAL_MODULE_EXPORT"));
  }
  table_ = reinterpret_cast<arsenal_module_entry_v1>(entry)();
  return ValidateTable(table_, source);
}

Result<std::unique_ptr<Library>> Library::Open(const std::filesystem::path& source,
                                               FileStore& store, size_t max_bytes) {
  ARSENAL_ASSIGN_OR_RETURN(std::string bytes, ReadModuleFile(source, max_bytes));
  ARSENAL_TRY(CheckElfImage(bytes, source.string()));
  std::unique_ptr<Library> library(new Library());
  library->sha256_ = Sha256Hex(bytes);
  ARSENAL_ASSIGN_OR_RETURN(IncomingFile incoming, store.WriteIncoming(bytes));
  ARSENAL_TRY(library->Bind(incoming.path().string(), source.string()));
  std::string file_name = std::string(library->table_->name) + "@" + library->table_->version +
                          "-" + library->sha256_.substr(0, 16) + ".so";
  ARSENAL_ASSIGN_OR_RETURN(library->file_, store.Commit(std::move(incoming), file_name));
  return library;
}

Result<std::unique_ptr<Library>> Library::OpenBytes(std::string_view bytes,
                                                    const std::string& label) {
  ARSENAL_TRY(CheckElfImage(bytes, label));
  std::unique_ptr<Library> library(new Library());
  library->memfd_.Reset(::memfd_create(label.c_str(), MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (!library->memfd_) return Fail(ErrnoError("module.io", "memfd_create", label, errno));
  for (std::string_view rest = bytes; !rest.empty();) {
    ssize_t n = ::write(library->memfd_.get(), rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Fail(ErrnoError("module.io", "write", label, errno));
    rest.remove_prefix(static_cast<size_t>(n));
  }
  // The image cannot change under the loader (or be grown into) once sealed.
  if (::fcntl(library->memfd_.get(), F_ADD_SEALS,
              F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) != 0) {
    return Fail(ErrnoError("module.io", "fcntl(F_ADD_SEALS)", label, errno));
  }
  ARSENAL_TRY(library->Bind("/proc/self/fd/" + std::to_string(library->memfd_.get()), label));
  return library;
}

Result<std::unique_ptr<Instance>> Instance::Create(const Library& library, std::string_view state,
                                                   uint32_t state_version) {
  const arsenal_module_table_v1* table = &library.table();
  arsenal_module_instance* raw = nullptr;
  char* error = nullptr;
  int rc = table->create(reinterpret_cast<const uint8_t*>(state.data()), state.size(),
                         state_version, &raw, &error);
  std::string subject = std::string(library.module_name()) + "@" + std::string(library.version());
  if (rc == ARSENAL_MODULE_OK && raw != nullptr) {
    TakeError(table, error, {});
    return std::make_unique<Instance>(table, raw);
  }
  if (rc == ARSENAL_MODULE_OK) {
    // A module that reports success without an instance is broken; nothing to destroy.
    rc = ARSENAL_MODULE_ERROR;
  } else if (raw != nullptr) {
    // Contract violation (instance returned with a failure): do not leak it.
    table->destroy(raw);
  }
  std::string why = TakeError(table, error, "create() failed without a message");
  if (rc == ARSENAL_MODULE_BAD_STATE) {
    return Fail(ValidationError("module.bad_state", subject + " cannot read state version " +
                                                        std::to_string(state_version) + " (" +
                                                        std::to_string(state.size()) +
                                                        " bytes): " + why)
                    .WithDetail("state_version", state_version)
                    .WithDetail("state_bytes", state.size())
                    .WithHint("load a version that can migrate this state, or fix the previous "
                              "version's snapshot"));
  }
  return Fail(ValidationError("module.create_failed", subject + " create() failed: " + why)
                  .WithHint("see the module's message; the previous version (if any) keeps "
                            "serving"));
}

Result<std::string> Instance::Call(const std::string& method, std::string_view input) const {
  arsenal_module_bytes output{nullptr, 0};
  char* error = nullptr;
  int rc = table_->call(instance_, method.c_str(), reinterpret_cast<const uint8_t*>(input.data()),
                        input.size(), &output, &error);
  ModuleBuffer owned_output(output.data, ModuleFree{table_});
  if (rc == ARSENAL_MODULE_OK) [[likely]] {
    if (error != nullptr) table_->free_buffer(error);
    if (output.size == 0) return std::string();
    return std::string(reinterpret_cast<const char*>(output.data), output.size);
  }
  std::string why = TakeError(table_, error, "call failed without a message");
  if (rc == ARSENAL_MODULE_NO_SUCH_METHOD) {
    return Fail(NotFoundError("module.no_such_method", std::string(table_->name) + "@" +
                                                           table_->version + " has no method '" +
                                                           method + "': " + why)
                    .WithHint("check the method name against the module's documentation"));
  }
  return Fail(InternalError("module.call_failed", std::string(table_->name) + "@" +
                                                      table_->version + " method '" + method +
                                                      "' failed: " + why)
                  .WithDetail("method", method));
}

Result<Instance::Snapshot> Instance::TakeSnapshot(uint32_t wanted_state_version,
                                                  size_t max_bytes) const {
  arsenal_module_bytes state{nullptr, 0};
  uint32_t version = 0;
  char* error = nullptr;
  int rc = table_->snapshot(instance_, wanted_state_version, &state, &version, &error);
  ModuleBuffer owned_state(state.data, ModuleFree{table_});
  std::string subject = std::string(table_->name) + "@" + table_->version;
  if (rc != ARSENAL_MODULE_OK) {
    return Fail(InternalError("module.snapshot_failed", subject + " snapshot() failed: " +
                                                            TakeError(table_, error, "no message"))
                    .WithHint("the serving version is unchanged; fix its snapshot()"));
  }
  TakeError(table_, error, {});
  if (state.size > max_bytes) {
    return Fail(ValidationError("module.bad_state",
                                subject + " snapshot() returned " + std::to_string(state.size) +
                                    " bytes, more than the limit of " + std::to_string(max_bytes))
                    .WithDetail("state_bytes", state.size)
                    .WithHint("raise ManagerOptions::max_state_bytes or shrink the state"));
  }
  if (state.data == nullptr && state.size != 0) {
    return Fail(ValidationError("module.bad_state",
                                subject + " snapshot() returned a NULL buffer of non-zero size"));
  }
  Snapshot snapshot;
  snapshot.data_ =
      std::unique_ptr<void, Snapshot::Free>(owned_state.release(), Snapshot::Free{table_});
  snapshot.size_ = state.size;
  snapshot.version_ = version;
  return snapshot;
}

Status Instance::Health() const {
  char* error = nullptr;
  int rc = table_->health(instance_, &error);
  if (rc == ARSENAL_MODULE_OK) {
    TakeError(table_, error, {});
    return {};
  }
  return Fail(Error(ErrorCategory::kUnavailable, "module.health_check_failed",
                    std::string(table_->name) + "@" + table_->version + " is unhealthy: " +
                        TakeError(table_, error, "health() failed without a message"))
                  .WithHint("the previous version (if any) keeps serving; fix the module"));
}

}  // namespace arsenal::hotreload
