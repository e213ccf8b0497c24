// The operation reference (docs/reference/operations.md), generated from the registry.
//
// Purpose: every fact about an operation (summary, permission, route, CLI spelling, idempotency,
// compensation, parameter and result schemas, examples) is written once, in its Operation; this
// renders those facts as Markdown and merges in the hand-written prose of
// docs/operations/<family>/<name>.md (when present). `arsenal docs` writes the file and
// `arsenal docs --check` fails when the checked-in copy is stale, so the reference cannot drift
// from the code.
//
// Output is deterministic (families and operations sorted by name, JSON printed with sorted keys)
// so that regenerating with no change yields the same bytes.
#pragma once

#include <filesystem>
#include <string>

#include "arsenal/engine/registry.h"

namespace arsenal::api {

// `prose_dir` is the docs/operations directory; missing prose files are not an error.
std::string BuildReferenceMarkdown(const Registry& registry,
                                   const std::filesystem::path& prose_dir);

}  // namespace arsenal::api
