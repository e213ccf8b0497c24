#include "ops_fixture.h"

namespace arsenal {
namespace {

TEST_F(ProcessOpsTest, ListProcessesPagesThroughManagedProcesses) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(Start({"/bin/sleep", "60"}, {{"labels", {{"n", std::to_string(i % 2)}}}}));
  }
  std::vector<std::string> seen;
  Json params = {{"page", {{"size", 2}}}};
  for (int guard = 0; guard < 10; ++guard) {
    Json page = RunOk("list_processes", params);
    for (const auto& item : page["items"]) seen.push_back(item["id"]);
    if (page["next_cursor"].is_null()) break;
    params["page"]["after"] = page["next_cursor"];
  }
  EXPECT_EQ(seen, ids);
  Json odd = RunOk("list_processes", {{"filter", {{"label", "n=1"}}}, {"sort", "-id"}});
  ASSERT_EQ(odd["items"].size(), 2u);
  EXPECT_EQ(odd["items"][0]["id"], ids[3]);
  EXPECT_EQ(odd["items"][1]["id"], ids[1]);
}

TEST_F(ProcessOpsTest, ListProcessesBadInputNamesTheField) {
  ExpectError(Run("list_processes", {{"filter", {{"colour", "red"}}}}), "operation.invalid_params",
              "filter.colour");
  ExpectError(Run("list_processes", {{"sort", "colour"}}), "list.invalid_sort", "sort");
  ExpectError(Run("list_processes", {{"page", {{"size", 0}}}}), "operation.invalid_params",
              "page.size");
  ExpectError(Run("list_processes", {{"page", {{"after", "garbage"}}}}), "list.invalid_cursor",
              "page");
}

}  // namespace
}  // namespace arsenal
