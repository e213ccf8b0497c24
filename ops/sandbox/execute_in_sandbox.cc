// Operation execute_in_sandbox: run a command in a running sandbox and return its result.
#include "sandbox_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  ExecuteRequest request;
  request.argv = params.at("argv").get<std::vector<std::string>>();
  request.requested_by = ctx.principal.id;
  if (auto env = params.find("env"); env != params.end()) {
    request.options.env = env->get<std::map<std::string, std::string>>();
  }
  request.options.cwd = params.value("cwd", "");
  request.options.stdin_data = params.value("stdin", "");
  if (auto t = params.find("timeout"); t != params.end()) {
    ARSENAL_ASSIGN_OR_RETURN(request.options.timeout, ParseSandboxDuration(*t, "timeout"));
  }
  ARSENAL_ASSIGN_OR_RETURN(
      SandboxResult result,
      sandbox_ops::Service(ctx).Execute(params.at("id").get<std::string>(), std::move(request)));
  Json out = result.ToJson();
  out["id"] = params.at("id");
  return out;
}

Operation Make() {
  Operation op;
  op.name = "execute_in_sandbox";
  op.family = "sandbox";
  op.summary = "Run a command in a running sandbox and return its output and status";
  op.description =
      "Joins the sandbox's namespaces through its PID 1's pidfd, enters its cgroup, applies the "
      "same policy (seccomp, capabilities, no_new_privs, rlimits, Landlock), runs argv and waits. "
      "Returns the exit code (128+N when killed by signal N), the signal, stdout and stderr "
      "(bounded by the spec's output.max_bytes), oom and timed_out. The timeout (default: the "
      "spec's limits.timeout) kills the command.";
  op.params_schema = {
      {"type", "object"},
      {"properties",
       {{"id", sandbox_ops::IdProperty()},
        {"argv",
         {{"type", "array"},
          {"items", {{"type", "string"}}},
          {"minItems", 1},
          {"description", "program and arguments; a program without '/' is looked up in PATH"}}},
        {"env",
         {{"type", "object"},
          {"additionalProperties", {{"type", "string"}}},
          {"description", "added to the spec's env for this command"}}},
        {"cwd", {{"type", "string"}, {"description", "working directory (default: the spec's)"}}},
        {"stdin", {{"type", "string"}, {"maxLength", 1048576}, {"description", "stdin data"}}},
        {"timeout",
         {{"description", "seconds or \"500ms\"/\"30s\"/\"2m\""},
          {"oneOf",
           Json::array({{{"type", "number"}, {"exclusiveMinimum", 0}}, {{"type", "string"}}})}}}}},
      {"required", Json::array({"id", "argv"})}};
  op.result_schema = {{"type", "object"},
                      {"properties",
                       {{"id", {{"type", "string"}}},
                        {"exit_code", {{"type", "integer"}}},
                        {"signal", {{"type", "integer"}}},
                        {"oom", {{"type", "boolean"}}},
                        {"timed_out", {{"type", "boolean"}}},
                        {"stdout", {{"type", "string"}}},
                        {"stderr", {{"type", "string"}}},
                        {"stdout_truncated", {{"type", "boolean"}}},
                        {"stderr_truncated", {{"type", "boolean"}}},
                        {"user_cpu_us", {{"type", "integer"}}},
                        {"system_cpu_us", {{"type", "integer"}}},
                        {"peak_memory_bytes", {{"type", "integer"}}},
                        {"wall_time_us", {{"type", "integer"}}}}}};
  op.permission = "sandbox.write";
  op.http_method = "POST";
  op.http_path = "/api/v1/sandboxes/{id}/exec";
  op.idempotent = false;
  Json params = {{"id", "sb-1"}, {"argv", Json::array({"/bin/echo", "hi"})}, {"timeout", "10s"}};
  Json result = {{"id", "sb-1"}, {"exit_code", 0}, {"signal", 0},       {"stdout", "hi\n"},
                 {"stderr", ""}, {"oom", false},   {"timed_out", false}};
  op.examples = Json::array({{{"params", params}, {"result", result}}});
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
