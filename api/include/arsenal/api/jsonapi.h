// JSON:API documents for operation results and errors, and their exact inverse.
//
// Purpose: every REST response body is a JSON:API document (https://jsonapi.org/format/1.1/):
//   {"data": resource | [resource...], "links": {...}, "meta": {...}}   on success
//   {"errors": [error object], "meta": {...}}                            on failure
// The encoding is lossless so the C++ Client (client.h) hands callers exactly the operation's
// result, the same value Engine::Execute returns in process.
//
// Results → resources:
//  - A collection is a result object holding "items" (the list convention, docs/api.md) or
//    holding nothing but one array of objects (list_operations' "operations"). Each element
//    becomes a resource; the rest of the result goes to meta.result; meta.collection names the
//    array.
//  - Any other object result is one resource.
//  - A resource's id is the item's "id" (as a string; JSON:API ids are strings), else its "name",
//    else a synthetic id. Its type is the route's resource type (first path segment after
//    /api/v1/). "id" and "type" are not allowed as attributes, so they are moved out, and the
//    resource's meta records what the decoder needs to restore them (original_id, id_source,
//    original_type, scalar).
// Errors → error objects: {"status", "code", "title" (the category in words), "detail" (the
// message), "source": {"parameter": details.field}, "meta": {"category", "hint", "details",
// "retryable", "request_id"}}.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "arsenal/base/result.h"

namespace arsenal::api::jsonapi {

inline constexpr const char* kMediaType = "application/vnd.api+json";

struct DocumentContext {
  std::string type;        // resource type
  std::string operation;   // meta.operation
  std::string request_id;  // meta.request_id; also the synthetic id of id-less results
  std::string self;        // links.self
  std::optional<std::string> next, prev;  // collection links
  std::string item_self_prefix;           // when set, each item gets links.self = prefix + id
};

Json ResultDocument(const Json& result, const DocumentContext& ctx);
// The same document, built by moving the result's parts (no copy of a collection's items).
Json ResultDocument(Json&& result, const DocumentContext& ctx);
// The operation's result back from a document made by ResultDocument.
Result<Json> DecodeResult(const Json& document);

// `status` overrides the category's HTTP status (413, 415, 431, ... have no category of their own).
Json ErrorObject(const Error& error, const std::string& request_id = {}, int status = 0);
Json ErrorDocument(const Error& error, const std::string& request_id = {}, int status = 0);
// The Error carried by an error document; `http_status` decides the category when the document
// is not an Arsenal one (a proxy's error page, say).
Error DecodeError(const Json& document, int http_status);

// Keeps only the listed attributes of resources of each type (JSON:API sparse fieldsets).
void ApplySparseFieldsets(Json& document,
                          const std::map<std::string, std::vector<std::string>>& fields);

// "Bad Request"-style words for a category.
std::string CategoryTitle(ErrorCategory category);

}  // namespace arsenal::api::jsonapi
