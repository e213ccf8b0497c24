// Pagination, filters, sorting and sparse fieldsets of a real list operation (list_processes)
// over HTTP, with managed processes started through the API.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include "harness.h"

namespace arsenal::api::testing {
namespace {

constexpr int kProcesses = 25;
constexpr size_t kPageSize = 7;

class ProcessListHttpTest : public ApiTest {
 protected:
  void TearDown() override {
    // After a failure the test may not have reached its own kills: stop every process it
    // started, by id through the API (engine shutdown would also kill them).
    for (const auto& id : HasFailure() ? started_ : std::vector<std::string>{}) {
      Do("POST", "/api/v1/processes/" + id + "/kill", admin_key_,
         R"({"signal":"SIGKILL","grace_ms":0,"reason":"test cleanup"})");
    }
    ApiTest::TearDown();
  }

  // Follows links.<link> from `target` until there is none; returns the pages.
  std::vector<Json> Walk(std::string target, const char* link) {
    std::vector<Json> pages;
    for (int guard = 0; guard < 50; ++guard) {
      auto r = Do("GET", target, admin_key_);
      EXPECT_EQ(r.status, 200) << target << " " << r.body;
      if (r.status != 200) break;
      pages.push_back(r.json());
      const Json& links = pages.back()["links"];
      if (!links.contains(link)) break;
      target = links[link];
    }
    return pages;
  }

  static std::vector<std::string> Ids(const std::vector<Json>& pages) {
    std::vector<std::string> ids;
    for (const auto& page : pages) {
      for (const auto& res : page["data"]) ids.push_back(res["id"]);
    }
    return ids;
  }

  std::vector<std::string> started_;
  std::map<std::string, std::string> name_of_;  // id -> name
};

TEST_F(ProcessListHttpTest, PagesFiltersSortsAndTrimsRealProcesses) {
  for (int i = 0; i < kProcesses; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "sleeper-%02d", i);
    Json params = {{"argv", {"/bin/sleep", "300"}},
                   {"name", name},
                   {"labels", {{"parity", i % 2 == 0 ? "even" : "odd"}}},
                   {"stdout", "null"},
                   {"stderr", "null"}};
    auto r = Do("POST", "/api/v1/processes", admin_key_, params.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    const Json doc = r.json();
    EXPECT_EQ(doc["data"]["type"], "processes");
    EXPECT_EQ(doc["data"]["attributes"]["state"], "running");
    started_.push_back(doc["data"]["id"]);
    name_of_[started_.back()] = name;
  }
  const std::set<std::string> all(started_.begin(), started_.end());
  ASSERT_EQ(all.size(), static_cast<size_t>(kProcesses));

  // Forward through links.next: every process exactly once, pages of at most 7.
  auto pages = Walk("/api/v1/processes?page[size]=7", "next");
  ASSERT_EQ(pages.size(), (kProcesses + kPageSize - 1) / kPageSize);
  for (size_t i = 0; i + 1 < pages.size(); ++i) EXPECT_EQ(pages[i]["data"].size(), kPageSize);
  EXPECT_EQ(pages.back()["data"].size(), kProcesses % kPageSize);
  const auto forward = Ids(pages);
  EXPECT_EQ(forward.size(), static_cast<size_t>(kProcesses));
  EXPECT_EQ(std::set<std::string>(forward.begin(), forward.end()), all);
  EXPECT_FALSE(pages.front()["links"].contains("prev"));
  EXPECT_FALSE(pages.back()["links"].contains("next"));
  for (const auto& page : pages) {
    EXPECT_EQ(page["meta"]["operation"], "list_processes");
    for (const auto& res : page["data"]) {
      EXPECT_EQ(res["type"], "processes");
      EXPECT_EQ(res["attributes"]["state"], "running");
      EXPECT_EQ(res["attributes"]["name"], name_of_[res["id"]]);
      EXPECT_EQ(res["links"]["self"], "/api/v1/processes/" + res["id"].get<std::string>());
    }
  }

  // Back from the last page through links.prev: the same pages in reverse order.
  auto back = Walk(pages.back()["links"]["self"], "prev");
  ASSERT_EQ(back.size(), pages.size());
  std::reverse(back.begin(), back.end());
  EXPECT_EQ(Ids(back), forward);

  // A filter and a descending sort, paged: the 13 even ones, names strictly decreasing.
  auto even_pages =
      Walk("/api/v1/processes?filter[label]=parity%3Deven&sort=-name&page[size]=7", "next");
  ASSERT_EQ(even_pages.size(), 2u);
  std::vector<std::string> even_names;
  for (const auto& page : even_pages) {
    for (const auto& res : page["data"]) {
      EXPECT_EQ(res["attributes"]["labels"]["parity"], "even") << res;
      even_names.push_back(res["attributes"]["name"]);
    }
  }
  ASSERT_EQ(even_names.size(), 13u);
  EXPECT_EQ(even_names.front(), "sleeper-24");
  EXPECT_EQ(even_names.back(), "sleeper-00");
  EXPECT_TRUE(std::is_sorted(even_names.rbegin(), even_names.rend()));
  EXPECT_EQ(std::set<std::string>(even_names.begin(), even_names.end()).size(), 13u);
  // The page links keep the filter and the sort.
  const std::string next = even_pages.front()["links"]["next"];
  EXPECT_NE(next.find("sort=-name"), std::string::npos) << next;
  EXPECT_NE(next.find("filter"), std::string::npos) << next;

  // A comparison filter with a glob on the name.
  auto globbed =
      Do("GET", "/api/v1/processes?filter[name][glob]=sleeper-1*&page[size]=50", admin_key_);
  ASSERT_EQ(globbed.status, 200) << globbed.body;
  EXPECT_EQ(globbed.json()["data"].size(), 10u);  // sleeper-10 .. sleeper-19

  // A sparse fieldset keeps only the named attributes.
  auto sparse =
      Do("GET", "/api/v1/processes?page[size]=7&fields[processes]=name,state", admin_key_);
  ASSERT_EQ(sparse.status, 200) << sparse.body;
  const Json sparse_doc = sparse.json();
  ASSERT_EQ(sparse_doc["data"].size(), kPageSize);
  for (const auto& res : sparse_doc["data"]) {
    std::set<std::string> keys;
    for (const auto& [k, _] : res["attributes"].items()) keys.insert(k);
    EXPECT_EQ(keys, (std::set<std::string>{"name", "state"})) << res;
    EXPECT_TRUE(all.contains(res["id"].get<std::string>()));
  }
  // ... and survives into links.next.
  const std::string sparse_next = sparse_doc["links"]["next"];
  EXPECT_NE(sparse_next.find("fields"), std::string::npos) << sparse_next;
  auto sparse2 = Do("GET", sparse_next, admin_key_);
  ASSERT_EQ(sparse2.status, 200) << sparse2.body;
  EXPECT_FALSE(sparse2.json()["data"][0]["attributes"].contains("pid"));

  // Unknown filter and sort fields: 400 error objects naming the parameter.
  auto bad_filter = Do("GET", "/api/v1/processes?filter[colour]=red", admin_key_);
  EXPECT_EQ(bad_filter.status, 400) << bad_filter.body;
  Json bad_filter_err = bad_filter.json()["errors"][0];
  EXPECT_EQ(bad_filter_err["status"], "400");
  EXPECT_EQ(bad_filter_err["source"]["parameter"], "filter.colour") << bad_filter_err;
  EXPECT_NE(bad_filter_err["detail"].get<std::string>().find("colour"), std::string::npos);
  auto bad_sort = Do("GET", "/api/v1/processes?sort=-colour", admin_key_);
  EXPECT_EQ(bad_sort.status, 400) << bad_sort.body;
  EXPECT_EQ(bad_sort.error_code(), "list.invalid_sort");
  EXPECT_EQ(bad_sort.json()["errors"][0]["source"]["parameter"], "sort");
  EXPECT_NE(bad_sort.json()["errors"][0]["detail"].get<std::string>().find("colour"),
            std::string::npos);
  // label is filterable but not sortable.
  EXPECT_EQ(Do("GET", "/api/v1/processes?sort=label", admin_key_).error_code(),
            "list.invalid_sort");

  // Kill them all through the API; none is left running and every pid is gone.
  std::vector<pid_t> pids;
  for (const auto& page : pages) {
    for (const auto& res : page["data"]) pids.push_back(res["attributes"]["pid"].get<pid_t>());
  }
  for (const auto& id : started_) {
    auto r = Do("POST", "/api/v1/processes/" + id + "/kill", admin_key_,
                R"({"signal":"SIGTERM","grace_ms":2000,"reason":"test done"})");
    EXPECT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json()["data"]["attributes"]["how"], "exited_after_signal") << r.body;
  }
  auto running = Do("GET", "/api/v1/processes?filter[state]=running", admin_key_);
  ASSERT_EQ(running.status, 200) << running.body;
  EXPECT_TRUE(running.json()["data"].empty()) << running.body;
  auto exited = Do("GET", "/api/v1/processes?filter[state]=exited&page[size]=50", admin_key_);
  ASSERT_EQ(exited.status, 200) << exited.body;
  EXPECT_EQ(exited.json()["data"].size(), static_cast<size_t>(kProcesses));
  for (pid_t pid : pids) {
    EXPECT_EQ(::kill(pid, 0), -1) << "pid " << pid << " still exists";
    EXPECT_EQ(errno, ESRCH);
  }
}

}  // namespace
}  // namespace arsenal::api::testing
