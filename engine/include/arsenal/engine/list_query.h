// ListQuery: the one convention every list operation follows (see docs/api.md).
//
// A list operation's params hold, besides its own fields:
//   page:   {"size": 1..max (default 50), "after": "<cursor>", "before": "<cursor>"}
//   filter: {"<field>": <value> | {"eq"|"ne"|"lt"|"le"|"gt"|"ge"|"prefix"|"contains"|"in": v}}
//   sort:   "-created,name"   (comma-separated fields, "-" for descending; the id breaks ties)
// and its result is {"items": [...], "next_cursor": string|null, "prev_cursor": string|null}
// (other result fields are allowed). The REST layer maps page[size], page[after], page[before],
// filter[field], filter[field][op], sort and fields[type] onto this and builds links.next and
// links.prev from the cursors, so a list operation never sees HTTP.
//
// Cursors are opaque (base64url JSON of the sort spec and the boundary item's sort key and id),
// so a page boundary is stable when items are inserted or removed elsewhere. A cursor used with a
// different sort is refused (list.invalid_cursor).
//
// Use: declare params with ListParamsSchema(...), then
//   ARSENAL_ASSIGN_OR_RETURN(auto query, ListQuery::FromParams(params, spec));
//   return query.Apply(all_items);           // filter, sort, paginate in memory
// or apply it to a database query yourself and call MakePage().
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "arsenal/base/result.h"

namespace arsenal {

struct ListSpec {
  std::string id_field = "id";          // unique, used as the final sort key
  std::vector<std::string> filterable;  // fields accepted in filter
  std::vector<std::string> sortable;    // fields accepted in sort (id_field always is)
  std::string default_sort;             // e.g. "-created_unix_ms"; empty: by id
  int default_page_size = 50;
  int max_page_size = 500;
};

// JSON Schema properties {page, filter, sort} for a list operation's params; merge them into the
// operation's "properties". Page size above spec.max_page_size is a validation error.
Json ListParamsSchemaProperties(const ListSpec& spec);
// JSON Schema properties {items, next_cursor, prev_cursor} for the result, given the item schema.
Json ListResultSchemaProperties(const Json& item_schema);

struct SortKey {
  std::string field;
  bool descending = false;
};

struct FilterTerm {
  std::string field;
  std::string op;  // eq ne lt le gt ge prefix contains in
  Json value;
};

class ListQuery {
 public:
  // Validates page/filter/sort against `spec` (list.invalid_filter, list.invalid_sort,
  // list.invalid_cursor; all validation errors naming the field).
  static Result<ListQuery> FromParams(const Json& params, const ListSpec& spec);

  // Filters, sorts and pages `items`; returns {"items", "next_cursor", "prev_cursor"}.
  Result<Json> Apply(const std::vector<Json>& items) const;

  bool Matches(const Json& item) const;
  const std::vector<SortKey>& sort() const { return sort_; }
  const std::vector<FilterTerm>& filters() const { return filters_; }
  int page_size() const { return page_size_; }

 private:
  ListSpec spec_;
  std::vector<SortKey> sort_;
  std::string sort_text_;
  std::vector<FilterTerm> filters_;
  int page_size_ = 50;
  std::optional<Json> after_;   // decoded cursor key
  std::optional<Json> before_;  // decoded cursor key
};

}  // namespace arsenal
