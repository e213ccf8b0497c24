// arsenal_api_testd: an Engine plus the API server, for benchmarks and manual checks until the
// real daemon (cli/arsenald) is wired. Usage:
//   arsenal_api_testd [--listen 127.0.0.1:0] [--state-dir DIR] [--threads N] [--no-rate-limit]
// Prints "listening <endpoint>" and, on first start, "bootstrap-key-file <path>"; stops on
// SIGINT/SIGTERM.
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "arsenal/api/server.h"
#include "arsenal/engine/engine.h"

int main(int argc, char** argv) {
  arsenal::EngineOptions engine_options;
  arsenal::api::ServerOptions options;
  options.listen = "127.0.0.1:0";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (arg == "--listen") {
      options.listen = next();
    } else if (arg == "--state-dir") {
      engine_options.state_dir = next();
    } else if (arg == "--threads") {
      options.threads = std::stoul(next());
    } else if (arg == "--no-rate-limit") {
      options.config["rate_limit"] = {{"per_second", 0}};
    } else {
      std::fprintf(stderr, "unknown argument %s\n", arg.c_str());
      return 2;
    }
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any thread starts
  auto engine = arsenal::Engine::Create(engine_options);
  if (!engine) {
    std::fprintf(stderr, "%s\n", engine.error().ToString().c_str());
    return 1;
  }
  auto server = arsenal::api::Server::Start(**engine, options);
  if (!server) {
    std::fprintf(stderr, "%s\n", server.error().ToString().c_str());
    return 1;
  }
  std::printf("listening %s\n", (*server)->endpoint().c_str());
  if (auto path = (*server)->bootstrap_key_path())
    std::printf("bootstrap-key-file %s\n", path->c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  (*server)->Stop();
  return 0;
}
