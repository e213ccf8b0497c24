#include "arsenal/api/metrics.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <thread>

namespace arsenal::api {
namespace {

using namespace std::chrono_literals;

Json Stop(const std::string& operation) { return {{"operation", operation}, {"outcome", "ok"}}; }

TEST(MetricsTest, CountsOperationStopsByOperationAndOutcome) {
  auto engine = Engine::Create();
  ASSERT_TRUE(engine) << engine.error().ToString();
  Metrics metrics(**engine);
  (*engine)->events().Emit("arsenal.operation.stop", {{"duration_us", 300}}, Stop("a"));
  (*engine)->events().Emit("arsenal.operation.stop", {{"duration_us", 300}}, Stop("a"));
  (*engine)->events().Emit("arsenal.operation.start", Json::object(), Stop("a"));
  (*engine)->events().Flush();
  const std::string text = metrics.Render();
  EXPECT_NE(text.find("arsenal_operations_total{operation=\"a\",outcome=\"ok\"} 2\n"),
            std::string::npos)
      << text;
  // 300 us falls in the 0.0005 s bucket and every larger one, not in 0.00025 s.
  EXPECT_NE(text.find("le=\"0.0005\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("le=\"0.00025\"} 0\n"), std::string::npos) << text;
}

// Render() asks the bus for its counters while the bus's dispatcher delivers operation events to
// the same Metrics. Both used to take the two locks in opposite orders, and a scrape during a
// burst of operations could hang the scraping thread and the dispatcher for good.
TEST(MetricsTest, RenderingDuringABurstOfEventsNeverDeadlocks) {
  auto engine = Engine::Create();
  ASSERT_TRUE(engine) << engine.error().ToString();
  Metrics metrics(**engine);
  std::atomic<bool> stop = false;
  std::thread emitter([&] {
    while (!stop.load()) {
      (*engine)->events().Emit("arsenal.operation.stop", {{"duration_us", 10}}, Stop("op"));
    }
  });
  auto renders = std::async(std::launch::async, [&] {
    size_t n = 0;
    for (; n < 20000; ++n) (void)metrics.Render();
    return n;
  });
  const bool finished = renders.wait_for(30s) == std::future_status::ready;
  stop = true;
  emitter.join();
  if (!finished) {
    // Deadlocked: the render thread cannot be joined; leave at once rather than hang the suite.
    ADD_FAILURE() << "Metrics::Render did not finish: lock-order deadlock with the event bus";
    std::_Exit(1);
  }
  EXPECT_EQ(renders.get(), 20000u);
}

}  // namespace
}  // namespace arsenal::api
