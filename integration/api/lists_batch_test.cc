// Pagination invariants over HTTP (links.next / links.prev) and atomic batches.
#include <set>

#include "harness.h"

namespace arsenal::api::testing {
namespace {

std::vector<Json> Walk(ApiTest& t, std::function<RawResponse(const std::string&)> get,
                       std::string target, const char* link, std::vector<Json>* pages) {
  std::vector<Json> items;
  for (int guard = 0; guard < 100; ++guard) {
    auto r = get(target);
    EXPECT_EQ(r.status, 200) << target << " " << r.body;
    if (r.status != 200) break;
    Json doc = r.json();
    if (pages) pages->push_back(doc);
    for (const auto& res : doc["data"]) items.push_back(res);
    if (!doc["links"].contains(link)) break;
    target = doc["links"][link];
  }
  (void)t;
  return items;
}

class ListsTest : public ApiTest {};

TEST_F(ListsTest, CursorLinksVisitEveryMatchingItemOnceInOrder) {
  auto get = [&](const std::string& target) { return Do("GET", target, admin_key_); };
  std::vector<Json> pages;
  auto forward =
      Walk(*this, get, "/api/v1/widgets?page[size]=4&filter[color]=red&sort=-size", "next", &pages);
  ASSERT_EQ(forward.size(), 19u);  // 57 widgets, every third is red
  std::set<std::string> ids;
  int last_size = 1000;
  for (const auto& res : forward) {
    EXPECT_EQ(res["attributes"]["color"], "red");
    EXPECT_LE(res["attributes"]["size"].get<int>(), last_size);
    last_size = res["attributes"]["size"];
    ids.insert(res["id"].get<std::string>());
    EXPECT_EQ(res["links"]["self"], "/api/v1/widgets/" + res["id"].get<std::string>());
  }
  EXPECT_EQ(ids.size(), 19u);
  for (const auto& page : pages) EXPECT_LE(page["data"].size(), 4u);
  // Back from the last page with links.prev: the same items, in the same order.
  std::vector<Json> back_pages;
  auto backward = Walk(*this, get, pages.back()["links"]["self"], "prev", &back_pages);
  ASSERT_EQ(back_pages.size(), pages.size());
  std::vector<std::string> a, b;
  for (const auto& res : forward) a.push_back(res["id"]);
  for (auto it = back_pages.rbegin(); it != back_pages.rend(); ++it) {
    for (const auto& res : (*it)["data"]) b.push_back(res["id"]);
  }
  EXPECT_EQ(a, b);
  EXPECT_FALSE(pages.front()["links"].contains("prev"));
  EXPECT_FALSE(pages.back()["links"].contains("next"));
}

TEST_F(ListsTest, ComparisonFiltersAndLimits) {
  auto r = Do("GET", "/api/v1/widgets?filter[size][ge]=15&filter[color][in]=red,blue&page[size]=25",
              admin_key_);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_FALSE(r.json()["data"].empty());
  const Json doc = r.json();
  for (const auto& res : doc["data"]) {
    EXPECT_GE(res["attributes"]["size"].get<int>(), 15);
    EXPECT_NE(res["attributes"]["color"], "green");
  }
  auto too_big = Do("GET", "/api/v1/widgets?page[size]=26", admin_key_);
  EXPECT_EQ(too_big.status, 400);
  EXPECT_EQ(too_big.json()["errors"][0]["source"]["parameter"], "page.size");
  EXPECT_EQ(Do("GET", "/api/v1/widgets?sort=secret", admin_key_).error_code(), "list.invalid_sort");
  EXPECT_EQ(Do("GET", "/api/v1/widgets?page[after]=garbage", admin_key_).error_code(),
            "list.invalid_cursor");
}

class BatchHttpTest : public ApiTest {
 protected:
  std::set<std::string> Items() {
    auto r = Do("GET", "/api/v1/items", admin_key_);
    EXPECT_EQ(r.status, 200) << r.body;
    std::set<std::string> ids;
    const Json doc = r.json();
    for (const auto& res : doc["data"]) ids.insert(res["id"].get<std::string>());
    return ids;
  }
};

TEST_F(BatchHttpTest, FailureAtThirdStepLeavesNoTrace) {
  ASSERT_EQ(Do("PUT", "/api/v1/items/taken", admin_key_, "{}").status, 200);
  auto r = Do("POST", "/api/v1/batch", admin_key_,
              R"({"operations":[
                   {"operation":"test_put_item","params":{"id":"a","count":1}},
                   {"operation":"test_put_item","params":{"id":"b","count":2}},
                   {"operation":"test_put_item","params":{"id":"taken"}}]})");
  EXPECT_EQ(r.status, 409) << r.body;
  Json err = r.json()["errors"][0];
  EXPECT_EQ(err["code"], "item.exists");
  EXPECT_EQ(err["meta"]["details"]["step"], 2);
  EXPECT_EQ(err["meta"]["details"]["compensated"], Json::array({1, 0}));
  EXPECT_EQ(Items(), std::set<std::string>{"taken"});
}

TEST_F(BatchHttpTest, SuccessReturnsEveryResult) {
  auto r = Do("POST", "/api/v1/batch", admin_key_,
              R"({"operations":[{"operation":"test_put_item","params":{"id":"x"}},
                                {"operation":"test_put_item","params":{"id":"y"}}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["data"].size(), 2u);
  EXPECT_EQ(Items(), (std::set<std::string>{"x", "y"}));
}

TEST_F(BatchHttpTest, StepWithoutCompensationIsRefusedBeforeAnythingRuns) {
  auto r = Do("POST", "/api/v1/batch", admin_key_,
              R"({"operations":[{"operation":"test_put_item","params":{"id":"x"}},
                                {"operation":"test_touch"}]})");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.error_code(), "batch.not_compensable");
  EXPECT_TRUE(Items().empty());
  auto malformed = Do("POST", "/api/v1/batch", admin_key_, R"({"ops":[]})");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(malformed.error_code(), "batch.invalid");
}

}  // namespace
}  // namespace arsenal::api::testing
