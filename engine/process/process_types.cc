// ProcessSpec parsing and the JSON forms of the process table's value types.
#include <string.h>

#include <array>
#include <chrono>

#include "arsenal/engine/process_table.h"
#include "process/table_impl.h"

namespace arsenal {
namespace process_internal {

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t NowUnixNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t NowSteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace process_internal

namespace {

constexpr std::array<std::string_view, 4> kStateNames = {"running", "suspended", "stopping",
                                                         "exited"};

Error SpecError(const std::string& field, const std::string& message) {
  return ValidationError("process.invalid_spec", "invalid '" + field + "': " + message, field)
      .WithHint("see docs/processes.md for the process spec");
}

Result<std::map<std::string, std::string>> StringMap(const Json& json, const std::string& field,
                                                     bool env) {
  if (!json.is_object()) return Fail(SpecError(field, "must be an object of strings"));
  std::map<std::string, std::string> out;
  for (const auto& [key, value] : json.items()) {
    if (!value.is_string()) return Fail(SpecError(field + "." + key, "must be a string"));
    if (key.empty()) return Fail(SpecError(field, "keys must not be empty"));
    if (env && key.find('=') != std::string::npos) {
      return Fail(SpecError(field + "." + key, "environment names must not contain '='"));
    }
    if (key.find('\0') != std::string::npos ||
        value.get_ref<const std::string&>().find('\0') != std::string::npos) {
      return Fail(SpecError(field + "." + key, "must not contain NUL bytes"));
    }
    out[key] = value.get<std::string>();
  }
  return out;
}

Result<OutputSpec> ParseOutput(const Json& json, const std::string& field) {
  OutputSpec spec;
  auto mode_from = [&](const std::string& text) -> Status {
    if (text == "capture") {
      spec.mode = OutputMode::kCapture;
    } else if (text == "null") {
      spec.mode = OutputMode::kNull;
    } else if (text == "inherit") {
      spec.mode = OutputMode::kInherit;
    } else {
      return Fail(SpecError(field, "mode must be capture, null or inherit"));
    }
    return {};
  };
  if (json.is_string()) {
    ARSENAL_TRY(mode_from(json.get<std::string>()));
    return spec;
  }
  if (!json.is_object()) return Fail(SpecError(field, "must be a mode string or an object"));
  for (const auto& [key, value] : json.items()) {
    if (key == "mode") {
      if (!value.is_string()) return Fail(SpecError(field + ".mode", "must be a string"));
      ARSENAL_TRY(mode_from(value.get<std::string>()));
    } else if (key == "ring_bytes") {
      if (!value.is_number_integer() || value.get<int64_t>() < 1024 ||
          value.get<int64_t>() > 16 * 1024 * 1024) {
        return Fail(SpecError(field + ".ring_bytes", "must be an integer in 1024..16777216"));
      }
      spec.ring_bytes = value.get<size_t>();
    } else if (key == "log_file") {
      if (!value.is_string() || value.get_ref<const std::string&>().empty() ||
          value.get_ref<const std::string&>().front() != '/') {
        return Fail(SpecError(field + ".log_file", "must be an absolute path"));
      }
      spec.log_file = value.get<std::string>();
    } else {
      return Fail(SpecError(field + "." + key, "unknown field"));
    }
  }
  if (!spec.log_file.empty() && spec.mode != OutputMode::kCapture) {
    return Fail(SpecError(field + ".log_file", "needs mode capture"));
  }
  return spec;
}

Json OutputToJson(const OutputSpec& spec) {
  Json j = {{"mode", spec.mode == OutputMode::kCapture ? "capture"
                     : spec.mode == OutputMode::kNull  ? "null"
                                                       : "inherit"}};
  if (spec.mode == OutputMode::kCapture) j["ring_bytes"] = spec.ring_bytes;
  if (!spec.log_file.empty()) j["log_file"] = spec.log_file;
  return j;
}

std::string SignalName(int sig) {
  const char* abbrev = ::sigabbrev_np(sig);
  if (abbrev != nullptr) return std::string("SIG") + abbrev;
  if (sig >= SIGRTMIN && sig <= SIGRTMAX) return "SIGRTMIN+" + std::to_string(sig - SIGRTMIN);
  return "SIG" + std::to_string(sig);
}

}  // namespace

std::string_view ProcessStateName(ProcessState state) {
  return kStateNames[static_cast<size_t>(state)];
}

std::optional<ProcessState> ProcessStateFromName(std::string_view name) {
  for (size_t i = 0; i < kStateNames.size(); ++i) {
    if (kStateNames[i] == name) return static_cast<ProcessState>(i);
  }
  return std::nullopt;
}

Result<ProcessSpec> ProcessSpec::FromJson(const Json& json) {
  if (!json.is_object()) return Fail(SpecError("spec", "must be an object"));
  ProcessSpec spec;
  bool have_argv = false;
  for (const auto& [key, value] : json.items()) {
    if (key == "argv") {
      if (!value.is_array() || value.empty()) {
        return Fail(SpecError("argv", "must be a non-empty array of strings"));
      }
      for (size_t i = 0; i < value.size(); ++i) {
        const std::string field = "argv[" + std::to_string(i) + "]";
        if (!value[i].is_string()) return Fail(SpecError(field, "must be a string"));
        if (value[i].get_ref<const std::string&>().find('\0') != std::string::npos) {
          return Fail(SpecError(field, "must not contain NUL bytes"));
        }
        spec.argv.push_back(value[i].get<std::string>());
      }
      if (spec.argv[0].empty()) return Fail(SpecError("argv[0]", "must not be empty"));
      have_argv = true;
    } else if (key == "env") {
      ARSENAL_ASSIGN_OR_RETURN(spec.env, StringMap(value, "env", true));
    } else if (key == "inherit_env") {
      if (!value.is_boolean()) return Fail(SpecError(key, "must be a boolean"));
      spec.inherit_env = value.get<bool>();
    } else if (key == "cwd") {
      if (!value.is_string() || value.get_ref<const std::string&>().empty() ||
          value.get_ref<const std::string&>().front() != '/') {
        return Fail(SpecError("cwd", "must be an absolute path"));
      }
      spec.cwd = value.get<std::string>();
    } else if (key == "name") {
      if (!value.is_string() || value.get_ref<const std::string&>().size() > 256) {
        return Fail(SpecError("name", "must be a string of at most 256 bytes"));
      }
      spec.name = value.get<std::string>();
    } else if (key == "labels") {
      ARSENAL_ASSIGN_OR_RETURN(spec.labels, StringMap(value, "labels", false));
    } else if (key == "stdin") {
      const Json* mode = &value;
      if (value.is_object()) {
        for (const auto& [k, v] : value.items()) {
          if (k == "mode") {
            mode = &v;
          } else if (k == "data") {
            if (!v.is_string()) return Fail(SpecError("stdin.data", "must be a string"));
            spec.stdin_data = v.get<std::string>();
          } else if (k == "close") {
            if (!v.is_boolean()) return Fail(SpecError("stdin.close", "must be a boolean"));
            spec.close_stdin = v.get<bool>();
          } else {
            return Fail(SpecError("stdin." + k, "unknown field"));
          }
        }
        if (mode == &value) mode = nullptr;
      }
      const std::string field = value.is_object() ? "stdin.mode" : "stdin";
      if (mode == nullptr) {
        spec.stdin_mode = StdinMode::kPipe;  // {data: ...} implies a pipe
      } else if (*mode == "null") {
        spec.stdin_mode = StdinMode::kNull;
      } else if (*mode == "pipe") {
        spec.stdin_mode = StdinMode::kPipe;
      } else {
        return Fail(SpecError(field, "must be null or pipe"));
      }
      if (spec.stdin_mode == StdinMode::kNull && (!spec.stdin_data.empty() || spec.close_stdin)) {
        return Fail(SpecError("stdin.data", "needs mode pipe"));
      }
    } else if (key == "stdout") {
      ARSENAL_ASSIGN_OR_RETURN(spec.stdout_spec, ParseOutput(value, "stdout"));
    } else if (key == "stderr") {
      ARSENAL_ASSIGN_OR_RETURN(spec.stderr_spec, ParseOutput(value, "stderr"));
    } else if (key == "sandbox") {
      SandboxRef ref;
      if (value.is_string() && !value.get_ref<const std::string&>().empty()) {
        ref.id = value.get<std::string>();
      } else if (value.is_object()) {
        ref.spec = value;
      } else {
        return Fail(SpecError("sandbox", "must be a sandbox id or an inline sandbox spec"));
      }
      spec.sandbox = std::move(ref);
    } else if (key == "supervisor") {
      if (!value.is_string()) return Fail(SpecError(key, "must be a string"));
      spec.supervisor = value.get<std::string>();
    } else if (key == "new_session") {
      if (!value.is_boolean()) return Fail(SpecError(key, "must be a boolean"));
      spec.new_session = value.get<bool>();
    } else {
      return Fail(SpecError(key, "unknown field"));
    }
  }
  if (!have_argv) return Fail(SpecError("argv", "is required"));
  return spec;
}

Json ProcessSpec::ToJson() const {
  Json j = {{"argv", argv},
            {"env", env},
            {"inherit_env", inherit_env},
            {"cwd", cwd},
            {"labels", labels},
            {"stdout", OutputToJson(stdout_spec)},
            {"stderr", OutputToJson(stderr_spec)},
            {"new_session", new_session}};
  if (!name.empty()) j["name"] = name;
  j["stdin"] = {{"mode", stdin_mode == StdinMode::kPipe ? "pipe" : "null"}};
  if (stdin_mode == StdinMode::kPipe) {
    if (!stdin_data.empty()) j["stdin"]["data"] = stdin_data;
    if (close_stdin) j["stdin"]["close"] = true;
  }
  if (sandbox) j["sandbox"] = sandbox->id.empty() ? sandbox->spec : Json(sandbox->id);
  if (!supervisor.empty()) j["supervisor"] = supervisor;
  return j;
}

Json ExitStatus::ToJson() const {
  Json j = {{"core_dumped", core_dumped}, {"time_unix_ms", time_unix_ms}};
  if (signal != 0) {
    j["signal"] = signal;
    j["signal_name"] = SignalName(signal);
    j["code"] = nullptr;
  } else {
    j["code"] = code;
  }
  return j;
}

std::string ExitStatus::Describe() const {
  if (signal != 0) {
    return "killed by " + SignalName(signal) + (core_dumped ? " (core dumped)" : "");
  }
  if (code < 0) return "exit status unknown";
  return "exit code " + std::to_string(code);
}

Json ProcessSnapshot::ToJson() const {
  Json j = {{"id", id},
            {"pid", pid},
            {"name", name},
            {"state", std::string(ProcessStateName(state))},
            {"sandbox", sandbox_id.empty() ? Json(nullptr) : Json(sandbox_id)},
            {"supervisor", supervisor.empty() ? Json(nullptr) : Json(supervisor)},
            {"labels", labels},
            {"started_unix_ms", started_unix_ms},
            {"restarts", restarts},
            {"exit", exit ? exit->ToJson() : Json(nullptr)}};
  return j;
}

std::string_view ProcessEventName(ProcessEventKind kind) {
  switch (kind) {
    case ProcessEventKind::kStarted:
      return "started";
    case ProcessEventKind::kExit:
      return "exit";
    case ProcessEventKind::kStateChange:
      return "state";
    case ProcessEventKind::kOom:
      return "oom";
    case ProcessEventKind::kSample:
      return "sample";
    case ProcessEventKind::kTermination:
      return "termination";
  }
  return "unknown";
}

Json ProcessEvent::ToJson() const {
  Json j = {{"kind", std::string(ProcessEventName(kind))},
            {"id", id},
            {"pid", pid},
            {"state", std::string(ProcessStateName(state))},
            {"time_unix_ns", time_unix_ns},
            {"data", data}};
  if (exit) j["exit"] = exit->ToJson();
  return j;
}

Json KillOutcome::ToJson() const {
  return {{"how", how}, {"exit", exit.ToJson()}, {"waited_ms", waited_ms}};
}

}  // namespace arsenal
