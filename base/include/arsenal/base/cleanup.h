// Cleanup: commit-or-rollback for multi-step setup.
//
// Arm a Cleanup after each step that must be undone if a later step fails; call Cancel() once the
// last step has succeeded. Used wherever partial creation would otherwise leave a cgroup, mount,
// process or temp dir behind.
#pragma once

#include <optional>
#include <utility>

namespace arsenal {

template <typename F>
class [[nodiscard]] Cleanup {
 public:
  explicit Cleanup(F f) : f_(std::move(f)) {}
  Cleanup(const Cleanup&) = delete;
  Cleanup& operator=(const Cleanup&) = delete;
  Cleanup(Cleanup&& other) noexcept : f_(std::move(other.f_)) { other.f_.reset(); }
  ~Cleanup() {
    if (f_) (*f_)();
  }
  void Cancel() { f_.reset(); }
  // Runs the cleanup now (once).
  void Invoke() {
    if (f_) {
      auto f = std::move(*f_);
      f_.reset();
      f();
    }
  }

 private:
  std::optional<F> f_;
};

}  // namespace arsenal
