#include "arsenal/api/jsonapi.h"

#include <algorithm>

namespace arsenal::api::jsonapi {
namespace {

// The array to present as a collection, if any.
std::optional<std::string> CollectionKey(const Json& result) {
  if (!result.is_object()) return std::nullopt;
  if (auto it = result.find("items"); it != result.end() && it->is_array()) return "items";
  // Otherwise only a result that is nothing but one array of objects ({"operations": [...]}).
  if (result.size() != 1) return std::nullopt;
  // Not `*result.items().begin()`: that proxy is a temporary, and names bound into it dangle.
  const auto only = result.begin();
  if (!only->is_array() ||
      !std::all_of(only->begin(), only->end(), [](const Json& e) { return e.is_object(); })) {
    return std::nullopt;
  }
  return only.key();
}

// Takes `item` by value so callers that own the result move each element in: a page of a list is
// then built without copying its items.
Json ToResource(Json item, const std::string& type, const std::string& synthetic_id,
                const std::string& item_self_prefix) {
  Json resource = {{"type", type}};
  Json meta = Json::object();
  Json attributes;
  if (!item.is_object()) {
    attributes = {{"value", std::move(item)}};
    resource["id"] = synthetic_id;
    meta["id_source"] = "synthetic";
    meta["scalar"] = true;
  } else {
    attributes = std::move(item);
    if (auto id = attributes.find("id"); id != attributes.end()) {
      if (id->is_string()) {
        resource["id"] = std::move(*id);
      } else {
        resource["id"] = id->dump();
        meta["original_id"] = std::move(*id);
      }
      attributes.erase(id);
    } else if (auto name = attributes.find("name"); name != attributes.end() && name->is_string()) {
      resource["id"] = *name;
      meta["id_source"] = "name";
    } else {
      resource["id"] = synthetic_id;
      meta["id_source"] = "synthetic";
    }
    if (auto t = attributes.find("type"); t != attributes.end()) {
      meta["original_type"] = std::move(*t);
      attributes.erase(t);
    }
  }
  resource["attributes"] = std::move(attributes);
  if (!meta.empty()) resource["meta"] = std::move(meta);
  if (!item_self_prefix.empty()) {
    resource["links"] = {{"self", item_self_prefix + resource["id"].get_ref<const std::string&>()}};
  }
  return resource;
}

Result<Json> FromResource(const Json& resource) {
  if (!resource.is_object() || !resource.contains("attributes")) {
    return Fail(InternalError("api.bad_document", "resource object without attributes"));
  }
  const Json meta = resource.value("meta", Json::object());
  if (meta.value("scalar", false)) return resource["attributes"].value("value", Json());
  Json item = resource["attributes"];
  if (!item.is_object()) return Fail(InternalError("api.bad_document", "attributes not an object"));
  if (meta.contains("original_type")) item["type"] = meta["original_type"];
  if (meta.contains("original_id")) {
    item["id"] = meta["original_id"];
  } else if (!meta.contains("id_source")) {
    item["id"] = resource.value("id", Json());
  }
  return item;
}

}  // namespace

std::string CategoryTitle(ErrorCategory category) {
  switch (category) {
    case ErrorCategory::kValidation:
      return "Invalid request";
    case ErrorCategory::kNotFound:
      return "Not found";
    case ErrorCategory::kConflict:
      return "Conflict";
    case ErrorCategory::kPermission:
      return "Permission denied";
    case ErrorCategory::kUnauthenticated:
      return "Authentication required";
    case ErrorCategory::kResourceExhausted:
      return "Resource exhausted";
    case ErrorCategory::kUnavailable:
      return "Unavailable";
    case ErrorCategory::kTimeout:
      return "Timed out";
    case ErrorCategory::kUnsupported:
      return "Not supported";
    case ErrorCategory::kInternal:
      return "Internal error";
  }
  return "Error";
}

Json ResultDocument(Json&& result, const DocumentContext& ctx) {
  Json doc = Json::object();
  Json meta = {{"operation", ctx.operation}, {"request_id", ctx.request_id}};
  Json links = Json::object();
  if (!ctx.self.empty()) links["self"] = ctx.self;
  if (auto key = CollectionKey(result)) {
    Json data = Json::array();
    auto items = result.find(*key);
    data.get_ref<Json::array_t&>().reserve(items->size());
    size_t index = 0;
    for (auto& item : *items) {
      data.push_back(ToResource(std::move(item), ctx.type,
                                ctx.request_id + "-" + std::to_string(index++),
                                ctx.item_self_prefix));
    }
    doc["data"] = std::move(data);
    result.erase(items);
    meta["collection"] = *key;
    meta["result"] = std::move(result);
    if (ctx.next) links["next"] = *ctx.next;
    if (ctx.prev) links["prev"] = *ctx.prev;
  } else {
    doc["data"] = ToResource(std::move(result), ctx.type, ctx.request_id, "");
  }
  if (!links.empty()) doc["links"] = std::move(links);
  doc["meta"] = std::move(meta);
  doc["jsonapi"] = {{"version", "1.1"}};
  return doc;
}

Json ResultDocument(const Json& result, const DocumentContext& ctx) {
  return ResultDocument(Json(result), ctx);
}

Result<Json> DecodeResult(const Json& document) {
  if (!document.is_object() || !document.contains("data")) {
    return Fail(InternalError("api.bad_document", "response is not a JSON:API data document")
                    .WithHint("is the URL an Arsenal API endpoint?"));
  }
  const Json& data = document["data"];
  const Json meta = document.value("meta", Json::object());
  if (data.is_array()) {
    Json result = meta.value("result", Json::object());
    if (!result.is_object()) result = Json::object();
    Json items = Json::array();
    for (const auto& r : data) {
      ARSENAL_ASSIGN_OR_RETURN(auto item, FromResource(r));
      items.push_back(std::move(item));
    }
    result[meta.value("collection", "items")] = std::move(items);
    return result;
  }
  return FromResource(data);
}

Json ErrorObject(const Error& error, const std::string& request_id, int status) {
  Json meta = {{"category", CategoryName(error.category())}, {"retryable", error.retryable()}};
  if (!error.hint().empty()) meta["hint"] = error.hint();
  if (!error.details().empty()) meta["details"] = error.details();
  if (!request_id.empty()) meta["request_id"] = request_id;
  Json obj = {{"status", std::to_string(status ? status : error.http_status())},
              {"code", error.code()},
              {"title", CategoryTitle(error.category())},
              {"detail", error.message()},
              {"meta", std::move(meta)}};
  if (auto field = error.details().find("field");
      field != error.details().end() && field->is_string() && !field->get<std::string>().empty()) {
    obj["source"] = {{"parameter", *field}};
  }
  return obj;
}

Json ErrorDocument(const Error& error, const std::string& request_id, int status) {
  return {{"errors", Json::array({ErrorObject(error, request_id, status)})},
          {"jsonapi", {{"version", "1.1"}}}};
}

Error DecodeError(const Json& document, int http_status) {
  ErrorCategory fallback = ErrorCategory::kInternal;
  for (auto c : {ErrorCategory::kValidation, ErrorCategory::kNotFound, ErrorCategory::kConflict,
                 ErrorCategory::kPermission, ErrorCategory::kUnauthenticated,
                 ErrorCategory::kResourceExhausted, ErrorCategory::kUnavailable,
                 ErrorCategory::kTimeout, ErrorCategory::kUnsupported}) {
    if (HttpStatus(c) == http_status) fallback = c;
  }
  if (!document.is_object() || !document.contains("errors") || !document["errors"].is_array() ||
      document["errors"].empty() || !document["errors"][0].is_object()) {
    return Error(fallback, "api.http_error",
                 "server answered HTTP " + std::to_string(http_status) + " without an error object")
        .WithHint("is the URL an Arsenal API endpoint?");
  }
  const Json& e = document["errors"][0];
  const Json meta = e.value("meta", Json::object());
  ErrorCategory category =
      meta.contains("category") ? CategoryFromName(meta.value("category", "internal")) : fallback;
  Error error(category, e.value("code", "api.http_error"), e.value("detail", e.value("title", "")));
  if (meta.contains("hint") && meta["hint"].is_string()) error.WithHint(meta["hint"]);
  if (meta.contains("details") && meta["details"].is_object()) {
    for (const auto& [k, v] : meta["details"].items()) error.WithDetail(k, v);
  }
  if (meta.contains("retryable") && meta["retryable"].is_boolean()) {
    error.WithRetryable(meta["retryable"].get<bool>());
  }
  return error;
}

void ApplySparseFieldsets(Json& document,
                          const std::map<std::string, std::vector<std::string>>& fields) {
  if (fields.empty() || !document.contains("data")) return;
  auto trim = [&](Json& resource) {
    if (!resource.is_object()) return;
    auto it = fields.find(resource.value("type", ""));
    if (it == fields.end() || !resource.contains("attributes")) return;
    Json kept = Json::object();
    for (const auto& name : it->second) {
      if (auto a = resource["attributes"].find(name); a != resource["attributes"].end()) {
        kept[name] = *a;
      }
    }
    resource["attributes"] = std::move(kept);
  };
  Json& data = document["data"];
  if (data.is_array()) {
    for (auto& r : data) trim(r);
  } else {
    trim(data);
  }
}

}  // namespace arsenal::api::jsonapi
