// Operation trace_process: bounded ptrace syscall tracing; the process keeps running.
#include "arsenal/engine/process_trace.h"
#include "process_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  const std::string id = params.at("id");
  TraceOptions options;
  options.duration = std::chrono::milliseconds(params.value("duration_ms", int64_t{1000}));
  options.max_syscalls = params.value("max_syscalls", size_t{1000});
  Result<TraceResult> result = [&] {
    if (auto pid = process::HostPid(id)) return TracePid(*pid, options);
    return TraceProcess(process::Table(ctx), id, options);
  }();
  if (!result) return Fail(std::move(result).error());
  Json out = result->ToJson();
  out["id"] = id;
  return out;
}

Operation Make() {
  Operation op;
  op.name = "trace_process";
  op.family = "process";
  op.summary = "Trace a process's system calls for a bounded time or count";
  op.description =
      "Attaches with ptrace (PTRACE_SEIZE, all threads), records each syscall through "
      "PTRACE_GET_SYSCALL_INFO as {time_ns, tid, syscall, args, ret, error, duration_us} and "
      "detaches when duration_ms passes, max_syscalls calls completed or the process exited. "
      "The process keeps running; its syscalls are much slower while traced.";
  op.params_schema = {
      {"type", "object"},
      {"properties",
       {{"id",
         {{"type", "string"},
          {"minLength", 1},
          {"description", "managed id (p-<n>) or host-<pid>"}}},
        {"duration_ms",
         {{"type", "integer"},
          {"minimum", 1},
          {"maximum", 60000},
          {"description", "how long to trace (default 1000)"}}},
        {"max_syscalls",
         {{"type", "integer"},
          {"minimum", 1},
          {"maximum", 100000},
          {"description", "stop after this many completed syscalls (default 1000)"}}}}},
      {"required", {"id"}}};
  op.result_schema = {
      {"type", "object"},
      {"properties",
       {{"records", {{"type", "array"}}},
        {"stopped_because", {{"type", "string"}, {"enum", {"duration", "count", "exited"}}}},
        {"detached", {{"type", "boolean"}}}}},
      {"required", {"records", "stopped_because", "detached"}}};
  op.permission = "process.write";  // ptrace can do anything to the tracee
  op.http_method = "POST";
  op.http_path = "/api/v1/processes/{id}/trace";
  op.idempotent = true;
  op.examples = {{{"params", {{"id", "p-1"}, {"duration_ms", 500}, {"max_syscalls", 100}}},
                  {"result",
                   {{"records",
                     {{{"time_ns", 1200},
                       {"tid", 4242},
                       {"nr", 257},
                       {"syscall", "openat"},
                       {"args", {4294967196, 140737488346112, 524288, 0, 0, 0}},
                       {"ret", 3},
                       {"error", nullptr},
                       {"duration_us", 9}}}},
                    {"stopped_because", "duration"},
                    {"detached", true}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
