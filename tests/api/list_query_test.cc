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

}  // namespace
}  // namespace arsenal
