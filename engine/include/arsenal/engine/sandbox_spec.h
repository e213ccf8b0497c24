// SandboxSpec: the one versioned description of a sandbox, shared by every front door.
//
// Purpose: the C++ API (arsenal::Sandbox, RunSandboxed), the operations (create_sandbox,
// start_process with an inline sandbox, execute_in_sandbox) and `arsenal run --spec FILE` all
// accept the same JSON document, version 1, documented field by field in docs/sandbox-spec.md.
// It is parsed at the edge into the typed SandboxSpec below; nothing past the edge sees raw JSON.
// SandboxSpecSchema() is the JSON Schema (draft 7) of the document; operations embed it in their
// params schemas so there is exactly one definition of the format.
//
//   {
//     "version": 1,
//     "rootfs": {"path": "/srv/root", "read_only": true},           // default: host /, read-only
//     "mounts": [{"type": "bind", "source": "/data", "target": "/data", "read_only": true},
//                {"type": "tmpfs", "target": "/tmp", "size": "64M", "mode": "1777"}],
//     "namespaces": {"net": false},                                 // default: every kind
//     "uid_map": [{"inside": 0, "outside": 65534, "count": 1}], "gid_map": [...],
//     "hostname": "sandbox", "env": {"PATH": "/usr/bin:/bin"}, "cwd": "/",
//     "network": "none",                                            // or "loopback"
//     "limits": {"memory": "256M", "memory_swap": "256M", "cpus": 0.5, "cpu_weight": 100,
//                "pids": 64, "io": [{"device": "8:0", "write_bps": "10M"}],
//                "rlimits": {"nofile": 1024, "core": 0}, "timeout": "30s"},
//     "seccomp": {"profile": {...Docker/OCI profile...}},           // or {"profile_file": PATH},
//                                                                   // {"unconfined": true}
//     "capabilities": ["CAP_NET_BIND_SERVICE"],                     // default: none
//     "landlock": {"paths": [{"path": "/usr", "access": ["read", "execute"]}]},
//     "output": {"max_bytes": "1M"},
//     "labels": {"team": "ci"}
//   }
//
// Sizes are non-negative integers (bytes) or strings with a binary K/M/G/T suffix ("256M" =
// 256 MiB). Durations are numbers of seconds or strings with an ms/s/m/h suffix ("500ms").
//
// Validation: parsing is strict. An unknown field, a wrong type, a nonexistent host path, an
// unknown syscall or capability name, or an impossible limit is a validation Error whose
// details.field names the JSON path ("limits.memory", "mounts[1].source",
// "seccomp.profile.syscalls[3].names[0]"). Codes: sandbox.unknown_field, sandbox.wrong_type,
// sandbox.unsupported_version, sandbox.invalid_spec, sandbox.invalid_limit,
// sandbox.path_not_found, and the policies' own codes (seccomp.*, capability.*, rlimit.*,
// landlock.*) with the field prefixed. Parsing creates nothing on the host.
//
// Security: every default is the strict one: all namespaces, root inside mapped to nobody
// (65534) outside, the host root read-only, no network, empty environment, no capabilities, the
// built-in seccomp profile, no_new_privs. Weakening needs a named field (a read-write bind,
// "network": "loopback", "capabilities", "seccomp": {"unconfined": true}); docs/sandbox-spec.md
// states each field's security consequence. Host paths (rootfs, bind sources, seccomp
// profile_file, Landlock paths) are resolved by the caller, with the caller's privileges: an API
// front door must only accept specs from principals allowed to expose those paths.
//
// Example (C++):
//   ARSENAL_ASSIGN_OR_RETURN(SandboxSpec spec, SandboxSpecBuilder()
//                                                  .Tmpfs("/tmp", 64 << 20)
//                                                  .Memory(256 << 20)
//                                                  .Pids(64)
//                                                  .Env("PATH", "/usr/bin:/bin")
//                                                  .Build());
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arsenal/base/result.h"
#include "arsenal/policies/cgroup.h"
#include "arsenal/policies/landlock.h"
#include "arsenal/policies/rlimits.h"
#include "arsenal/policies/seccomp_profile.h"

namespace arsenal {

// The only spec version this build understands.
inline constexpr int kSandboxSpecVersion = 1;

// Which namespaces a sandbox gets. Default: every kind (time only where the kernel has it).
struct SandboxNamespaces {
  bool user = true;
  bool mount = true;
  bool pid = true;
  bool net = true;
  bool uts = true;
  bool ipc = true;
  bool cgroup = true;
  bool time = true;
  bool operator==(const SandboxNamespaces&) const = default;
};

// One line of the user namespace's uid_map or gid_map.
struct SandboxIdMap {
  uint32_t inside = 0;
  uint32_t outside = 65534;
  uint32_t count = 1;
  bool operator==(const SandboxIdMap&) const = default;
};

struct SandboxMount {
  enum class Type { kBind, kTmpfs };
  Type type = Type::kBind;
  std::string source;  // kBind: absolute host path (must exist)
  std::string target;  // absolute path inside the sandbox
  bool read_only = true;
  uint64_t size_bytes = 0;  // kTmpfs: 0 = kernel default (half of RAM)
  uint32_t mode = 01777;    // kTmpfs: permission bits of its root
  bool operator==(const SandboxMount&) const = default;
};

enum class SandboxNetwork { kNone, kLoopback };
std::string_view SandboxNetworkName(SandboxNetwork network);  // "none", "loopback"

struct SandboxLimits {
  std::optional<uint64_t> memory_bytes;
  // Memory plus swap; policies::kCgroupUnlimited for "unlimited". Unset with memory set: no swap.
  std::optional<uint64_t> memory_swap_bytes;
  std::optional<double> cpus;             // CPU time per wall time (CFS quota / period)
  std::optional<uint64_t> cpu_period_us;  // default 100000 when cpus is set
  std::optional<uint32_t> cpu_weight;     // 1..10000 (v1: cpu.shares)
  std::optional<uint64_t> pids;           // processes and threads, the PID 1 reaper included
  std::vector<policies::IoDeviceLimit> io;
  policies::RlimitSpec rlimits;
  // Wall-clock limit of each command run in the sandbox (the one-shot run, or each exec unless
  // the exec gives its own). Expiry kills the command's whole cgroup (one-shot) or the command.
  std::optional<std::chrono::milliseconds> timeout;

  // The cgroup part, as the policies backend takes it.
  policies::CgroupLimits ToCgroupLimits() const;
  bool HasCgroupLimits() const;
};

struct SandboxSeccomp {
  enum class Mode {
    kDefault,     // the built-in profile (docs/seccomp-profiles.md)
    kProfile,     // `profile`: an inline Docker/OCI profile
    kFile,        // `file`: a Docker/OCI profile file on the host
    kUnconfined,  // no filter at all (explicit, unsafe)
  };
  Mode mode = Mode::kDefault;
  Json profile;      // kProfile
  std::string file;  // kFile
  // The parsed profile for kProfile/kFile, filled by parsing/validation; shared by copies.
  std::shared_ptr<const policies::SeccompProfile> parsed;
};

struct SandboxSpec {
  int version = kSandboxSpecVersion;
  std::string rootfs;  // empty: the host root; else an absolute host directory
  bool rootfs_read_only = true;
  std::vector<SandboxMount> mounts;  // applied in order
  SandboxNamespaces namespaces;
  std::vector<SandboxIdMap> uid_map = {SandboxIdMap{}};
  std::vector<SandboxIdMap> gid_map = {SandboxIdMap{}};
  std::string hostname = "sandbox";
  std::map<std::string, std::string> env;  // exact; nothing is inherited from the host
  std::string cwd = "/";
  SandboxNetwork network = SandboxNetwork::kNone;
  SandboxLimits limits;
  SandboxSeccomp seccomp;
  std::vector<std::string> capabilities;  // kept; default none
  std::optional<policies::LandlockSpec> landlock;
  uint64_t output_limit_bytes = 1 << 20;  // per stream, for captured stdout/stderr
  std::map<std::string, std::string> labels;

  // Parses and validates (see the header comment). `{}` is the all-defaults spec.
  static Result<SandboxSpec> FromJson(const Json& json);
  // The same from JSON text / a file (sandbox.invalid_json; sandbox.read_failed).
  static Result<SandboxSpec> FromText(std::string_view text);
  static Result<SandboxSpec> FromFile(const std::string& path);

  // The canonical document: every field, defaults explicit. FromJson(ToJson()) is equivalent.
  Json ToJson() const;

  // Semantic checks (host paths exist, profile and capability names resolve, limits possible
  // here, rlimits not above the caller's hard limits). FromJson and SandboxSpecBuilder::Build
  // call it; call it yourself after editing a spec by hand. Fills seccomp.parsed.
  Status Validate();
};

// The JSON Schema (draft 7) of the document. Closed objects everywhere except the inline seccomp
// profile (checked by the profile parser). Semantic rules (paths exist, names resolve) are
// checked by SandboxSpec::FromJson only.
const Json& SandboxSpecSchema();

// "256M" / 268435456 -> bytes. sandbox.wrong_type / sandbox.invalid_limit naming `field`.
Result<uint64_t> ParseSandboxSize(const Json& value, std::string_view field);
// 30 / 0.5 / "30s" / "500ms" / "2m" / "1h" -> milliseconds.
Result<std::chrono::milliseconds> ParseSandboxDuration(const Json& value, std::string_view field);

// Builds a SandboxSpec in C++. Starts from the strict defaults; Build() validates like FromJson.
// Weakening calls are named (BindReadWrite, Network(kLoopback), KeepCapabilities,
// SeccompUnconfinedUnsafe).
class SandboxSpecBuilder {
 public:
  SandboxSpecBuilder() = default;
  explicit SandboxSpecBuilder(SandboxSpec base) : spec_(std::move(base)) {}

  SandboxSpecBuilder& Rootfs(std::string dir, bool read_only = true);
  SandboxSpecBuilder& BindReadOnly(std::string source, std::string target);
  SandboxSpecBuilder& BindReadWrite(std::string source, std::string target);
  SandboxSpecBuilder& Tmpfs(std::string target, uint64_t size_bytes, uint32_t mode = 01777);
  SandboxSpecBuilder& Namespaces(SandboxNamespaces namespaces);
  SandboxSpecBuilder& UidMap(std::vector<SandboxIdMap> map);
  SandboxSpecBuilder& GidMap(std::vector<SandboxIdMap> map);
  SandboxSpecBuilder& Hostname(std::string hostname);
  SandboxSpecBuilder& Env(std::string key, std::string value);
  SandboxSpecBuilder& Cwd(std::string cwd);
  SandboxSpecBuilder& Network(SandboxNetwork network);
  SandboxSpecBuilder& Memory(uint64_t bytes);
  SandboxSpecBuilder& MemorySwap(uint64_t bytes);
  SandboxSpecBuilder& Cpus(double cpus);
  SandboxSpecBuilder& CpuWeight(uint32_t weight);
  SandboxSpecBuilder& Pids(uint64_t max);
  SandboxSpecBuilder& Rlimits(policies::RlimitSpec rlimits);
  SandboxSpecBuilder& Timeout(std::chrono::milliseconds timeout);
  SandboxSpecBuilder& SeccompProfile(Json profile);
  SandboxSpecBuilder& SeccompProfileFile(std::string path);
  SandboxSpecBuilder& SeccompUnconfinedUnsafe();
  SandboxSpecBuilder& KeepCapabilities(std::vector<std::string> names);
  SandboxSpecBuilder& Landlock(policies::LandlockSpec landlock);
  SandboxSpecBuilder& OutputLimit(uint64_t bytes);
  SandboxSpecBuilder& Label(std::string key, std::string value);

  // Validates a copy; the builder stays usable.
  Result<SandboxSpec> Build() const;

 private:
  SandboxSpec spec_;
};

}  // namespace arsenal
