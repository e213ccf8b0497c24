// Example module "counter", version 0.9.0-garbage: a version whose snapshot() is wrong.
//
// It serves calls like a counter (incr -> "<n> garbage") but its snapshot claims state format 1
// and returns bytes no counter can read, so a reload from it to a real counter fails with
// module.bad_state and this version keeps serving. The "mode" method switches the snapshot to
// "oversize" (a 2 MiB blob, above a small max_state_bytes: module.bad_state) or "fail"
// (snapshot() fails: module.snapshot_failed).
#include <memory>
#include <string>

#include "arsenal/module.hpp"

namespace {

using arsenal::module::Outcome;

class GarbageState {
 public:
  static Outcome<std::unique_ptr<GarbageState>> Create(std::string_view /*state*/,
                                                       uint32_t /*version*/) {
    return std::make_unique<GarbageState>();
  }

  Outcome<std::string> Call(std::string_view method, std::string_view input) {
    if (method == "incr") return std::to_string(++count_) + " garbage";
    if (method == "mode") {
      mode_ = std::string(input);
      return std::string();
    }
    return arsenal::module::NoSuchMethod(method);
  }

  Outcome<arsenal::module::State> Snapshot(uint32_t /*wanted_state_version*/) const {
    if (mode_ == "fail") return arsenal::module::Error("snapshot refused");
    if (mode_ == "oversize") return arsenal::module::State{std::string(2u << 20, 'x'), 1};
    return arsenal::module::State{std::string("\x01\xff no=counter state\n\x7f", 22), 1};
  }

  arsenal::module::Status Health() const { return arsenal::module::Status::Ok(); }

 private:
  int64_t count_ = 0;
  std::string mode_ = "garbage";
};

}  // namespace

ARSENAL_MODULE(GarbageState, "counter", "0.9.0-garbage", 1, 0)
