// list_processes over the table without materializing it: rows are views into the entries (read
// under the table's shared lock), keys are computed on the fly, and only the requested page is
// selected (nth_element) and turned into JSON. This keeps a page of a 10,000-process table well
// under a millisecond; building a JSON object per process would cost several.
#include "arsenal/engine/process_list.h"

#include <fnmatch.h>
#include <openssl/evp.h>
#include <signal.h>

#include <algorithm>
#include <variant>

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
  bool numeric;
  bool sortable;
};

constexpr FieldInfo kFields[] = {
    {"id", Field::kId, false, true},
    {"pid", Field::kPid, true, true},
    {"name", Field::kName, false, true},
    {"state", Field::kState, false, true},
    {"sandbox", Field::kSandbox, false, true},
    {"supervisor", Field::kSupervisor, false, true},
    {"label", Field::kLabel, false, false},
    {"managed", Field::kManaged, false, true},
    {"memory_rss_bytes", Field::kMemory, true, true},
    {"cpu_ms", Field::kCpu, true, true},
    {"restarts", Field::kRestarts, true, true},
    {"exit_code", Field::kExitCode, true, true},
    {"started_unix_ms", Field::kStarted, true, true},
};

constexpr std::string_view kOps[] = {"eq", "ne",     "lt",       "le", "gt",
                                     "ge", "prefix", "contains", "in", "glob"};

const FieldInfo* FindField(std::string_view name) {
  for (const auto& f : kFields) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

// A sort/filter value: null < numbers < strings (booleans are numbers 0/1).
using Value = std::variant<std::monostate, int64_t, std::string_view>;

int CompareValues(const Value& a, const Value& b) {
  if (a.index() != b.index()) return a.index() < b.index() ? -1 : 1;
  if (std::holds_alternative<int64_t>(a)) {
    const int64_t x = std::get<int64_t>(a), y = std::get<int64_t>(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (std::holds_alternative<std::string_view>(a)) {
    const int c = std::get<std::string_view>(a).compare(std::get<std::string_view>(b));
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  return 0;
}

// One candidate: a managed entry or a host process.
struct Row {
  const Entry* entry = nullptr;
  pid_t pid = 0;
  const ProcStat* host = nullptr;
  uint64_t tiebreak = 0;  // managed: seq; host: 2^62 + pid — ids order managed before host
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

struct Term {
  Field field;
  std::string op;
  std::vector<Json> values;  // one, or several for "in"
};

struct Query {
  std::vector<std::pair<Field, bool>> sort;  // field, descending
  std::string sort_text;
  std::vector<Term> terms;
  size_t page_size = 50;
  std::optional<Json> after;
  std::optional<Json> before;
  std::string scope = "managed";
  bool needs_usage = false;        // the filter or sort reads resource fields
  bool include_resources = false;  // items carry memory_rss_bytes, cpu_ms, threads
};

std::string Base64UrlEncode(const std::string& data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

std::optional<std::string> Base64UrlDecode(std::string text) {
  if (text.empty() || text.size() > 4096) return std::nullopt;
  for (char& c : text) {
    if (c == '-') {
      c = '+';
    } else if (c == '_') {
      c = '/';
    } else if (!std::isalnum(static_cast<unsigned char>(c))) {
      return std::nullopt;
    }
  }
  const size_t pad = (4 - text.size() % 4) % 4;
  if (pad == 3) return std::nullopt;
  text.append(pad, '=');
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0 || static_cast<size_t>(n) < pad) return std::nullopt;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

Error CursorError() {
  return ValidationError("list.invalid_cursor",
                         "page cursor is malformed or belongs to another sort", "page")
      .WithHint("pass next_cursor/prev_cursor of a response with the same sort");
}

Result<Query> ParseQuery(const Json& params) {
  Query q;
  q.sort_text = params.contains("sort") && params["sort"].is_string()
                    ? params["sort"].get<std::string>()
                    : std::string("id");
  if (q.sort_text.empty()) q.sort_text = "id";
  size_t start = 0;
  while (start <= q.sort_text.size()) {
    size_t comma = q.sort_text.find(',', start);
    if (comma == std::string::npos) comma = q.sort_text.size();
    std::string_view name(q.sort_text.data() + start, comma - start);
    start = comma + 1;
    bool descending = false;
    if (name.starts_with('-')) {
      descending = true;
      name.remove_prefix(1);
    }
    const FieldInfo* info = FindField(name);
    if (info == nullptr || !info->sortable) {
      return Fail(
          ValidationError("list.invalid_sort", "cannot sort by '" + std::string(name) + "'", "sort")
              .WithDetail("sort_field", std::string(name))
              .WithHint("sortable fields: id, pid, name, state, sandbox, supervisor, "
                        "managed, memory_rss_bytes, cpu_ms, restarts, exit_code, "
                        "started_unix_ms"));
    }
    q.sort.emplace_back(info->field, descending);
    if (info->field == Field::kMemory || info->field == Field::kCpu) q.needs_usage = true;
  }
  if (auto scope = params.find("scope"); scope != params.end()) {
    if (!scope->is_string() || (*scope != "managed" && *scope != "host" && *scope != "all")) {
      return Fail(
          ValidationError("list.invalid_scope", "scope must be managed, host or all", "scope"));
    }
    q.scope = scope->get<std::string>();
  }
  if (auto inc = params.find("include_resources"); inc != params.end()) {
    if (!inc->is_boolean()) {
      return Fail(ValidationError("list.invalid_include", "include_resources must be a boolean",
                                  "include_resources"));
    }
    q.include_resources = inc->get<bool>();
  }
  if (auto page = params.find("page"); page != params.end()) {
    if (!page->is_object())
      return Fail(ValidationError("list.invalid_page", "page must be an object", "page"));
    if (auto size = page->find("size"); size != page->end()) {
      if (!size->is_number_integer() || size->get<int64_t>() < 1 || size->get<int64_t>() > 500) {
        return Fail(
            ValidationError("list.invalid_page_size", "page size must be 1..500", "page.size"));
      }
      q.page_size = size->get<size_t>();
    }
    for (const char* which : {"after", "before"}) {
      auto c = page->find(which);
      if (c == page->end()) continue;
      if (!c->is_string()) return Fail(CursorError());
      auto raw = Base64UrlDecode(c->get<std::string>());
      if (!raw) return Fail(CursorError());
      Json decoded = Json::parse(*raw, nullptr, false);
      if (!decoded.is_object() || decoded.value("s", "\x01") != q.sort_text ||
          !decoded.contains("k") || !decoded["k"].is_array() ||
          decoded["k"].size() != q.sort.size() + 1 || !decoded["k"].back().is_number_unsigned()) {
        return Fail(CursorError());
      }
      for (const auto& v : decoded["k"]) {
        if (!v.is_null() && !v.is_number_integer() && !v.is_string()) return Fail(CursorError());
      }
      (std::string_view(which) == "after" ? q.after : q.before) = decoded["k"];
    }
    if (q.after && q.before) {
      return Fail(
          ValidationError("list.invalid_page", "give page.after or page.before, not both", "page"));
    }
  }
  if (auto filter = params.find("filter"); filter != params.end()) {
    if (!filter->is_object()) {
      return Fail(ValidationError("list.invalid_filter", "filter must be an object", "filter"));
    }
    for (const auto& [name, value] : filter->items()) {
      const FieldInfo* info = FindField(name);
      if (info == nullptr) {
        return Fail(ValidationError("list.invalid_filter", "cannot filter by '" + name + "'",
                                    "filter." + name)
                        .WithHint("filter fields: id, pid, name, state, sandbox, supervisor, "
                                  "label, managed, memory_rss_bytes, cpu_ms, restarts, "
                                  "exit_code, started_unix_ms"));
      }
      if (info->field == Field::kMemory || info->field == Field::kCpu) q.needs_usage = true;
      auto add = [&](const std::string& op, const Json& v) -> Status {
        if (std::find(std::begin(kOps), std::end(kOps), op) == std::end(kOps)) {
          return Fail(ValidationError("list.invalid_filter",
                                      "unknown filter operator '" + op + "' for '" + name + "'",
                                      "filter." + name + "." + op)
                          .WithHint("operators: eq ne lt le gt ge prefix contains in glob"));
        }
        Term term{info->field, op, {}};
        std::vector<Json> raw;
        if (op == "in") {
          if (v.is_array()) {
            raw.assign(v.begin(), v.end());
          } else if (v.is_string()) {  // "a,b,c" as a query string carries it
            const std::string s = v.get<std::string>();
            size_t from = 0;
            while (from <= s.size()) {
              size_t comma = s.find(',', from);
              if (comma == std::string::npos) comma = s.size();
              raw.emplace_back(s.substr(from, comma - from));
              from = comma + 1;
            }
          } else {
            raw.push_back(v);
          }
        } else {
          raw.push_back(v);
        }
        for (Json& r : raw) {
          // Query strings carry numbers as text.
          if (info->numeric && r.is_string()) {
            Json parsed = Json::parse(r.get<std::string>(), nullptr, false);
            if (parsed.is_number_integer()) r = parsed;
          }
          if (info->field == Field::kManaged && r.is_string()) {
            if (r == "true") r = true;
            if (r == "false") r = false;
          }
          const bool ok = info->numeric                    ? r.is_number_integer()
                          : info->field == Field::kManaged ? r.is_boolean()
                                                           : r.is_string();
          if (!ok) {
            return Fail(ValidationError("list.invalid_filter",
                                        "filter '" + name + "' needs " +
                                            (info->numeric                    ? "an integer"
                                             : info->field == Field::kManaged ? "a boolean"
                                                                              : "a string"),
                                        "filter." + name));
          }
          if (info->numeric && (op == "prefix" || op == "contains" || op == "glob")) {
            return Fail(ValidationError("list.invalid_filter",
                                        "operator '" + op + "' needs a string field",
                                        "filter." + name + "." + op));
          }
        }
        term.values = std::move(raw);
        q.terms.push_back(std::move(term));
        return {};
      };
      if (value.is_object()) {
        if (value.empty()) {
          return Fail(ValidationError("list.invalid_filter", "empty filter for '" + name + "'",
                                      "filter." + name));
        }
        for (const auto& [op, v] : value.items()) ARSENAL_TRY(add(op, v));
      } else {
        ARSENAL_TRY(add("eq", value));
      }
    }
  }
  return q;
}

class Lister {
 public:
  Lister(const Query& q, int64_t now_steady_ns) : q_(q), now_steady_ns_(now_steady_ns) {}

  Value Key(Row& row, Field field) {
    const Entry* e = row.entry;
    switch (field) {
      case Field::kId:
        return static_cast<int64_t>(row.tiebreak);
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
        return static_cast<int64_t>(e != nullptr);
      case Field::kMemory:
      case Field::kCpu:
        if (!row.usage_read) {
          row.usage = ReadProcUsage(row.pid, e != nullptr ? e->pidfd.get() : -1);
          row.usage_read = true;
        }
        if (!row.usage) return std::monostate{};
        return static_cast<int64_t>(field == Field::kMemory ? row.usage->rss_bytes
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

  bool ValueMatches(const Value& v, const std::string& op, const Json& want) {
    if (op == "eq" || op == "in")
      return !std::holds_alternative<std::monostate>(v) && CompareValues(v, FromJson(want)) == 0;
    if (op == "ne")
      return std::holds_alternative<std::monostate>(v) || CompareValues(v, FromJson(want)) != 0;
    if (std::holds_alternative<std::monostate>(v)) return false;
    if (op == "prefix" || op == "contains" || op == "glob") {
      if (!std::holds_alternative<std::string_view>(v)) return false;
      const std::string_view s = std::get<std::string_view>(v);
      const std::string& w = want.get_ref<const std::string&>();
      if (op == "prefix") return s.starts_with(w);
      if (op == "contains") return s.find(w) != std::string_view::npos;
      return ::fnmatch(w.c_str(), std::string(s).c_str(), 0) == 0;
    }
    const int c = CompareValues(v, FromJson(want));
    if (op == "lt") return c < 0;
    if (op == "le") return c <= 0;
    if (op == "gt") return c > 0;
    if (op == "ge") return c >= 0;
    return false;
  }

  bool Matches(Row& row) {
    for (const Term& t : q_.terms) {
      bool any = false;
      for (const Json& want : t.values) {
        if (t.field == Field::kLabel) {
          if (row.entry == nullptr) continue;
          for (const auto& [k, v] : row.entry->spec.labels) {
            const std::string kv = k + "=" + v;
            if (ValueMatches(std::string_view(kv), t.op, want)) {
              any = true;
              break;
            }
          }
          // "ne": no label equals the value.
          if (t.op == "ne") {
            any = true;
            for (const auto& [k, v] : row.entry->spec.labels) {
              if (k + "=" + v == want.get_ref<const std::string&>()) any = false;
            }
          }
        } else if (t.field == Field::kId) {
          // Ids sort by creation order but match as the strings clients see.
          const std::string_view id =
              row.entry != nullptr ? std::string_view(row.entry->id) : row.id_storage;
          if (ValueMatches(id, t.op, want)) any = true;
        } else if (ValueMatches(Key(row, t.field), t.op, want)) {
          any = true;
        }
        if (any) break;
      }
      if (!any) return false;
    }
    return true;
  }

  // Negative when a sorts before b in the requested order.
  int Compare(Row& a, Row& b) {
    for (const auto& [field, descending] : q_.sort) {
      const int c = CompareValues(Key(a, field), Key(b, field));
      if (c != 0) return descending ? -c : c;
    }
    return a.tiebreak < b.tiebreak ? -1 : a.tiebreak > b.tiebreak ? 1 : 0;
  }

  int CompareToCursor(Row& row, const Json& cursor) {
    for (size_t i = 0; i < q_.sort.size(); ++i) {
      const int c = CompareValues(Key(row, q_.sort[i].first), FromJson(cursor[i]));
      if (c != 0) return q_.sort[i].second ? -c : c;
    }
    const uint64_t t = cursor.back().get<uint64_t>();
    return row.tiebreak < t ? -1 : row.tiebreak > t ? 1 : 0;
  }

  Json CursorOf(Row& row) {
    Json k = Json::array();
    for (const auto& [field, descending] : q_.sort) {
      const Value v = Key(row, field);
      if (std::holds_alternative<int64_t>(v)) {
        k.push_back(std::get<int64_t>(v));
      } else if (std::holds_alternative<std::string_view>(v)) {
        k.push_back(std::string(std::get<std::string_view>(v)));
      } else {
        k.push_back(nullptr);
      }
    }
    k.push_back(row.tiebreak);
    return Base64UrlEncode(Json{{"s", q_.sort_text}, {"k", std::move(k)}}.dump());
  }

  Json Item(Row& row) {
    const Entry* e = row.entry;
    // /proc reads dominate the cost of a page (tens of microseconds per process), so resource
    // fields are read only when asked for or already read for the filter/sort.
    const bool resources = q_.include_resources || q_.needs_usage;
    if (resources && !row.usage_read && (e == nullptr || !e->exit)) {
      row.usage = ReadProcUsage(row.pid, e != nullptr ? e->pidfd.get() : -1);
      row.usage_read = true;
    }
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
    if (!resources) {
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
  static Value FromJson(const Json& j) {
    if (j.is_number_integer()) return j.get<int64_t>();
    if (j.is_boolean()) return static_cast<int64_t>(j.get<bool>());
    if (j.is_string()) return std::string_view(j.get_ref<const std::string&>());
    return std::monostate{};
  }

  const Query& q_;
  int64_t now_steady_ns_;
};

Json PageJson(Lister& lister, const std::vector<Row*>& page, bool before_window,
              bool after_window) {
  Json items = Json::array();
  for (Row* r : page) items.push_back(lister.Item(*r));
  Json out = {{"items", std::move(items)}, {"next_cursor", nullptr}, {"prev_cursor", nullptr}};
  if (!page.empty()) {
    if (after_window) out["next_cursor"] = lister.CursorOf(*page.back());
    if (before_window) out["prev_cursor"] = lister.CursorOf(*page.front());
  }
  return out;
}

// The common case, sorted by id (creation order): the table's map is already in that order, so
// a page is found by walking from the cursor and visiting about one page of entries instead of
// the whole table.
template <typename Fill>
Json ListByIdLocked(const ProcessTable::Impl& d, const Query& q, Lister& lister, Fill fill) {
  using It = decltype(d.entries)::const_iterator;
  const bool desc = q.sort[0].second;
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
  auto matches = [&](const Entry* e) {
    Row r;
    fill(r, e);
    return lister.Matches(r);
  };
  const size_t want = q.page_size + 1;  // one more tells whether the far side has more
  std::vector<Row> collected;
  collected.reserve(want);
  auto collect = [&](const Entry* e) {
    Row r;
    fill(r, e);
    if (lister.Matches(r)) collected.push_back(std::move(r));
    return collected.size() < want;
  };
  bool other_side = false;  // a matching entry exists on the cursor's other side
  auto find_other = [&](const Entry* e) {
    other_side = matches(e);
    return !other_side;
  };
  std::vector<Row*> page;
  bool before_window = false, after_window = false;
  if (q.before) {
    const uint64_t c = q.before->back().get<uint64_t>();
    // Towards the start of the order from the cursor, then reversed into page order.
    if (!desc) {
      walk(d.entries.lower_bound(c), false, collect);
      walk(d.entries.lower_bound(c), true, find_other);
    } else {
      walk(d.entries.upper_bound(c), true, collect);
      walk(d.entries.upper_bound(c), false, find_other);
    }
    before_window = collected.size() > q.page_size;
    after_window = other_side;
    if (before_window) collected.pop_back();
    for (auto it = collected.rbegin(); it != collected.rend(); ++it) page.push_back(&*it);
  } else {
    if (q.after) {
      const uint64_t c = q.after->back().get<uint64_t>();
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
    before_window = other_side;
    after_window = collected.size() > q.page_size;
    if (after_window) collected.pop_back();
    for (Row& r : collected) page.push_back(&r);
  }
  return PageJson(lister, page, before_window, after_window);
}

}  // namespace

Result<Json> ListProcesses(ProcessTable& table, const Json& params) {
  ARSENAL_ASSIGN_OR_RETURN(Query q, ParseQuery(params.is_object() ? params : Json::object()));
  ProcessTable::Impl& d = table.impl();

  // Host processes are read before taking the lock (syscalls, and they do not need it).
  std::vector<ProcStat> host;
  if (q.scope != "managed") {
    for (pid_t pid : ListHostPids()) {
      if (auto st = ReadProcStat(pid)) host.push_back(std::move(*st));
    }
  }

  std::shared_lock lock(d.mu);
  auto fill = [](Row& r, const Entry* e) {
    r.entry = e;
    r.pid = e->pid;
    r.tiebreak = e->seq;
    r.name = e->spec.name.empty()
                 ? BasenameView(e->spec.argv.empty() ? std::string_view() : e->spec.argv[0])
                 : std::string_view(e->spec.name);
    r.state = ProcessStateName(e->state);
  };
  Lister lister(q, process_internal::NowSteadyNs());
  if (q.scope == "managed" && q.sort.size() == 1 && q.sort[0].first == Field::kId) {
    return ListByIdLocked(d, q, lister, fill);
  }
  std::vector<Row> rows;
  rows.reserve((q.scope != "host" ? d.entries.size() : 0) + host.size());
  if (q.scope != "host") {
    for (const auto& [seq, e] : d.entries) fill(rows.emplace_back(), e.get());
  }
  for (const ProcStat& st : host) {
    if (q.scope == "all" && d.live_pids.contains(st.pid)) continue;  // listed as managed
    Row& r = rows.emplace_back();
    r.pid = st.pid;
    r.host = &st;
    r.tiebreak = (uint64_t{1} << 62) + static_cast<uint64_t>(st.pid);
    r.name = st.comm;
    r.state = HostState(st.state);
    r.id_storage = "host-" + std::to_string(st.pid);
  }

  // Filter, and split off what lies on the far side of the cursor.
  std::vector<Row*> window;
  window.reserve(rows.size());
  bool before_window = false;  // a matching row precedes the window
  bool after_window = false;   // a matching row follows the window
  for (Row& r : rows) {
    if (!lister.Matches(r)) continue;
    if (q.after && lister.CompareToCursor(r, *q.after) <= 0) {
      before_window = true;
      continue;
    }
    if (q.before && lister.CompareToCursor(r, *q.before) >= 0) {
      after_window = true;
      continue;
    }
    window.push_back(&r);
  }
  auto less = [&](Row* a, Row* b) { return lister.Compare(*a, *b) < 0; };
  std::vector<Row*> page;
  if (q.before) {
    // The last page_size rows of the window (those right before the cursor).
    if (window.size() > q.page_size) {
      std::nth_element(window.begin(), window.end() - static_cast<std::ptrdiff_t>(q.page_size),
                       window.end(), less);
      before_window = true;
      page.assign(window.end() - static_cast<std::ptrdiff_t>(q.page_size), window.end());
    } else {
      page = window;
    }
    std::sort(page.begin(), page.end(), less);
  } else {
    if (window.size() > q.page_size) {
      std::nth_element(window.begin(), window.begin() + static_cast<std::ptrdiff_t>(q.page_size),
                       window.end(), less);
      after_window = true;
      page.assign(window.begin(), window.begin() + static_cast<std::ptrdiff_t>(q.page_size));
    } else {
      page = window;
    }
    std::sort(page.begin(), page.end(), less);
  }

  return PageJson(lister, page, before_window, after_window);
}

Json ProcessListParamsProperties() {
  Json filter_props = Json::object();
  Json ops = Json::object();
  for (std::string_view op : kOps) ops[std::string(op)] = Json::object();
  for (const auto& f : kFields) {
    Json scalar = f.numeric                    ? Json{{"type", Json::array({"integer", "string"})}}
                  : f.field == Field::kManaged ? Json{{"type", Json::array({"boolean", "string"})}}
                                               : Json{{"type", "string"}};
    filter_props[std::string(f.name)] = {
        {"description", "match " + std::string(f.name) +
                            ": a value, or {op: value} with op one of eq ne lt le gt ge prefix "
                            "contains in glob"},
        {"anyOf", Json::array({scalar,
                               {{"type", "object"},
                                {"properties", ops},
                                {"additionalProperties", false},
                                {"minProperties", 1}}})}};
  }
  return {
      {"page",
       {{"type", "object"},
        {"description", "cursor pagination"},
        {"properties",
         {{"size",
           {{"type", "integer"},
            {"minimum", 1},
            {"maximum", 500},
            {"description", "items per page (default 50)"}}},
          {"after", {{"type", "string"}, {"description", "cursor: items after this one"}}},
          {"before", {{"type", "string"}, {"description", "cursor: items before this one"}}}}}}},
      {"filter",
       {{"type", "object"}, {"description", "field filters"}, {"properties", filter_props}}},
      {"sort",
       {{"type", "string"},
        {"description",
         "comma-separated fields, '-' for descending; fields: id, pid, name, state, sandbox, "
         "supervisor, managed, memory_rss_bytes, cpu_ms, restarts, exit_code, started_unix_ms"}}},
      {"include_resources",
       {{"type", "boolean"},
        {"description",
         "add memory_rss_bytes, cpu_ms and threads (read from /proc) to each "
         "item; implied when the filter or sort uses them"}}},
      {"scope",
       {{"type", "string"},
        {"enum", {"managed", "host", "all"}},
        {"description", "managed processes (default), host processes from /proc, or both"}}}};
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
