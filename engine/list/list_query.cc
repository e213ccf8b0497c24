#include "arsenal/engine/list_query.h"

#include <openssl/evp.h>

#include <algorithm>

namespace arsenal {
namespace {

const std::vector<std::string> kFilterOps = {"eq", "ne",     "lt",       "le", "gt",
                                             "ge", "prefix", "contains", "in"};

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
  if (text.size() > 4096) return std::nullopt;
  for (char& c : text) {
    if (c == '-') {
      c = '+';
    } else if (c == '_') {
      c = '/';
    } else if (!std::isalnum(static_cast<unsigned char>(c))) {
      return std::nullopt;
    }
  }
  size_t pad = (4 - text.size() % 4) % 4;
  if (pad == 3) return std::nullopt;
  text.append(pad, '=');
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  out.resize(static_cast<size_t>(n) - pad);
  return out;
}

const Json& Field(const Json& item, const std::string& field) {
  static const Json kNull;
  if (!item.is_object()) return kNull;
  auto it = item.find(field);
  return it == item.end() ? kNull : *it;
}

// Query strings carry text; compare as the item's own type where the text parses as it.
Json Coerce(const Json& value, const Json& like) {
  if (!value.is_string()) return value;
  const std::string& s = value.get_ref<const std::string&>();
  if (like.is_number()) {
    Json parsed = Json::parse(s, nullptr, false);
    if (parsed.is_number()) return parsed;
  } else if (like.is_boolean()) {
    if (s == "true") return true;
    if (s == "false") return false;
  }
  return value;
}

bool TermMatches(const FilterTerm& term, const Json& item) {
  const Json& field = Field(item, term.field);
  if (term.op == "in") {
    std::vector<Json> options;
    if (term.value.is_array()) {
      options.assign(term.value.begin(), term.value.end());
    } else if (term.value.is_string()) {
      const std::string& s = term.value.get_ref<const std::string&>();
      size_t start = 0;
      while (start <= s.size()) {
        size_t comma = s.find(',', start);
        if (comma == std::string::npos) comma = s.size();
        options.emplace_back(s.substr(start, comma - start));
        start = comma + 1;
      }
    } else {
      options.push_back(term.value);
    }
    return std::any_of(options.begin(), options.end(),
                       [&](const Json& o) { return Coerce(o, field) == field; });
  }
  if (term.op == "prefix" || term.op == "contains") {
    if (!field.is_string() || !term.value.is_string()) return false;
    const auto& f = field.get_ref<const std::string&>();
    const auto& v = term.value.get_ref<const std::string&>();
    return term.op == "prefix" ? f.starts_with(v) : f.find(v) != std::string::npos;
  }
  const Json v = Coerce(term.value, field);
  if (term.op == "eq") return field == v;
  if (term.op == "ne") return field != v;
  // Ordering only between values of comparable kinds; a missing field never matches.
  const bool comparable = (field.is_number() && v.is_number()) ||
                          (field.is_string() && v.is_string()) ||
                          (field.is_boolean() && v.is_boolean());
  if (!comparable) return false;
  if (term.op == "lt") return field < v;
  if (term.op == "le") return field <= v;
  if (term.op == "gt") return field > v;
  if (term.op == "ge") return field >= v;
  return false;
}

Error CursorError() {
  return ValidationError("list.invalid_cursor",
                         "page cursor is malformed or belongs to another sort", "page")
      .WithHint(
          "use the cursors from links.next/links.prev (or next_cursor/prev_cursor) of a "
          "response with the same sort");
}

}  // namespace

Json ListParamsSchemaProperties(const ListSpec& spec) {
  Json filter_props = Json::object();
  Json ops = Json::object();
  for (const auto& op : kFilterOps) ops[op] = Json::object();
  for (const auto& field : spec.filterable) {
    filter_props[field] = {
        {"description", "match " + field +
                            ": a value, or {op: value} with op one of eq, ne, lt, "
                            "le, gt, ge, prefix, contains, in"},
        {"anyOf", Json::array({{{"type", Json::array({"string", "number", "integer", "boolean"})}},
                               {{"type", "object"},
                                {"properties", ops},
                                {"additionalProperties", false},
                                {"minProperties", 1}}})}};
  }
  std::string sort_fields = spec.id_field;
  for (const auto& f : spec.sortable) sort_fields += ", " + f;
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

Result<ListQuery> ListQuery::FromParams(const Json& params, const ListSpec& spec) {
  ListQuery q;
  q.spec_ = spec;
  q.page_size_ = spec.default_page_size;
  std::string sort_text = spec.default_sort;
  if (params.is_object() && params.contains("sort") && params["sort"].is_string()) {
    sort_text = params["sort"].get<std::string>();
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
    if (field != spec.id_field &&
        std::find(spec.sortable.begin(), spec.sortable.end(), field) == spec.sortable.end()) {
      return Fail(ValidationError("list.invalid_sort", "cannot sort by '" + field + "'", "sort")
                      .WithHint("sortable fields are listed in the sort parameter's description"));
    }
    key.field = field;
    q.sort_.push_back(std::move(key));
  }
  if (!params.is_object()) return q;
  if (auto page = params.find("page"); page != params.end() && page->is_object()) {
    if (page->contains("size")) {
      const Json& size = (*page)["size"];
      if (!size.is_number_integer() || size.get<int64_t>() < 1 ||
          size.get<int64_t>() > spec.max_page_size) {
        return Fail(ValidationError("list.invalid_page_size",
                                    "page size must be 1.." + std::to_string(spec.max_page_size),
                                    "page.size"));
      }
      q.page_size_ = size.get<int>();
    }
    for (const char* which : {"after", "before"}) {
      if (!page->contains(which)) continue;
      const Json& c = (*page)[which];
      if (!c.is_string()) return Fail(CursorError());
      auto raw = Base64UrlDecode(c.get<std::string>());
      if (!raw) return Fail(CursorError());
      Json decoded = Json::parse(*raw, nullptr, false);
      if (!decoded.is_object() || decoded.value("s", "\x01") != q.sort_text_ ||
          !decoded.contains("k") || !decoded["k"].is_array() ||
          decoded["k"].size() != q.sort_.size() + 1) {
        return Fail(CursorError());
      }
      (std::string_view(which) == "after" ? q.after_ : q.before_) = decoded["k"];
    }
  }
  if (auto filter = params.find("filter"); filter != params.end() && filter->is_object()) {
    for (const auto& [field, value] : filter->items()) {
      if (std::find(spec.filterable.begin(), spec.filterable.end(), field) ==
          spec.filterable.end()) {
        return Fail(ValidationError("list.invalid_filter", "cannot filter by '" + field + "'",
                                    "filter." + field));
      }
      if (value.is_object()) {
        for (const auto& [op, v] : value.items()) {
          if (std::find(kFilterOps.begin(), kFilterOps.end(), op) == kFilterOps.end()) {
            return Fail(ValidationError("list.invalid_filter",
                                        "unknown filter operator '" + op + "' for '" + field + "'",
                                        "filter." + field + "." + op)
                            .WithHint("operators: eq ne lt le gt ge prefix contains in"));
          }
          q.filters_.push_back({field, op, v});
        }
      } else {
        q.filters_.push_back({field, "eq", value});
      }
    }
  }
  return q;
}

bool ListQuery::Matches(const Json& item) const {
  return std::all_of(filters_.begin(), filters_.end(),
                     [&](const FilterTerm& t) { return TermMatches(t, item); });
}

Result<Json> ListQuery::Apply(const std::vector<Json>& items) const {
  std::vector<std::pair<Json, const Json*>> keyed;
  for (const auto& item : items) {
    if (!Matches(item)) continue;
    Json key = Json::array();
    for (const auto& s : sort_) key.push_back(Field(item, s.field));
    key.push_back(Field(item, spec_.id_field));
    keyed.emplace_back(std::move(key), &item);
  }
  // Negative when a sorts before b.
  auto compare = [&](const Json& a, const Json& b) {
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
      if (a[i] == b[i]) continue;
      const bool less = a[i] < b[i];
      const bool descending = i < sort_.size() && sort_[i].descending;
      return (less != descending) ? -1 : 1;
    }
    return 0;
  };
  std::stable_sort(keyed.begin(), keyed.end(),
                   [&](const auto& a, const auto& b) { return compare(a.first, b.first) < 0; });
  size_t begin = 0, end = keyed.size();
  if (after_) {
    while (begin < keyed.size() && compare(keyed[begin].first, *after_) <= 0) ++begin;
  }
  if (before_) {
    end = begin;
    while (end < keyed.size() && compare(keyed[end].first, *before_) < 0) ++end;
    if (end - begin > static_cast<size_t>(page_size_)) begin = end - page_size_;
  } else {
    end = std::min(keyed.size(), begin + static_cast<size_t>(page_size_));
  }
  auto cursor = [&](const Json& key) {
    return Base64UrlEncode(Json{{"s", sort_text_}, {"k", key}}.dump());
  };
  Json out = {{"items", Json::array()}, {"next_cursor", nullptr}, {"prev_cursor", nullptr}};
  for (size_t i = begin; i < end; ++i) out["items"].push_back(*keyed[i].second);
  if (end < keyed.size() && end > begin) out["next_cursor"] = cursor(keyed[end - 1].first);
  if (begin > 0 && end > begin) out["prev_cursor"] = cursor(keyed[begin].first);
  return out;
}

}  // namespace arsenal
