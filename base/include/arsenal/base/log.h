// Logging: one spdlog logger per component ("engine", "sandbox", "api", ...).
//
// Every line carries time, level, component, pid and tid. Format is text for people or one JSON
// object per line for machines (ConfigureLogging). Never call these between clone and exec: the
// child of a clone must not allocate or take locks.
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>

namespace arsenal::log {

enum class Format { kText, kJson };

// Sets the level ("trace".."off") and format for all current and future component loggers.
// Unknown level names fall back to "info". Thread-safe.
void ConfigureLogging(std::string_view level, Format format);

// Returns the logger of `component`, creating it on first use. Thread-safe; cheap after the first
// call for a name (callers may cache the pointer).
std::shared_ptr<spdlog::logger> Get(const std::string& component);

}  // namespace arsenal::log
