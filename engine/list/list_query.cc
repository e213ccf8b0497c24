#include "arsenal/engine/list_query.h"

#include <fnmatch.h>
#include <openssl/evp.h>

#include <algorithm>

namespace arsenal {
namespace {

constexpr std::string_view kFilterOps[] = {"eq", "ne",     "lt",       "le", "gt",
                                           "ge", "prefix", "contains", "in", "glob"};

bool KnownOp(std::string_view op, bool glob) {
  if (op == "glob") return glob;
  return std::find(std::begin(kFilterOps), std::end(kFilterOps), op) != std::end(kFilterOps);
}

std::string OpsText(bool glob, const char* sep) {
  std::string out;
  for (std::string_view op : kFilterOps) {
    if (op == "glob" && !glob) continue;
    if (!out.empty()) out += sep;
    out += op;
  }
  return out;
}

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

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
      .WithHint(
          "use the cursors from links.next/links.prev (or next_cursor/prev_cursor) of a "
          "response with the same sort");
}

// Kind rank: null < boolean < number < object/array < string (nlohmann::json's order).
int Rank(const ListValue& v) {
  switch (v.index()) {
    case 0:
      return 0;
    case 1:
      return 1;
    case 2:
    case 3:
      return 2;
    case 5:
      return 3;
    default:
      return 4;
  }
}

bool IsNull(const ListValue& v) { return std::holds_alternative<std::monostate>(v); }

double AsDouble(const ListValue& v) {
  return std::holds_alternative<int64_t>(v) ? static_cast<double>(std::get<int64_t>(v))
                                            : std::get<double>(v);
}

template <typename T>
int Three(const T& a, const T& b) {
  return a < b ? -1 : b < a ? 1 : 0;
}

ListFieldType TypeOf(const ListSpec& spec, const std::string& field) {
  auto it = spec.types.find(field);
  return it == spec.types.end() ? ListFieldType::kAny : it->second;
}

// JSON items as rows: the field's value is the item's member of that name.
class JsonRows : public ListRows {
 public:
  explicit JsonRows(const std::vector<std::string>& fields) : fields_(fields) {}
  ListValue Key(void* row, size_t field) override {
    const Json& item = *static_cast<const Json*>(row);
    if (!item.is_object()) return std::monostate{};
    auto it = item.find(fields_[field]);
    return it == item.end() ? ListValue(std::monostate{}) : ToListValue(*it);
  }
  Json Item(void* row) override { return *static_cast<const Json*>(row); }

 private:
  const std::vector<std::string>& fields_;
};

}  // namespace

int CompareListValues(const ListValue& a, const ListValue& b) {
  const int ra = Rank(a), rb = Rank(b);
  if (ra != rb) return ra < rb ? -1 : 1;
  switch (ra) {
    case 1:
      return Three(std::get<bool>(a), std::get<bool>(b));
    case 2:
      if (std::holds_alternative<int64_t>(a) && std::holds_alternative<int64_t>(b)) {
        return Three(std::get<int64_t>(a), std::get<int64_t>(b));
      }
      return Three(AsDouble(a), AsDouble(b));
    case 3:
      return Three(*std::get<const Json*>(a), *std::get<const Json*>(b));
    case 4: {
      const int c = std::get<std::string_view>(a).compare(std::get<std::string_view>(b));
      return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    default:
      return 0;
  }
}

ListValue ToListValue(const Json& json) {
  switch (json.type()) {
    case Json::value_t::boolean:
      return json.get<bool>();
    case Json::value_t::number_integer:
      return json.get<int64_t>();
    case Json::value_t::number_unsigned: {
      const uint64_t u = json.get<uint64_t>();
      if (u <= static_cast<uint64_t>(INT64_MAX)) return static_cast<int64_t>(u);
      return static_cast<double>(u);
    }
    case Json::value_t::number_float:
      return json.get<double>();
    case Json::value_t::string:
      return std::string_view(json.get_ref<const std::string&>());
    case Json::value_t::object:
    case Json::value_t::array:
      return &json;
    default:
      return std::monostate{};
  }
}

Json ListParamsSchemaProperties(const ListSpec& spec) {
  Json filter_props = Json::object();
  Json ops = Json::object();
  for (std::string_view op : kFilterOps) {
    if (op != "glob" || spec.glob) ops[std::string(op)] = Json::object();
  }
  const std::string ops_text = OpsText(spec.glob, ", ");
  for (const auto& field : spec.filterable) {
    Json scalar;
    switch (TypeOf(spec, field)) {
      case ListFieldType::kInteger:
        scalar = {{"type", Json::array({"integer", "string"})}};
        break;
      case ListFieldType::kBoolean:
        scalar = {{"type", Json::array({"boolean", "string"})}};
        break;
      case ListFieldType::kString:
      case ListFieldType::kStringSet:
        scalar = {{"type", "string"}};
        break;
      case ListFieldType::kAny:
        scalar = {{"type", Json::array({"string", "number", "integer", "boolean"})}};
        break;
    }
    filter_props[field] = {
        {"description", "match " + field + ": a value, or {op: value} with op one of " + ops_text},
        {"anyOf", Json::array({scalar,
                               {{"type", "object"},
                                {"properties", ops},
                                {"additionalProperties", false},
                                {"minProperties", 1}}})}};
  }
  std::string sort_fields = spec.id_field;
  for (const auto& f : spec.sortable) {
    if (f != spec.id_field) sort_fields += ", " + f;
  }
  return {
      {"page",
       {{"type", "object"},
        {"description", "cursor pagination"},
        {"properties",
         {{"size",
           {{"type", "integer"},
            {"minimum", 1},
            {"maximum", spec.max_page_size},
            {"description",
             "items per page (default " + std::to_string(spec.default_page_size) + ")"}}},
          {"after", {{"type", "string"}, {"description", "cursor: items after this one"}}},
          {"before", {{"type", "string"}, {"description", "cursor: items before this one"}}}}}}},
      {"filter",
       {{"type", "object"}, {"description", "field filters"}, {"properties", filter_props}}},
      {"sort",
       {{"type", "string"},
        {"description", "comma-separated fields, '-' for descending; fields: " + sort_fields}}}};
}

Json ListResultSchemaProperties(const Json& item_schema) {
  return {{"items", {{"type", "array"}, {"items", item_schema}}},
          {"next_cursor", {{"type", Json::array({"string", "null"})}}},
          {"prev_cursor", {{"type", Json::array({"string", "null"})}}}};
}

std::optional<size_t> ListQuery::FieldIndex(std::string_view name) const {
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (fields_[i] == name) return i;
  }
  return std::nullopt;
}

bool ListQuery::OrderedById(bool* descending) const {
  if (sort_.empty()) {
    *descending = false;
    return true;
  }
  if (sort_.size() == 1 && sort_[0].field == spec_.id_field) {
    *descending = sort_[0].descending;
    return true;
  }
  return false;
}

Result<ListQuery> ListQuery::FromParams(const Json& params_in, const ListSpec& spec) {
  static const Json kEmpty = Json::object();
  const Json& params = params_in.is_object() ? params_in : kEmpty;
  ListQuery q;
  q.spec_ = spec;
  q.page_size_ = spec.default_page_size;
  q.fields_.push_back(spec.id_field);
  for (const auto* names : {&spec.filterable, &spec.sortable}) {
    for (const auto& n : *names) {
      if (std::find(q.fields_.begin(), q.fields_.end(), n) == q.fields_.end()) {
        q.fields_.push_back(n);
      }
    }
  }
  std::vector<std::string> sortable = {spec.id_field};
  for (const auto& f : spec.sortable) {
    if (f != spec.id_field) sortable.push_back(f);
  }

  std::string sort_text = spec.default_sort;
  if (auto s = params.find("sort"); s != params.end() && s->is_string()) {
    sort_text = s->get<std::string>();
  }
  q.sort_text_ = sort_text;
  size_t start = 0;
  while (!sort_text.empty() && start <= sort_text.size()) {
    size_t comma = sort_text.find(',', start);
    if (comma == std::string::npos) comma = sort_text.size();
    std::string field = sort_text.substr(start, comma - start);
    start = comma + 1;
    SortKey key;
    if (field.starts_with("-")) {
      key.descending = true;
      field.erase(0, 1);
    }
    if (std::find(sortable.begin(), sortable.end(), field) == sortable.end()) {
      return Fail(ValidationError("list.invalid_sort", "cannot sort by '" + field + "'", "sort")
                      .WithDetail("sort_field", field)
                      .WithHint("sortable fields: " + Join(sortable)));
    }
    key.field = field;
    q.sort_fields_.push_back(*q.FieldIndex(field));
    q.sort_.push_back(std::move(key));
  }

  if (auto page = params.find("page"); page != params.end()) {
    if (!page->is_object()) {
      return Fail(ValidationError("list.invalid_page", "page must be an object", "page"));
    }
    if (auto size = page->find("size"); size != page->end()) {
      if (!size->is_number_integer() || size->get<int64_t>() < 1 ||
          size->get<int64_t>() > spec.max_page_size) {
        return Fail(ValidationError("list.invalid_page_size",
                                    "page size must be 1.." + std::to_string(spec.max_page_size),
                                    "page.size"));
      }
      q.page_size_ = size->get<int>();
    }
    for (const char* which : {"after", "before"}) {
      auto c = page->find(which);
      if (c == page->end()) continue;
      if (!c->is_string()) return Fail(CursorError());
      auto raw = Base64UrlDecode(c->get<std::string>());
      if (!raw) return Fail(CursorError());
      Json decoded = Json::parse(*raw, nullptr, false);
      if (!decoded.is_object() || decoded.value("s", "\x01") != q.sort_text_ ||
          !decoded.contains("k") || !decoded["k"].is_array() ||
          decoded["k"].size() != q.sort_.size() + 1) {
        return Fail(CursorError());
      }
      for (const auto& v : decoded["k"]) {
        if (v.is_object() || v.is_array() || v.is_binary()) return Fail(CursorError());
      }
      (std::string_view(which) == "after" ? q.after_ : q.before_) = std::move(decoded["k"]);
    }
    if (q.after_ && q.before_) {
      return Fail(
          ValidationError("list.invalid_page", "give page.after or page.before, not both", "page"));
    }
  }

  if (auto filter = params.find("filter"); filter != params.end()) {
    if (!filter->is_object()) {
      return Fail(ValidationError("list.invalid_filter", "filter must be an object", "filter"));
    }
    for (const auto& [name, value] : filter->items()) {
      if (std::find(spec.filterable.begin(), spec.filterable.end(), name) ==
          spec.filterable.end()) {
        return Fail(ValidationError("list.invalid_filter", "cannot filter by '" + name + "'",
                                    "filter." + name)
                        .WithHint("filter fields: " + Join(spec.filterable)));
      }
      const ListFieldType type = TypeOf(spec, name);
      auto add = [&](const std::string& op, const Json& v) -> Status {
        if (!KnownOp(op, spec.glob)) {
          return Fail(ValidationError("list.invalid_filter",
                                      "unknown filter operator '" + op + "' for '" + name + "'",
                                      "filter." + name + "." + op)
                          .WithHint("operators: " + OpsText(spec.glob, " ")));
        }
        FilterTerm filter_term{name, op, v, {}};
        Term term;
        term.field = *q.FieldIndex(name);
        term.type = type;
        term.op = op;
        if (op == "in" && v.is_array()) {
          filter_term.values.assign(v.begin(), v.end());
        } else if (op == "in" && v.is_string()) {  // "a,b,c" as a query string carries it
          const std::string& s = v.get_ref<const std::string&>();
          size_t from = 0;
          while (from <= s.size()) {
            size_t comma = s.find(',', from);
            if (comma == std::string::npos) comma = s.size();
            filter_term.values.emplace_back(s.substr(from, comma - from));
            from = comma + 1;
          }
        } else {
          filter_term.values.push_back(v);
        }
        for (Json& r : filter_term.values) {
          std::optional<Json> number;
          std::optional<bool> boolean;
          if (r.is_string()) {
            const std::string& s = r.get_ref<const std::string&>();
            Json parsed = Json::parse(s, nullptr, false);
            if (parsed.is_number()) number = std::move(parsed);
            if (s == "true") boolean = true;
            if (s == "false") boolean = false;
          }
          // Query strings carry numbers and booleans as text.
          const char* needs = nullptr;
          switch (type) {
            case ListFieldType::kInteger:
              if (number && number->is_number_integer()) r = *number;
              if (!r.is_number_integer()) needs = "an integer";
              break;
            case ListFieldType::kBoolean:
              if (boolean) r = *boolean;
              if (!r.is_boolean()) needs = "a boolean";
              break;
            case ListFieldType::kString:
            case ListFieldType::kStringSet:
              if (!r.is_string()) needs = "a string";
              break;
            case ListFieldType::kAny:
              break;
          }
          if (needs != nullptr) {
            return Fail(ValidationError("list.invalid_filter",
                                        "filter '" + name + "' needs " + needs, "filter." + name));
          }
          term.as_number.push_back(type == ListFieldType::kAny ? number : std::nullopt);
          term.as_bool.push_back(type == ListFieldType::kAny ? boolean : std::nullopt);
        }
        const bool string_op = op == "prefix" || op == "contains" || op == "glob";
        if (string_op && (type == ListFieldType::kInteger || type == ListFieldType::kBoolean)) {
          return Fail(ValidationError("list.invalid_filter",
                                      "operator '" + op + "' needs a string field",
                                      "filter." + name + "." + op));
        }
        q.filters_.push_back(std::move(filter_term));
        q.terms_.push_back(std::move(term));
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

namespace {

// `want` as the row value's kind where an untyped filter's text reads as that kind.
bool Equal(const ListValue& v, const Json& want, const std::optional<Json>& as_number,
           const std::optional<bool>& as_bool) {
  if (Rank(v) == 2 && as_number) return CompareListValues(v, ToListValue(*as_number)) == 0;
  if (Rank(v) == 1 && as_bool) return std::get<bool>(v) == *as_bool;
  return CompareListValues(v, ToListValue(want)) == 0;
}

bool ValueMatches(const ListValue& v, const std::string& op, const Json& want,
                  const std::optional<Json>& as_number, const std::optional<bool>& as_bool) {
  if (op == "eq" || op == "in") return !IsNull(v) && Equal(v, want, as_number, as_bool);
  if (op == "ne") return IsNull(v) || !Equal(v, want, as_number, as_bool);
  if (op == "prefix" || op == "contains" || op == "glob") {
    if (!std::holds_alternative<std::string_view>(v) || !want.is_string()) return false;
    const std::string_view s = std::get<std::string_view>(v);
    const std::string& w = want.get_ref<const std::string&>();
    if (op == "prefix") return s.starts_with(w);
    if (op == "contains") return s.find(w) != std::string_view::npos;
    return ::fnmatch(w.c_str(), std::string(s).c_str(), 0) == 0;
  }
  // Ordering only between values of one kind; a missing field never matches.
  ListValue w = ToListValue(want);
  if (Rank(v) == 2 && as_number) w = ToListValue(*as_number);
  if (Rank(v) == 1 && as_bool) w = *as_bool;
  if (IsNull(v) || Rank(v) != Rank(w) || Rank(v) == 3) return false;
  const int c = CompareListValues(v, w);
  if (op == "lt") return c < 0;
  if (op == "le") return c <= 0;
  if (op == "gt") return c > 0;
  if (op == "ge") return c >= 0;
  return false;
}

}  // namespace

bool ListQuery::TermMatches(ListRows& rows, void* row, const FilterTerm& filter,
                            const Term& term) const {
  if (term.type == ListFieldType::kStringSet) {
    std::vector<std::string> set;
    if (!rows.SetValues(row, term.field, set)) return false;
    for (const Json& want : filter.values) {
      if (term.op == "ne") {
        if (std::none_of(set.begin(), set.end(), [&](const std::string& s) {
              return s == want.get_ref<const std::string&>();
            })) {
          return true;
        }
        continue;
      }
      for (const std::string& s : set) {
        if (ValueMatches(std::string_view(s), term.op, want, std::nullopt, std::nullopt)) {
          return true;
        }
      }
    }
    return false;
  }
  const ListValue v = rows.FilterValue(row, term.field);
  for (size_t i = 0; i < filter.values.size(); ++i) {
    if (ValueMatches(v, term.op, filter.values[i], term.as_number[i], term.as_bool[i])) {
      return true;
    }
  }
  return false;
}

bool ListQuery::Matches(ListRows& rows, void* row) const {
  for (size_t i = 0; i < terms_.size(); ++i) {
    if (!TermMatches(rows, row, filters_[i], terms_[i])) return false;
  }
  return true;
}

bool ListQuery::Matches(const Json& item) const {
  JsonRows rows(fields_);
  return Matches(rows, const_cast<Json*>(&item));
}

int ListQuery::Compare(ListRows& rows, void* a, void* b) const {
  for (size_t i = 0; i < sort_.size(); ++i) {
    const int c = CompareListValues(rows.Key(a, sort_fields_[i]), rows.Key(b, sort_fields_[i]));
    if (c != 0) return sort_[i].descending ? -c : c;
  }
  return CompareListValues(rows.Key(a, 0), rows.Key(b, 0));
}

int ListQuery::CompareToCursor(ListRows& rows, void* row, const Json& cursor) const {
  for (size_t i = 0; i < sort_.size(); ++i) {
    const int c = CompareListValues(rows.Key(row, sort_fields_[i]), ToListValue(cursor[i]));
    if (c != 0) return sort_[i].descending ? -c : c;
  }
  return CompareListValues(rows.Key(row, 0), ToListValue(cursor.back()));
}

std::string ListQuery::CursorOf(ListRows& rows, void* row) const {
  auto json = [](const ListValue& v) -> Json {
    switch (v.index()) {
      case 1:
        return std::get<bool>(v);
      case 2:
        return std::get<int64_t>(v);
      case 3:
        return std::get<double>(v);
      case 4:
        return std::string(std::get<std::string_view>(v));
      case 5:
        return *std::get<const Json*>(v);
      default:
        return nullptr;
    }
  };
  Json k = Json::array();
  for (size_t f : sort_fields_) k.push_back(json(rows.Key(row, f)));
  k.push_back(json(rows.Key(row, 0)));
  return Base64UrlEncode(Json{{"s", sort_text_}, {"k", std::move(k)}}.dump());
}

Json ListQuery::MakePage(ListRows& rows, const std::vector<void*>& page, bool more_before,
                         bool more_after) const {
  Json items = Json::array();
  for (void* r : page) items.push_back(rows.Item(r));
  Json out = {{"items", std::move(items)}, {"next_cursor", nullptr}, {"prev_cursor", nullptr}};
  if (!page.empty()) {
    if (more_after) out["next_cursor"] = CursorOf(rows, page.back());
    if (more_before) out["prev_cursor"] = CursorOf(rows, page.front());
  }
  return out;
}

Json ListQuery::Page(ListRows& rows, std::vector<void*> candidates) const {
  // Filter, and split off what lies on the far side of the cursor.
  std::vector<void*> window;
  window.reserve(candidates.size());
  bool more_before = false;
  bool more_after = false;
  for (void* r : candidates) {
    if (!Matches(rows, r)) continue;
    if (after_ && CompareToCursor(rows, r, *after_) <= 0) {
      more_before = true;
      continue;
    }
    if (before_ && CompareToCursor(rows, r, *before_) >= 0) {
      more_after = true;
      continue;
    }
    window.push_back(r);
  }
  // Only the page is sorted: nth_element selects it from the window.
  auto less = [&](void* a, void* b) { return Compare(rows, a, b) < 0; };
  const auto size = static_cast<size_t>(page_size_);
  std::vector<void*> page;
  if (window.size() <= size) {
    page = std::move(window);
  } else if (before_) {
    // The last page_size rows of the window (those right before the cursor).
    const auto cut = window.end() - static_cast<std::ptrdiff_t>(size);
    std::nth_element(window.begin(), cut, window.end(), less);
    more_before = true;
    page.assign(cut, window.end());
  } else {
    const auto cut = window.begin() + static_cast<std::ptrdiff_t>(size);
    std::nth_element(window.begin(), cut, window.end(), less);
    more_after = true;
    page.assign(window.begin(), cut);
  }
  std::sort(page.begin(), page.end(), less);
  return MakePage(rows, page, more_before, more_after);
}

Result<Json> ListQuery::Apply(const std::vector<Json>& items) const {
  JsonRows rows(fields_);
  std::vector<void*> candidates;
  candidates.reserve(items.size());
  for (const Json& item : items) candidates.push_back(const_cast<Json*>(&item));
  return Page(rows, std::move(candidates));
}

}  // namespace arsenal
