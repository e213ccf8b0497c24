// Batch: run several operations as one atomic unit, undoing the done ones on failure.
//
// RunBatch(engine, steps, principal):
//  1. Checks every step before anything runs: the operation exists, the principal holds its
//     permission and that of its compensation, the params validate against its schema, and the
//     operation declares a compensation (Operation::compensation). A step without one is refused
//     (batch.not_compensable) unless its permission is a read permission ("family.read"): read
//     operations change nothing, so there is nothing to undo.
//  2. Runs the steps in order through Engine::Execute (each is validated, authorized, audited and
//     emits events as usual).
//  3. When step k fails, runs the compensations of steps k-1..0 in reverse order, each built from
//     that step's params and result by Compensation::params, and returns step k's error with
//     details {step, operation, compensated: [indexes], compensation_failures: [{step, error}]}.
//     A failed compensation does not stop the others; it turns the error's code into
//     batch.compensation_failed (internal) so the caller knows state may be left behind.
// Returns {"results": [{"operation", "result"}...]} when every step succeeded.
//
// Not isolation: other requests may observe intermediate state while a batch runs. Independent of
// the HTTP layer; POST /api/v1/batch parses its body with ParseBatch.
#pragma once

#include <string>
#include <vector>

#include "arsenal/engine/engine.h"

namespace arsenal::api {

struct BatchStep {
  std::string operation;
  Json params = Json::object();
};

// {"operations": [{"operation": "name", "params": {...}}, ...]}; 1..max_steps steps.
Result<std::vector<BatchStep>> ParseBatch(const Json& body, size_t max_steps);

Result<Json> RunBatch(Engine& engine, const std::vector<BatchStep>& steps,
                      const Principal& principal, const std::string& request_id = {});

}  // namespace arsenal::api
