#include "arsenal/engine/supervisor_spec.h"

#include <cmath>
#include <map>
#include <set>

namespace arsenal::supervisor {
namespace {

constexpr int kMaxDepth = 16;

std::string Field(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

std::string Indexed(const std::string& prefix, const std::string& key, size_t i) {
  return Field(prefix, key) + "[" + std::to_string(i) + "]";
}

Error Invalid(const std::string& field, const std::string& message,
              std::string code = "supervisor.invalid_spec") {
  return ValidationError(std::move(code), field + ": " + message, field)
      .WithHint("fix the field named in details.field; docs/supervisors.md describes the spec");
}

Status CheckKeys(const Json& object, const std::string& prefix,
                 std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, _] : object.items()) {
    bool known = false;
    for (auto a : allowed) known = known || key == a;
    if (!known) return Fail(Invalid(Field(prefix, key), "unknown field"));
  }
  return {};
}

Result<int64_t> NonNegativeInt(const Json& value, const std::string& field,
                               const std::string& code = "supervisor.invalid_spec") {
  if (!value.is_number_integer()) return Fail(Invalid(field, "must be an integer"));
  const int64_t v = value.get<int64_t>();
  if (v < 0) return Fail(Invalid(field, "must not be negative", code));
  return v;
}

struct Context {
  const Json* definitions = nullptr;  // object or null
  std::vector<std::string> stack;     // definitions being resolved (cycle detection)
  std::map<std::string, std::shared_ptr<const SupervisorSpec>> resolved;
  int depth = 0;
};

Result<std::shared_ptr<const SupervisorSpec>> ParseBody(const Json& json, const std::string& prefix,
                                                        Context& ctx, bool top_level);

Result<std::shared_ptr<const SupervisorSpec>> Resolve(const std::string& name,
                                                      const std::string& field, Context& ctx) {
  if (auto it = ctx.resolved.find(name); it != ctx.resolved.end()) return it->second;
  if (ctx.definitions == nullptr || !ctx.definitions->contains(name)) {
    return Fail(Invalid(field, "no definition named '" + name + "'", "supervisor.unknown_reference")
                    .WithDetail("reference", name)
                    .WithHint("add it under \"definitions\" or fix the name"));
  }
  if (std::find(ctx.stack.begin(), ctx.stack.end(), name) != ctx.stack.end()) {
    std::string cycle;
    bool in = false;
    for (const auto& s : ctx.stack) {
      in = in || s == name;
      if (in) cycle += s + " -> ";
    }
    cycle += name;
    return Fail(Invalid(field, "definitions reference each other in a cycle: " + cycle,
                        "supervisor.cyclic_reference")
                    .WithDetail("cycle", cycle)
                    .WithHint("a supervisor cannot contain itself; break the cycle"));
  }
  ctx.stack.push_back(name);
  auto parsed = ParseBody((*ctx.definitions)[name], "definitions." + name, ctx, false);
  ctx.stack.pop_back();
  if (!parsed) return parsed;
  ctx.resolved[name] = *parsed;
  return parsed;
}

Result<ChildSpec> ParseChild(const Json& json, const std::string& prefix, Context& ctx,
                             const BackoffPolicy& default_backoff) {
  if (!json.is_object()) return Fail(Invalid(prefix, "must be an object"));
  ARSENAL_TRY(CheckKeys(json, prefix,
                        {"id", "type", "restart", "shutdown", "backoff", "process", "supervisor"}));
  ChildSpec child;
  child.source = json;
  if (!json.contains("id") || !json["id"].is_string()) {
    return Fail(Invalid(Field(prefix, "id"), "a string id is required"));
  }
  child.policy.id = json["id"].get<std::string>();
  if (!ValidId(child.policy.id)) {
    return Fail(
        Invalid(Field(prefix, "id"),
                "'" + child.policy.id + "' is not a valid id (1-64 of A-Z a-z 0-9 _ . -, no '/')"));
  }
  const bool has_process = json.contains("process");
  const bool has_supervisor = json.contains("supervisor");
  ChildType type = has_supervisor ? ChildType::kSupervisor : ChildType::kWorker;
  if (json.contains("type")) {
    auto parsed =
        json["type"].is_string() ? ParseChildType(json["type"].get<std::string>()) : std::nullopt;
    if (!parsed) {
      return Fail(Invalid(Field(prefix, "type"), "must be \"worker\" or \"supervisor\""));
    }
    type = *parsed;
  }
  child.policy.type = type;
  if (type == ChildType::kWorker) {
    if (has_supervisor) {
      return Fail(Invalid(Field(prefix, "supervisor"), "a worker child has no supervisor"));
    }
    if (!has_process) {
      return Fail(Invalid(Field(prefix, "process"), "a worker child needs a process spec"));
    }
  } else {
    if (has_process) {
      return Fail(Invalid(Field(prefix, "process"), "a supervisor child has no process spec"));
    }
    if (!has_supervisor) {
      return Fail(Invalid(Field(prefix, "supervisor"),
                          "a supervisor child needs a supervisor (object or definition name)"));
    }
  }
  if (json.contains("restart")) {
    auto parsed = json["restart"].is_string() ? ParseRestartType(json["restart"].get<std::string>())
                                              : std::nullopt;
    if (!parsed) {
      return Fail(Invalid(Field(prefix, "restart"),
                          "must be \"permanent\", \"transient\" or \"temporary\""));
    }
    child.policy.restart = *parsed;
  }
  child.policy.shutdown =
      type == ChildType::kSupervisor ? ShutdownPolicy::Infinity() : ShutdownPolicy::Timeout(5000);
  if (json.contains("shutdown")) {
    const Json& s = json["shutdown"];
    if (s == "brutal_kill") {
      child.policy.shutdown = ShutdownPolicy::BrutalKill();
    } else if (s == "infinity") {
      child.policy.shutdown = ShutdownPolicy::Infinity();
    } else if (s.is_number_integer()) {
      ARSENAL_ASSIGN_OR_RETURN(int64_t ms, NonNegativeInt(s, Field(prefix, "shutdown")));
      child.policy.shutdown = ShutdownPolicy::Timeout(ms);
    } else {
      return Fail(Invalid(Field(prefix, "shutdown"),
                          "must be \"brutal_kill\", \"infinity\" or a timeout in ms"));
    }
  }
  child.policy.backoff = default_backoff;
  if (json.contains("backoff")) {
    ARSENAL_ASSIGN_OR_RETURN(
        child.policy.backoff,
        ParseBackoff(json["backoff"], Field(prefix, "backoff"), default_backoff));
  }
  if (type == ChildType::kWorker) {
    auto process = ProcessSpec::FromJson(json["process"]);
    if (!process) {
      Error e = std::move(process).error();
      const std::string inner = e.details().value("field", "");
      e.WithDetail("field", Field(prefix, "process") + (inner.empty() ? "" : "." + inner));
      e.AddContext("child '" + child.policy.id + "'");
      return Fail(std::move(e));
    }
    child.process = std::move(*process);
  } else {
    const Json& s = json["supervisor"];
    if (s.is_string()) {
      child.reference = s.get<std::string>();
      ARSENAL_ASSIGN_OR_RETURN(child.supervisor,
                               Resolve(child.reference, Field(prefix, "supervisor"), ctx));
    } else if (s.is_object()) {
      ARSENAL_ASSIGN_OR_RETURN(child.supervisor,
                               ParseBody(s, Field(prefix, "supervisor"), ctx, false));
    } else {
      return Fail(Invalid(Field(prefix, "supervisor"),
                          "must be a supervisor object or the name of a definition"));
    }
  }
  return child;
}

Result<std::shared_ptr<const SupervisorSpec>> ParseBody(const Json& json, const std::string& prefix,
                                                        Context& ctx, bool top_level) {
  if (!json.is_object())
    return Fail(Invalid(prefix.empty() ? "spec" : prefix, "must be an object"));
  if (++ctx.depth > kMaxDepth) {
    return Fail(Invalid(prefix, "supervisors nest deeper than " + std::to_string(kMaxDepth)));
  }
  struct DepthGuard {
    int& d;
    ~DepthGuard() { --d; }
  } guard{ctx.depth};
  if (top_level) {
    ARSENAL_TRY(CheckKeys(
        json, prefix,
        {"id", "strategy", "max_restarts", "max_seconds", "backoff", "children", "definitions"}));
  } else {
    ARSENAL_TRY(CheckKeys(json, prefix,
                          {"strategy", "max_restarts", "max_seconds", "backoff", "children"}));
  }
  auto spec = std::make_shared<SupervisorSpec>();
  spec->source = json;
  if (top_level) {
    if (!json.contains("id") || !json["id"].is_string()) {
      return Fail(Invalid("id", "a string id is required"));
    }
    spec->id = json["id"].get<std::string>();
    if (!ValidId(spec->id)) {
      return Fail(Invalid(
          "id", "'" + spec->id + "' is not a valid id (1-64 of A-Z a-z 0-9 _ . -, no '/')"));
    }
  }
  if (json.contains("strategy")) {
    const Json& s = json["strategy"];
    auto parsed = s.is_string() ? ParseStrategy(s.get<std::string>()) : std::nullopt;
    if (!parsed) {
      return Fail(Invalid(Field(prefix, "strategy"),
                          "unknown strategy " + s.dump() +
                              "; one of one_for_one, one_for_all, rest_for_one, "
                              "simple_one_for_one",
                          "supervisor.unknown_strategy"));
    }
    spec->strategy = *parsed;
  }
  if (json.contains("max_restarts")) {
    ARSENAL_ASSIGN_OR_RETURN(int64_t n,
                             NonNegativeInt(json["max_restarts"], Field(prefix, "max_restarts"),
                                            "supervisor.invalid_intensity"));
    if (n > 1'000'000) return Fail(Invalid(Field(prefix, "max_restarts"), "at most 1000000"));
    spec->intensity.max_restarts = static_cast<int>(n);
  }
  if (json.contains("max_seconds")) {
    const Json& v = json["max_seconds"];
    if (!v.is_number()) return Fail(Invalid(Field(prefix, "max_seconds"), "must be a number"));
    const double s = v.get<double>();
    if (!(s > 0) || s > 86400.0 * 365) {
      return Fail(Invalid(Field(prefix, "max_seconds"), "must be > 0 (seconds, at most a year)",
                          "supervisor.invalid_intensity"));
    }
    spec->intensity.period_ms = std::max<int64_t>(1, std::llround(s * 1000));
  }
  BackoffPolicy default_backoff;
  if (json.contains("backoff")) {
    ARSENAL_ASSIGN_OR_RETURN(default_backoff,
                             ParseBackoff(json["backoff"], Field(prefix, "backoff")));
  }
  Json definitions = top_level ? json.value("definitions", Json()) : Json();
  if (top_level && json.contains("definitions")) {
    if (!definitions.is_object()) {
      return Fail(Invalid("definitions", "must be an object of named supervisor specs"));
    }
    ctx.definitions = &json["definitions"];
  }
  if (!json.contains("children")) {
    return Fail(Invalid(Field(prefix, "children"), "a list of child specs is required"));
  }
  const Json& children = json["children"];
  if (!children.is_array()) return Fail(Invalid(Field(prefix, "children"), "must be an array"));
  if (spec->strategy == Strategy::kSimpleOneForOne && children.size() != 1) {
    return Fail(Invalid(Field(prefix, "children"),
                        "simple_one_for_one takes exactly one child spec, the template of its "
                        "dynamic children"));
  }
  std::set<std::string> ids;
  for (size_t i = 0; i < children.size(); ++i) {
    const std::string field = Indexed(prefix, "children", i);
    ARSENAL_ASSIGN_OR_RETURN(ChildSpec child, ParseChild(children[i], field, ctx, default_backoff));
    if (!ids.insert(child.policy.id).second) {
      return Fail(Invalid(Field(field, "id"), "duplicate child id '" + child.policy.id + "'",
                          "supervisor.duplicate_child_id")
                      .WithDetail("child", child.policy.id)
                      .WithHint("child ids must be unique within a supervisor"));
    }
    spec->children.push_back(std::move(child));
  }
  if (top_level && ctx.definitions != nullptr) {
    // Definitions are validated even when nothing references them.
    for (const auto& [name, _] : ctx.definitions->items()) {
      if (!ValidId(name)) return Fail(Invalid("definitions." + name, "not a valid name"));
      ARSENAL_TRY(Resolve(name, "definitions." + name, ctx));
    }
  }
  return std::shared_ptr<const SupervisorSpec>(std::move(spec));
}

}  // namespace

std::vector<ChildPolicy> SupervisorSpec::Policies() const {
  std::vector<ChildPolicy> out;
  out.reserve(children.size());
  for (const auto& c : children) out.push_back(c.policy);
  return out;
}

bool ValidId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-'))) return false;
  }
  return true;
}

Result<BackoffPolicy> ParseBackoff(const Json& json, const std::string& field,
                                   const BackoffPolicy& base) {
  if (!json.is_object()) return Fail(Invalid(field, "must be an object"));
  ARSENAL_TRY(
      CheckKeys(json, field, {"initial_ms", "max_ms", "multiplier", "jitter", "reset_after_ms"}));
  BackoffPolicy b = base;
  if (json.contains("initial_ms")) {
    ARSENAL_ASSIGN_OR_RETURN(b.initial_ms,
                             NonNegativeInt(json["initial_ms"], Field(field, "initial_ms")));
  }
  if (json.contains("max_ms")) {
    ARSENAL_ASSIGN_OR_RETURN(b.max_ms, NonNegativeInt(json["max_ms"], Field(field, "max_ms")));
  }
  if (json.contains("reset_after_ms")) {
    ARSENAL_ASSIGN_OR_RETURN(
        b.reset_after_ms, NonNegativeInt(json["reset_after_ms"], Field(field, "reset_after_ms")));
  }
  if (json.contains("multiplier")) {
    if (!json["multiplier"].is_number() || json["multiplier"].get<double>() < 1.0 ||
        json["multiplier"].get<double>() > 100.0) {
      return Fail(Invalid(Field(field, "multiplier"), "must be a number in [1, 100]"));
    }
    b.multiplier = json["multiplier"].get<double>();
  }
  if (json.contains("jitter")) {
    if (!json["jitter"].is_number() || json["jitter"].get<double>() < 0.0 ||
        json["jitter"].get<double>() > 1.0) {
      return Fail(Invalid(Field(field, "jitter"), "must be a number in [0, 1]"));
    }
    b.jitter = json["jitter"].get<double>();
  }
  if (b.initial_ms > 0 && b.max_ms < b.initial_ms) {
    return Fail(Invalid(Field(field, "max_ms"), "must be at least initial_ms"));
  }
  return b;
}

Result<SupervisorSpec> ParseSupervisorSpec(const Json& json) {
  Context ctx;
  ARSENAL_ASSIGN_OR_RETURN(auto spec, ParseBody(json, "", ctx, true));
  return *spec;
}

Result<ChildSpec> ParseChildSpec(const Json& json, const Json& owner_source,
                                 const std::string& field) {
  Context ctx;
  if (owner_source.is_object() && owner_source.contains("definitions") &&
      owner_source["definitions"].is_object()) {
    ctx.definitions = &owner_source["definitions"];
  }
  BackoffPolicy default_backoff;
  if (owner_source.is_object() && owner_source.contains("backoff")) {
    ARSENAL_ASSIGN_OR_RETURN(default_backoff, ParseBackoff(owner_source["backoff"], "backoff"));
  }
  return ParseChild(json, field, ctx, default_backoff);
}

Json BackoffSchema() {
  return {{"type", "object"},
          {"description",
           "restart backoff: the n-th consecutive restart waits min(max_ms, initial_ms * "
           "multiplier^(n-1)) +/- jitter; reset after reset_after_ms of healthy running; "
           "initial_ms 0 disables it"},
          {"properties",
           {{"initial_ms", {{"type", "integer"}}},
            {"max_ms", {{"type", "integer"}}},
            {"multiplier", {{"type", "number"}}},
            {"jitter", {{"type", "number"}}},
            {"reset_after_ms", {{"type", "integer"}}}}}};
}

Json ChildSpecSchema() {
  // Types only: ranges, enums and cross-field rules are checked by the parser, whose errors name
  // the field with its full path (also inside nested supervisors and definitions).
  return {{"type", "object"},
          {"description", "a child: a worker process or a nested supervisor"},
          {"additionalProperties", true},
          {"properties",
           {{"id", {{"type", "string"}}},
            {"type", {{"type", "string"}, {"description", "worker | supervisor"}}},
            {"restart", {{"type", "string"}, {"description", "permanent | transient | temporary"}}},
            {"shutdown",
             {{"description", "brutal_kill | infinity | timeout in ms"},
              {"type", Json::array({"string", "integer"})}}},
            {"backoff", {{"type", "object"}, {"additionalProperties", true}}},
            {"process", {{"type", "object"}, {"additionalProperties", true}}},
            {"supervisor", {{"type", Json::array({"string", "object"})}}}}}};
}

Json SupervisorSpecSchema() {
  return {{"type", "object"},
          {"additionalProperties", true},
          {"properties",
           {{"id", {{"type", "string"}}},
            {"strategy",
             {{"type", "string"},
              {"description", "one_for_one | one_for_all | rest_for_one | simple_one_for_one"}}},
            {"max_restarts", {{"type", "integer"}}},
            {"max_seconds", {{"type", "number"}}},
            {"backoff", {{"type", "object"}, {"additionalProperties", true}}},
            {"children", {{"type", "array"}, {"items", ChildSpecSchema()}}},
            {"definitions", {{"type", "object"}, {"additionalProperties", true}}}}},
          {"required", {"id", "children"}}};
}

}  // namespace arsenal::supervisor
