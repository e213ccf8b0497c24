// list_processes: filtered, sorted, cursor-paginated listing of managed (and optionally host)
// processes, following the engine's list convention (docs/api.md):
//
//   params: {"page": {"size": 1..500 (default 50), "after": cursor, "before": cursor},
//            "filter": {"<field>": value | {"<op>": value}},   op: eq ne lt le gt ge prefix
//                                                                   contains in glob
//            "sort": "-field,field",                            the id breaks ties
//            "scope": "managed" (default) | "host" | "all",
//            "include_resources": false}                        add memory_rss_bytes, cpu_ms,
//                                                                   threads to the items
//   result: {"items": [...], "next_cursor": string|null, "prev_cursor": string|null}
//
// Filter fields: id, pid, name, state, sandbox, supervisor, label ("key=value"; {"prefix":
// "key="} matches any value of a key), managed, memory_rss_bytes, cpu_ms, restarts, exit_code,
// started_unix_ms. "glob" (fnmatch pattern) is accepted for string fields: {"name": {"glob":
// "worker-*"}}. Sort fields: the same except label.
//
// Cursors are keyset cursors (base64url JSON of the sort spec and the boundary item's sort key
// and id): a page boundary stays put while processes start and exit elsewhere, so concatenated
// pages contain every entry that existed throughout, in order, exactly once, as long as its sort
// key did not change meanwhile (memory_rss_bytes and cpu_ms change; state changes on exit). A
// cursor from a different sort is refused with list.invalid_cursor.
//
// Cost: filtering and sorting read only the table (no syscalls) unless the filter or sort names
// memory_rss_bytes or cpu_ms, which read /proc/<pid>/stat for every candidate. Items carry the
// resource fields only with include_resources (or such a filter/sort): reading /proc costs tens
// of microseconds per process, far more than the rest of a page. Sorted by id (the default) a
// page visits about page-size entries of the table, not all of them. Host scope reads
// /proc/<pid>/stat of every host process.
#pragma once

#include "arsenal/base/result.h"

namespace arsenal {

class ProcessTable;

// Validation errors name the field: list.invalid_filter ("filter.<field>"), list.invalid_sort
// ("sort"), list.invalid_cursor ("page"), list.invalid_page_size ("page.size").
Result<Json> ListProcesses(ProcessTable& table, const Json& params);

// JSON Schema "properties" for the params (page, filter, sort, scope) and the item schema.
Json ProcessListParamsProperties();
Json ProcessListItemSchema();

}  // namespace arsenal
