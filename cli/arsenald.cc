// arsenald: the Arsenal daemon. Loads a JSON config plus flags, starts the engine and serves the
// REST/WebSocket API on loopback until SIGTERM or SIGINT.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "arsenal/api/server.h"
#include "arsenal/base/log.h"
#include "arsenal/engine/engine.h"
#include "arsenal/engine/supervisor.h"

namespace {

std::string DefaultStateDir() {
  if (const char* env = std::getenv("ARSENAL_STATE_DIR")) return env;
  if (::geteuid() == 0) return "/var/lib/arsenal";
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/tmp") + "/.local/state/arsenal";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"arsenald: the Arsenal sandboxing engine daemon"};
  app.set_version_flag("--version", "arsenald " ARSENAL_VERSION);
  std::string config_path, listen, state_dir, log_level = "info", log_format = "text";
  app.add_option("--config", config_path, "JSON config file");
  app.add_option("--listen", listen, "HOST:PORT to serve on (default 127.0.0.1:7878)");
  app.add_option("--state-dir", state_dir, "state directory (database, keys)");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error");
  app.add_option("--log-format", log_format, "text|json")->check(CLI::IsMember({"text", "json"}));
  CLI11_PARSE(app, argc, argv);

  arsenal::Json config = arsenal::Json::object();
  if (!config_path.empty()) {
    std::ifstream in(config_path);
    if (!in) {
      std::cerr << "arsenald: cannot read config " << config_path << "\n";
      return 2;
    }
    try {
      config = arsenal::Json::parse(in);
    } catch (const std::exception& e) {
      std::cerr << "arsenald: config " << config_path << " is not valid JSON: " << e.what() << "\n";
      return 2;
    }
    if (!config.is_object()) {
      std::cerr << "arsenald: config " << config_path << " must be a JSON object\n";
      return 2;
    }
  }
  // Flags override the file; the file overrides the embedded defaults.
  if (listen.empty()) listen = config.value("listen", "127.0.0.1:7878");
  if (state_dir.empty()) state_dir = config.value("state_dir", DefaultStateDir());
  arsenal::log::ConfigureLogging(config.value("log_level", log_level),
                                 config.value("log_format", log_format) == "json"
                                     ? arsenal::log::Format::kJson
                                     : arsenal::log::Format::kText);
  auto logger = arsenal::log::Get("arsenald");

  // Block the stop signals before any thread starts so only sigwait below receives them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);

  auto engine = arsenal::Engine::Create({.state_dir = state_dir, .config = config});
  if (!engine) {
    logger->error("engine failed to start: {}", engine.error().ToString());
    return 1;
  }
  // Restores persisted supervisors (and restarts their children) now rather than on the first
  // supervisor request, so no child stays unsupervised after a daemon restart.
  arsenal::supervisor::SupervisorService::Get(**engine);
  arsenal::api::ServerOptions options;
  options.listen = listen;
  options.config = config.value("api", arsenal::Json::object());
  auto server = arsenal::api::Server::Start(**engine, options);
  if (!server) {
    logger->error("API server failed to start: {}", server.error().ToString());
    return 1;
  }
  logger->info("serving on http://{} (state dir {})", (*server)->endpoint(), state_dir);
  if (auto key = (*server)->bootstrap_key_path()) {
    logger->info("first admin API key written to {}", *key);
  }
  int sig = 0;
  sigwait(&stop, &sig);
  logger->info("signal {} received: shutting down", sig);
  (*server)->Stop();
  (*engine)->Shutdown();
  return 0;
}
