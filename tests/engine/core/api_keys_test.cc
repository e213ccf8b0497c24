// ApiKeys: custom roles (validation, expansion with negations), the bootstrap key file, and key
// changes made through another connection to the same database reaching the cache.
#include "arsenal/engine/api_keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "arsenal/engine/engine.h"

namespace arsenal {
namespace {

class ApiKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto engine = Engine::Create();
    ASSERT_TRUE(engine) << engine.error().ToString();
    engine_ = std::move(*engine);
    keys_ = &engine_->Service<ApiKeys>();
  }
  std::string FieldOf(const Status& s) { return s.error().details().value("field", ""); }

  std::unique_ptr<Engine> engine_;
  ApiKeys* keys_ = nullptr;
};

TEST_F(ApiKeysTest, CustomRolesAreValidatedAndNameTheRole) {
  auto not_object = keys_->DefineRoles(Json::array());
  ASSERT_FALSE(not_object);
  EXPECT_EQ(FieldOf(not_object), "api.roles");
  auto bad_name = keys_->DefineRoles({{"Ops-Team", {"process.read"}}});
  ASSERT_FALSE(bad_name);
  EXPECT_EQ(FieldOf(bad_name), "api.roles.Ops-Team");
  auto builtin = keys_->DefineRoles({{"admin", {"*"}}});
  ASSERT_FALSE(builtin);
  EXPECT_EQ(builtin.error().code(), "auth.invalid_role");
  auto not_list = keys_->DefineRoles({{"auditor", "process.read"}});
  ASSERT_FALSE(not_list);
  EXPECT_EQ(FieldOf(not_list), "api.roles.auditor");
  auto bad_pattern = keys_->DefineRoles({{"auditor", {"process"}}});
  ASSERT_FALSE(bad_pattern);
  EXPECT_FALSE(bad_pattern.error().hint().empty());
  auto roles = keys_->RoleNames();
  EXPECT_EQ(std::find(roles.begin(), roles.end(), "auditor"), roles.end())
      << "a rejected role must not be half-defined";
}

TEST_F(ApiKeysTest, NegationsCarveOutOfWildcards) {
  ASSERT_TRUE(keys_->DefineRoles({{"process_reader", {"process.*", "!process.write"}},
                                  {"reader", {"*.read", "!auth.*"}},
                                  {"sandboxer", {"sandbox.*", "!process.write"}}}));
  auto roles = keys_->RoleNames();
  EXPECT_NE(std::find(roles.begin(), roles.end(), "reader"), roles.end());
  auto patterns = keys_->RolePatterns("reader");
  ASSERT_TRUE(patterns);
  EXPECT_EQ(*patterns, (std::vector<std::string>{"*.read", "!auth.*"}));
  EXPECT_FALSE(keys_->RolePatterns("nobody"));

  auto process_reader = keys_->RolePermissions("process_reader");
  ASSERT_TRUE(process_reader) << process_reader.error().ToString();
  EXPECT_NE(std::find(process_reader->begin(), process_reader->end(), "process.read"),
            process_reader->end());
  EXPECT_EQ(std::find(process_reader->begin(), process_reader->end(), "process.write"),
            process_reader->end());
  EXPECT_EQ(std::find(process_reader->begin(), process_reader->end(), "process.*"),
            process_reader->end())
      << "a wildcard a negation overlaps must not survive as a pattern";

  auto reader = keys_->RolePermissions("reader");
  ASSERT_TRUE(reader);
  EXPECT_NE(std::find(reader->begin(), reader->end(), "sandbox.read"), reader->end());
  EXPECT_EQ(std::find(reader->begin(), reader->end(), "auth.read"), reader->end());

  // A family wildcard no negation touches stays, so it covers operations registered later.
  auto sandboxer = keys_->RolePermissions("sandboxer");
  ASSERT_TRUE(sandboxer);
  EXPECT_NE(std::find(sandboxer->begin(), sandboxer->end(), "sandbox.*"), sandboxer->end());

  auto created = keys_->Create("r", "reader");
  ASSERT_TRUE(created) << created.error().ToString();
  auto principal = keys_->Authenticate(created->key);
  ASSERT_TRUE(principal);
  EXPECT_TRUE(principal->Allows("process.read"));
  EXPECT_FALSE(principal->Allows("auth.read"));
  EXPECT_FALSE(principal->Allows("process.write"));
}

TEST_F(ApiKeysTest, BootstrapKeyIsWrittenOnceWithOwnerOnlyMode) {
  char dir_template[] = "/tmp/arsenal-keys-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string path = std::string(dir_template) + "/api-bootstrap.key";
  auto written = keys_->EnsureBootstrapKey(path);
  ASSERT_TRUE(written) << written.error().ToString();
  ASSERT_TRUE(written->has_value());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string key;
  std::ifstream(path) >> key;
  auto principal = keys_->Authenticate(key);
  ASSERT_TRUE(principal) << principal.error().ToString();
  EXPECT_TRUE(principal->Allows("auth.write"));
  // Keys exist now: nothing more is written.
  auto again = keys_->EnsureBootstrapKey(path + ".2");
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->has_value());
  EXPECT_FALSE(std::filesystem::exists(path + ".2"));
  std::filesystem::remove_all(dir_template);
}

// Two engines on one state dir: two Store connections to one arsenal.db, as arsenald and an
// `arsenal keys ... --state-dir` run in another process have.
class ApiKeysSharedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir_template[] = "/tmp/arsenal-keys-shared-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    dir_ = dir_template;
    EngineOptions options;
    options.state_dir = dir_;
    auto serving = Engine::Create(options);
    ASSERT_TRUE(serving) << serving.error().ToString();
    serving_ = std::move(*serving);
    auto other = Engine::Create(options);
    ASSERT_TRUE(other) << other.error().ToString();
    other_ = std::move(*other);
  }
  void TearDown() override {
    serving_.reset();
    other_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  std::unique_ptr<Engine> serving_;
  std::unique_ptr<Engine> other_;
};

TEST_F(ApiKeysSharedStoreTest, KeysCreatedAndRevokedElsewhereAreSeenByTheNextAuthentication) {
  ApiKeys& serving = serving_->Service<ApiKeys>();
  ApiKeys& other = other_->Service<ApiKeys>();
  // The serving side has loaded its (empty) table before the other side writes.
  EXPECT_FALSE(serving.Authenticate("ars_000000000000_nope"));

  auto created = other.Create("elsewhere", "viewer");
  ASSERT_TRUE(created) << created.error().ToString();
  auto principal = serving.Authenticate(created->key);
  ASSERT_TRUE(principal) << "a key created through another connection is refused: "
                         << principal.error().ToString();
  EXPECT_EQ(principal->id, "key:" + created->info.id);
  EXPECT_TRUE(principal->Allows("process.read"));

  ASSERT_TRUE(other.Revoke(created->info.id));
  auto revoked = serving.Authenticate(created->key);
  ASSERT_FALSE(revoked) << "a key revoked through another connection still authenticates";
  EXPECT_EQ(revoked.error().code(), "auth.invalid_key");

  // And the other way round.
  auto mine = serving.Create("here", "admin");
  ASSERT_TRUE(mine) << mine.error().ToString();
  EXPECT_TRUE(other.Authenticate(mine->key));
}

TEST_F(ApiKeysSharedStoreTest, AnyWriteToTheKeyTableIsSeenNotOnlyApiKeysOwn) {
  ApiKeys& serving = serving_->Service<ApiKeys>();
  auto created = serving.Create("k", "operator");
  ASSERT_TRUE(created) << created.error().ToString();
  ASSERT_TRUE(serving.Authenticate(created->key));
  // Commits that do not touch the key table (audit rows here) leave the cache as it is.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(other_->Execute("list_operations", Json::object(), Principal::Root()));
  }
  ASSERT_TRUE(other_->audit().Flush());
  ASSERT_TRUE(serving.Authenticate(created->key));
  // A plain UPDATE, as an older binary or a hand-run sqlite3 would write it: the table's
  // triggers, not ApiKeys, announce the change.
  ASSERT_TRUE(other_->store().Run("UPDATE api_keys SET revoked_unix_ms = 1 WHERE id = ?1",
                                  {created->info.id}));
  auto revoked = serving.Authenticate(created->key);
  ASSERT_FALSE(revoked);
  EXPECT_EQ(revoked.error().code(), "auth.invalid_key");
  ASSERT_TRUE(other_->store().Run("UPDATE api_keys SET revoked_unix_ms = NULL WHERE id = ?1",
                                  {created->info.id}));
  EXPECT_TRUE(serving.Authenticate(created->key));
}

}  // namespace
}  // namespace arsenal
