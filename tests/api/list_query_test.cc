#include "arsenal/engine/list_query.h"

#include <gtest/gtest.h>

#include <set>

namespace arsenal {
namespace {

std::vector<Json> Items(int n) {
  std::vector<Json> items;
  for (int i = 0; i < n; ++i) {
    items.push_back({{"id", "i" + std::to_string(100 + i)},
                     {"group", i % 4},
                     {"name", "n" + std::to_string(i % 7)}});
  }
  return items;
}

const ListSpec kSpec{.id_field = "id",
                     .filterable = {"group", "name"},
                     .sortable = {"group", "name"},
                     .default_page_size = 5,
                     .max_page_size = 50};

// Walks forward with next cursors, then back with prev cursors: every item exactly once, in the
// same order both ways.
TEST(ListQueryTest, CursorsVisitEveryItemOnceInOrder) {
  const auto items = Items(37);
  for (const std::string sort : {"", "group", "-group,name", "-name"}) {
    for (int size : {1, 5, 7, 50}) {
      std::vector<std::string> forward;
      Json params = {{"page", {{"size", size}}}, {"sort", sort}};
      Json last;
      for (int guard = 0; guard < 100; ++guard) {
        auto q = ListQuery::FromParams(params, kSpec);
        ASSERT_TRUE(q) << q.error().ToString();
        auto page = q->Apply(items);
        ASSERT_TRUE(page);
        for (const auto& it : (*page)["items"]) forward.push_back(it["id"]);
        last = *page;
        if ((*page)["next_cursor"].is_null()) break;
        params["page"] = {{"size", size}, {"after", (*page)["next_cursor"]}};
      }
      ASSERT_EQ(forward.size(), items.size()) << sort << " " << size;
      EXPECT_EQ(std::set<std::string>(forward.begin(), forward.end()).size(), items.size());
      std::vector<std::string> backward;
      for (auto it = last["items"].rbegin(); it != last["items"].rend(); ++it) {
        backward.push_back((*it)["id"]);
      }
      Json prev = last["prev_cursor"];
      for (int guard = 0; guard < 100 && prev.is_string(); ++guard) {
        auto q = ListQuery::FromParams(
            {{"page", {{"size", size}, {"before", prev}}}, {"sort", sort}}, kSpec);
        ASSERT_TRUE(q);
        auto page = q->Apply(items);
        ASSERT_TRUE(page);
        ASSERT_LE((*page)["items"].size(), static_cast<size_t>(size));
        for (auto it = (*page)["items"].rbegin(); it != (*page)["items"].rend(); ++it) {
          backward.push_back((*it)["id"]);
        }
        prev = (*page)["prev_cursor"];
      }
      std::reverse(backward.begin(), backward.end());
      EXPECT_EQ(backward, forward) << sort << " " << size;
    }
  }
}

TEST(ListQueryTest, FiltersWithComparisons) {
  const auto items = Items(40);
  auto q =
      ListQuery::FromParams({{"filter", {{"group", {{"ge", "2"}}}, {"name", {{"in", "n1,n2"}}}}},
                             {"page", {{"size", 50}}}},
                            kSpec);
  ASSERT_TRUE(q) << q.error().ToString();
  auto page = q->Apply(items);
  ASSERT_TRUE(page);
  ASSERT_FALSE((*page)["items"].empty());
  for (const auto& it : (*page)["items"]) {
    EXPECT_GE(it["group"].get<int>(), 2);
    EXPECT_TRUE(it["name"] == "n1" || it["name"] == "n2");
  }
  auto eq = ListQuery::FromParams({{"filter", {{"group", 3}}}, {"page", {{"size", 50}}}}, kSpec);
  ASSERT_TRUE(eq);
  EXPECT_EQ((*eq->Apply(items))["items"].size(), 10u);
}

TEST(ListQueryTest, RejectsBadInput) {
  EXPECT_EQ(ListQuery::FromParams({{"sort", "secret"}}, kSpec).error().code(), "list.invalid_sort");
  EXPECT_EQ(ListQuery::FromParams({{"filter", {{"secret", 1}}}}, kSpec).error().code(),
            "list.invalid_filter");
  EXPECT_EQ(
      ListQuery::FromParams({{"filter", {{"group", {{"regex", "x"}}}}}}, kSpec).error().code(),
      "list.invalid_filter");
  EXPECT_EQ(ListQuery::FromParams({{"page", {{"after", "!!!"}}}}, kSpec).error().code(),
            "list.invalid_cursor");
  EXPECT_EQ(ListQuery::FromParams({{"page", {{"size", 51}}}}, kSpec).error().code(),
            "list.invalid_page_size");
  // A cursor of one sort is refused under another.
  auto q = ListQuery::FromParams({{"page", {{"size", 2}}}, {"sort", "group"}}, kSpec);
  auto page = q->Apply(Items(10));
  auto other = ListQuery::FromParams(
      {{"page", {{"after", (*page)["next_cursor"]}}}, {"sort", "name"}}, kSpec);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code(), "list.invalid_cursor");
}

TEST(ListQueryTest, TypedFieldsConvertQueryTextAndRejectWrongValues) {
  ListSpec spec{.id_field = "id",
                .filterable = {"n", "b", "s"},
                .sortable = {"n"},
                .types = {{"n", ListFieldType::kInteger},
                          {"b", ListFieldType::kBoolean},
                          {"s", ListFieldType::kString}}};
  std::vector<Json> items;
  for (int i = 0; i < 10; ++i) {
    items.push_back({{"id", "i" + std::to_string(i)},
                     {"n", i},
                     {"b", i % 2 == 0},
                     {"s", "s" + std::to_string(i)}});
  }
  auto q = ListQuery::FromParams({{"filter", {{"n", {{"ge", "7"}}}, {"b", "true"}}}}, spec);
  ASSERT_TRUE(q) << q.error().ToString();
  auto page = q->Apply(items);
  ASSERT_TRUE(page);
  ASSERT_EQ((*page)["items"].size(), 1u);
  EXPECT_EQ((*page)["items"][0]["id"], "i8");
  struct Case {
    Json filter;
    std::string field;
  };
  for (const auto& c : std::vector<Case>{{{{"n", "seven"}}, "filter.n"},
                                         {{{"b", "yes"}}, "filter.b"},
                                         {{{"s", 3}}, "filter.s"},
                                         {{{"n", {{"prefix", "1"}}}}, "filter.n.prefix"},
                                         {{{"s", {{"glob", "s*"}}}}, "filter.s.glob"}}) {
    auto bad = ListQuery::FromParams({{"filter", c.filter}}, spec);
    ASSERT_FALSE(bad) << c.filter.dump();
    EXPECT_EQ(bad.error().code(), "list.invalid_filter");
    EXPECT_EQ(bad.error().details()["field"], c.field) << c.filter.dump();
  }
  spec.glob = true;
  auto glob = ListQuery::FromParams({{"filter", {{"s", {{"glob", "s[3-4]"}}}}}}, spec);
  ASSERT_TRUE(glob);
  EXPECT_EQ((*glob->Apply(items))["items"].size(), 2u);
}

TEST(ListQueryTest, AfterAndBeforeTogetherAreRefused) {
  auto q = ListQuery::FromParams({{"page", {{"size", 2}}}}, kSpec);
  auto page = q->Apply(Items(10));
  const Json cursor = (*page)["next_cursor"];
  auto both = ListQuery::FromParams({{"page", {{"after", cursor}, {"before", cursor}}}}, kSpec);
  ASSERT_FALSE(both);
  EXPECT_EQ(both.error().code(), "list.invalid_page");
}

// Rows that are not JSON: keys come from the rows, an id that sorts by number but matches as
// text, and a multi-valued field.
struct Thing {
  int64_t seq;
  std::string id;
  std::string name;
  std::vector<std::string> tags;
  bool has_tags;
};

class ThingRows : public ListRows {
 public:
  ListValue Key(void* row, size_t field) override {
    auto* t = static_cast<Thing*>(row);
    if (field == 0) return t->seq;
    if (field == 1) return std::string_view(t->name);
    return std::monostate{};
  }
  ListValue FilterValue(void* row, size_t field) override {
    if (field == 0) return std::string_view(static_cast<Thing*>(row)->id);
    return Key(row, field);
  }
  bool SetValues(void* row, size_t field, std::vector<std::string>& out) override {
    auto* t = static_cast<Thing*>(row);
    if (field != 2 || !t->has_tags) return false;
    out = t->tags;
    return true;
  }
  Json Item(void* row) override {
    auto* t = static_cast<Thing*>(row);
    return {{"id", t->id}, {"name", t->name}};
  }
};

TEST(ListQueryTest, RowsThatAreNotJson) {
  const ListSpec spec{.id_field = "id",
                      .filterable = {"id", "name", "tag"},
                      .sortable = {"name"},
                      .types = {{"id", ListFieldType::kString},
                                {"name", ListFieldType::kString},
                                {"tag", ListFieldType::kStringSet}}};
  std::vector<Thing> things;
  for (int i = 0; i < 30; ++i) {
    // Ids sort by seq (t-10 after t-9), not as text.
    things.push_back({i, "t-" + std::to_string(i), "n" + std::to_string(i % 3),
                      i % 5 == 0 ? std::vector<std::string>{"a", "b"} : std::vector<std::string>{},
                      i % 7 != 0});
  }
  ThingRows rows;
  auto all = [&](const Json& params) {
    std::vector<std::string> ids;
    Json p = params;
    for (int guard = 0; guard < 50; ++guard) {
      auto q = ListQuery::FromParams(p, spec);
      EXPECT_TRUE(q) << q.error().ToString();
      if (!q) break;
      std::vector<void*> candidates;
      for (auto& t : things) candidates.push_back(&t);
      Json page = q->Page(rows, candidates);
      for (const auto& it : page["items"]) ids.push_back(it["id"]);
      if (page["next_cursor"].is_null()) break;
      p["page"] = {{"size", 4}, {"after", page["next_cursor"]}};
    }
    return ids;
  };
  auto by_id = all({{"page", {{"size", 4}}}});
  ASSERT_EQ(by_id.size(), 30u);
  EXPECT_EQ(by_id[10], "t-10");
  auto by_name = all({{"page", {{"size", 4}}}, {"sort", "-name"}});
  ASSERT_EQ(by_name.size(), 30u);
  EXPECT_EQ(by_name[0], "t-2");  // n2 first, then by seq
  EXPECT_EQ(by_name[1], "t-5");
  EXPECT_EQ(all({{"filter", {{"id", {{"prefix", "t-2"}}}}}}).size(), 11u);  // t-2, t-20..t-29
  // Multi-valued: any value matches; "ne" needs none equal; a row without the set never matches.
  EXPECT_EQ(all({{"filter", {{"tag", "a"}}}}),
            (std::vector<std::string>{"t-5", "t-10", "t-15", "t-20", "t-25"}));
  auto not_a = all({{"filter", {{"tag", {{"ne", "a"}}}}}});
  EXPECT_EQ(not_a.size(), 20u);  // 30, less 0/7/14/21/28 (no set) and 5/10/15/20/25 ("a")
}

}  // namespace
}  // namespace arsenal
