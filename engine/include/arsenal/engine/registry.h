// Registry: the set of operations an Engine can execute.
//
// Register() checks the declaration (name syntax, family, permission, HTTP method and path,
// handler present, params schema compiles and describes an object) and rejects duplicates with
// `registry.duplicate_operation`. Object schemas without an explicit "additionalProperties" are
// closed (additionalProperties: false) so unknown fields are rejected, never ignored.
//
// Thread-safety: all methods may be called concurrently; entries are immutable once registered
// and returned as shared_ptr, so a lookup stays valid while other threads register.
#pragma once

#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include "arsenal/engine/operation.h"
#include "arsenal/engine/schema.h"

namespace arsenal {

struct RegisteredOperation {
  Operation op;
  std::shared_ptr<const CompiledSchema> params_schema;
};

class Registry {
 public:
  Status Register(Operation op);
  // Registers every ARSENAL_REGISTER_OPERATION in the binary; stops at the first error.
  Status RegisterBuiltins();

  std::shared_ptr<const RegisteredOperation> Find(std::string_view name) const;
  // Sorted by name; all families when `family` is empty.
  std::vector<std::shared_ptr<const RegisteredOperation>> List(std::string_view family = {}) const;
  size_t size() const;

 private:
  mutable std::shared_mutex mu_;
  std::map<std::string, std::shared_ptr<const RegisteredOperation>, std::less<>> ops_;
};

}  // namespace arsenal
