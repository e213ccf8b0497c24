// Shared pieces of the supervisor operations. Handlers stay thin: params -> SupervisorService ->
// JSON.
#pragma once

#include <string>

#include "arsenal/engine/engine.h"
#include "arsenal/engine/list_query.h"
#include "arsenal/engine/supervisor.h"

namespace arsenal::ops::supervisor_ops {

using arsenal::supervisor::SupervisorService;

inline SupervisorService& Service(OperationContext& ctx) {
  return SupervisorService::Get(ctx.engine);
}

inline Json SupervisorProperty() {
  return {{"type", "string"},
          {"minLength", 1},
          {"description", "supervisor id; nested supervisors by path (\"web/jobs\")"}};
}

inline Json ChildIdProperty() {
  return {{"type", "string"}, {"minLength", 1}, {"description", "child id"}};
}

// Merges the list convention's {page, filter, sort} into `props`.
inline Json WithList(Json props, const ListSpec& spec) {
  const Json list = ListParamsSchemaProperties(spec);
  for (const auto& [k, v] : list.items()) props[k] = v;
  return props;
}

}  // namespace arsenal::ops::supervisor_ops
