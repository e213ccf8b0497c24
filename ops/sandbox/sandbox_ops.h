// Shared pieces of the sandbox operations. Handlers stay thin: params -> SandboxService -> JSON.
#pragma once

#include <string>

#include "arsenal/engine/engine.h"
#include "arsenal/engine/list_query.h"
#include "arsenal/engine/sandbox_service.h"
#include "arsenal/engine/sandbox_spec.h"

namespace arsenal::ops::sandbox_ops {

inline SandboxService& Service(OperationContext& ctx) { return SandboxService::Get(ctx.engine); }

inline Json IdProperty() {
  return {{"type", "string"}, {"minLength", 1}, {"description", "sandbox id (\"sb-3\")"}};
}

// The sandbox spec's own schema (sandbox_spec.h), embedded: one definition of the format.
inline Json SpecSchema() {
  Json schema = SandboxSpecSchema();
  schema.erase("$schema");
  schema["description"] = "sandbox spec version 1 (docs/sandbox-spec.md); {} = strict defaults";
  return schema;
}

// SandboxInfo::ToJson; `with_details` adds spec, pids and usage.
inline Json InfoSchema(bool with_details) {
  Json props = {
      {"id", {{"type", "string"}}},
      {"state", {{"type", "string"}, {"enum", {"created", "running", "stopped", "destroyed"}}}},
      {"labels", {{"type", "object"}, {"additionalProperties", {{"type", "string"}}}}},
      {"created_unix_ms", {{"type", "integer"}}},
      {"created_by", {{"type", "string"}}},
      {"ephemeral", {{"type", "boolean"}}},
      {"init_pid", {{"type", Json::array({"integer", "null"})}}},
      {"execs", {{"type", "integer"}}},
      {"oom_events", {{"type", "integer"}}}};
  if (with_details) {
    props["pids"] = {{"type", "array"}, {"items", {{"type", "integer"}}}};
    props["usage"] = {{"type", Json::array({"object", "null"})},
                      {"description", "from the sandbox's cgroup; null without one"},
                      {"properties",
                       {{"memory_current_bytes", {{"type", "integer"}}},
                        {"memory_peak_bytes", {{"type", "integer"}}},
                        {"cpu_usage_ns", {{"type", "integer"}}},
                        {"pids_current", {{"type", "integer"}}},
                        {"oom_kills", {{"type", "integer"}}}}}};
    props["spec"] = {{"type", "object"}, {"description", "the canonical spec"}};
  }
  return {{"type", "object"}, {"properties", props}, {"required", Json::array({"id", "state"})}};
}

}  // namespace arsenal::ops::sandbox_ops
