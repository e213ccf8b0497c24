#include "sandbox_ops_fixture.h"

namespace arsenal {
namespace {

using ListSandboxesTest = sandbox_ops_testing::SandboxOpsTest;

std::vector<std::string> Ids(const Json& page) {
  std::vector<std::string> out;
  for (const auto& item : page["items"]) out.push_back(item["id"]);
  return out;
}

TEST_F(ListSandboxesTest, FiltersByStateAndLabelSortsAndPages) {
  std::string a = CreateRunning({{"labels", {{"team", "ci"}, {"tier", "1"}}}});
  std::string b = CreateRunning({{"labels", {{"team", "ci"}}}});
  std::string c = CreateRunning({{"labels", {{"team", "web"}}}});
  Ok("destroy_sandbox", {{"id", b}});

  EXPECT_EQ(Ids(Ok("list_sandboxes", Json::object())), (std::vector<std::string>{a, b, c}));
  EXPECT_EQ(Ids(Ok("list_sandboxes", {{"filter", {{"state", "running"}}}})),
            (std::vector<std::string>{a, c}));
  EXPECT_EQ(Ids(Ok("list_sandboxes", {{"filter", {{"label", "team=ci"}}}})),
            (std::vector<std::string>{a, b}));
  EXPECT_EQ(Ids(Ok("list_sandboxes", {{"filter", {{"label", "tier"}}}})),
            (std::vector<std::string>{a}));
  EXPECT_EQ(
      Ids(Ok("list_sandboxes",
             {{"filter", {{"label", Json::array({"team=ci", "tier=1"})}, {"state", "running"}}}})),
      (std::vector<std::string>{a}));
  EXPECT_EQ(Ids(Ok("list_sandboxes", {{"sort", "-created_unix_ms"}})).back(), a);

  Json first = Ok("list_sandboxes", {{"page", {{"size", 2}}}});
  EXPECT_EQ(Ids(first), (std::vector<std::string>{a, b}));
  ASSERT_TRUE(first["next_cursor"].is_string());
  Json second = Ok("list_sandboxes", {{"page", {{"size", 2}, {"after", first["next_cursor"]}}}});
  EXPECT_EQ(Ids(second), (std::vector<std::string>{c}));
  EXPECT_TRUE(second["next_cursor"].is_null());
  EXPECT_EQ(first["items"][0]["labels"]["team"], "ci");
  EXPECT_FALSE(first["items"][0].contains("spec"));
}

TEST_F(ListSandboxesTest, RejectsUnknownFiltersAndSorts) {
  auto bad = Call("list_sandboxes", {{"filter", {{"colour", "red"}}}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().category(), ErrorCategory::kValidation);
  auto sort = Call("list_sandboxes", {{"sort", "colour"}});
  ASSERT_FALSE(sort);
  EXPECT_EQ(sort.error().category(), ErrorCategory::kValidation);
}

}  // namespace
}  // namespace arsenal
