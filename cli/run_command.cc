#include "run_command.h"

#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "arsenal/engine/sandbox.h"

namespace arsenal::cli {
namespace {

constexpr int kRuntimeFailure = 125;

Error FlagError(std::string flag, std::string message, std::string hint) {
  return ValidationError("cli.invalid_flag", std::move(message), std::move(flag))
      .WithHint(std::move(hint));
}

// Integers stay integers; anything else is passed through as text so that the spec parser
// reports the exact field and what it expected.
Json NumberOrText(const std::string& text) {
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) {
    try {
      return std::stoull(text);
    } catch (const std::exception&) {
    }
  }
  return text;
}

int ReportFailure(const Error& error) {
  std::cerr << "arsenal run: " << error.message() << "\n"
            << Json{{"error", error.ToJson()}}.dump(2) << "\n";
  return kRuntimeFailure;
}

}  // namespace

CLI::App* AddRunCommand(CLI::App& app, RunFlags& f) {
  CLI::App* run = app.add_subcommand(
      "run", "run a command in a one-shot sandbox (strict defaults): arsenal run [flags] -- CMD");
  run->group("sandbox");
  run->add_option("--spec", f.spec_file, "sandbox spec JSON file; flags are applied over it");
  run->add_option("--rootfs", f.rootfs, "host directory to use as / (default: host / read-only)");
  run->add_option("--ro-bind", f.ro_binds, "SRC DEST: bind a host path read-only")
      ->type_size(2)
      ->allow_extra_args(false);
  run->add_option("--bind", f.binds, "SRC DEST: bind a host path read-write")
      ->type_size(2)
      ->allow_extra_args(false);
  run->add_option("--tmpfs", f.tmpfs, "DEST[:SIZE]: a tmpfs (e.g. /tmp:64M)")
      ->allow_extra_args(false);
  run->add_option("--chdir", f.chdir, "working directory inside the sandbox");
  run->add_option("--hostname", f.hostname, "hostname inside the sandbox");
  run->add_option("--memory", f.memory, "memory limit, e.g. 256M");
  run->add_option("--pids", f.pids, "maximum number of processes and threads");
  run->add_option("--cpu", f.cpus, "CPU quota in CPUs, e.g. 0.5");
  run->add_option("--timeout", f.timeout, "wall-clock limit, e.g. 30s or 500ms");
  run->add_option("--seccomp-profile", f.seccomp_profile, "Docker/OCI seccomp profile file");
  run->add_option("--cap-add", f.cap_add, "capability to keep (default: none)")
      ->allow_extra_args(false);
  run->add_option("--net", f.net, "network: none (default) or loopback")
      ->check(CLI::IsMember({"none", "loopback"}));
  run->add_option("--env", f.env, "KEY=VALUE to set (nothing is inherited from the host)")
      ->allow_extra_args(false);
  run->add_option("command", f.command, "the command and its arguments, after --")->required();
  return run;
}

Result<Json> RunSpecDocument(const RunFlags& f) {
  Json doc = Json::object();
  if (!f.spec_file.empty()) {
    std::ifstream in(f.spec_file);
    if (!in) {
      return Fail(FlagError("--spec", "cannot read spec file " + f.spec_file,
                            "give the path of a sandbox spec JSON file"));
    }
    std::stringstream text;
    text << in.rdbuf();
    doc = Json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded() || !doc.is_object()) {
      return Fail(FlagError("--spec", f.spec_file + " is not a JSON object",
                            "see docs/sandbox-spec.md for the format"));
    }
  }
  if (!f.rootfs.empty()) doc["rootfs"] = {{"path", f.rootfs}};
  auto& mounts = doc["mounts"];
  if (mounts.is_null()) mounts = Json::array();
  for (const auto& [src, dst] : f.ro_binds) {
    mounts.push_back({{"type", "bind"}, {"source", src}, {"target", dst}, {"read_only", true}});
  }
  for (const auto& [src, dst] : f.binds) {
    mounts.push_back({{"type", "bind"}, {"source", src}, {"target", dst}, {"read_only", false}});
  }
  for (const auto& t : f.tmpfs) {
    Json m = {{"type", "tmpfs"}};
    const auto colon = t.find(':');
    m["target"] = t.substr(0, colon);
    if (colon != std::string::npos) m["size"] = NumberOrText(t.substr(colon + 1));
    mounts.push_back(std::move(m));
  }
  if (mounts.empty()) doc.erase("mounts");
  if (!f.chdir.empty()) doc["cwd"] = f.chdir;
  if (!f.hostname.empty()) doc["hostname"] = f.hostname;
  if (!f.net.empty()) doc["network"] = f.net;
  for (const auto& kv : f.env) {
    const auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Fail(FlagError("--env", "--env expects KEY=VALUE, got \"" + kv + "\"",
                            "write --env NAME=value"));
    }
    doc["env"][kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (!f.memory.empty()) doc["limits"]["memory"] = NumberOrText(f.memory);
  if (!f.pids.empty()) doc["limits"]["pids"] = NumberOrText(f.pids);
  if (!f.timeout.empty()) doc["limits"]["timeout"] = f.timeout;
  if (!f.cpus.empty()) {
    try {
      size_t used = 0;
      const double cpus = std::stod(f.cpus, &used);
      if (used != f.cpus.size()) throw std::invalid_argument(f.cpus);
      doc["limits"]["cpus"] = cpus;
    } catch (const std::exception&) {
      return Fail(FlagError("--cpu", "--cpu expects a number of CPUs, got \"" + f.cpus + "\"",
                            "write e.g. --cpu 0.5"));
    }
  }
  if (!f.seccomp_profile.empty()) doc["seccomp"] = {{"profile_file", f.seccomp_profile}};
  if (!f.cap_add.empty()) {
    auto& caps = doc["capabilities"];
    if (caps.is_null()) caps = Json::array();
    for (const auto& cap : f.cap_add) caps.push_back(cap);
  }
  return doc;
}

int RunCommand(const RunFlags& flags) {
  auto doc = RunSpecDocument(flags);
  if (!doc) return ReportFailure(doc.error());
  auto spec = SandboxSpec::FromJson(*doc);
  if (!spec) return ReportFailure(spec.error());
  RunOptions options;
  options.stdin_fd = STDIN_FILENO;
  options.stdout_fd = STDOUT_FILENO;
  options.stderr_fd = STDERR_FILENO;
  auto result = RunSandboxed(*spec, flags.command, options);
  if (!result) return ReportFailure(result.error());
  if (result->oom) {
    std::cerr << "arsenal run: killed: out of memory (the sandbox's memory limit)\n";
  } else if (result->timed_out) {
    std::cerr << "arsenal run: killed: wall-clock timeout\n";
  }
  return result->exit_code;
}

}  // namespace arsenal::cli
