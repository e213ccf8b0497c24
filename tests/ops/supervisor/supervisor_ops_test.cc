// The supervisor operations through Engine::Execute: schemas, permissions, the list convention,
// validation errors naming the field, and the tree renderings.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "arsenal/engine/engine.h"
#include "arsenal/engine/process_table.h"

namespace arsenal {
namespace {

using namespace std::chrono_literals;

Json Sleeper(const std::string& id) {
  return {{"id", id}, {"process", {{"argv", {"/bin/sleep", "1000"}}}}};
}

class SupervisorOpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto engine = Engine::Create();
    ASSERT_TRUE(engine) << engine.error().ToString();
    engine_ = std::move(*engine);
  }
  Result<Json> Run(const std::string& op, const Json& params) {
    return engine_->Execute(op, params, Principal::Root());
  }
  Json Ok(const std::string& op, const Json& params) {
    auto r = Run(op, params);
    EXPECT_TRUE(r) << op << ": " << r.error().ToString();
    return r ? *r : Json();
  }
  std::unique_ptr<Engine> engine_;
};

const char* kOps[] = {"start_supervisor",  "stop_supervisor",     "which_children",
                      "restart_child",     "add_child",           "delete_child",
                      "change_strategy",   "set_restart_backoff", "supervisor_stats",
                      "restart_frequency", "supervision_tree",    "list_supervisors"};

TEST_F(SupervisorOpsTest, AllRegisteredWithPermissionsAndExamples) {
  for (const char* name : kOps) {
    auto entry = engine_->registry().Find(name);
    ASSERT_NE(entry, nullptr) << name;
    const Operation& op = entry->op;
    EXPECT_EQ(op.family, "supervisor");
    EXPECT_TRUE(op.permission == "supervisor.read" || op.permission == "supervisor.write") << name;
    EXPECT_EQ(op.http_path.rfind("/api/v1/", 0), 0u) << name;
    ASSERT_TRUE(op.examples.is_array()) << name;
    ASSERT_FALSE(op.examples.empty()) << name;
    for (const auto& example : op.examples) {
      ASSERT_TRUE(example.is_object()) << name << ": " << example.dump();
      ASSERT_TRUE(example.contains("params")) << name;
      // Every example passes the operation's own schema.
      EXPECT_TRUE(entry->params_schema->Validate(example["params"], "x")) << name;
    }
  }
  Principal reader{"r", {"supervisor.read"}};
  auto denied =
      engine_->Execute("start_supervisor", {{"id", "s"}, {"children", Json::array()}}, reader);
  ASSERT_FALSE(denied);
  EXPECT_EQ(denied.error().code(), "auth.permission_denied");
}

TEST_F(SupervisorOpsTest, LifecycleThroughOperations) {
  Json started =
      Ok("start_supervisor",
         {{"id", "web"}, {"max_restarts", 5}, {"children", {Sleeper("a"), Sleeper("b")}}});
  EXPECT_EQ(started["state"], "running");
  Json children = Ok("which_children", {{"supervisor", "web"}});
  ASSERT_EQ(children["items"].size(), 2u);
  EXPECT_EQ(children["items"][0]["id"], "a");  // start order by default
  EXPECT_TRUE(children["items"][0]["pid"].is_number());
  EXPECT_EQ(children["items"][0]["restart"], "permanent");
  EXPECT_EQ(children["items"][0]["type"], "worker");
  EXPECT_EQ(children["items"][0]["state"], "running");
  EXPECT_EQ(children["items"][0]["restart_count"], 0);
  EXPECT_TRUE(children.contains("next_cursor"));

  // Paging.
  Json page = Ok("which_children", {{"supervisor", "web"}, {"page", {{"size", 1}}}});
  ASSERT_EQ(page["items"].size(), 1u);
  ASSERT_TRUE(page["next_cursor"].is_string());
  Json page2 = Ok("which_children",
                  {{"supervisor", "web"}, {"page", {{"size", 1}, {"after", page["next_cursor"]}}}});
  ASSERT_EQ(page2["items"].size(), 1u);
  EXPECT_EQ(page2["items"][0]["id"], "b");

  Json added = Ok("add_child", {{"supervisor", "web"}, {"child", Sleeper("c")}});
  EXPECT_EQ(added["id"], "c");
  Json restarted = Ok("restart_child", {{"supervisor", "web"}, {"child", "a"}});
  EXPECT_EQ(restarted["restart_count"], 1);
  Json changed = Ok("change_strategy", {{"supervisor", "web"}, {"strategy", "rest_for_one"}});
  EXPECT_EQ(changed["strategy"], "rest_for_one");
  EXPECT_EQ(changed["previous"]["strategy"], "one_for_one");
  Json backoff = Ok("set_restart_backoff",
                    {{"supervisor", "web"}, {"child", "b"}, {"backoff", {{"initial_ms", 50}}}});
  EXPECT_EQ(backoff["children"][0]["backoff"]["initial_ms"], 50);

  // A crash shows up in the stats and the frequency.
  auto& table = engine_->Service<ProcessTable>();
  Json c = Ok("which_children", {{"supervisor", "web"}, {"filter", {{"id", "c"}}}});
  ASSERT_TRUE(table.Signal(c["items"][0]["process_id"].get<std::string>(), SIGKILL));
  for (int i = 0; i < 200; ++i) {
    Json now = Ok("which_children", {{"supervisor", "web"}, {"filter", {{"id", "c"}}}});
    if (now["items"][0]["restart_count"] == 1 && now["items"][0]["state"] == "running") break;
    std::this_thread::sleep_for(10ms);
  }
  Json stats = Ok("supervisor_stats", {{"supervisor", "web"}, {"filter", {{"child", "c"}}}});
  ASSERT_FALSE(stats["items"].empty());
  EXPECT_EQ(stats["items"][0]["event"], "restart");  // newest first
  EXPECT_EQ(stats["restarts_by_child"]["web"]["c"], 1);
  EXPECT_EQ(stats["summary"]["strategy"], "rest_for_one");
  bool saw_exit = false;
  for (const auto& e : stats["items"]) {
    if (e["event"] == "exit") {
      saw_exit = true;
      EXPECT_EQ(e["reason"], "killed by SIGKILL");
      EXPECT_GT(e["time_unix_ms"].get<int64_t>(), 0);
    }
  }
  EXPECT_TRUE(saw_exit);
  Json freq = Ok("restart_frequency", {{"supervisor", "web"}, {"threshold", 0.2}});
  ASSERT_EQ(freq["items"][0]["id"], "c");  // most restarts first
  EXPECT_EQ(freq["items"][0]["restarts"], 1);
  EXPECT_TRUE(freq["items"][0]["near_limit"]);  // 1 >= 0.2 * 5
  EXPECT_FALSE(freq["items"][1]["near_limit"]);

  Json deleted = Ok("delete_child", {{"supervisor", "web"}, {"child", "b"}});
  EXPECT_TRUE(deleted["deleted"]);
  Json list = Ok("list_supervisors", Json::object());
  ASSERT_EQ(list["items"].size(), 1u);
  EXPECT_EQ(list["items"][0]["children"], 2);
  Json stopped = Ok("stop_supervisor", {{"id", "web"}});
  EXPECT_EQ(stopped["state"], "stopped");
  EXPECT_EQ(Ok("list_supervisors", {{"filter", {{"state", "stopped"}}}})["items"].size(), 1u);
  // The history is still there after the stop.
  EXPECT_FALSE(Ok("supervisor_stats", {{"supervisor", "web"}})["items"].empty());
}

TEST_F(SupervisorOpsTest, ValidationErrorsNameTheField) {
  struct Case {
    Json params;
    std::string code;
    std::string field;
  };
  const Case cases[] = {
      {{{"id", "s"}, {"children", {Sleeper("a"), Sleeper("a")}}},
       "supervisor.duplicate_child_id",
       "children[1].id"},
      {{{"id", "s"}, {"children", {{{"id", "n"}, {"supervisor", "nope"}}}}},
       "supervisor.unknown_reference",
       "children[0].supervisor"},
      {{{"id", "s"},
        {"children", {{{"id", "n"}, {"supervisor", "x"}}}},
        {"definitions", {{"x", {{"children", {{{"id", "y"}, {"supervisor", "x"}}}}}}}}},
       "supervisor.cyclic_reference",
       "definitions.x.children[0].supervisor"},
      {{{"id", "s"}, {"max_restarts", -2}, {"children", {Sleeper("a")}}},
       "supervisor.invalid_intensity",
       "max_restarts"},
      {{{"id", "s"}, {"strategy", "one_for_none"}, {"children", {Sleeper("a")}}},
       "supervisor.unknown_strategy",
       "strategy"},
  };
  for (const auto& c : cases) {
    auto r = Run("start_supervisor", c.params);
    ASSERT_FALSE(r) << c.params.dump();
    EXPECT_EQ(r.error().code(), c.code);
    EXPECT_EQ(r.error().details().value("field", ""), c.field);
    EXPECT_EQ(r.error().http_status(), 400);
  }
  EXPECT_EQ(engine_->Service<ProcessTable>().size(), 0u);  // nothing started
  ASSERT_TRUE(Run("start_supervisor", {{"id", "s"}, {"children", {Sleeper("a")}}}));
  auto bad = Run("change_strategy", {{"supervisor", "s"}, {"strategy", "sometimes"}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code(), "supervisor.unknown_strategy");
  EXPECT_EQ(bad.error().details()["field"], "strategy");
  auto missing = Run("which_children", {{"supervisor", "nope"}});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code(), "supervisor.not_found");
  EXPECT_EQ(missing.error().http_status(), 404);
}

TEST_F(SupervisorOpsTest, SupervisionTreeFormats) {
  ASSERT_TRUE(
      Run("start_supervisor",
          {{"id", "web"},
           {"children",
            {Sleeper("api"),
             {{"id", "jobs"},
              {"supervisor", {{"strategy", "one_for_all"}, {"children", {Sleeper("q")}}}}}}}}));
  Json json = Ok("supervision_tree", {{"supervisor", "web"}});
  EXPECT_EQ(json["tree"]["children"][1]["tree"]["path"], "web/jobs");
  EXPECT_FALSE(json.contains("dot"));
  Json dot = Ok("supervision_tree", {{"format", "dot"}});
  EXPECT_NE(dot["dot"].get<std::string>().find("digraph"), std::string::npos);
  EXPECT_EQ(dot["tree"]["supervisors"][0]["id"], "web");
  if (::access("/usr/bin/dot", X_OK) != 0) GTEST_SKIP() << "graphviz (dot) not installed";
  Json all = Ok("supervision_tree", {{"supervisor", "web"}, {"format", "all"}});
  EXPECT_NE(all["svg"].get<std::string>().find("<svg"), std::string::npos);
}

}  // namespace
}  // namespace arsenal
