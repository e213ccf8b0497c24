// `arsenal run [flags] -- CMD ARGS...`: a one-shot sandbox from the command line, no daemon.
//
// Flags familiar to bwrap and nsjail users are translated into a sandbox spec document
// (docs/sandbox-spec.md), merged over `--spec FILE` when given, and parsed by the same
// SandboxSpec::FromJson every other front door uses, so a flag can never mean something the spec
// cannot say. The command's stdio is the caller's; only fds 0-2 reach it.
//
// Exit status: the command's own; 128+N when it was killed by signal N (a timeout or an OOM kill
// is SIGKILL: 137, with the reason on stderr). 125 when Arsenal itself could not run the command
// (bad flags or spec, setup failure), with the error as JSON on stderr, as container runtimes do.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <utility>
#include <vector>

#include "arsenal/base/result.h"

namespace arsenal::cli {

struct RunFlags {
  std::string spec_file;
  std::string rootfs;
  std::vector<std::pair<std::string, std::string>> ro_binds;
  std::vector<std::pair<std::string, std::string>> binds;
  std::vector<std::string> tmpfs;  // TARGET or TARGET:SIZE
  std::string chdir;
  std::string hostname;
  std::string memory;
  std::string pids;
  std::string cpus;
  std::string timeout;
  std::string seccomp_profile;
  std::vector<std::string> cap_add;
  std::string net;
  std::vector<std::string> env;  // KEY=VALUE
  std::vector<std::string> command;
};

// Registers the `run` subcommand's flags on `app`, writing into `flags`.
CLI::App* AddRunCommand(CLI::App& app, RunFlags& flags);

// The spec document the flags describe (over the --spec file when given). Errors name the flag.
Result<Json> RunSpecDocument(const RunFlags& flags);

// Runs the command and returns the process exit status described above.
int RunCommand(const RunFlags& flags);

}  // namespace arsenal::cli
