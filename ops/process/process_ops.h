// Shared pieces of the process operations: parameter fragments and parsing that several
// operations use. Handlers stay thin: params -> ProcessTable / process_*.h -> JSON.
#pragma once

#include <signal.h>
#include <string.h>

#include <string>

#include "arsenal/engine/engine.h"
#include "arsenal/engine/process_table.h"
#include "arsenal/engine/sandbox_service.h"

namespace arsenal::ops::process {

// The table, with the sandbox service wired in first: start_process with a sandbox (by id or
// inline) must work in an engine where no sandbox operation has run yet.
inline ProcessTable& Table(OperationContext& ctx) {
  SandboxService::Get(ctx.engine);
  return ctx.engine.Service<ProcessTable>();
}

inline Json IdProperty() {
  return {{"type", "string"},
          {"minLength", 1},
          {"description", "managed process id (p-<n>), as returned by start_process"}};
}

inline Json SignalProperty(const std::string& what) {
  return {{"type", Json::array({"integer", "string"})},
          {"description", what + ": a number or a name (SIGTERM, TERM)"}};
}

// Signal number from a JSON number or name ("SIGTERM", "TERM", "SIGRTMIN+3"). Unknown or out of
// range: process.invalid_signal naming `field`.
inline Result<int> ParseSignal(const Json& value, const std::string& field) {
  auto invalid = [&](const std::string& shown) {
    return Fail(ValidationError("process.invalid_signal", "'" + shown + "' is not a signal", field)
                    .WithHint("use a number in 1.." + std::to_string(SIGRTMAX) +
                              " or a name like SIGTERM"));
  };
  if (value.is_number_integer()) {
    const int64_t n = value.get<int64_t>();
    if (n < 1 || n > SIGRTMAX) return invalid(std::to_string(n));
    return static_cast<int>(n);
  }
  if (!value.is_string()) return invalid(value.dump());
  std::string name = value.get<std::string>();
  std::string bare = name.starts_with("SIG") ? name.substr(3) : name;
  for (int sig = 1; sig < SIGRTMIN; ++sig) {
    const char* abbrev = ::sigabbrev_np(sig);
    if (abbrev != nullptr && bare == abbrev) return sig;
  }
  if (bare.starts_with("RTMIN")) {
    const std::string rest = bare.substr(5);
    int offset = 0;
    if (!rest.empty()) {
      if (rest[0] != '+' || rest.size() < 2) return invalid(name);
      for (char c : rest.substr(1)) {
        if (c < '0' || c > '9') return invalid(name);
      }
      offset = std::stoi(rest.substr(1));
    }
    if (SIGRTMIN + offset > SIGRTMAX) return invalid(name);
    return SIGRTMIN + offset;
  }
  return invalid(name);
}

// "host-<pid>" (the ids list_processes gives host processes) → pid; nullopt for other ids.
inline std::optional<pid_t> HostPid(const std::string& id) {
  if (!id.starts_with("host-") || id.size() == 5 || id.size() > 15) return std::nullopt;
  pid_t pid = 0;
  for (char c : id.substr(5)) {
    if (c < '0' || c > '9') return std::nullopt;
    pid = pid * 10 + (c - '0');
  }
  return pid > 0 ? std::optional<pid_t>(pid) : std::nullopt;
}

enum class PauseDirection { kSuspend, kResume };
// suspend_process or resume_process (pause_operation.cc): the same shape in two directions, each
// the other's compensation.
Operation MakePauseOperation(PauseDirection direction);

inline Json SnapshotSchema() {
  return {
      {"type", "object"},
      {"properties",
       {{"id", {{"type", "string"}}},
        {"pid", {{"type", "integer"}}},
        {"name", {{"type", "string"}}},
        {"state", {{"type", "string"}, {"enum", {"running", "suspended", "stopping", "exited"}}}},
        {"sandbox", {{"type", Json::array({"string", "null"})}}},
        {"supervisor", {{"type", Json::array({"string", "null"})}}},
        {"labels", {{"type", "object"}}},
        {"started_unix_ms", {{"type", "integer"}}},
        {"restarts", {{"type", "integer"}}},
        {"exit", {{"type", Json::array({"object", "null"})}}}}},
      {"required", {"id", "pid", "state"}}};
}

}  // namespace arsenal::ops::process
