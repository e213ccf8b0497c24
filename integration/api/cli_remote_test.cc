// The `arsenal` command line against a real server: --remote/--key operation calls, key problems,
// and the key lifecycle (keys create | list | revoke) taking effect on the server.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

#include "harness.h"

#ifndef ARSENAL_CLI_BIN
#error "ARSENAL_CLI_BIN (the built arsenal binary) must be defined by the build"
#endif

extern char** environ;

namespace arsenal::api::testing {
namespace {

struct CliRun {
  int exit_code = -1;  // -1: did not exit normally (signal, timeout, spawn failure)
  std::string out, err;
  Json json() const { return Json::parse(out, nullptr, false); }
};

// Runs the arsenal binary with `args` and `env` (the whole environment), capturing stdout and
// stderr. A run over 30 s is killed (by its pid) and reported as exit_code -1.
CliRun RunCli(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  CliRun run;
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return run;
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    return run;
  }
  UniqueFd out_read(out_pipe[0]), out_write(out_pipe[1]);
  UniqueFd err_read(err_pipe[0]), err_write(err_pipe[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err_write.get(), 2);
  std::vector<std::string> argv_storage = {ARSENAL_CLI_BIN};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv, envp;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_storage = env;
  for (auto& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, ARSENAL_CLI_BIN, &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  out_write.Reset();
  err_write.Reset();
  if (rc != 0) {
    run.err = "posix_spawn failed: " + std::string(::strerror(rc));
    return run;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  bool timed_out = false;
  std::vector<pollfd> fds = {{out_read.get(), POLLIN, 0}, {err_read.get(), POLLIN, 0}};
  std::string* sinks[] = {&run.out, &run.err};
  int open_streams = 2;
  while (open_streams > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    if (::poll(fds.data(), fds.size(), static_cast<int>(left.count())) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[8192];
      const ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open_streams;
      }
    }
  }
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!timed_out && WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  return run;
}

std::string Describe(const CliRun& run) {
  return "exit " + std::to_string(run.exit_code) + "\nstdout: " + run.out + "\nstderr: " + run.err;
}

class CliRemoteTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    char tmpl[] = "/tmp/arsenal-cli-it-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    state_dir_ = tmpl;
    remote_ = "http://" + server_->endpoint();
  }
  void TearDown() override {
    ApiTest::TearDown();
    std::error_code ec;
    if (!state_dir_.empty()) std::filesystem::remove_all(state_dir_, ec);
  }

  // A controlled environment: no inherited ARSENAL_API_KEY, and a private state dir so nothing
  // the CLI might do in process touches the machine's own.
  std::vector<std::string> Env(const std::string& api_key_env = "") const {
    std::vector<std::string> env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + state_dir_,
                                    "ARSENAL_STATE_DIR=" + state_dir_};
    if (!api_key_env.empty()) env.push_back("ARSENAL_API_KEY=" + api_key_env);
    return env;
  }

  CliRun Remote(const std::string& key, std::vector<std::string> args) {
    std::vector<std::string> full = {"--remote", remote_};
    if (!key.empty()) {
      full.push_back("--key");
      full.push_back(key);
    }
    full.insert(full.end(), args.begin(), args.end());
    return RunCli(full, Env());
  }

  std::string state_dir_;
  std::string remote_;
};

TEST_F(CliRemoteTest, OperationsOverRemotePrintTheResultAsJson) {
  auto ops = Remote(admin_key_, {"list_operations", "--family", "process"});
  ASSERT_EQ(ops.exit_code, 0) << Describe(ops);
  const Json listed = ops.json();
  ASSERT_TRUE(listed.is_object()) << Describe(ops);
  ASSERT_TRUE(listed["operations"].is_array()) << Describe(ops);
  std::set<std::string> names;
  for (const auto& op : listed["operations"]) {
    EXPECT_EQ(op["family"], "process") << op;
    names.insert(op["name"].get<std::string>());
  }
  EXPECT_TRUE(names.contains("list_processes"));
  EXPECT_TRUE(names.contains("start_process"));
  EXPECT_FALSE(names.contains("list_operations"));

  // A process started through the API shows up in list_processes run by the CLI, with a typed
  // object flag (--filter takes JSON because the schema declares an object).
  auto started = Do("POST", "/api/v1/processes", admin_key_,
                    R"({"argv":["/bin/sleep","300"],"name":"cli-visible","stdout":"null"})");
  ASSERT_EQ(started.status, 200) << started.body;
  const std::string id = started.json()["data"]["id"];
  auto procs = Remote(admin_key_, {"list_processes", "--filter", R"({"name":"cli-visible"})"});
  ASSERT_EQ(procs.exit_code, 0) << Describe(procs);
  const Json plist = procs.json();
  ASSERT_TRUE(plist["items"].is_array()) << Describe(procs);
  ASSERT_EQ(plist["items"].size(), 1u) << Describe(procs);
  EXPECT_EQ(plist["items"][0]["id"], id);
  EXPECT_EQ(plist["items"][0]["state"], "running");
  EXPECT_TRUE(plist.contains("next_cursor"));

  // The CLI's own write goes to the same server: kill it through `arsenal kill_process`.
  auto killed =
      Remote(admin_key_, {"kill_process", "--id", id, "--signal", "SIGKILL", "--grace_ms", "0"});
  ASSERT_EQ(killed.exit_code, 0) << Describe(killed);
  EXPECT_EQ(killed.json()["id"], id);
  auto info = Do("GET", "/api/v1/processes/" + id, admin_key_);
  EXPECT_EQ(info.json()["data"]["attributes"]["state"], "exited") << info.body;

  // --key may come from $ARSENAL_API_KEY.
  auto from_env = RunCli({"--remote", remote_, "list_operations"}, Env(admin_key_));
  EXPECT_EQ(from_env.exit_code, 0) << Describe(from_env);
  EXPECT_TRUE(from_env.json()["operations"].is_array());
}

TEST_F(CliRemoteTest, VersionNeedsNoSubcommand) {
  auto version = RunCli({"--version"}, Env());
  EXPECT_EQ(version.exit_code, 0) << Describe(version);
  EXPECT_TRUE(version.out.starts_with("arsenal ")) << Describe(version);
}

TEST_F(CliRemoteTest, KeyProblemsFailWithAMessageNamingThem) {
  // A well-formed but unknown key.
  auto bad = Remote("ars_0123456789ab_notarealsecretnotarealsecretxxxx", {"list_operations"});
  EXPECT_NE(bad.exit_code, 0) << Describe(bad);
  EXPECT_NE(bad.exit_code, -1) << Describe(bad);
  EXPECT_TRUE(bad.out.empty()) << Describe(bad);
  Json bad_err = Json::parse(bad.err, nullptr, false);
  ASSERT_TRUE(bad_err.is_object()) << Describe(bad);
  EXPECT_EQ(bad_err["error"]["code"], "auth.invalid_key") << Describe(bad);
  // Garbage that is not a key at all.
  auto garbage = Remote("not-a-key", {"list_operations"});
  EXPECT_NE(garbage.exit_code, 0) << Describe(garbage);
  EXPECT_NE(garbage.err.find("auth."), std::string::npos) << Describe(garbage);
  // No key anywhere (no --key, no $ARSENAL_API_KEY).
  auto none = Remote("", {"list_operations"});
  EXPECT_NE(none.exit_code, 0) << Describe(none);
  EXPECT_NE(none.err.find("auth."), std::string::npos) << Describe(none);
  // Nothing listening there: a transport error, not a crash.
  auto unreachable =
      RunCli({"--remote", "http://127.0.0.1:1", "--key", admin_key_, "list_operations"}, Env());
  EXPECT_NE(unreachable.exit_code, 0) << Describe(unreachable);
  EXPECT_NE(unreachable.exit_code, -1) << Describe(unreachable);
  EXPECT_NE(unreachable.err.find("api.connect_failed"), std::string::npos) << Describe(unreachable);
  // A malformed URL is refused before connecting.
  auto bad_url =
      RunCli({"--remote", "127.0.0.1:7878", "--key", admin_key_, "list_operations"}, Env());
  EXPECT_NE(bad_url.exit_code, 0) << Describe(bad_url);
  EXPECT_NE(bad_url.err.find("api.invalid_url"), std::string::npos) << Describe(bad_url);
}

TEST_F(CliRemoteTest, KeysCreateListRevokeTakeEffectOnTheServer) {
  auto created = Remote(admin_key_, {"keys", "create", "--role", "viewer", "--name", "cli-viewer"});
  ASSERT_EQ(created.exit_code, 0) << Describe(created);
  const Json key_doc = created.json();
  ASSERT_TRUE(key_doc.is_object()) << Describe(created);
  const std::string viewer_key = key_doc.value("key", "");
  const std::string viewer_id = key_doc.value("id", "");
  ASSERT_TRUE(viewer_key.starts_with("ars_" + viewer_id + "_")) << Describe(created);
  EXPECT_EQ(key_doc["role"], "viewer");
  EXPECT_EQ(key_doc["name"], "cli-viewer");

  // The new key works against the server with viewer permissions: reads pass ...
  auto read = Remote(viewer_key, {"list_processes"});
  EXPECT_EQ(read.exit_code, 0) << Describe(read);
  EXPECT_TRUE(read.json()["items"].is_array()) << Describe(read);
  EXPECT_EQ(Do("GET", "/api/v1/processes", viewer_key).status, 200);
  // ... writes are refused (403 over HTTP), and nothing was started.
  auto write = Remote(viewer_key, {"start_process", "--argv", R"(["/bin/sleep","300"])"});
  EXPECT_NE(write.exit_code, 0) << Describe(write);
  EXPECT_TRUE(write.out.empty()) << Describe(write);
  Json write_err = Json::parse(write.err, nullptr, false);
  ASSERT_TRUE(write_err.is_object()) << Describe(write);
  EXPECT_EQ(write_err["error"]["code"], "auth.permission_denied") << Describe(write);
  EXPECT_EQ(write_err["error"]["details"]["permission"], "process.write") << Describe(write);
  auto http_write = Do("POST", "/api/v1/processes", viewer_key, R"({"argv":["/bin/true"]})");
  EXPECT_EQ(http_write.status, 403) << http_write.body;
  auto none_started = Do("GET", "/api/v1/processes", admin_key_);
  EXPECT_TRUE(none_started.json()["data"].empty()) << none_started.body;
  // A viewer cannot manage keys either (auth.* is excluded from the viewer role).
  auto viewer_lists_keys = Remote(viewer_key, {"keys", "list"});
  EXPECT_NE(viewer_lists_keys.exit_code, 0) << Describe(viewer_lists_keys);
  EXPECT_NE(viewer_lists_keys.err.find("auth.permission_denied"), std::string::npos)
      << Describe(viewer_lists_keys);

  // keys list shows it (never the secret).
  auto listed = Remote(admin_key_, {"keys", "list"});
  ASSERT_EQ(listed.exit_code, 0) << Describe(listed);
  EXPECT_EQ(listed.out.find(viewer_key), std::string::npos) << "a secret was listed";
  bool found = false;
  const Json listed_doc = listed.json();
  for (const auto& k : listed_doc["items"]) {
    if (k["id"] == viewer_id) {
      found = true;
      EXPECT_EQ(k["role"], "viewer") << k;
      EXPECT_EQ(k["name"], "cli-viewer") << k;
      EXPECT_EQ(k["revoked"], false) << k;
    }
  }
  EXPECT_TRUE(found) << Describe(listed);

  // keys revoke: the key stops authenticating at once (401).
  auto revoked = Remote(admin_key_, {"keys", "revoke", "--id", viewer_id});
  ASSERT_EQ(revoked.exit_code, 0) << Describe(revoked);
  EXPECT_EQ(revoked.json()["revoked"], true) << Describe(revoked);
  auto after = Do("GET", "/api/v1/processes", viewer_key);
  EXPECT_EQ(after.status, 401) << after.body;
  EXPECT_EQ(after.error_code(), "auth.invalid_key");
  auto cli_after = Remote(viewer_key, {"list_processes"});
  EXPECT_NE(cli_after.exit_code, 0) << Describe(cli_after);
  EXPECT_NE(cli_after.err.find("auth.invalid_key"), std::string::npos) << Describe(cli_after);
  // Revoked keys are listed only on request.
  auto default_list = Remote(admin_key_, {"keys", "list"});
  ASSERT_EQ(default_list.exit_code, 0) << Describe(default_list);
  EXPECT_EQ(default_list.out.find(viewer_id), std::string::npos) << Describe(default_list);
  auto with_revoked = Remote(admin_key_, {"keys", "list", "--include_revoked", "true"});
  ASSERT_EQ(with_revoked.exit_code, 0) << Describe(with_revoked);
  bool listed_revoked = false;
  const Json with_revoked_doc = with_revoked.json();
  for (const auto& k : with_revoked_doc["items"]) {
    if (k["id"] == viewer_id) listed_revoked = k["revoked"] == true;
  }
  EXPECT_TRUE(listed_revoked) << Describe(with_revoked);
  // A bad id is a validation error naming the field (exit code 2).
  auto bad_id = Remote(admin_key_, {"keys", "revoke", "--id", "NOT-AN-ID"});
  EXPECT_EQ(bad_id.exit_code, 2) << Describe(bad_id);
  EXPECT_NE(bad_id.err.find("id"), std::string::npos) << Describe(bad_id);
}

// In-process key management (`arsenal --state-dir DIR keys ...`, no server involved) writes the
// store a server later started on DIR uses.
class CliStateDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/arsenal-cli-state-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    StopServer();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void StartServer() {
    EngineOptions eo;
    eo.state_dir = dir_ + "/state";
    auto engine = Engine::Create(eo);
    ASSERT_TRUE(engine) << engine.error().ToString();
    engine_ = std::move(*engine);
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    auto server = Server::Start(*engine_, options);
    ASSERT_TRUE(server) << server.error().ToString();
    server_ = std::move(*server);
  }
  void StopServer() {
    if (server_) server_->Stop();
    server_.reset();
    engine_.reset();
  }
  CliRun InProcess(std::vector<std::string> args) {
    args.insert(args.begin(), {"--state-dir", dir_ + "/state"});
    return RunCli(args, {"PATH=/usr/bin:/bin", "HOME=" + dir_});
  }
  int StatusWith(const std::string& key) {
    return SendRaw(server_->endpoint(), BuildRequest("GET", "/api/v1/processes", key)).status;
  }

  std::string dir_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<Server> server_;
};

TEST_F(CliStateDirTest, KeysManagedInProcessApplyToAServerStartedOnTheStateDir) {
  auto created = InProcess({"keys", "create", "--role", "operator", "--name", "offline"});
  ASSERT_EQ(created.exit_code, 0) << Describe(created);
  const std::string key = created.json().value("key", "");
  const std::string id = created.json().value("id", "");
  ASSERT_TRUE(key.starts_with("ars_" + id + "_")) << Describe(created);
  auto listed = InProcess({"keys", "list"});
  ASSERT_EQ(listed.exit_code, 0) << Describe(listed);
  EXPECT_NE(listed.out.find(id), std::string::npos) << Describe(listed);

  StartServer();
  // An active key exists, so the server wrote no bootstrap admin key.
  EXPECT_FALSE(server_->bootstrap_key_path().has_value());
  EXPECT_EQ(StatusWith(key), 200);
  // The operator role excludes auth.*: 403 over HTTP and from the CLI over --remote.
  EXPECT_EQ(SendRaw(server_->endpoint(), BuildRequest("GET", "/api/v1/api-keys", key)).status, 403);
  auto remote = RunCli({"--remote", "http://" + server_->endpoint(), "--key", key, "keys", "list"},
                       {"PATH=/usr/bin:/bin", "HOME=" + dir_});
  EXPECT_NE(remote.exit_code, 0) << Describe(remote);
  EXPECT_NE(remote.err.find("auth.permission_denied"), std::string::npos) << Describe(remote);
  StopServer();

  auto revoked = InProcess({"keys", "revoke", "--id", id});
  ASSERT_EQ(revoked.exit_code, 0) << Describe(revoked);
  EXPECT_EQ(revoked.json()["revoked"], true) << Describe(revoked);
  StartServer();
  EXPECT_EQ(StatusWith(key), 401);
}

// Keys revoked or created by another process (`arsenal --state-dir DIR keys ...`) while a server
// runs on DIR apply to that server's very next request: ApiKeys re-checks the store's key table
// before each authentication (see arsenal/engine/api_keys.h).
TEST_F(CliStateDirTest, InProcessRevocationReachesARunningServer) {
  auto created = InProcess({"keys", "create", "--role", "viewer"});
  ASSERT_EQ(created.exit_code, 0) << Describe(created);
  const std::string key = created.json().value("key", "");
  const std::string id = created.json().value("id", "");
  StartServer();
  ASSERT_EQ(StatusWith(key), 200);
  auto revoked = InProcess({"keys", "revoke", "--id", id});
  ASSERT_EQ(revoked.exit_code, 0) << Describe(revoked);
  EXPECT_EQ(StatusWith(key), 401) << "a revoked key still authenticates";
  auto fresh = InProcess({"keys", "create", "--role", "viewer"});
  ASSERT_EQ(fresh.exit_code, 0) << Describe(fresh);
  EXPECT_EQ(StatusWith(fresh.json().value("key", "")), 200) << "a new key is refused";
}

}  // namespace
}  // namespace arsenal::api::testing
