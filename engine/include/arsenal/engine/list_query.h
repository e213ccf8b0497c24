// ListQuery: the one convention every list operation follows (see docs/api.md), and the one
// implementation of its filtering, sorting, cursors and paging.
//
// A list operation's params hold, besides its own fields:
//   page:   {"size": 1..max (default 50), "after": "<cursor>", "before": "<cursor>"}
//   filter: {"<field>": <value> | {"eq"|"ne"|"lt"|"le"|"gt"|"ge"|"prefix"|"contains"|"in": v}}
//           (plus "glob", an fnmatch pattern, where the spec allows it)
//   sort:   "-created,name"   (comma-separated fields, "-" for descending; the id breaks ties)
// and its result is {"items": [...], "next_cursor": string|null, "prev_cursor": string|null}
// (other result fields are allowed). The REST layer maps page[size], page[after], page[before],
// filter[field], filter[field][op], sort and fields[type] onto this and builds links.next and
// links.prev from the cursors, so a list operation never sees HTTP.
//
// Cursors are opaque (base64url JSON of the sort spec and the boundary item's sort key and id),
// so a page boundary is stable when items are inserted or removed elsewhere. A cursor used with a
// different sort is refused (list.invalid_cursor). page.after and page.before together are
// refused (list.invalid_page).
//
// Values compare by kind first (null < booleans < numbers < strings; JSON objects and arrays,
// which only untyped JSON items can have, sit between numbers and strings), then by value. A
// missing field is null: it never matches eq/lt/le/gt/ge/prefix/contains/glob/in and always
// matches ne.
//
// Use with JSON items: declare params with ListParamsSchemaProperties(spec), then
//   ARSENAL_ASSIGN_OR_RETURN(auto query, ListQuery::FromParams(params, spec));
//   return query.Apply(all_items);           // filter, sort, paginate in memory
//
// Use with rows that are not JSON (an in-memory table of thousands of entries, where building a
// JSON object per row would dominate the cost): implement ListRows over the rows and call
// query.Page(rows, candidates), or, when an index already yields rows in the requested order,
// walk it with query.Matches()/CompareToCursor() and finish with query.MakePage().
//
// Thread safety: a ListQuery is immutable after FromParams and may be shared; ListRows
// implementations are called only from the calling thread.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "arsenal/base/result.h"

namespace arsenal {

enum class ListFieldType {
  kAny,        // untyped: query-string text is converted to the item's own type when compared
  kInteger,    // filter values must be integers (decimal text is converted when parsed)
  kString,     // filter values must be strings
  kBoolean,    // filter values must be booleans ("true"/"false" text is converted)
  kStringSet,  // several strings per row (labels as "key=value"): filter only; a term matches
               // when any value matches it, "ne" when no value equals it
};

struct ListSpec {
  std::string id_field = "id";          // unique, used as the final sort key
  std::vector<std::string> filterable;  // fields accepted in filter
  std::vector<std::string> sortable;    // fields accepted in sort (id_field always is)
  std::string default_sort;             // e.g. "-created_unix_ms"; empty: by id
  int default_page_size = 50;
  int max_page_size = 500;
  // Field types (absent: kAny). Typed fields are checked when the query is parsed (a wrong value
  // is list.invalid_filter naming the field) and get typed JSON Schemas.
  std::map<std::string, ListFieldType> types;
  bool glob = false;  // accept the "glob" operator (fnmatch(3) pattern) on string fields
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
  std::string op;  // eq ne lt le gt ge prefix contains in glob
  Json value;      // as given
  // What rows are compared with: one value, or the members of an "in" list (an array or
  // comma-separated text), with typed fields' text already converted.
  std::vector<Json> values;
};

// One field's value of one row, for sorting and filtering. Strings are borrowed from the row
// (or from a JSON value) and must outlive the comparison that uses them.
using ListValue =
    std::variant<std::monostate, bool, int64_t, double, std::string_view, const Json*>;
// Negative, zero or positive (see the ordering above). Integers and doubles compare as numbers.
int CompareListValues(const ListValue& a, const ListValue& b);
// A scalar JSON value as a ListValue (strings borrowed from `json`; objects and arrays by
// pointer).
ListValue ToListValue(const Json& json);

// Adapter from the caller's rows to a ListQuery. Rows are passed as opaque pointers; `field` is
// an index into ListQuery::fields().
class ListRows {
 public:
  virtual ~ListRows() = default;
  // The sort key of `field` for `row`.
  virtual ListValue Key(void* row, size_t field) = 0;
  // The value filters compare with; by default the sort key. (Differs for an id that sorts in
  // creation order but matches as the text clients see.)
  virtual ListValue FilterValue(void* row, size_t field) { return Key(row, field); }
  // The values of a kStringSet field; false when the row has no such set at all (then no term on
  // the field matches the row, not even "ne").
  virtual bool SetValues(void* row, size_t field, std::vector<std::string>& out) {
    (void)row;
    (void)field;
    (void)out;
    return false;
  }
  // The JSON item of a row that made it onto the page.
  virtual Json Item(void* row) = 0;
};

class ListQuery {
 public:
  // Validates page/filter/sort against `spec` (list.invalid_filter, list.invalid_sort,
  // list.invalid_cursor, list.invalid_page, list.invalid_page_size; all validation errors naming
  // the field). Other params are ignored.
  static Result<ListQuery> FromParams(const Json& params, const ListSpec& spec);

  // Filters, sorts and pages JSON `items`; returns {"items", "next_cursor", "prev_cursor"}.
  Result<Json> Apply(const std::vector<Json>& items) const;
  bool Matches(const Json& item) const;

  // The same over any rows. `candidates` in any order; returns the page like Apply.
  Json Page(ListRows& rows, std::vector<void*> candidates) const;
  bool Matches(ListRows& rows, void* row) const;
  // Negative when a sorts before b (sort keys, then the id field ascending).
  int Compare(ListRows& rows, void* a, void* b) const;
  // Against a decoded cursor key (after() or before()).
  int CompareToCursor(ListRows& rows, void* row, const Json& cursor) const;
  // A page the caller selected itself, in page order; more_before/more_after: matching rows
  // exist before/after it (they decide prev_cursor/next_cursor).
  Json MakePage(ListRows& rows, const std::vector<void*>& page, bool more_before,
                bool more_after) const;

  // Field names, id_field first, then the filterable and sortable ones in spec order.
  const std::vector<std::string>& fields() const { return fields_; }
  std::optional<size_t> FieldIndex(std::string_view name) const;
  const std::vector<SortKey>& sort() const { return sort_; }
  const std::vector<FilterTerm>& filters() const { return filters_; }
  int page_size() const { return page_size_; }
  // Decoded cursor keys: the sort keys' values, then the id field's.
  const std::optional<Json>& after() const { return after_; }
  const std::optional<Json>& before() const { return before_; }
  // True when the order is the id field's alone (the sort is empty or just the id field); then
  // `descending` tells its direction.
  bool OrderedById(bool* descending) const;

 private:
  struct Term {
    size_t field = 0;
    ListFieldType type = ListFieldType::kAny;
    std::string op;
    // values[i] as a number / boolean, when it is text that reads as one (untyped fields only).
    std::vector<std::optional<Json>> as_number;
    std::vector<std::optional<bool>> as_bool;
  };
  bool TermMatches(ListRows& rows, void* row, const FilterTerm& filter, const Term& term) const;
  std::string CursorOf(ListRows& rows, void* row) const;

  ListSpec spec_;
  std::vector<std::string> fields_;
  std::vector<SortKey> sort_;
  std::vector<size_t> sort_fields_;  // indexes into fields_
  std::string sort_text_;
  std::vector<FilterTerm> filters_;
  std::vector<Term> terms_;  // parallel to filters_
  int page_size_ = 50;
  std::optional<Json> after_;   // decoded cursor key
  std::optional<Json> before_;  // decoded cursor key
};

}  // namespace arsenal
