// Example module "counter", version 3.0.0, deliberately broken: shows what a failed reload does.
//
// Built twice: by default create() always fails (module.create_failed); with
// COUNTER_V3_UNHEALTHY, create() succeeds but health() reports the instance unhealthy
// (module.health_check_failed). Either way the reload is refused and the serving version keeps
// its state.
#include <memory>
#include <string>

#include "arsenal/module.hpp"

namespace {

using arsenal::module::Outcome;

class CounterV3 {
 public:
  static Outcome<std::unique_ptr<CounterV3>> Create(std::string_view /*state*/,
                                                    uint32_t /*version*/) {
#ifdef COUNTER_V3_UNHEALTHY
    return std::make_unique<CounterV3>();
#else
    return arsenal::module::Error("counter 3.0.0 cannot open its backing store");
#endif
  }

  Outcome<std::string> Call(std::string_view method, std::string_view /*input*/) {
    return arsenal::module::NoSuchMethod(method);
  }

  Outcome<arsenal::module::State> Snapshot(uint32_t /*wanted_state_version*/) const {
    return arsenal::module::State{};
  }

  arsenal::module::Status Health() const {
    return arsenal::module::Error("counter 3.0.0 lost its connection to the backing store");
  }
};

}  // namespace

ARSENAL_MODULE(CounterV3, "counter", "3.0.0", 3, 0)
