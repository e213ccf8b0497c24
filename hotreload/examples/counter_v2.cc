// Example module "counter", version 2.x: named counters that also count their updates.
//
// Methods: those of 1.0.0 (incr answers "<new value> v2") plus updates <key> -> "<updates>".
// State: writes format 2; reads formats 1 (migrating: updates start at the value) and 2; writes
// format 1 when the next version asks for it (wanted_state_version 1), so a rollback to 1.0.0
// keeps the counters.
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "arsenal/module.hpp"
#include "counter_state.h"

#ifndef COUNTER_V2_VERSION
#define COUNTER_V2_VERSION "2.0.0"
#endif

namespace {

using arsenal::module::Outcome;

class CounterV2 {
 public:
  static Outcome<std::unique_ptr<CounterV2>> Create(std::string_view state, uint32_t version) {
    auto counter = std::make_unique<CounterV2>();
    std::optional<counter_state::State> decoded;
    switch (version) {
      case 0:
        if (!state.empty()) return arsenal::module::BadState("state without a format version");
        return counter;
      case 1:
        decoded = counter_state::DecodeV1(state);
        // Format 1 did not record updates; every update so far was an increment.
        if (decoded) {
          for (auto& [key, entry] : decoded->entries) entry.updates = entry.value;
        }
        break;
      case 2:
        decoded = counter_state::DecodeV2(state);
        break;
      default:
        return arsenal::module::BadState("counter " COUNTER_V2_VERSION
                                         " reads state formats 1 and 2, not " +
                                         std::to_string(version));
    }
    if (!decoded) {
      return arsenal::module::BadState("corrupt counter state (format " + std::to_string(version) +
                                       ")");
    }
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
      ++entry.updates;
      return std::to_string(entry.value) + " v2";
    }
    if (method == "get" || method == "updates") {
      auto it = state_.entries.find(input);
      if (it == state_.entries.end()) return std::string("0");
      return std::to_string(method == "get" ? it->second.value : it->second.updates);
    }
    if (method == "pad") {
      state_.pad = std::string(input);
      return std::string();
    }
    if (method == "version") return std::string(COUNTER_V2_VERSION);
    return arsenal::module::NoSuchMethod(method);
  }

  Outcome<arsenal::module::State> Snapshot(uint32_t wanted_state_version) const {
    if (wanted_state_version == 1) {
      return arsenal::module::State{counter_state::EncodeV1(state_), 1};
    }
    return arsenal::module::State{counter_state::EncodeV2(state_), 2};
  }

  arsenal::module::Status Health() const { return arsenal::module::Status::Ok(); }

 private:
  counter_state::State state_;
};

}  // namespace

ARSENAL_MODULE(CounterV2, "counter", COUNTER_V2_VERSION, 2, 0)
