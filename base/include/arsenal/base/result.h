// Result<T> and Error: how every fallible Arsenal call reports failure.
//
// Purpose: one error model shared by the engine, the kernel-facing libraries and every front
// door (REST, CLI, C++ embedders). An Error carries a stable dotted `code` that clients may match
// on ("sandbox.not_found"), a coarse `category` that maps to an HTTP status, a human message,
// structured `details`, an actionable `hint` (what to do next) and a `retryable` flag.
//
// Rules:
//  - Nothing in Arsenal throws across a public API; fallible functions return Result<T>.
//  - Propagate with ARSENAL_TRY / ARSENAL_ASSIGN_OR_RETURN, never with hand-written ladders.
//  - Kernel failures become an Error at the syscall, via ErrnoError(), which names the syscall,
//    the object and errno, so a message is never just "Operation not permitted".
//
// Security: messages and details are returned to API clients. Do not put secrets (API keys,
// environment values) into them.
#pragma once

#include <cerrno>
#include <expected>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>

namespace arsenal {

using Json = nlohmann::json;

enum class ErrorCategory {
  kValidation,
  kNotFound,
  kConflict,
  kPermission,
  kUnauthenticated,
  kResourceExhausted,
  kUnavailable,
  kTimeout,
  kUnsupported,
  kInternal,
};

// Stable lower_snake name ("not_found"); used in JSON and in docs.
std::string_view CategoryName(ErrorCategory category);
// Parses a name produced by CategoryName; returns kInternal for anything else.
ErrorCategory CategoryFromName(std::string_view name);
// The HTTP status a front door answers with for this category (validation 400, not_found 404,
// conflict 409, permission 403, unauthenticated 401, resource_exhausted 429, unavailable 503,
// timeout 504, unsupported 501, internal 500).
int HttpStatus(ErrorCategory category);

class Error {
 public:
  Error(ErrorCategory category, std::string code, std::string message);

  // Builders: return *this so errors read as one expression.
  Error& WithHint(std::string hint) &;
  Error&& WithHint(std::string hint) &&;
  Error& WithDetail(const std::string& key, Json value) &;
  Error&& WithDetail(const std::string& key, Json value) &&;
  Error& WithRetryable(bool retryable) &;
  Error&& WithRetryable(bool retryable) &&;
  // Prefixes the message with the caller's context ("create sandbox sb-1: ...").
  Error& AddContext(std::string_view context) &;
  Error&& AddContext(std::string_view context) &&;
  // Re-roots details.field under `prefix` ("limit" becomes "sandbox.limit"; none becomes
  // "sandbox"): a nested parser's error then names the field as the caller's input spells it.
  Error& NestField(std::string_view prefix) &;
  Error&& NestField(std::string_view prefix) &&;

  ErrorCategory category() const { return category_; }
  const std::string& code() const { return code_; }
  const std::string& message() const { return message_; }
  const std::string& hint() const { return hint_; }
  const Json& details() const { return details_; }
  bool retryable() const { return retryable_; }
  int http_status() const { return HttpStatus(category_); }

  // {"code","category","message","hint","details","retryable"}; hint/details omitted when empty.
  Json ToJson() const;
  static Error FromJson(const Json& json);
  std::string ToString() const;  // "code: message (hint: ...)"

 private:
  ErrorCategory category_;
  std::string code_;
  std::string message_;
  std::string hint_;
  Json details_ = Json::object();
  bool retryable_;
};

template <typename T>
using Result = std::expected<T, Error>;
using Status = std::expected<void, Error>;

inline std::unexpected<Error> Fail(Error error) { return std::unexpected(std::move(error)); }

// Shorthands for the common categories.
Error ValidationError(std::string code, std::string message, std::string field = {});
Error NotFoundError(std::string code, std::string message);
Error ConflictError(std::string code, std::string message);
Error InternalError(std::string code, std::string message);
Error UnsupportedError(std::string code, std::string message);

// Turns errno from `syscall` on `object` into an Error: category from errno (ENOENT not_found,
// EPERM/EACCES permission, EEXIST/EBUSY conflict, ENOMEM/EAGAIN/EMFILE/ENOSPC resource_exhausted,
// ENOSYS/EOPNOTSUPP unsupported, ETIMEDOUT timeout, else internal), a message naming all three,
// details {syscall, object, errno, errno_name} and a default hint for the errno.
Error ErrnoError(std::string code, std::string_view syscall, std::string_view object, int err);

// Symbolic errno name ("EPERM"), or "E<number>" when unknown.
std::string ErrnoName(int err);

}  // namespace arsenal

#define ARSENAL_CONCAT_INNER_(a, b) a##b
#define ARSENAL_CONCAT_(a, b) ARSENAL_CONCAT_INNER_(a, b)

// ARSENAL_TRY(expr): evaluates a Status/Result expression and returns its error from the
// enclosing function (which must return Result<U> or Status) if it failed.
#define ARSENAL_TRY(expr)                                               \
  do {                                                                  \
    auto&& arsenal_try_result_ = (expr);                                \
    if (!arsenal_try_result_) [[unlikely]]                              \
      return ::std::unexpected(std::move(arsenal_try_result_).error()); \
  } while (false)

// ARSENAL_ASSIGN_OR_RETURN(lhs, expr): `lhs = *expr` or return the error. `lhs` may declare a
// variable: ARSENAL_ASSIGN_OR_RETURN(auto fd, OpenDir(path));
#define ARSENAL_ASSIGN_OR_RETURN(lhs, expr) \
  ARSENAL_ASSIGN_OR_RETURN_IMPL_(ARSENAL_CONCAT_(arsenal_result_, __LINE__), lhs, expr)
#define ARSENAL_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp) [[unlikely]]                               \
    return ::std::unexpected(std::move(tmp).error());  \
  lhs = std::move(tmp).value()
