// arsenal/module.hpp: write a hot-reloadable module as a C++ class.
//
// Purpose: fills the C table of arsenal/module.h from a class, so a module author writes four
// member functions and one macro line, and never touches raw buffers. Header-only, C++17, no
// dependency on the rest of Arsenal (modules do not link Arsenal's libraries).
//
// The class contract (T is the author's class):
//   static arsenal::module::Outcome<std::unique_ptr<T>> Create(std::string_view state,
//                                                             uint32_t state_version);
//       state is empty and state_version 0 for a fresh instance. Return BadState(...) when the
//       blob cannot be read (unknown version, corrupt), Error(...) for anything else.
//   arsenal::module::Outcome<std::string> Call(std::string_view method, std::string_view input);
//       Return NoSuchMethod(method) for unknown methods.
//   arsenal::module::Outcome<arsenal::module::State> Snapshot(uint32_t wanted_state_version) const;
//       Must not change the instance (a failed reload keeps it serving).
//   arsenal::module::Status Health() const;
//
// and then, at namespace scope in exactly one .cc file of the module:
//   ARSENAL_MODULE(T, "name", "1.0.0", /*state_version=*/1, /*flags=*/0)
//
// Threading: see module.h. With flags 0 the host never calls into one instance from two threads
// at once. Exceptions: every exception thrown by T (including std::bad_alloc) is caught at the C
// boundary and turned into ARSENAL_MODULE_ERROR with what() as the message; none escapes.
//
// Build the module as a MODULE library with -fvisibility=hidden and -fno-gnu-unique (see
// module.h "Unloading").
#ifndef ARSENAL_MODULE_HPP_
#define ARSENAL_MODULE_HPP_

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "arsenal/module.h"

namespace arsenal::module {

// Why an operation failed: a status code of module.h and a message for the host's error.
struct Failure {
  arsenal_module_status code = ARSENAL_MODULE_ERROR;
  std::string message;
};

inline Failure Error(std::string message) { return {ARSENAL_MODULE_ERROR, std::move(message)}; }
inline Failure BadState(std::string message) {
  return {ARSENAL_MODULE_BAD_STATE, std::move(message)};
}
inline Failure NoSuchMethod(std::string_view method) {
  return {ARSENAL_MODULE_NO_SUCH_METHOD, "no such method: " + std::string(method)};
}

// A value or a Failure.
template <typename T>
class Outcome {
 public:
  Outcome(T value) : value_(std::move(value)) {}              // NOLINT: implicit by design
  Outcome(Failure failure) : failure_(std::move(failure)) {}  // NOLINT
  bool ok() const { return value_.has_value(); }
  T& value() { return *value_; }
  Failure& failure() { return failure_; }

 private:
  std::optional<T> value_;
  Failure failure_;
};

// Success or a Failure.
class Status {
 public:
  Status() = default;
  Status(Failure failure) : failure_(std::move(failure)) {}  // NOLINT
  static Status Ok() { return Status(); }
  bool ok() const { return !failure_.has_value(); }
  Failure& failure() { return *failure_; }

 private:
  std::optional<Failure> failure_;
};

// A serialised state and the format it is written in.
struct State {
  std::string bytes;
  uint32_t version = 0;
};

namespace internal {

// Large outputs and snapshots are handed to the host without a copy: the std::string that holds
// them is parked here until the host releases the buffer with FreeBuffer. (A copy of a large
// state would double the memory touched while the host blocks calls for a reload.) Small buffers
// are copied into malloc memory, which is cheaper than the bookkeeping. One registry per module
// library (hidden visibility); the count keeps FreeBuffer lock-free when nothing is parked.
class ParkedBuffers {
 public:
  static constexpr size_t kMinBytes = 64u << 10;

  static ParkedBuffers& Get() {
    static ParkedBuffers buffers;
    return buffers;
  }

  // Takes over `data` (size >= kMinBytes) and returns the address of its bytes.
  uint8_t* Park(std::string&& data) {
    auto holder = std::make_unique<std::string>(std::move(data));
    auto* bytes = reinterpret_cast<uint8_t*>(holder->data());
    std::lock_guard<std::mutex> lock(mu_);
    parked_.emplace(bytes, std::move(holder));
    count_.fetch_add(1, std::memory_order_release);
    return bytes;
  }

  // Releases `buffer` if it is parked here; false if it is not (a malloc'ed buffer).
  bool Release(void* buffer) {
    if (count_.load(std::memory_order_acquire) == 0) return false;
    std::unique_ptr<std::string> holder;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = parked_.find(buffer);
      if (it == parked_.end()) return false;
      holder = std::move(it->second);
      parked_.erase(it);
      count_.fetch_sub(1, std::memory_order_release);
    }
    return true;  // `holder` frees the bytes outside the lock
  }

 private:
  std::mutex mu_;
  std::unordered_map<void*, std::unique_ptr<std::string>> parked_;
  std::atomic<size_t> count_{0};
};

// Hands `data` to the host: parked when large, else copied into a malloc'ed buffer that the host
// releases with FreeBuffer. Returns false when out of memory.
inline bool MoveOut(std::string&& data, arsenal_module_bytes* out) {
  out->data = nullptr;
  out->size = 0;
  if (data.size() >= ParkedBuffers::kMinBytes) {
    const size_t size = data.size();
    out->data = ParkedBuffers::Get().Park(std::move(data));
    out->size = size;
    return true;
  }
  if (data.empty()) return true;
  auto* buffer = static_cast<uint8_t*>(std::malloc(data.size()));
  if (buffer == nullptr) return false;
  std::memcpy(buffer, data.data(), data.size());
  out->data = buffer;
  out->size = data.size();
  return true;
}

inline void SetError(char** error, std::string_view message) {
  if (error == nullptr) return;
  *error = nullptr;
  auto* text = static_cast<char*>(std::malloc(message.size() + 1));
  if (text == nullptr) return;
  std::memcpy(text, message.data(), message.size());
  text[message.size()] = '\0';
  *error = text;
}

inline int Report(Failure& failure, char** error) {
  SetError(error, failure.message);
  return failure.code == ARSENAL_MODULE_OK ? ARSENAL_MODULE_ERROR : failure.code;
}

// Runs `body` and turns any exception into ARSENAL_MODULE_ERROR: nothing may unwind into C.
template <typename F>
int Guard(char** error, F&& body) noexcept {
  try {
    return body();
  } catch (const std::exception& e) {
    SetError(error, e.what());
  } catch (...) {
    SetError(error, "unknown exception");
  }
  return ARSENAL_MODULE_ERROR;
}

inline std::string_view View(const uint8_t* data, size_t size) {
  return data == nullptr ? std::string_view()
                         : std::string_view(reinterpret_cast<const char*>(data), size);
}

template <typename T>
struct Adapter {
  static T* Self(arsenal_module_instance* instance) { return reinterpret_cast<T*>(instance); }

  static int Create(const uint8_t* state, size_t state_size, uint32_t state_version,
                    arsenal_module_instance** instance, char** error) {
    *instance = nullptr;
    return Guard(error, [&]() -> int {
      Outcome<std::unique_ptr<T>> created = T::Create(View(state, state_size), state_version);
      if (!created.ok()) return Report(created.failure(), error);
      if (created.value() == nullptr) {
        SetError(error, "Create returned no instance");
        return ARSENAL_MODULE_ERROR;
      }
      *instance = reinterpret_cast<arsenal_module_instance*>(created.value().release());
      return ARSENAL_MODULE_OK;
    });
  }

  static int Call(arsenal_module_instance* instance, const char* method, const uint8_t* input,
                  size_t input_size, arsenal_module_bytes* output, char** error) {
    output->data = nullptr;
    output->size = 0;
    return Guard(error, [&]() -> int {
      Outcome<std::string> result = Self(instance)->Call(method, View(input, input_size));
      if (!result.ok()) return Report(result.failure(), error);
      if (!MoveOut(std::move(result.value()), output)) throw std::bad_alloc();
      return ARSENAL_MODULE_OK;
    });
  }

  static int Snapshot(arsenal_module_instance* instance, uint32_t wanted_state_version,
                      arsenal_module_bytes* state, uint32_t* state_version, char** error) {
    state->data = nullptr;
    state->size = 0;
    return Guard(error, [&]() -> int {
      const T* self = Self(instance);
      Outcome<State> snapshot = self->Snapshot(wanted_state_version);
      if (!snapshot.ok()) return Report(snapshot.failure(), error);
      if (!MoveOut(std::move(snapshot.value().bytes), state)) throw std::bad_alloc();
      *state_version = snapshot.value().version;
      return ARSENAL_MODULE_OK;
    });
  }

  static int Health(arsenal_module_instance* instance, char** error) {
    return Guard(error, [&]() -> int {
      const T* self = Self(instance);
      Status status = self->Health();
      if (!status.ok()) return Report(status.failure(), error);
      return ARSENAL_MODULE_OK;
    });
  }

  static void Destroy(arsenal_module_instance* instance) {
    // A destructor that throws would terminate; destructors are noexcept by default in C++11.
    delete Self(instance);
  }

  static void FreeBuffer(void* buffer) {
    if (buffer != nullptr && !ParkedBuffers::Get().Release(buffer)) std::free(buffer);
  }
};

}  // namespace internal
}  // namespace arsenal::module

// Defines the module's table and its exported entry point from class `cls`.
#define ARSENAL_MODULE(cls, name_literal, version_literal, state_version_value, flags_value) \
  extern "C" ARSENAL_MODULE_EXPORT const arsenal_module_table_v1* arsenal_module_v1(void) {  \
    using ArsenalModuleAdapter_ = ::arsenal::module::internal::Adapter<cls>;                 \
    static const arsenal_module_table_v1 table = {                                           \
        ARSENAL_MODULE_ABI_VERSION,                                                          \
        static_cast<uint32_t>(sizeof(arsenal_module_table_v1)),                              \
        name_literal,                                                                        \
        version_literal,                                                                     \
        state_version_value,                                                                 \
        flags_value,                                                                         \
        &ArsenalModuleAdapter_::Create,                                                      \
        &ArsenalModuleAdapter_::Call,                                                        \
        &ArsenalModuleAdapter_::Snapshot,                                                    \
        &ArsenalModuleAdapter_::Health,                                                      \
        &ArsenalModuleAdapter_::Destroy,                                                     \
        &ArsenalModuleAdapter_::FreeBuffer,                                                  \
    };                                                                                       \
    return &table;                                                                           \
  }

#endif  // ARSENAL_MODULE_HPP_
