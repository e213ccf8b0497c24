#include "arsenal/base/result.h"

#include <array>
#include <cstring>

namespace arsenal {
namespace {

struct CategoryInfo {
  ErrorCategory category;
  std::string_view name;
  int http_status;
  bool retryable;
};

constexpr std::array<CategoryInfo, 10> kCategories{{
    {ErrorCategory::kValidation, "validation", 400, false},
    {ErrorCategory::kNotFound, "not_found", 404, false},
    {ErrorCategory::kConflict, "conflict", 409, false},
    {ErrorCategory::kPermission, "permission", 403, false},
    {ErrorCategory::kUnauthenticated, "unauthenticated", 401, false},
    {ErrorCategory::kResourceExhausted, "resource_exhausted", 429, true},
    {ErrorCategory::kUnavailable, "unavailable", 503, true},
    {ErrorCategory::kTimeout, "timeout", 504, true},
    {ErrorCategory::kUnsupported, "unsupported", 501, false},
    {ErrorCategory::kInternal, "internal", 500, false},
}};

const CategoryInfo& Info(ErrorCategory c) { return kCategories[static_cast<size_t>(c)]; }

struct ErrnoInfo {
  int err;
  std::string_view name;
  ErrorCategory category;
  std::string_view hint;
};

constexpr ErrnoInfo kErrnos[] = {
    {EPERM, "EPERM", ErrorCategory::kPermission,
     "the kernel refused the operation: run as root, or grant the missing capability"},
    {EACCES, "EACCES", ErrorCategory::kPermission,
     "check the path's permissions and any LSM (Landlock, AppArmor) policy in force"},
    {ENOENT, "ENOENT", ErrorCategory::kNotFound, "check that the path or object exists"},
    {EEXIST, "EEXIST", ErrorCategory::kConflict, "the object already exists: pick another name"},
    {EBUSY, "EBUSY", ErrorCategory::kConflict, "the object is in use: stop its users and retry"},
    {ENOMEM, "ENOMEM", ErrorCategory::kResourceExhausted, "free memory or raise the limit"},
    {EAGAIN, "EAGAIN", ErrorCategory::kResourceExhausted,
     "a process or resource limit was reached: raise it or retry later"},
    {EMFILE, "EMFILE", ErrorCategory::kResourceExhausted,
     "too many open files: raise RLIMIT_NOFILE or close descriptors"},
    {ENFILE, "ENFILE", ErrorCategory::kResourceExhausted, "the system file table is full"},
    {ENOSPC, "ENOSPC", ErrorCategory::kResourceExhausted,
     "no space left (disk, or a namespace/user-id/watch limit): free some or raise the limit"},
    {ENOSYS, "ENOSYS", ErrorCategory::kUnsupported,
     "the kernel does not implement this call: upgrade the kernel or disable the feature"},
    {EOPNOTSUPP, "EOPNOTSUPP", ErrorCategory::kUnsupported,
     "the kernel or filesystem does not support this operation"},
    {ETIMEDOUT, "ETIMEDOUT", ErrorCategory::kTimeout, "retry with a longer timeout"},
    {EINVAL, "EINVAL", ErrorCategory::kInternal,
     "the kernel rejected an argument: check the kernel version and the request"},
    {ESRCH, "ESRCH", ErrorCategory::kNotFound, "the process has already exited"},
    {EBADF, "EBADF", ErrorCategory::kInternal, "a descriptor was invalid"},
    {ENOTDIR, "ENOTDIR", ErrorCategory::kValidation, "a path component is not a directory"},
    {EISDIR, "EISDIR", ErrorCategory::kValidation, "the path is a directory"},
    {EROFS, "EROFS", ErrorCategory::kPermission, "the filesystem is mounted read-only"},
    {EINTR, "EINTR", ErrorCategory::kUnavailable, "interrupted: retry"},
    {ECHILD, "ECHILD", ErrorCategory::kNotFound, "no such child process"},
    {E2BIG, "E2BIG", ErrorCategory::kValidation, "argument list or structure too large"},
    {ELOOP, "ELOOP", ErrorCategory::kValidation, "too many symbolic links"},
    {ENAMETOOLONG, "ENAMETOOLONG", ErrorCategory::kValidation, "the path is too long"},
    {ECONNREFUSED, "ECONNREFUSED", ErrorCategory::kUnavailable, "nothing listens there"},
    {EUSERS, "EUSERS", ErrorCategory::kResourceExhausted, "too many nested user namespaces"},
};

const ErrnoInfo* FindErrno(int err) {
  for (const auto& info : kErrnos) {
    if (info.err == err) return &info;
  }
  return nullptr;
}

}  // namespace

std::string_view CategoryName(ErrorCategory category) { return Info(category).name; }

ErrorCategory CategoryFromName(std::string_view name) {
  for (const auto& info : kCategories) {
    if (info.name == name) return info.category;
  }
  return ErrorCategory::kInternal;
}

int HttpStatus(ErrorCategory category) { return Info(category).http_status; }

Error::Error(ErrorCategory category, std::string code, std::string message)
    : category_(category),
      code_(std::move(code)),
      message_(std::move(message)),
      retryable_(Info(category).retryable) {}

Error& Error::WithHint(std::string hint) & {
  hint_ = std::move(hint);
  return *this;
}
Error&& Error::WithHint(std::string hint) && { return std::move(WithHint(std::move(hint))); }

Error& Error::WithDetail(const std::string& key, Json value) & {
  details_[key] = std::move(value);
  return *this;
}
Error&& Error::WithDetail(const std::string& key, Json value) && {
  return std::move(WithDetail(key, std::move(value)));
}

Error& Error::WithRetryable(bool retryable) & {
  retryable_ = retryable;
  return *this;
}
Error&& Error::WithRetryable(bool retryable) && { return std::move(WithRetryable(retryable)); }

Error& Error::AddContext(std::string_view context) & {
  message_ = std::string(context) + ": " + message_;
  return *this;
}
Error&& Error::AddContext(std::string_view context) && { return std::move(AddContext(context)); }

Error& Error::NestField(std::string_view prefix) & {
  std::string field(prefix);
  if (auto f = details_.find("field"); f != details_.end() && f->is_string()) {
    const auto& inner = f->get_ref<const std::string&>();
    if (!inner.empty()) field += "." + inner;
  }
  return WithDetail("field", std::move(field));
}
Error&& Error::NestField(std::string_view prefix) && { return std::move(NestField(prefix)); }

Json Error::ToJson() const {
  Json j = {{"code", code_},
            {"category", std::string(CategoryName(category_))},
            {"message", message_},
            {"retryable", retryable_}};
  if (!hint_.empty()) j["hint"] = hint_;
  if (!details_.empty()) j["details"] = details_;
  return j;
}

Error Error::FromJson(const Json& json) {
  Error e(CategoryFromName(json.value("category", "internal")), json.value("code", "unknown"),
          json.value("message", ""));
  e.hint_ = json.value("hint", "");
  if (auto it = json.find("details"); it != json.end() && it->is_object()) e.details_ = *it;
  e.retryable_ = json.value("retryable", Info(e.category_).retryable);
  return e;
}

std::string Error::ToString() const {
  std::string s = code_ + ": " + message_;
  if (!hint_.empty()) s += " (hint: " + hint_ + ")";
  return s;
}

Error ValidationError(std::string code, std::string message, std::string field) {
  Error e(ErrorCategory::kValidation, std::move(code), std::move(message));
  if (!field.empty()) e.WithDetail("field", std::move(field));
  return e;
}
Error NotFoundError(std::string code, std::string message) {
  return Error(ErrorCategory::kNotFound, std::move(code), std::move(message));
}
Error ConflictError(std::string code, std::string message) {
  return Error(ErrorCategory::kConflict, std::move(code), std::move(message));
}
Error InternalError(std::string code, std::string message) {
  return Error(ErrorCategory::kInternal, std::move(code), std::move(message));
}
Error UnsupportedError(std::string code, std::string message) {
  return Error(ErrorCategory::kUnsupported, std::move(code), std::move(message));
}

std::string ErrnoName(int err) {
  if (const auto* info = FindErrno(err)) return std::string(info->name);
  return "E" + std::to_string(err);
}

Error ErrnoError(std::string code, std::string_view syscall, std::string_view object, int err) {
  const ErrnoInfo* info = FindErrno(err);
  std::string message = std::string(syscall) + "(" + std::string(object) +
                        ") failed: " + std::strerror(err) + " (" + ErrnoName(err) + ")";
  Error e(info ? info->category : ErrorCategory::kInternal, std::move(code), std::move(message));
  e.WithDetail("syscall", std::string(syscall))
      .WithDetail("object", std::string(object))
      .WithDetail("errno", err)
      .WithDetail("errno_name", ErrnoName(err));
  if (info) e.WithHint(std::string(info->hint));
  return e;
}

}  // namespace arsenal
