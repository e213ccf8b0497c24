// Operation: the single definition of something Arsenal can do.
//
// An operation is declared once (name, family, summary, JSON Schemas, permission, HTTP method and
// path, idempotency, compensation, examples, handler) and registered; the REST routes, the OpenAPI
// document, the CLI commands, the reference docs and the telemetry are all generated from this
// declaration. Nothing about an operation is written anywhere else.
//
// Handlers run inside Engine::Execute after the parameters have been validated against
// `params_schema` and the principal's permission has been checked, so a handler may rely on the
// shape of `params` (required fields present, types right, no unknown fields).
//
// Security: `permission` is enforced by the engine for every front door. A handler must not
// perform actions beyond what its permission names; an operation that changes host state must not
// use a read permission.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arsenal/base/result.h"

namespace arsenal {

class Engine;

// Who is asking. Permissions are strings "family.verb" ("sandbox.write"); a principal holds
// exact permissions, family wildcards ("sandbox.*") or "*".
struct Principal {
  std::string id;
  std::vector<std::string> permissions;

  bool Allows(std::string_view permission) const;

  // Every permission; for the in-process CLI and C++ embedders that own the engine.
  static Principal Root();
};

// Passed to every handler.
struct OperationContext {
  Engine& engine;
  const Principal& principal;
  std::string request_id;
};

using OperationHandler = std::function<Result<Json>(OperationContext& ctx, const Json& params)>;

// How a batch undoes a successful operation when a later step fails: the compensating
// operation's name and a function from (params, result) of this one to the compensation's params.
struct Compensation {
  std::string operation;
  std::function<Json(const Json& params, const Json& result)> params;
};

struct Operation {
  std::string name;         // lower_snake_case, unique: "create_sandbox"
  std::string family;       // "sandbox", "process", "operations", ...
  std::string summary;      // one line, imperative
  std::string description;  // optional longer text for the reference docs
  Json params_schema;       // JSON Schema (draft 7) of the params object
  Json result_schema;       // JSON Schema of the result (documentation and tests)
  std::string permission;   // checked by the engine before the handler runs
  std::string http_method;  // "GET", "POST", "PUT", "PATCH", "DELETE"
  std::string http_path;    // "/api/v1/sandboxes/{id}"; {x} names a param
  bool idempotent = false;
  // The handler never waits: not on a child, a lock held across I/O, the network or the disk
  // (reading /proc or in-memory tables is fine), and returns within microseconds. The API server
  // then runs a GET of it on its I/O thread instead of handing it to a worker and back. Declaring
  // a blocking operation nonblocking stalls every connection of that I/O thread while it runs.
  bool nonblocking = false;
  std::optional<Compensation> compensation;
  Json examples = Json::array();  // [{"params": {...}, "result": {...}, "summary": "..."}]
  // An extra CLI spelling besides `arsenal <name>`, e.g. {"keys", "create"} for
  // `arsenal keys create`. Empty: the operation name only.
  std::vector<std::string> cli_command;
  OperationHandler handler;
};

// Machine-readable description (everything but the handler): used by describe_operation, the
// OpenAPI generator and the docs generator.
Json DescribeOperation(const Operation& op);

// Self-registration of the operation catalogue. Each ops/ file declares its operations with
// ARSENAL_REGISTER_OPERATION; Registry::RegisterBuiltins() adds them all. No central list exists.
using OperationFactory = Operation (*)();
std::vector<OperationFactory>& BuiltinOperationFactories();
struct OperationRegistrar {
  explicit OperationRegistrar(OperationFactory factory) {
    BuiltinOperationFactories().push_back(factory);
  }
};

}  // namespace arsenal

// ARSENAL_REGISTER_OPERATION(MakeListOperations): registers a function returning an Operation.
// __COUNTER__, not __LINE__: several operation files share one translation unit in a unity build.
#define ARSENAL_REGISTER_OPERATION(factory)                                                        \
  static const ::arsenal::OperationRegistrar ARSENAL_CONCAT_(arsenal_op_registrar_, __COUNTER__) { \
    &factory                                                                                       \
  }

// Operation files keep their private helpers in `namespace ARSENAL_UNITY_ID { ... }`: an
// anonymous namespace in an ordinary build, and a namespace unique to the file when ops/ is
// compiled as a unity build (CMake defines the macro per file; see ops/CMakeLists.txt), where
// several files' Handle() and Make() would otherwise collide.
#ifndef ARSENAL_UNITY_ID
#define ARSENAL_UNITY_ID
#endif
