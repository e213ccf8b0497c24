// list_processes over the table without materializing it: rows are views into the entries (read
// under the table's shared lock), keys are computed on the fly by the generic ListQuery, and only
// the requested page is selected and turned into JSON. This keeps a page of a 10,000-process table
// well under a millisecond; building a JSON object per process would cost several.
#include "arsenal/engine/process_list.h"

#include <signal.h>

#include <algorithm>

#include "arsenal/engine/list_query.h"
#include "arsenal/engine/process_inspect.h"
#include "arsenal/engine/process_table.h"
#include "process/table_impl.h"

namespace arsenal {
namespace {

using process_internal::Entry;

enum class Field {
  kId,
  kPid,
  kName,
  kState,
  kSandbox,
  kSupervisor,
  kLabel,
  kManaged,
  kMemory,
  kCpu,
  kRestarts,
  kExitCode,
  kStarted,
};

struct FieldInfo {
  std::string_view name;
  Field field;
  ListFieldType type;
  bool sortable;
};

// In the order of ListQuery::fields() (the id first, then the filterable fields in spec order),
// so a field index is an index into this table.
constexpr FieldInfo kFields[] = {
    {"id", Field::kId, ListFieldType::kString, true},
    {"pid", Field::kPid, ListFieldType::kInteger, true},
    {"name", Field::kName, ListFieldType::kString, true},
    {"state", Field::kState, ListFieldType::kString, true},
    {"sandbox", Field::kSandbox, ListFieldType::kString, true},
    {"supervisor", Field::kSupervisor, ListFieldType::kString, true},
    {"label", Field::kLabel, ListFieldType::kStringSet, false},
    {"managed", Field::kManaged, ListFieldType::kBoolean, true},
    {"memory_rss_bytes", Field::kMemory, ListFieldType::kInteger, true},
    {"cpu_ms", Field::kCpu, ListFieldType::kInteger, true},
    {"restarts", Field::kRestarts, ListFieldType::kInteger, true},
    {"exit_code", Field::kExitCode, ListFieldType::kInteger, true},
    {"started_unix_ms", Field::kStarted, ListFieldType::kInteger, true},
};

const ListSpec& Spec() {
  static const ListSpec spec = [] {
    ListSpec s;
    s.id_field = "id";
    s.default_sort = "id";
    s.default_page_size = 50;
    s.max_page_size = 500;
    s.glob = true;
    for (const auto& f : kFields) {
      s.filterable.emplace_back(f.name);
      if (f.sortable && f.field != Field::kId) s.sortable.emplace_back(f.name);
      s.types[std::string(f.name)] = f.type;
    }
    return s;
  }();
  return spec;
}

bool UsesUsage(std::string_view name) { return name == "memory_rss_bytes" || name == "cpu_ms"; }

// One candidate: a managed entry or a host process.
struct Row {
  const Entry* entry = nullptr;
  pid_t pid = 0;
  const ProcStat* host = nullptr;
  int64_t tiebreak = 0;  // managed: seq; host: 2^62 + pid — ids order managed before host
  std::optional<ProcUsage> usage;
  bool usage_read = false;
  std::string_view name;
  std::string_view state;
  std::string id_storage;  // host rows only: "host-<pid>"
};

std::string_view BasenameView(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

std::string_view HostState(char os_state) {
  switch (os_state) {
    case 'T':
    case 't':
      return "suspended";
    case 'Z':
    case 'X':
      return "exited";
    default:
      return "running";
  }
}

void FillManaged(Row& r, const Entry* e) {
  r.entry = e;
  r.pid = e->pid;
  r.tiebreak = static_cast<int64_t>(e->seq);
  r.name = e->spec.name.empty()
               ? BasenameView(e->spec.argv.empty() ? std::string_view() : e->spec.argv[0])
               : std::string_view(e->spec.name);
  r.state = ProcessStateName(e->state);
}

// The process-specific part of list_processes: the value of each field of a row and its item.
class ProcessRows : public ListRows {
 public:
  ProcessRows(bool resources, int64_t now_steady_ns)
      : resources_(resources), now_steady_ns_(now_steady_ns) {}

  ListValue Key(void* p, size_t field) override {
    Row& row = *static_cast<Row*>(p);
    const Entry* e = row.entry;
    switch (kFields[field].field) {
      case Field::kId:  // ids sort by creation order
        return row.tiebreak;
      case Field::kPid:
        return static_cast<int64_t>(row.pid);
      case Field::kName:
        return row.name;
      case Field::kState:
        return row.state;
      case Field::kSandbox:
        if (e != nullptr && !e->sandbox_id.empty()) return std::string_view(e->sandbox_id);
        return std::monostate{};
      case Field::kSupervisor:
        if (e != nullptr && !e->spec.supervisor.empty()) {
          return std::string_view(e->spec.supervisor);
        }
        return std::monostate{};
      case Field::kManaged:
        return e != nullptr;
      case Field::kMemory:
      case Field::kCpu:
        ReadUsage(row);
        if (!row.usage) return std::monostate{};
        return static_cast<int64_t>(kFields[field].field == Field::kMemory ? row.usage->rss_bytes
                                                                           : row.usage->cpu_ms);
      case Field::kRestarts:
        return static_cast<int64_t>(e != nullptr ? e->restarts : 0);
      case Field::kExitCode:
        if (e != nullptr && e->exit && e->exit->signal == 0) return int64_t{e->exit->code};
        return std::monostate{};
      case Field::kStarted:
        if (e != nullptr) return e->started_unix_ms;
        return std::monostate{};
      case Field::kLabel:
        return std::monostate{};
    }
    return std::monostate{};
  }

  ListValue FilterValue(void* p, size_t field) override {
    Row& row = *static_cast<Row*>(p);
    // Ids match as the strings clients see.
    if (kFields[field].field == Field::kId) {
      return row.entry != nullptr ? std::string_view(row.entry->id)
                                  : std::string_view(row.id_storage);
    }
    return Key(p, field);
  }

  bool SetValues(void* p, size_t field, std::vector<std::string>& out) override {
    const Row& row = *static_cast<Row*>(p);
    if (kFields[field].field != Field::kLabel || row.entry == nullptr) return false;
    for (const auto& [k, v] : row.entry->spec.labels) out.push_back(k + "=" + v);
    return true;
  }

  Json Item(void* p) override {
    Row& row = *static_cast<Row*>(p);
    const Entry* e = row.entry;
    // /proc reads dominate the cost of a page (tens of microseconds per process), so resource
    // fields are read only when asked for or already read for the filter/sort.
    if (resources_ && (e == nullptr || !e->exit)) ReadUsage(row);
    Json item = {{"id", e != nullptr ? Json(e->id) : Json(row.id_storage)},
                 {"managed", e != nullptr},
                 {"pid", row.pid},
                 {"name", std::string(row.name)},
                 {"state", std::string(row.state)}};
    if (e != nullptr) {
      item["sandbox"] = e->sandbox_id.empty() ? Json(nullptr) : Json(e->sandbox_id);
      item["supervisor"] = e->spec.supervisor.empty() ? Json(nullptr) : Json(e->spec.supervisor);
      item["labels"] = e->spec.labels;
      item["started_unix_ms"] = e->started_unix_ms;
      item["uptime_ms"] =
          e->exit ? Json(nullptr) : Json((now_steady_ns_ - e->started_steady_ns) / 1000000);
      item["restarts"] = e->restarts;
      item["exit"] = e->exit ? e->exit->ToJson() : Json(nullptr);
      item["exit_code"] = e->exit && e->exit->signal == 0 ? Json(e->exit->code) : Json(nullptr);
    } else {
      item["sandbox"] = nullptr;
      item["supervisor"] = nullptr;
      item["labels"] = Json::object();
      item["os_state"] = ProcStateName(row.host->state);
      item["uptime_ms"] = UptimeMsSinceBoot(row.host->starttime_ticks);
      item["restarts"] = 0;
      item["exit"] = nullptr;
      item["exit_code"] = nullptr;
    }
    if (!resources_) {
      // not requested: see include_resources
    } else if (row.usage) {
      item["memory_rss_bytes"] = row.usage->rss_bytes;
      item["cpu_ms"] = row.usage->cpu_ms;
      item["threads"] = row.usage->threads;
    } else {
      item["memory_rss_bytes"] = nullptr;
      item["cpu_ms"] = nullptr;
      item["threads"] = nullptr;
    }
    return item;
  }

 private:
  static void ReadUsage(Row& row) {
    if (row.usage_read) return;
    row.usage = ReadProcUsage(row.pid, row.entry != nullptr ? row.entry->pidfd.get() : -1);
    row.usage_read = true;
  }

  bool resources_;
  int64_t now_steady_ns_;
};

// The common case, sorted by id (creation order): the table's map is already in that order, so
// a page is found by walking from the cursor and visiting about one page of entries instead of
// the whole table.
Json ListByIdLocked(const ProcessTable::Impl& d, const ListQuery& q, bool desc, ProcessRows& rows) {
  using It = decltype(d.entries)::const_iterator;
  // Visits entries from `it` upwards (ascending seq) or downwards; `visit` returns false to stop.
  auto walk = [&](It it, bool up, auto&& visit) {
    if (up) {
      for (; it != d.entries.end(); ++it) {
        if (!visit(it->second.get())) return;
      }
    } else {
      while (it != d.entries.begin()) {
        --it;
        if (!visit(it->second.get())) return;
      }
    }
  };
  const size_t page_size = static_cast<size_t>(q.page_size());
  const size_t want = page_size + 1;  // one more tells whether the far side has more
  std::vector<Row> collected;
  collected.reserve(want);
  auto collect = [&](const Entry* e) {
    Row r;
    FillManaged(r, e);
    if (q.Matches(rows, &r)) collected.push_back(std::move(r));
    return collected.size() < want;
  };
  bool other_side = false;  // a matching entry exists on the cursor's other side
  auto find_other = [&](const Entry* e) {
    Row r;
    FillManaged(r, e);
    other_side = q.Matches(rows, &r);
    return !other_side;
  };
  auto cursor_seq = [](const Json& cursor) -> uint64_t {
    const Json& k = cursor.back();
    return k.is_number_integer() && k.get<int64_t>() >= 0 ? k.get<uint64_t>() : 0;
  };
  std::vector<void*> page;
  bool more_before = false, more_after = false;
  if (q.before()) {
    const uint64_t c = cursor_seq(*q.before());
    // Towards the start of the order from the cursor, then reversed into page order.
    if (!desc) {
      walk(d.entries.lower_bound(c), false, collect);
      walk(d.entries.lower_bound(c), true, find_other);
    } else {
      walk(d.entries.upper_bound(c), true, collect);
      walk(d.entries.upper_bound(c), false, find_other);
    }
    more_before = collected.size() > page_size;
    more_after = other_side;
    if (more_before) collected.pop_back();
    for (auto it = collected.rbegin(); it != collected.rend(); ++it) page.push_back(&*it);
  } else {
    if (q.after()) {
      const uint64_t c = cursor_seq(*q.after());
      if (!desc) {
        walk(d.entries.upper_bound(c), true, collect);
        walk(d.entries.upper_bound(c), false, find_other);
      } else {
        walk(d.entries.lower_bound(c), false, collect);
        walk(d.entries.lower_bound(c), true, find_other);
      }
    } else {
      walk(desc ? d.entries.end() : d.entries.begin(), !desc, collect);
    }
    more_before = other_side;
    more_after = collected.size() > page_size;
    if (more_after) collected.pop_back();
    for (Row& r : collected) page.push_back(&r);
  }
  return q.MakePage(rows, page, more_before, more_after);
}

}  // namespace

Result<Json> ListProcesses(ProcessTable& table, const Json& params_in) {
  const Json params = params_in.is_object() ? params_in : Json::object();
  ARSENAL_ASSIGN_OR_RETURN(ListQuery q, ListQuery::FromParams(params, Spec()));
  std::string scope = "managed";
  if (auto s = params.find("scope"); s != params.end()) {
    if (!s->is_string() || (*s != "managed" && *s != "host" && *s != "all")) {
      return Fail(
          ValidationError("list.invalid_scope", "scope must be managed, host or all", "scope"));
    }
    scope = s->get<std::string>();
  }
  bool include_resources = false;
  if (auto inc = params.find("include_resources"); inc != params.end()) {
    if (!inc->is_boolean()) {
      return Fail(ValidationError("list.invalid_include", "include_resources must be a boolean",
                                  "include_resources"));
    }
    include_resources = inc->get<bool>();
  }
  // The filter or sort reads resource fields: items carry them too.
  for (const auto& s : q.sort()) include_resources |= UsesUsage(s.field);
  for (const auto& f : q.filters()) include_resources |= UsesUsage(f.field);

  // Host processes are read before taking the lock (syscalls, and they do not need it).
  std::vector<ProcStat> host;
  if (scope != "managed") {
    for (pid_t pid : ListHostPids()) {
      if (auto st = ReadProcStat(pid)) host.push_back(std::move(*st));
    }
  }

  ProcessTable::Impl& d = table.impl();
  std::shared_lock lock(d.mu);
  ProcessRows rows(include_resources, process_internal::NowSteadyNs());
  bool desc = false;
  if (scope == "managed" && q.OrderedById(&desc)) return ListByIdLocked(d, q, desc, rows);

  std::vector<Row> all;
  all.reserve((scope != "host" ? d.entries.size() : 0) + host.size());
  if (scope != "host") {
    for (const auto& [seq, e] : d.entries) FillManaged(all.emplace_back(), e.get());
  }
  for (const ProcStat& st : host) {
    if (scope == "all" && d.live_pids.contains(st.pid)) continue;  // listed as managed
    Row& r = all.emplace_back();
    r.pid = st.pid;
    r.host = &st;
    r.tiebreak = (int64_t{1} << 62) + st.pid;
    r.name = st.comm;
    r.state = HostState(st.state);
    r.id_storage = "host-" + std::to_string(st.pid);
  }
  std::vector<void*> candidates;
  candidates.reserve(all.size());
  for (Row& r : all) candidates.push_back(&r);
  return q.Page(rows, std::move(candidates));
}

Json ProcessListParamsProperties() {
  Json props = ListParamsSchemaProperties(Spec());
  props["include_resources"] = {
      {"type", "boolean"},
      {"description",
       "add memory_rss_bytes, cpu_ms and threads (read from /proc) to each "
       "item; implied when the filter or sort uses them"}};
  props["scope"] = {
      {"type", "string"},
      {"enum", {"managed", "host", "all"}},
      {"description", "managed processes (default), host processes from /proc, or both"}};
  return props;
}

Json ProcessListItemSchema() {
  return {{"type", "object"},
          {"properties",
           {{"id", {{"type", "string"}}},
            {"managed", {{"type", "boolean"}}},
            {"pid", {{"type", "integer"}}},
            {"name", {{"type", "string"}}},
            {"state", {{"type", "string"}}},
            {"sandbox", {{"type", Json::array({"string", "null"})}}},
            {"supervisor", {{"type", Json::array({"string", "null"})}}},
            {"labels", {{"type", "object"}}},
            {"started_unix_ms", {{"type", "integer"}}},
            {"uptime_ms", {{"type", Json::array({"integer", "null"})}}},
            {"restarts", {{"type", "integer"}}},
            {"exit", {{"type", Json::array({"object", "null"})}}},
            {"exit_code", {{"type", Json::array({"integer", "null"})}}},
            {"memory_rss_bytes", {{"type", Json::array({"integer", "null"})}}},
            {"cpu_ms", {{"type", Json::array({"integer", "null"})}}},
            {"threads", {{"type", Json::array({"integer", "null"})}}}}}};
}

}  // namespace arsenal
