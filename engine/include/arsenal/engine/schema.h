// CompiledSchema: a JSON Schema (draft 7) compiled once and used to validate many documents.
//
// Backed by valijson (Debian libvalijson-dev), see docs/decisions.md. Validation errors name the
// offending field as a JSON path ("spec.limits.memory") so every front door can point the user at
// it. Compilation fails (Result error) for schemas valijson cannot parse, so a malformed schema is
// caught when an operation registers, not when a user calls it.
#pragma once

#include <memory>
#include <string>

#include "arsenal/base/result.h"

namespace arsenal {

class CompiledSchema {
 public:
  // `code_prefix` is used for the error codes this schema produces ("<prefix>.invalid_params").
  static Result<std::shared_ptr<const CompiledSchema>> Compile(const Json& schema);
  ~CompiledSchema();

  // Ok, or a validation Error with code `error_code`, a message naming the first failing field and
  // details {field, errors: [{field, message}...]}.
  Status Validate(const Json& document, const std::string& error_code) const;

 private:
  CompiledSchema();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace arsenal
