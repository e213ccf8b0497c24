#include "arsenal/api/openapi.h"

#include <regex>
#include <set>

namespace arsenal::api {
namespace {

std::vector<std::string> PathParams(const std::string& path) {
  std::vector<std::string> out;
  static const std::regex re(R"(\{([^}/]+)\})");
  for (auto it = std::sregex_iterator(path.begin(), path.end(), re); it != std::sregex_iterator();
       ++it) {
    out.push_back((*it)[1]);
  }
  return out;
}

Json Ref(const std::string& name) { return {{"$ref", "#/components/schemas/" + name}}; }

Json JsonApiContent(const Json& schema) {
  return {{"application/vnd.api+json", {{"schema", schema}}},
          {"application/json", {{"schema", schema}}}};
}

Json ErrorResponses() {
  Json r = Json::object();
  for (const auto& [code, text] : std::vector<std::pair<std::string, std::string>>{
           {"400", "invalid request"},
           {"401", "missing or invalid API key"},
           {"403", "the key's role lacks the permission"},
           {"404", "not found"},
           {"429", "rate limit exceeded"},
           {"500", "internal error"}}) {
    r[code] = {{"description", text}, {"content", JsonApiContent(Ref("ErrorDocument"))}};
  }
  return r;
}

Json Components() {
  Json resource = {{"type", "object"},
                   {"required", {"type", "id"}},
                   {"properties",
                    {{"type", {{"type", "string"}}},
                     {"id", {{"type", "string"}}},
                     {"attributes", {{"type", "object"}}},
                     {"links", {{"type", "object"}}},
                     {"meta", {{"type", "object"}}}}}};
  Json error_object = {
      {"type", "object"},
      {"required", {"status", "code", "title", "detail"}},
      {"properties",
       {{"status", {{"type", "string"}}},
        {"code", {{"type", "string"}}},
        {"title", {{"type", "string"}}},
        {"detail", {{"type", "string"}}},
        {"source", {{"type", "object"}, {"properties", {{"parameter", {{"type", "string"}}}}}}},
        {"meta",
         {{"type", "object"},
          {"properties",
           {{"category", {{"type", "string"}}},
            {"hint", {{"type", "string"}}},
            {"details", {{"type", "object"}}},
            {"retryable", {{"type", "boolean"}}},
            {"request_id", {{"type", "string"}}}}}}}}}};
  return {{"schemas",
           {{"Resource", resource},
            {"Document",
             {{"type", "object"},
              {"required", {"data"}},
              {"properties",
               {{"data",
                 {{"oneOf", Json::array({Ref("Resource"),
                                         {{"type", "array"}, {"items", Ref("Resource")}}})}}},
                {"links", {{"type", "object"}}},
                {"meta", {{"type", "object"}}},
                {"jsonapi", {{"type", "object"}}}}}}},
            {"ErrorObject", error_object},
            {"ErrorDocument",
             {{"type", "object"},
              {"required", {"errors"}},
              {"properties",
               {{"errors", {{"type", "array"}, {"items", Ref("ErrorObject")}}},
                {"meta", {{"type", "object"}}},
                {"jsonapi", {{"type", "object"}}}}}}}}},
          {"securitySchemes",
           {{"bearer",
             {{"type", "http"},
              {"scheme", "bearer"},
              {"description", "an API key from create_api_key"}}}}}};
}

Json OperationObject(const Operation& op) {
  const auto path_params = PathParams(op.http_path);
  const Json props = op.params_schema.value("properties", Json::object());
  const Json required = op.params_schema.value("required", Json::array());
  auto is_required = [&](const std::string& name) {
    return std::find(required.begin(), required.end(), name) != required.end();
  };
  Json params = Json::array();
  for (const auto& name : path_params) {
    Json schema = props.contains(name) ? props[name] : Json{{"type", "string"}};
    params.push_back({{"name", name}, {"in", "path"}, {"required", true}, {"schema", schema}});
  }
  Json o = {{"operationId", op.name},
            {"summary", op.summary},
            {"tags", {op.family}},
            {"x-arsenal-permission", op.permission},
            {"x-arsenal-idempotent", op.idempotent},
            {"x-arsenal-nonblocking", op.nonblocking},
            {"security", Json::array({{{"bearer", Json::array()}}})}};
  if (!op.description.empty()) o["description"] = op.description;
  const bool query = op.http_method == "GET" || op.http_method == "DELETE";
  if (query) {
    for (const auto& [name, schema] : props.items()) {
      if (std::find(path_params.begin(), path_params.end(), name) != path_params.end()) continue;
      Json p = {
          {"name", name}, {"in", "query"}, {"required", is_required(name)}, {"schema", schema}};
      if (schema.value("type", Json()) == "object") {
        p["style"] = "deepObject";
        p["explode"] = true;
      } else if (schema.value("type", Json()) == "array") {
        p["style"] = "form";
        p["explode"] = false;
      }
      params.push_back(std::move(p));
    }
  } else {
    Json body = op.params_schema;
    // Path params come from the path; the body may repeat them but need not.
    if (body.contains("required")) {
      Json kept = Json::array();
      for (const auto& r : body["required"]) {
        if (std::find(path_params.begin(), path_params.end(), r.get<std::string>()) ==
            path_params.end()) {
          kept.push_back(r);
        }
      }
      body["required"] = kept;
      if (kept.empty()) body.erase("required");
    }
    bool body_required = body.contains("required");
    o["requestBody"] = {{"required", body_required},
                        {"content",
                         {{"application/json", {{"schema", body}}},
                          {"application/vnd.api+json", {{"schema", body}}}}}};
  }
  if (!params.empty()) o["parameters"] = std::move(params);
  Json responses = ErrorResponses();
  responses["200"] = {{"description", op.summary},
                      {"content", JsonApiContent(Ref("Document"))},
                      {"x-arsenal-result-schema", op.result_schema}};
  o["responses"] = std::move(responses);
  return o;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Json BuildOpenApi(const Registry& registry, const std::string& server_url) {
  Json paths = Json::object();
  for (const auto& entry : registry.List()) {
    const Operation& op = entry->op;
    Json& item = paths[op.http_path];
    const std::string method = Lower(op.http_method);
    if (item.contains(method)) continue;  // first registration wins, as in the router
    item[method] = OperationObject(op);
  }
  const Json bearer = Json::array({{{"bearer", Json::array()}}});
  paths["/healthz"]["get"] = {
      {"operationId", "healthz"},
      {"summary", "Liveness: answers while the server runs"},
      {"security", Json::array()},
      {"responses",
       {{"200",
         {{"description", "alive"},
          {"content",
           {{"application/json",
             {{"schema",
               {{"type", "object"}, {"properties", {{"status", {{"type", "string"}}}}}}}}}}}}}}}};
  Json metrics_responses = ErrorResponses();
  metrics_responses["200"] = {{"description", "Prometheus text exposition"},
                              {"content", {{"text/plain", {{"schema", {{"type", "string"}}}}}}}};
  paths["/metrics"]["get"] = {{"operationId", "metrics"},
                              {"summary", "Prometheus metrics"},
                              {"x-arsenal-permission", "telemetry.read"},
                              {"security", bearer},
                              {"responses", metrics_responses}};
  Json openapi_responses = ErrorResponses();
  openapi_responses["200"] = {
      {"description", "this document"},
      {"content", {{"application/json", {{"schema", {{"type", "object"}}}}}}}};
  paths["/api/v1/openapi.json"]["get"] = {{"operationId", "openapi"},
                                          {"summary", "This OpenAPI document"},
                                          {"x-arsenal-permission", "operations.read"},
                                          {"security", bearer},
                                          {"responses", openapi_responses}};
  Json invoke_responses = ErrorResponses();
  invoke_responses["200"] = {{"description", "the operation's result"},
                             {"content", JsonApiContent(Ref("Document"))}};
  paths["/api/v1/operations/{name}"]["post"] = {
      {"operationId", "invoke_operation"},
      {"summary", "Invoke any operation by name; the body is its params object"},
      {"security", bearer},
      {"parameters", Json::array({{{"name", "name"},
                                   {"in", "path"},
                                   {"required", true},
                                   {"schema", {{"type", "string"}}}}})},
      {"requestBody",
       {{"required", false},
        {"content",
         {{"application/json", {{"schema", {{"type", "object"}}}}},
          {"application/vnd.api+json", {{"schema", {{"type", "object"}}}}}}}}},
      {"responses", invoke_responses}};
  Json batch_responses = ErrorResponses();
  batch_responses["200"] = {{"description", "every step's result"},
                            {"content", JsonApiContent(Ref("Document"))}};
  Json batch_schema = {
      {"type", "object"},
      {"required", {"operations"}},
      {"additionalProperties", false},
      {"properties",
       {{"operations",
         {{"type", "array"},
          {"minItems", 1},
          {"items",
           {{"type", "object"},
            {"required", {"operation"}},
            {"additionalProperties", false},
            {"properties",
             {{"operation", {{"type", "string"}}}, {"params", {{"type", "object"}}}}}}}}}}}};
  paths["/api/v1/batch"]["post"] = {
      {"operationId", "batch"},
      {"summary", "Run operations atomically; done steps are compensated when one fails"},
      {"security", bearer},
      {"requestBody",
       {{"required", true},
        {"content",
         {{"application/json", {{"schema", batch_schema}}},
          {"application/vnd.api+json", {{"schema", batch_schema}}}}}}},
      {"responses", batch_responses}};
  Json stream_responses = ErrorResponses();
  stream_responses["101"] = {{"description", "WebSocket upgrade; see docs/api.md for messages"}};
  stream_responses["426"] = {{"description", "the request did not ask for a WebSocket upgrade"},
                             {"content", JsonApiContent(Ref("ErrorDocument"))}};
  paths["/api/v1/stream"]["get"] = {
      {"operationId", "stream"},
      {"summary", "WebSocket event stream with resumable sequence numbers"},
      {"security", bearer},
      {"responses", stream_responses}};

  Json doc = {{"openapi", "3.1.0"},
              {"info",
               {{"title", "Arsenal API"},
                {"version", "1"},
                {"description",
                 "Generated from the operation registry. Every response is a JSON:API "
                 "document."}}},
              {"paths", std::move(paths)},
              {"components", Components()},
              {"security", bearer}};
  if (!server_url.empty()) doc["servers"] = Json::array({{{"url", server_url}}});
  return doc;
}

}  // namespace arsenal::api
