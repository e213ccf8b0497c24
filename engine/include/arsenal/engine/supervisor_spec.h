// Supervisor specs: the one documented JSON form of a supervision tree, parsed into typed structs.
//
// A spec is validated as a whole before anything starts: every child, every nested supervisor
// (inline or referenced from `definitions`), every process spec. The first problem is returned as
// a validation error whose details.field is the JSON path of the offending field
// ("children[2].id", "definitions.db.children[0].supervisor", "max_restarts"), with a stable code:
//   supervisor.invalid_spec        wrong type, missing or malformed field
//   supervisor.unknown_strategy    "strategy" is not one of the four
//   supervisor.invalid_intensity   max_restarts < 0 or max_seconds <= 0
//   supervisor.duplicate_child_id  two children of one supervisor share an id
//   supervisor.unknown_reference   "supervisor": "<name>" names no definition
//   supervisor.cyclic_reference    definitions reference each other in a cycle
//   process.invalid_spec, ...      from ProcessSpec::FromJson, with the field prefixed
//
// Form (docs/supervisors.md has the full reference):
//   {"id": "web", "strategy": "one_for_one", "max_restarts": 3, "max_seconds": 5,
//    "backoff": {...},                       // default backoff of the children
//    "children": [
//      {"id": "api", "restart": "permanent", "shutdown": 5000, "backoff": {...},
//       "process": {"argv": ["/usr/bin/api"], "sandbox": {...}}},
//      {"id": "jobs", "supervisor": "jobs_sup"},          // or an inline supervisor object
//    ],
//    "definitions": {"jobs_sup": {"strategy": "simple_one_for_one", "children": [...]}}}
// Defaults are OTP's: strategy one_for_one, max_restarts 1, max_seconds 5, restart permanent,
// shutdown 5000 ms for workers and infinity for supervisors. simple_one_for_one has exactly one
// child: the template of its dynamic children.
//
// Security: process specs go through ProcessSpec::FromJson, so the same secure defaults apply to
// supervised processes as to start_process (no inherited environment, sandbox rules, ...).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "arsenal/base/result.h"
#include "arsenal/engine/process_table.h"
#include "arsenal/engine/supervisor_core.h"

namespace arsenal::supervisor {

struct SupervisorSpec;

struct ChildSpec {
  ChildPolicy policy;
  std::optional<ProcessSpec> process;                // workers
  std::shared_ptr<const SupervisorSpec> supervisor;  // nested supervisors
  std::string reference;  // the definition name when the nested supervisor was referenced
  Json source;            // the child's JSON as given (persisted; re-parsed on restore)
};

struct SupervisorSpec {
  std::string id;  // top-level supervisors only; nested ones are named by their child id
  Strategy strategy = Strategy::kOneForOne;
  Intensity intensity;
  std::vector<ChildSpec> children;  // simple_one_for_one: exactly one, the template
  Json source;                      // the spec as given (with "definitions" at top level)

  std::vector<ChildPolicy> Policies() const;
};

// Id syntax for supervisors and children: 1-64 of [A-Za-z0-9_.-], starting with a letter or
// digit. '/' is reserved: nested supervisors are addressed by path ("web/jobs").
bool ValidId(std::string_view id);

// Parses a top-level spec (requires "id"). Nothing is started.
Result<SupervisorSpec> ParseSupervisorSpec(const Json& json);

// Parses one child for add_child on a supervisor whose spec is `owner` (its "definitions" may be
// referenced). `field` prefixes error fields ("child").
Result<ChildSpec> ParseChildSpec(const Json& json, const Json& owner_source,
                                 const std::string& field);

// Parses a backoff object ({initial_ms, max_ms, multiplier, jitter, reset_after_ms}); missing
// fields take the values from `base`.
Result<BackoffPolicy> ParseBackoff(const Json& json, const std::string& field,
                                   const BackoffPolicy& base = {});

// JSON Schemas (draft 7) used by the operations: a whole spec, a child spec, a backoff object.
// Deliberately loose about process specs (validated by ProcessSpec::FromJson) and nested
// supervisors, whose errors then come with precise field paths.
Json SupervisorSpecSchema();
Json ChildSpecSchema();
Json BackoffSchema();

}  // namespace arsenal::supervisor
