// Operation start_process: launch a managed process (plain, or inside a sandbox).
#include "process_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

Json OutputSchema(const std::string& stream) {
  return {{"description", "what happens to " + stream +
                              ": capture (ring buffer, default), null, inherit, or an object"},
          {"anyOf",
           Json::array({{{"type", "string"}, {"enum", {"capture", "null", "inherit"}}},
                        {{"type", "object"},
                         {"properties",
                          {{"mode", {{"type", "string"}, {"enum", {"capture", "null", "inherit"}}}},
                           {"ring_bytes",
                            {{"type", "integer"},
                             {"minimum", 1024},
                             {"maximum", 16777216},
                             {"description", "bytes kept in memory (default 65536)"}}},
                           {"log_file",
                            {{"type", "string"},
                             {"description", "absolute path; captured output is appended"}}}}}}})}};
}

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  Json spec_json = params;
  spec_json.erase("wait_ms");
  ARSENAL_ASSIGN_OR_RETURN(ProcessSpec spec, ProcessSpec::FromJson(spec_json));
  auto& table = process::Table(ctx);
  StartOptions options;
  options.requested_by = ctx.principal.id;
  ARSENAL_ASSIGN_OR_RETURN(ProcessSnapshot started,
                           table.Start(std::move(spec), std::move(options)));
  Json out = started.ToJson();
  if (auto wait = params.find("wait_ms"); wait != params.end()) {
    // A bounded wait: still running afterwards is an answer (state "running"), not an error.
    auto status = table.Wait(started.id, std::chrono::milliseconds(wait->get<int64_t>()));
    ARSENAL_ASSIGN_OR_RETURN(ProcessSnapshot now, table.Get(started.id));
    out = now.ToJson();
    if (status) {
      for (auto [name, stream] : {std::pair{"stdout", OutputStream::kStdout},
                                  std::pair{"stderr", OutputStream::kStderr}}) {
        auto chunk = table.ReadOutput(started.id, stream, 0, 1 << 20);
        if (chunk) out[name] = chunk->data;
      }
    }
  }
  return out;
}

Operation Make() {
  Operation op;
  op.name = "start_process";
  op.family = "process";
  op.summary = "Start a managed process, plain or inside a sandbox";
  op.description =
      "Launches argv with its own environment (the daemon's is not inherited unless "
      "inherit_env), working directory, labels and stdio options. The process gets an id that "
      "every other process operation takes; its exit is observed through a pidfd. With wait_ms "
      "the call also waits (up to that long) for the exit and returns the status and output.";
  op.params_schema = {
      {"type", "object"},
      {"properties",
       {{"argv",
         {{"type", "array"},
          {"items", {{"type", "string"}}},
          {"minItems", 1},
          {"description", "program and arguments; a program without '/' is looked up in PATH"}}},
        {"env",
         {{"type", "object"},
          {"additionalProperties", {{"type", "string"}}},
          {"description", "environment variables (PATH defaults to the usual system dirs)"}}},
        {"inherit_env", {{"type", "boolean"}, {"description", "also pass the daemon's env"}}},
        {"cwd", {{"type", "string"}, {"description", "absolute working directory (default /)"}}},
        {"name", {{"type", "string"}, {"description", "display name (default: program name)"}}},
        {"labels", {{"type", "object"}, {"additionalProperties", {{"type", "string"}}}}},
        {"stdin",
         {{"description", "null (default), pipe, or {data, close}: data written at start"},
          {"anyOf", Json::array({{{"type", "string"}, {"enum", {"null", "pipe"}}},
                                 {{"type", "object"},
                                  {"properties",
                                   {{"mode", {{"type", "string"}, {"enum", {"null", "pipe"}}}},
                                    {"data", {{"type", "string"}}},
                                    {"close", {{"type", "boolean"}}}}}}})}}},
        {"stdout", OutputSchema("stdout")},
        {"stderr", OutputSchema("stderr")},
        {"sandbox",
         {{"description", "run inside this sandbox: an id, or an inline sandbox spec"},
          {"anyOf", Json::array({{{"type", "string"}, {"minLength", 1}},
                                 {{"type", "object"}, {"additionalProperties", true}}})}}},
        {"supervisor", {{"type", "string"}, {"description", "owning supervisor id"}}},
        {"new_session",
         {{"type", "boolean"},
          {"description",
           "detach from the daemon's job control: own process group, no controlling terminal "
           "(default true)"}}},
        {"wait_ms",
         {{"type", "integer"},
          {"minimum", 0},
          {"maximum", 3600000},
          {"description", "wait up to this long for the exit; adds stdout/stderr"}}}}},
      {"required", {"argv"}}};
  op.result_schema = process::SnapshotSchema();
  op.result_schema["properties"]["stdout"] = {{"type", "string"}};
  op.result_schema["properties"]["stderr"] = {{"type", "string"}};
  op.permission = "process.write";
  op.http_method = "POST";
  op.http_path = "/api/v1/processes";
  op.idempotent = false;
  op.compensation = Compensation{"kill_process", [](const Json&, const Json& result) {
                                   return Json{{"id", result.at("id")},
                                               {"signal", "SIGKILL"},
                                               {"grace_ms", 0},
                                               {"reason", "batch rollback"}};
                                 }};
  op.examples = {{{"summary", "run a command and wait for it"},
                  {"params", {{"argv", {"/bin/echo", "hello"}}, {"wait_ms", 5000}}},
                  {"result",
                   {{"id", "p-1"},
                    {"pid", 4242},
                    {"name", "echo"},
                    {"state", "exited"},
                    {"exit", {{"code", 0}, {"core_dumped", false}}},
                    {"stdout", "hello\n"}}}},
                 {{"summary", "a long-running worker with labels"},
                  {"params",
                   {{"argv", {"/usr/bin/python3", "worker.py"}},
                    {"cwd", "/srv/app"},
                    {"env", {{"LOG_LEVEL", "info"}}},
                    {"labels", {{"team", "web"}}},
                    {"stdout", {{"mode", "capture"}, {"log_file", "/var/log/worker.log"}}}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
