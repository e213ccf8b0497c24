// Operation call_module: call a method of a module's serving version.
#include "module_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  const std::string name = params.at("name");
  const std::string method = params.at("method");
  ARSENAL_ASSIGN_OR_RETURN(std::string input, module::BytesParam(params, "input", "input_base64"));
  ARSENAL_ASSIGN_OR_RETURN(std::string output, module::Modules(ctx).Call(name, method, input));
  Json out = {{"name", name}, {"method", method}};
  module::PutBytes(out, "output", output);
  return out;
}

Operation Make() {
  Operation op;
  op.name = "call_module";
  op.family = "module";
  op.summary = "Call a method of a module and return its output";
  op.description =
      "Input and output are bytes: pass `input` as text or `input_base64`; the output comes back "
      "as `output` when it is UTF-8 text, else as `output_base64`. Calls are never dropped by a "
      "reload (they wait for the switch). A sandboxed call that crashes its plugin host fails "
      "with module.host_crashed, one that runs past the host's call timeout with "
      "module.call_timeout; both are retryable, and the host has been restarted from the "
      "modules' last snapshots.";
  op.params_schema = {
      {"type", "object"},
      {"properties",
       {{"name", module::NameProperty()},
        {"method",
         {{"type", "string"},
          {"minLength", 1},
          {"maxLength", 256},
          {"description", "the module's method name"}}},
        {"input", {{"type", "string"}, {"description", "input bytes as text"}}},
        {"input_base64", {{"type", "string"}, {"description", "input bytes, base64-encoded"}}}}},
      {"required", {"name", "method"}}};
  op.result_schema = {{"type", "object"},
                      {"properties",
                       {{"name", {{"type", "string"}}},
                        {"method", {{"type", "string"}}},
                        {"output", {{"type", "string"}}},
                        {"output_base64", {{"type", "string"}}}}},
                      {"required", {"name", "method"}}};
  op.permission = "module.write";
  op.http_method = "POST";
  op.http_path = "/api/v1/modules/{name}/call";
  op.idempotent = false;
  op.examples = {{{"params", {{"name", "counter"}, {"method", "incr"}, {"input", "visits"}}},
                  {"result", {{"name", "counter"}, {"method", "incr"}, {"output", "4 v2"}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
