// Example module "counter", version 1.0.0: named counters.
//
// Methods: incr <key> -> "<new value> v1"; get <key> -> "<value>"; pad <bytes> -> "" (stores an
// opaque payload in the state); noop -> ""; sleep <ms> -> "" (holds the call); version -> "1.0.0".
// State: format 1 (counter_state.h). Reads only format 1; asked for nothing else.
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "arsenal/module.hpp"
#include "counter_state.h"

namespace {

using arsenal::module::Outcome;

class CounterV1 {
 public:
  static Outcome<std::unique_ptr<CounterV1>> Create(std::string_view state, uint32_t version) {
    auto counter = std::make_unique<CounterV1>();
    if (version == 0 && state.empty()) return counter;
    if (version != 1) {
      return arsenal::module::BadState("counter 1.0.0 reads state format 1, not " +
                                       std::to_string(version));
    }
    auto decoded = counter_state::DecodeV1(state);
    if (!decoded) return arsenal::module::BadState("corrupt counter state (format 1)");
    counter->state_ = std::move(*decoded);
    return counter;
  }

  Outcome<std::string> Call(std::string_view method, std::string_view input) {
    if (method == "noop") return std::string();
    if (method == "sleep") {
      int64_t ms = 0;
      if (!counter_state::ParseInt(input, &ms)) return arsenal::module::Error("sleep <ms>");
      std::this_thread::sleep_for(std::chrono::milliseconds(ms));
      return std::string();
    }
    if (method == "incr") {
      if (!counter_state::IsValidKey(input)) return arsenal::module::Error("invalid key");
      auto& entry = state_.entries[std::string(input)];
      ++entry.value;
      return std::to_string(entry.value) + " v1";
    }
    if (method == "get") {
      auto it = state_.entries.find(input);
      return std::to_string(it == state_.entries.end() ? 0 : it->second.value);
    }
    if (method == "pad") {
      state_.pad = std::string(input);
      return std::string();
    }
    if (method == "version") return std::string("1.0.0");
    return arsenal::module::NoSuchMethod(method);
  }

  // Version 1 knows only its own format; a newer version handles a downgrade itself.
  Outcome<arsenal::module::State> Snapshot(uint32_t /*wanted_state_version*/) const {
    return arsenal::module::State{counter_state::EncodeV1(state_), 1};
  }

  arsenal::module::Status Health() const { return arsenal::module::Status::Ok(); }

 private:
  counter_state::State state_;
};

}  // namespace

ARSENAL_MODULE(CounterV1, "counter", "1.0.0", 1, 0)
