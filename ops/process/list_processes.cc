// Operation list_processes: managed (and optionally host) processes, filtered, sorted, paged.
#include "arsenal/engine/process_list.h"
#include "process_ops.h"

namespace arsenal::ops {
namespace ARSENAL_UNITY_ID {

Result<Json> Handle(OperationContext& ctx, const Json& params) {
  return ListProcesses(process::Table(ctx), params);
}

Operation Make() {
  Operation op;
  op.name = "list_processes";
  op.family = "process";
  op.summary = "List processes with filters, sorting and cursor pagination";
  op.description =
      "Managed processes by default (scope=managed); scope=host lists every process in /proc and "
      "scope=all both (managed ones once). Filter by state, sandbox, supervisor, label "
      "(\"key=value\"), name (also {\"glob\": \"web-*\"}), memory_rss_bytes and cpu_ms thresholds "
      "({\"gt\": n}), and more; sort by any listed field; page with next_cursor/prev_cursor.";
  op.params_schema = {{"type", "object"}, {"properties", ProcessListParamsProperties()}};
  op.result_schema = {{"type", "object"},
                      {"properties",
                       {{"items", {{"type", "array"}, {"items", ProcessListItemSchema()}}},
                        {"next_cursor", {{"type", Json::array({"string", "null"})}}},
                        {"prev_cursor", {{"type", Json::array({"string", "null"})}}}}},
                      {"required", {"items", "next_cursor", "prev_cursor"}}};
  op.permission = "process.read";
  op.http_method = "GET";
  op.http_path = "/api/v1/processes";
  op.idempotent = true;
  op.nonblocking = true;
  op.examples = {
      {{"summary", "running processes of one supervisor, biggest first"},
       {"params",
        {{"filter", {{"state", "running"}, {"supervisor", "sup-1"}}},
         {"sort", "-memory_rss_bytes"},
         {"page", {{"size", 20}}}}}},
      {{"summary", "host processes using more than 100 MiB"},
       {"params", {{"scope", "host"}, {"filter", {{"memory_rss_bytes", {{"gt", 104857600}}}}}}}}};
  op.handler = Handle;
  return op;
}

ARSENAL_REGISTER_OPERATION(Make);

}  // namespace ARSENAL_UNITY_ID
}  // namespace arsenal::ops
