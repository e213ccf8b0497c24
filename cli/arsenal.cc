// arsenal: the command-line front door.
//
// `arsenal run [flags] -- CMD` (a one-shot sandbox, like bwrap or nsjail) runs in this binary,
// which links only what a sandbox needs: its start-up is part of every sandboxed command's
// latency, and loading the whole engine, API client, TLS and SQLite libraries cost more than
// creating the sandbox itself. Every other command (the registry-generated operations, `call`,
// `docs`, `openapi`, --remote) is arsenal-ctl, which lives beside this executable (or at
// $ARSENAL_CTL) and is exec'ed with the same arguments.
#include <limits.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>
#include <string_view>

#include "run_command.h"

namespace {

// arsenal-ctl beside this executable, or $ARSENAL_CTL when it is an absolute path.
std::string CtlPath() {
  if (const char* env = std::getenv("ARSENAL_CTL"); env != nullptr && env[0] == '/') return env;
  char self[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return "arsenal-ctl";
  std::string dir(self, static_cast<size_t>(n));
  dir.erase(dir.rfind('/') + 1);
  return dir + "arsenal-ctl";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "run") {
    CLI::App app{"arsenal: run Arsenal operations in-process or against a daemon", "arsenal"};
    app.require_subcommand(1);
    arsenal::cli::RunFlags run_flags;
    arsenal::cli::AddRunCommand(app, run_flags);
    CLI11_PARSE(app, argc, argv);
    return arsenal::cli::RunCommand(run_flags);
  }
  const std::string ctl = CtlPath();
  ::execv(ctl.c_str(), argv);
  std::cerr << "arsenal: cannot run " << ctl << ": " << std::strerror(errno)
            << " (arsenal-ctl carries every command but `run`; install it beside arsenal, or "
               "set ARSENAL_CTL to its absolute path)\n";
  return 127;
}
