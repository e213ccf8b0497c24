// list_processes: filtering, sorting, keyset pagination, and a property test of pagination
// under concurrent starts and exits.
#include "arsenal/engine/process_list.h"

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <set>
#include <thread>

#include "arsenal/engine/engine.h"
#include "arsenal/engine/process_table.h"

#if __has_include(<rapidcheck.h>)
#include <rapidcheck.h>
#define ARSENAL_HAVE_RAPIDCHECK 1
#endif

namespace arsenal {
namespace {

using namespace std::chrono_literals;

class ProcessListTest : public ::testing::Test {
 protected:
  void SetUp() override { Make(Json::object()); }

  void Make(Json config) {
    EngineOptions options;
    options.config = {{"process", std::move(config)}};
    auto engine = Engine::Create(options);
    ASSERT_TRUE(engine) << engine.error().ToString();
    engine_ = std::move(*engine);
    table_ = &engine_->Service<ProcessTable>();
  }

  std::string StartSleeper(const std::string& name, std::map<std::string, std::string> labels = {},
                           std::string supervisor = {}) {
    ProcessSpec spec;
    spec.argv = {"/bin/sleep", "60"};
    spec.name = name;
    spec.labels = std::move(labels);
    spec.supervisor = std::move(supervisor);
    spec.stdout_spec.mode = OutputMode::kNull;
    spec.stderr_spec.mode = OutputMode::kNull;
    auto p = table_->Start(spec);
    EXPECT_TRUE(p) << p.error().ToString();
    return p ? p->id : "";
  }

  Json List(const Json& params) {
    auto out = ListProcesses(*table_, params);
    EXPECT_TRUE(out) << out.error().ToString();
    return out ? *out : Json::object();
  }

  static std::vector<std::string> Ids(const Json& page) {
    std::vector<std::string> ids;
    for (const auto& item : page["items"]) ids.push_back(item["id"]);
    return ids;
  }

  std::unique_ptr<Engine> engine_;
  ProcessTable* table_ = nullptr;
};

TEST_F(ProcessListTest, FiltersSortsAndPages) {
  const auto a = StartSleeper("web-1", {{"team", "web"}}, "sup-1");
  const auto b = StartSleeper("db-1", {{"team", "db"}});
  const auto c = StartSleeper("web-2", {{"team", "web"}}, "sup-1");
  ProcessSpec quick;
  quick.argv = {"/bin/true"};
  quick.name = "quick";
  auto q = table_->Start(quick);
  ASSERT_TRUE(q);
  ASSERT_TRUE(table_->Wait(q->id, 5s));

  EXPECT_EQ(Ids(List(Json::object())), (std::vector<std::string>{a, b, c, q->id}));
  EXPECT_EQ(Ids(List({{"sort", "-id"}})), (std::vector<std::string>{q->id, c, b, a}));
  EXPECT_EQ(Ids(List({{"sort", "name"}})), (std::vector<std::string>{b, q->id, a, c}));
  // Descending id with cursors (walks the table backwards).
  Json desc = List({{"sort", "-id"}, {"page", {{"size", 3}}}});
  EXPECT_EQ(Ids(desc), (std::vector<std::string>{q->id, c, b}));
  Json desc2 = List({{"sort", "-id"}, {"page", {{"size", 3}, {"after", desc["next_cursor"]}}}});
  EXPECT_EQ(Ids(desc2), (std::vector<std::string>{a}));
  Json desc_back =
      List({{"sort", "-id"}, {"page", {{"size", 3}, {"before", desc2["prev_cursor"]}}}});
  EXPECT_EQ(Ids(desc_back), (std::vector<std::string>{q->id, c, b}));
  EXPECT_TRUE(desc_back["prev_cursor"].is_null());
  EXPECT_EQ(Ids(List({{"filter", {{"label", "team=web"}}}})), (std::vector<std::string>{a, c}));
  EXPECT_EQ(Ids(List({{"filter", {{"supervisor", "sup-1"}}}, {"sort", "-name"}})),
            (std::vector<std::string>{c, a}));
  EXPECT_EQ(Ids(List({{"filter", {{"name", {{"glob", "web-*"}}}}}})),
            (std::vector<std::string>{a, c}));
  EXPECT_EQ(Ids(List({{"filter", {{"state", "exited"}}}})), (std::vector<std::string>{q->id}));
  EXPECT_EQ(Ids(List({{"filter", {{"state", {{"in", "running,suspended"}}}}}})),
            (std::vector<std::string>{a, b, c}));
  EXPECT_EQ(Ids(List({{"filter", {{"exit_code", 0}}}})), (std::vector<std::string>{q->id}));
  // Resource thresholds read /proc: every sleeper has some resident memory.
  // (The kernel's RSS counters are approximate per-CPU sums and may read 0 right after exec.)
  EXPECT_EQ(Ids(List({{"filter", {{"memory_rss_bytes", {{"ge", 0}}}}}, {"sort", "id"}})),
            (std::vector<std::string>{a, b, c}));
  EXPECT_TRUE(Ids(List({{"filter", {{"memory_rss_bytes", {{"gt", int64_t{1} << 40}}}}}})).empty());

  // Pages of two, forwards and back.
  Json first = List({{"page", {{"size", 2}}}});
  EXPECT_EQ(Ids(first), (std::vector<std::string>{a, b}));
  EXPECT_TRUE(first["prev_cursor"].is_null());
  ASSERT_TRUE(first["next_cursor"].is_string());
  Json second = List({{"page", {{"size", 2}, {"after", first["next_cursor"]}}}});
  EXPECT_EQ(Ids(second), (std::vector<std::string>{c, q->id}));
  EXPECT_TRUE(second["next_cursor"].is_null());
  ASSERT_TRUE(second["prev_cursor"].is_string());
  Json back = List({{"page", {{"size", 2}, {"before", second["prev_cursor"]}}}});
  EXPECT_EQ(Ids(back), (std::vector<std::string>{a, b}));
  EXPECT_TRUE(back["prev_cursor"].is_null());

  EXPECT_FALSE(List({{"filter", {{"id", a}}}})["items"][0].contains("memory_rss_bytes"));
  const Json item = List({{"filter", {{"id", a}}}, {"include_resources", true}})["items"][0];
  EXPECT_EQ(item["name"], "web-1");
  EXPECT_EQ(item["state"], "running");
  EXPECT_EQ(item["supervisor"], "sup-1");
  EXPECT_EQ(item["labels"]["team"], "web");
  EXPECT_GE(item["memory_rss_bytes"].get<int64_t>(), 0);
  EXPECT_EQ(item["managed"], true);
}

TEST_F(ProcessListTest, HostScopeListsEveryProcessOnce) {
  const auto a = StartSleeper("mine");
  Json all = List({{"scope", "all"}, {"page", {{"size", 500}}}});
  std::set<int> pids;
  bool found_managed = false, found_self = false;
  for (const auto& item : all["items"]) {
    EXPECT_TRUE(pids.insert(item["pid"].get<int>()).second) << "pid listed twice";
    found_managed |= item["id"] == a;
    found_self |= item["pid"] == ::getpid() && item["managed"] == false;
  }
  EXPECT_TRUE(found_managed);
  EXPECT_TRUE(found_self);
  Json host = List({{"scope", "host"}, {"filter", {{"pid", ::getpid()}}}});
  ASSERT_EQ(host["items"].size(), 1u);
  EXPECT_EQ(host["items"][0]["id"], "host-" + std::to_string(::getpid()));
}

TEST_F(ProcessListTest, BadInputNamesTheField) {
  struct Case {
    Json params;
    std::string code;
    std::string field;
  };
  for (const auto& c : std::vector<Case>{
           {{{"sort", "colour"}}, "list.invalid_sort", "sort"},
           {{{"sort", "label"}}, "list.invalid_sort", "sort"},
           {{{"filter", {{"colour", "red"}}}}, "list.invalid_filter", "filter.colour"},
           {{{"filter", {{"name", {{"regex", "x"}}}}}}, "list.invalid_filter", "filter.name.regex"},
           {{{"filter", {{"pid", "abc"}}}}, "list.invalid_filter", "filter.pid"},
           {{{"filter", {{"memory_rss_bytes", {{"glob", "1*"}}}}}},
            "list.invalid_filter",
            "filter.memory_rss_bytes"},
           {{{"page", {{"size", 0}}}}, "list.invalid_page_size", "page.size"},
           {{{"page", {{"after", "!!!"}}}}, "list.invalid_cursor", "page"},
           {{{"scope", "galaxy"}}, "list.invalid_scope", "scope"},
       }) {
    auto out = ListProcesses(*table_, c.params);
    ASSERT_FALSE(out) << c.params.dump();
    EXPECT_EQ(out.error().code(), c.code) << c.params.dump();
    EXPECT_EQ(out.error().category(), ErrorCategory::kValidation);
    EXPECT_EQ(out.error().details()["field"], c.field) << c.params.dump();
  }
  // A cursor from another sort is refused.
  StartSleeper("x");
  StartSleeper("y");
  Json page = List({{"page", {{"size", 1}}}, {"sort", "name"}});
  auto other =
      ListProcesses(*table_, {{"page", {{"after", page["next_cursor"]}}}, {"sort", "-name"}});
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code(), "list.invalid_cursor");
}

TEST_F(ProcessListTest, ExitedEntriesAreRetainedUpToTheLimit) {
  Make({{"exited_retention", 3}});
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) {
    ProcessSpec spec;
    spec.argv = {"/bin/true"};
    auto p = table_->Start(spec);
    ASSERT_TRUE(p);
    ASSERT_TRUE(table_->Wait(p->id, 5s));
    ids.push_back(p->id);
  }
  EXPECT_EQ(Ids(List(Json::object())), (std::vector<std::string>{ids[3], ids[4], ids[5]}));
  auto gone = table_->Get(ids[0]);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code(), "process.not_found");
}

// Compares two list items the way `sort` orders them (ids break ties by creation order).
int CompareItems(const Json& a, const Json& b, const std::string& sort) {
  size_t start = 0;
  while (start <= sort.size()) {
    size_t comma = sort.find(',', start);
    if (comma == std::string::npos) comma = sort.size();
    std::string field = sort.substr(start, comma - start);
    start = comma + 1;
    bool desc = field.starts_with('-');
    if (desc) field.erase(0, 1);
    auto key = [&](const Json& item) -> Json {
      if (field == "id") return std::stoll(item["id"].get<std::string>().substr(2));
      if (field == "managed") return item["managed"].get<bool>() ? 1 : 0;
      return item[field];
    };
    const Json ka = key(a), kb = key(b);
    if (ka == kb) continue;
    // null < number < string, as the engine orders values.
    auto rank = [](const Json& v) { return v.is_null() ? 0 : v.is_number() ? 1 : 2; };
    int c = rank(ka) != rank(kb) ? (rank(ka) < rank(kb) ? -1 : 1) : (ka < kb ? -1 : 1);
    return desc ? -c : c;
  }
  const auto ia = std::stoll(a["id"].get<std::string>().substr(2));
  const auto ib = std::stoll(b["id"].get<std::string>().substr(2));
  return ia < ib ? -1 : ia > ib ? 1 : 0;
}

// Pages through the whole list, following next_cursor.
std::vector<Json> AllPages(ProcessTable& table, const Json& filter, const std::string& sort,
                           int page_size, bool* ok) {
  std::vector<Json> items;
  Json params = {{"sort", sort}, {"page", {{"size", page_size}}}};
  if (!filter.empty()) params["filter"] = filter;
  for (int guard = 0; guard < 10000; ++guard) {
    auto page = ListProcesses(table, params);
    if (!page) {
      *ok = false;
      return items;
    }
    for (auto& item : (*page)["items"]) items.push_back(std::move(item));
    if ((*page)["next_cursor"].is_null()) return items;
    params["page"]["after"] = (*page)["next_cursor"];
  }
  *ok = false;
  return items;
}

// With processes starting and exiting (and exited entries being evicted) concurrently, the
// pages of any filter and sort on stable fields concatenate to a strictly ordered list without
// duplicates that contains every stable entry matching the filter.
TEST_F(ProcessListTest, PaginationUnderConcurrentStartsAndExitsProperty) {
#ifndef ARSENAL_HAVE_RAPIDCHECK
  GTEST_SKIP() << "RapidCheck (librapidcheck-dev) not available";
#else
  Make({{"exited_retention", 40}});
  const std::vector<std::string> names = {"web", "worker", "db", "cache", "www"};
  std::vector<std::string> stable;
  for (int i = 0; i < 30; ++i) {
    stable.push_back(StartSleeper(names[i % names.size()] + "-" + std::to_string(i % 7),
                                  {{"group", i % 3 == 0 ? "a" : "b"}},
                                  i % 4 == 0 ? "sup-" + std::to_string(i % 2) : ""));
  }
  // Churn: short-lived processes start and exit throughout the property runs.
  std::atomic<bool> stop{false};
  std::atomic<int> churned{0};
  std::thread churn([&] {
    std::mt19937 rng(42);
    while (!stop) {
      ProcessSpec spec;
      spec.argv = {"/bin/sh", "-c", rng() % 2 ? "exit 0" : "sleep 0.02"};
      spec.name = names[rng() % names.size()] + "-churn";
      spec.labels = {{"group", rng() % 2 ? "a" : "b"}};
      spec.stdout_spec.mode = OutputMode::kNull;
      spec.stderr_spec.mode = OutputMode::kNull;
      if (table_->Start(spec)) ++churned;
      std::this_thread::sleep_for(3ms);
    }
  });

  // The churn is under way before the first page is read.
  for (int i = 0; i < 500 && churned.load() < 3; ++i) std::this_thread::sleep_for(10ms);
  const int churned_before = churned.load();
  const std::vector<std::string> sorts = {"id",
                                          "-id",
                                          "name",
                                          "-name,id",
                                          "pid",
                                          "-pid",
                                          "started_unix_ms",
                                          "name,-pid",
                                          "supervisor,name",
                                          "-managed,-name"};
  const std::vector<Json> filters = {
      Json::object(),
      {{"label", "group=a"}},
      {{"name", {{"glob", "w*"}}}},
      {{"name", {{"prefix", "web"}}}},
      {{"supervisor", {{"ne", "sup-1"}}}},
  };
  const bool passed = rc::check("pages concatenate to the full sorted list", [&] {
    const auto sort = *rc::gen::elementOf(sorts);
    const auto filter_index = *rc::gen::inRange<size_t>(0, filters.size());
    const auto page_size = *rc::gen::inRange(1, 12);
    const Json& filter = filters[filter_index];

    // Which stable entries must appear: they match the filter before and after paging.
    auto expected_stable = [&] {
      std::set<std::string> ids;
      Json params = {{"page", {{"size", 500}}}, {"filter", filter}};
      if (filter.empty()) params.erase("filter");
      auto page = ListProcesses(*table_, params);
      RC_ASSERT(page.has_value());
      std::set<std::string> stable_set(stable.begin(), stable.end());
      for (const auto& item : (*page)["items"]) {
        if (stable_set.contains(item["id"])) ids.insert(item["id"]);
      }
      return ids;
    };
    const auto before = expected_stable();
    bool ok = true;
    const auto items = AllPages(*table_, filter, sort, page_size, &ok);
    RC_ASSERT(ok);
    std::set<std::string> seen;
    for (size_t i = 0; i < items.size(); ++i) {
      RC_ASSERT(seen.insert(items[i]["id"].get<std::string>()).second);      // no duplicates
      if (i > 0) RC_ASSERT(CompareItems(items[i - 1], items[i], sort) < 0);  // strictly ordered
    }
    for (const auto& id : before) RC_ASSERT(seen.contains(id));  // no stable entry skipped
    RC_ASSERT(before == expected_stable());
  });
  stop = true;
  churn.join();
  EXPECT_TRUE(passed);
  EXPECT_GE(churned_before, 3);
  EXPECT_GT(churned.load(), churned_before);  // and went on while the pages were read
#endif
}

}  // namespace
}  // namespace arsenal
