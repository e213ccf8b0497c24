#include "arsenal/base/log.h"

#include <spdlog/sinks/stdout_sinks.h>

#include <mutex>

namespace arsenal::log {
namespace {

constexpr const char* kTextPattern = "%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] pid=%P tid=%t %v";
// A JSON object per line. The message is inserted unescaped by spdlog, so messages must not
// contain quotes; ours are generated, and user-controlled strings are logged through fields that
// Arsenal escapes before logging.
constexpr const char* kJsonPattern =
    R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","component":"%n","pid":%P,"tid":%t,"msg":"%v"})";

std::mutex g_mu;
Format g_format = Format::kText;
spdlog::level::level_enum g_level = spdlog::level::info;

void Apply(spdlog::logger& logger) {
  logger.set_level(g_level);
  logger.set_pattern(g_format == Format::kJson ? kJsonPattern : kTextPattern,
                     spdlog::pattern_time_type::utc);
}

}  // namespace

void ConfigureLogging(std::string_view level, Format format) {
  std::lock_guard lock(g_mu);
  g_level = spdlog::level::from_str(std::string(level));
  if (g_level == spdlog::level::off && level != "off") g_level = spdlog::level::info;
  g_format = format;
  spdlog::apply_all([](const std::shared_ptr<spdlog::logger>& l) { Apply(*l); });
}

std::shared_ptr<spdlog::logger> Get(const std::string& component) {
  if (auto existing = spdlog::get(component)) return existing;
  std::lock_guard lock(g_mu);
  if (auto existing = spdlog::get(component)) return existing;
  auto logger = std::make_shared<spdlog::logger>(component,
                                                 std::make_shared<spdlog::sinks::stderr_sink_mt>());
  Apply(*logger);
  spdlog::register_logger(logger);
  return logger;
}

}  // namespace arsenal::log
