// HTTPS when a certificate and key are configured; the client verifies the server certificate.
#include <cstdlib>

#include "arsenal/api/client.h"
#include "harness.h"

namespace arsenal::api::testing {
namespace {

class TlsTest : public ApiTest {
 protected:
  void SetUp() override {
    if (std::system("command -v openssl > /dev/null 2>&1") != 0) {
      GTEST_SKIP() << "the openssl command is needed to make a test certificate";
    }
    auto engine = Engine::Create();
    ASSERT_TRUE(engine);
    dir_ = (*engine)->state_dir();  // removed with the engine; reuse the engine for the server
    engine_ = std::move(*engine);
    cert_ = (dir_ / "cert.pem").string();
    key_file_ = (dir_ / "key.pem").string();
    const std::string cmd =
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
        "-addext subjectAltName=IP:127.0.0.1 -keyout '" +
        key_file_ + "' -out '" + cert_ + "' > /dev/null 2>&1";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    ServerOptions options;
    options.listen = "127.0.0.1:0";
    options.config = {{"tls", {{"certificate", cert_}, {"private_key", key_file_}}}};
    auto server = Server::Start(*engine_, options);
    ASSERT_TRUE(server) << server.error().ToString();
    server_ = std::move(*server);
    ASSERT_TRUE(server_->tls());
    std::ifstream in(*server_->bootstrap_key_path());
    std::getline(in, admin_key_);
  }
  void TearDown() override {
    ::unsetenv("ARSENAL_CA_FILE");
    ApiTest::TearDown();
  }
  std::filesystem::path dir_;
  std::string cert_, key_file_;
};

TEST_F(TlsTest, ClientCallsOverHttps) {
  ::setenv("ARSENAL_CA_FILE", cert_.c_str(), 1);
  auto client = Client::Connect("https://" + server_->endpoint(), admin_key_);
  ASSERT_TRUE(client) << client.error().ToString();
  auto r = client->Call("list_operations", {{"family", "auth"}});
  ASSERT_TRUE(r) << r.error().ToString();
  EXPECT_EQ((*r)["operations"].size(), 3u);
}

TEST_F(TlsTest, UntrustedCertificateIsRefused) {
  auto client = Client::Connect("https://" + server_->endpoint(), admin_key_);
  ASSERT_TRUE(client);
  auto r = client->Call("list_operations", Json::object());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code(), "api.connect_failed");
}

TEST_F(TlsTest, PlainHttpToTlsPortGetsNoAnswer) {
  auto r =
      SendRaw(server_->endpoint(), BuildRequest("GET", "/healthz", ""), std::chrono::seconds(3));
  EXPECT_NE(r.status, 200);
}

}  // namespace
}  // namespace arsenal::api::testing
