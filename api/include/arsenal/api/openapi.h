// OpenAPI 3.1 document of the REST API, generated from the operation registry.
//
// One path item per operation route (Operation::http_method + http_path; path params become
// "in: path" parameters, other params of GET/DELETE routes "in: query" parameters, objects such as
// page and filter with style deepObject; params of other methods are the JSON request body), plus
// the fixed routes of router.h. Schemas are the operations' JSON Schemas (draft 7, valid in 3.1's
// JSON Schema dialect). Every route but /healthz requires the bearer scheme; every operation lists
// the JSON:API error responses 400, 401, 403, 404, 429 and 500. operationId is the operation name;
// x-arsenal-permission names the permission.
#pragma once

#include <string>

#include "arsenal/engine/registry.h"

namespace arsenal::api {

Json BuildOpenApi(const Registry& registry, const std::string& server_url = {});

}  // namespace arsenal::api
