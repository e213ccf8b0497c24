// ApiKeys: custom roles (validation, expansion with negations) and the bootstrap key file.
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

}  // namespace
}  // namespace arsenal
