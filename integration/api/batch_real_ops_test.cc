// Atomic batches of real operations over HTTP: start_process and create_sandbox are undone when a
// later step fails at run time, and a step without a compensation is refused before anything runs.
#include <signal.h>

#include <set>

#include "harness.h"

namespace arsenal::api::testing {
namespace {

class BatchRealOpsTest : public ApiTest {
 protected:
  Json List(const std::string& target) {
    auto r = Do("GET", target, admin_key_);
    EXPECT_EQ(r.status, 200) << target << " " << r.body;
    return r.json()["data"];
  }
};

// Start a sleeping process, create a sandbox, then start a program that does not exist (the
// params are valid; the spawn fails). Both earlier steps must be undone.
TEST_F(BatchRealOpsTest, RuntimeFailureAtThirdStepUndoesProcessAndSandbox) {
  auto r = Do("POST", "/api/v1/batch", admin_key_,
              R"({"operations":[
                   {"operation":"start_process",
                    "params":{"argv":["/bin/sleep","300"],"name":"batch-sleeper",
                              "stdout":"null","stderr":"null"}},
                   {"operation":"create_sandbox",
                    "params":{"spec":{"version":1,"labels":{"batch":"rollback"}}}},
                   {"operation":"start_process",
                    "params":{"argv":["/nonexistent/arsenal-no-such-program"],
                              "name":"batch-missing"}}]})");
  ASSERT_GE(r.status, 400) << r.body;
  ASSERT_LT(r.status, 500) << r.body;
  const Json err = r.json()["errors"][0];
  // The params passed the batch's up-front schema check; the handler found the program missing
  // when the step ran, after steps 0 and 1 had run.
  EXPECT_EQ(err["code"], "process.executable_not_found") << err;
  EXPECT_EQ(err["source"]["parameter"], "argv[0]") << err;
  EXPECT_EQ(err["meta"]["details"]["step"], 2) << err;
  EXPECT_EQ(err["meta"]["details"]["operation"], "start_process");
  EXPECT_EQ(err["meta"]["details"]["compensated"], Json::array({1, 0})) << err;
  EXPECT_TRUE(err["meta"]["details"]["compensation_failures"].empty()) << err;

  // The process from step 0 ran and was killed by the compensation: nothing is running, its
  // entry records the SIGKILL and its pid is gone.
  EXPECT_TRUE(List("/api/v1/processes?filter[state]=running").empty());
  const Json sleepers = List("/api/v1/processes?filter[name]=batch-sleeper");
  ASSERT_EQ(sleepers.size(), 1u);
  EXPECT_EQ(sleepers[0]["attributes"]["state"], "exited");
  EXPECT_EQ(sleepers[0]["attributes"]["exit"]["signal_name"], "SIGKILL") << sleepers[0];
  const pid_t pid = sleepers[0]["attributes"]["pid"];
  EXPECT_EQ(::kill(pid, 0), -1);
  EXPECT_EQ(errno, ESRCH);
  // The missing program never became a managed process.
  EXPECT_TRUE(List("/api/v1/processes?filter[name]=batch-missing").empty());

  // The sandbox from step 1 was destroyed: none is running, and the one created is destroyed
  // with no process left in it.
  EXPECT_TRUE(List("/api/v1/sandboxes?filter[state]=running").empty());
  const Json sandboxes = List("/api/v1/sandboxes?filter[label]=batch%3Drollback");
  ASSERT_EQ(sandboxes.size(), 1u);
  const std::string sandbox_id = sandboxes[0]["id"];
  EXPECT_EQ(sandboxes[0]["attributes"]["state"], "destroyed");
  auto info = Do("GET", "/api/v1/sandboxes/" + sandbox_id, admin_key_);
  if (info.status == 200) {
    const Json attrs = info.json()["data"]["attributes"];
    EXPECT_EQ(attrs["state"], "destroyed") << info.body;
    EXPECT_TRUE(attrs.value("pids", Json::array()).empty()) << info.body;
    if (attrs["init_pid"].is_number_integer() && attrs["init_pid"].get<pid_t>() > 0) {
      EXPECT_EQ(::kill(attrs["init_pid"].get<pid_t>(), 0), -1);
    }
  } else {
    EXPECT_EQ(info.status, 404) << info.body;
  }
  // Running a command in it is refused: it no longer exists as a usable sandbox.
  auto exec = Do("POST", "/api/v1/sandboxes/" + sandbox_id + "/exec", admin_key_,
                 R"({"argv":["/bin/true"]})");
  EXPECT_GE(exec.status, 400) << exec.body;
}

// kill_process declares no compensation (a kill cannot be undone): the whole batch is refused
// before its first step, so neither the process nor the sandbox is ever created.
TEST_F(BatchRealOpsTest, StepWithoutCompensationRefusesTheWholeBatchUpFront) {
  auto r = Do("POST", "/api/v1/batch", admin_key_,
              R"({"operations":[
                   {"operation":"start_process",
                    "params":{"argv":["/bin/sleep","300"],"name":"never-started"}},
                   {"operation":"create_sandbox","params":{"spec":{"version":1}}},
                   {"operation":"kill_process","params":{"id":"p-1"}}]})");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(r.error_code(), "batch.not_compensable");
  const Json err = r.json()["errors"][0];
  EXPECT_EQ(err["meta"]["details"]["step"], 2) << err;
  EXPECT_EQ(err["meta"]["details"]["operation"], "kill_process") << err;
  EXPECT_NE(err["detail"].get<std::string>().find("kill_process"), std::string::npos);
  // Nothing ran: no process entry at all (not even an exited one) and no sandbox.
  EXPECT_TRUE(List("/api/v1/processes").empty());
  EXPECT_TRUE(List("/api/v1/sandboxes").empty());
  // The same steps without the refused one succeed, so the refusal was about the compensation.
  auto ok = Do("POST", "/api/v1/batch", admin_key_,
               R"({"operations":[
                    {"operation":"start_process",
                     "params":{"argv":["/bin/sleep","300"],"name":"started",
                               "stdout":"null","stderr":"null"}},
                    {"operation":"list_processes","params":{}}]})");
  ASSERT_EQ(ok.status, 200) << ok.body;
  const Json running = List("/api/v1/processes?filter[state]=running");
  ASSERT_EQ(running.size(), 1u);
  auto kill = Do("POST", "/api/v1/processes/" + running[0]["id"].get<std::string>() + "/kill",
                 admin_key_, R"({"signal":"SIGKILL","grace_ms":0})");
  EXPECT_EQ(kill.status, 200) << kill.body;
  EXPECT_TRUE(List("/api/v1/processes?filter[state]=running").empty());
}

}  // namespace
}  // namespace arsenal::api::testing
