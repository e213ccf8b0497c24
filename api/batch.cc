#include "arsenal/api/batch.h"

namespace arsenal::api {
namespace {

Error StepError(Error error, size_t index, const std::string& operation) {
  error.WithDetail("step", index).WithDetail("operation", operation);
  return error;
}

Error Invalid(const std::string& message, const std::string& field) {
  return ValidationError("batch.invalid", message, field)
      .WithHint("send {\"operations\": [{\"operation\": \"name\", \"params\": {...}}, ...]}");
}

}  // namespace

Result<std::vector<BatchStep>> ParseBatch(const Json& body, size_t max_steps) {
  if (!body.is_object() || !body.contains("operations") || !body["operations"].is_array()) {
    return Fail(Invalid("batch body must be an object with an 'operations' array", "operations"));
  }
  for (const auto& [k, _] : body.items()) {
    if (k != "operations") return Fail(Invalid("unknown batch field '" + k + "'", k));
  }
  const Json& ops = body["operations"];
  if (ops.empty() || ops.size() > max_steps) {
    return Fail(
        Invalid("a batch holds 1.." + std::to_string(max_steps) + " operations", "operations"));
  }
  std::vector<BatchStep> steps;
  for (size_t i = 0; i < ops.size(); ++i) {
    const Json& s = ops[i];
    const std::string field = "operations[" + std::to_string(i) + "]";
    if (!s.is_object() || !s.contains("operation") || !s["operation"].is_string()) {
      return Fail(Invalid(field + " needs an 'operation' name", field + ".operation"));
    }
    for (const auto& [k, _] : s.items()) {
      if (k != "operation" && k != "params") {
        return Fail(Invalid("unknown field '" + k + "' in " + field, field + "." + k));
      }
    }
    BatchStep step{s["operation"].get<std::string>(), s.value("params", Json::object())};
    if (!step.params.is_object()) {
      return Fail(Invalid(field + ".params must be an object", field + ".params"));
    }
    steps.push_back(std::move(step));
  }
  return steps;
}

Result<Json> RunBatch(Engine& engine, const std::vector<BatchStep>& steps,
                      const Principal& principal, const std::string& request_id) {
  std::vector<std::shared_ptr<const RegisteredOperation>> entries;
  // Everything is checked before the first step runs, so a refused batch changes nothing.
  for (size_t i = 0; i < steps.size(); ++i) {
    const auto& step = steps[i];
    auto entry = engine.registry().Find(step.operation);
    if (!entry) {
      return Fail(StepError(
          NotFoundError("operation.not_found", "no operation named '" + step.operation + "'"), i,
          step.operation));
    }
    const Operation& op = entry->op;
    if (!principal.Allows(op.permission)) {
      return Fail(StepError(Error(ErrorCategory::kPermission, "auth.permission_denied",
                                  "principal '" + principal.id + "' lacks permission '" +
                                      op.permission + "' required by '" + op.name + "'")
                                .WithDetail("permission", op.permission)
                                .WithHint("use a key whose role grants " + op.permission),
                            i, step.operation));
    }
    const bool read_only = op.permission.ends_with(".read");
    if (!op.compensation && !read_only) {
      return Fail(StepError(
          ValidationError(
              "batch.not_compensable",
              "operation '" + op.name + "' declares no compensation, so a batch could not undo it")
              .WithHint("run it on its own, outside a batch"),
          i, step.operation));
    }
    if (op.compensation) {
      auto comp = engine.registry().Find(op.compensation->operation);
      if (!comp) {
        return Fail(StepError(
            InternalError("batch.bad_compensation", "compensation '" + op.compensation->operation +
                                                        "' of '" + op.name + "' is not registered"),
            i, step.operation));
      }
      if (!principal.Allows(comp->op.permission)) {
        return Fail(StepError(
            Error(ErrorCategory::kPermission, "auth.permission_denied",
                  "principal '" + principal.id + "' lacks permission '" + comp->op.permission +
                      "' needed to undo '" + op.name + "' if the batch fails")
                .WithDetail("permission", comp->op.permission),
            i, step.operation));
      }
    }
    if (auto valid = entry->params_schema->Validate(step.params, "operation.invalid_params");
        !valid) {
      return Fail(StepError(std::move(valid).error(), i, step.operation));
    }
    entries.push_back(std::move(entry));
  }

  Json results = Json::array();
  for (size_t i = 0; i < steps.size(); ++i) {
    auto result = engine.Execute(steps[i].operation, steps[i].params, principal, request_id);
    if (result) {
      results.push_back({{"operation", steps[i].operation}, {"result", *result}});
      continue;
    }
    Error error = std::move(result).error();
    Json compensated = Json::array();
    Json failures = Json::array();
    for (size_t j = i; j-- > 0;) {
      const Operation& op = entries[j]->op;
      if (!op.compensation) continue;  // read-only step
      Json comp_params;
      try {
        comp_params = op.compensation->params(steps[j].params, results[j]["result"]);
      } catch (const std::exception& e) {
        failures.push_back({{"step", j}, {"error", {{"message", e.what()}}}});
        continue;
      }
      auto undone = engine.Execute(op.compensation->operation, comp_params, principal, request_id);
      if (undone) {
        compensated.push_back(j);
      } else {
        failures.push_back({{"step", j}, {"error", undone.error().ToJson()}});
      }
    }
    if (!failures.empty()) {
      Error failed(ErrorCategory::kInternal, "batch.compensation_failed",
                   "step " + std::to_string(i) + " ('" + steps[i].operation + "') failed (" +
                       error.message() + ") and undoing earlier steps failed too");
      failed.WithHint("inspect the compensation_failures detail; state may be left behind")
          .WithDetail("step_error", error.ToJson());
      error = std::move(failed);
    }
    error.WithDetail("step", i)
        .WithDetail("operation", steps[i].operation)
        .WithDetail("compensated", compensated)
        .WithDetail("compensation_failures", failures);
    return Fail(std::move(error));
  }
  return Json{{"results", std::move(results)}};
}

}  // namespace arsenal::api
