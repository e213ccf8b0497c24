// Sandbox spec version 1: parsing, defaults, validation errors naming the field, canonical JSON,
// the builder, and agreement between the parser and the published JSON Schema.
#include "arsenal/engine/sandbox_spec.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "arsenal/engine/schema.h"

namespace arsenal {
namespace {

Json FullSpec() {
  return Json::parse(R"({
    "version": 1,
    "rootfs": {"path": "/", "read_only": true},
    "mounts": [{"type": "bind", "source": "/usr", "target": "/mnt/usr", "read_only": true},
               {"type": "bind", "source": "/tmp", "target": "/mnt/tmp", "read_only": false},
               {"type": "tmpfs", "target": "/tmp", "size": "64M", "mode": "1777"}],
    "namespaces": {"user": true, "mount": true, "pid": true, "net": true, "uts": true,
                   "ipc": true, "cgroup": true, "time": false},
    "uid_map": [{"inside": 0, "outside": 65534, "count": 1}],
    "gid_map": [{"inside": 0, "outside": 65534}],
    "hostname": "box",
    "env": {"PATH": "/usr/bin:/bin", "LANG": "C"},
    "cwd": "/tmp",
    "network": "loopback",
    "limits": {"memory": "256M", "memory_swap": "512M", "cpus": 0.5, "cpu_weight": 100,
               "pids": 64, "io": [{"device": "8:0", "write_bps": "10M"}],
               "rlimits": {"nofile": 1024, "core": 0, "fsize": {"soft": "1M", "hard": "2M"}},
               "timeout": "30s"},
    "seccomp": {"profile": {"defaultAction": "SCMP_ACT_ERRNO",
                            "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"}]}},
    "capabilities": ["CAP_NET_BIND_SERVICE"],
    "landlock": {"paths": [{"path": "/usr", "access": ["read", "execute"]}]},
    "output": {"max_bytes": "2M"},
    "labels": {"team": "ci"}
  })");
}

std::string FieldOf(const Error& e) {
  auto it = e.details().find("field");
  return it == e.details().end() ? "" : it->get<std::string>();
}

// Parses and expects a validation error naming `field` (and `code` when given).
void ExpectInvalid(const Json& json, const std::string& field, const std::string& code = "") {
  auto spec = SandboxSpec::FromJson(json);
  ASSERT_FALSE(spec) << json.dump();
  EXPECT_EQ(spec.error().category(), ErrorCategory::kValidation) << spec.error().ToString();
  EXPECT_EQ(FieldOf(spec.error()), field) << spec.error().ToString();
  if (!code.empty()) {
    EXPECT_EQ(spec.error().code(), code) << spec.error().ToString();
  }
  EXPECT_FALSE(spec.error().hint().empty()) << spec.error().ToString();
}

TEST(SandboxSpecTest, EmptyObjectIsTheStrictDefault) {
  auto spec = SandboxSpec::FromJson(Json::object());
  ASSERT_TRUE(spec) << spec.error().ToString();
  EXPECT_EQ(spec->version, 1);
  EXPECT_TRUE(spec->rootfs.empty());
  EXPECT_TRUE(spec->rootfs_read_only);
  EXPECT_TRUE(spec->mounts.empty());
  EXPECT_EQ(spec->namespaces, SandboxNamespaces{});
  EXPECT_TRUE(spec->namespaces.user && spec->namespaces.net && spec->namespaces.pid);
  ASSERT_EQ(spec->uid_map.size(), 1u);
  EXPECT_EQ(spec->uid_map[0].outside, 65534u);
  EXPECT_EQ(spec->hostname, "sandbox");
  EXPECT_TRUE(spec->env.empty());
  EXPECT_EQ(spec->cwd, "/");
  EXPECT_EQ(spec->network, SandboxNetwork::kNone);
  EXPECT_EQ(spec->seccomp.mode, SandboxSeccomp::Mode::kDefault);
  EXPECT_TRUE(spec->capabilities.empty());
  EXPECT_FALSE(spec->landlock);
  EXPECT_FALSE(spec->limits.HasCgroupLimits());
  EXPECT_EQ(spec->output_limit_bytes, 1u << 20);
}

TEST(SandboxSpecTest, ParsesEveryField) {
  auto spec = SandboxSpec::FromJson(FullSpec());
  ASSERT_TRUE(spec) << spec.error().ToString();
  ASSERT_EQ(spec->mounts.size(), 3u);
  EXPECT_EQ(spec->mounts[1].read_only, false);
  EXPECT_EQ(spec->mounts[2].type, SandboxMount::Type::kTmpfs);
  EXPECT_EQ(spec->mounts[2].size_bytes, 64u << 20);
  EXPECT_EQ(spec->mounts[2].mode, 01777u);
  EXPECT_FALSE(spec->namespaces.time);
  EXPECT_EQ(spec->gid_map[0].count, 1u);
  EXPECT_EQ(spec->env.at("LANG"), "C");
  EXPECT_EQ(spec->network, SandboxNetwork::kLoopback);
  EXPECT_EQ(*spec->limits.memory_bytes, 256u << 20);
  EXPECT_EQ(*spec->limits.memory_swap_bytes, 512u << 20);
  EXPECT_DOUBLE_EQ(*spec->limits.cpus, 0.5);
  EXPECT_EQ(*spec->limits.pids, 64u);
  ASSERT_EQ(spec->limits.io.size(), 1u);
  EXPECT_EQ(spec->limits.io[0].major, 8u);
  EXPECT_EQ(*spec->limits.io[0].write_bps, 10u << 20);
  EXPECT_EQ(spec->limits.rlimits.fsize->hard, 2u << 20);
  EXPECT_EQ(spec->limits.rlimits.nofile->soft, 1024u);
  EXPECT_EQ(*spec->limits.timeout, std::chrono::seconds(30));
  EXPECT_EQ(spec->seccomp.mode, SandboxSeccomp::Mode::kProfile);
  ASSERT_NE(spec->seccomp.parsed, nullptr);
  EXPECT_EQ(spec->seccomp.parsed->syscalls.size(), 1u);
  EXPECT_EQ(spec->capabilities, std::vector<std::string>{"CAP_NET_BIND_SERVICE"});
  ASSERT_TRUE(spec->landlock);
  EXPECT_EQ(spec->landlock->paths.size(), 1u);
  EXPECT_EQ(spec->output_limit_bytes, 2u << 20);
  EXPECT_EQ(spec->labels.at("team"), "ci");
  auto cg = spec->limits.ToCgroupLimits();
  EXPECT_EQ(*cg.cpu_quota_us, 50000u);
  EXPECT_EQ(*cg.cpu_period_us, 100000u);
}

TEST(SandboxSpecTest, CanonicalJsonRoundTrips) {
  auto spec = SandboxSpec::FromJson(FullSpec());
  ASSERT_TRUE(spec) << spec.error().ToString();
  Json canonical = spec->ToJson();
  auto again = SandboxSpec::FromJson(canonical);
  ASSERT_TRUE(again) << again.error().ToString() << "\n" << canonical.dump(2);
  EXPECT_EQ(again->ToJson(), canonical);
  auto defaults = SandboxSpec::FromJson(Json::object());
  ASSERT_TRUE(defaults);
  auto defaults_again = SandboxSpec::FromJson(defaults->ToJson());
  ASSERT_TRUE(defaults_again) << defaults_again.error().ToString();
  EXPECT_EQ(defaults_again->ToJson(), defaults->ToJson());
}

TEST(SandboxSpecTest, SizesAndDurations) {
  EXPECT_EQ(*ParseSandboxSize(Json("256M"), "f"), 256u << 20);
  EXPECT_EQ(*ParseSandboxSize(Json("1g"), "f"), 1u << 30);
  EXPECT_EQ(*ParseSandboxSize(Json("4K"), "f"), 4096u);
  EXPECT_EQ(*ParseSandboxSize(Json("123"), "f"), 123u);
  EXPECT_EQ(*ParseSandboxSize(Json(4096), "f"), 4096u);
  for (Json bad : {Json("12X"), Json("M"), Json("1.5G"), Json(""), Json(-1), Json(true),
                   Json("99999999999999999999G")}) {
    auto r = ParseSandboxSize(bad, "limits.memory");
    ASSERT_FALSE(r) << bad.dump();
    EXPECT_EQ(FieldOf(r.error()), "limits.memory");
  }
  EXPECT_EQ(*ParseSandboxDuration(Json("500ms"), "f"), std::chrono::milliseconds(500));
  EXPECT_EQ(*ParseSandboxDuration(Json("2m"), "f"), std::chrono::minutes(2));
  EXPECT_EQ(*ParseSandboxDuration(Json(1.5), "f"), std::chrono::milliseconds(1500));
  for (Json bad : {Json("5 s"), Json("5"), Json(0), Json(-3), Json("1.2.3s")}) {
    EXPECT_FALSE(ParseSandboxDuration(bad, "f")) << bad.dump();
  }
}

TEST(SandboxSpecTest, UnknownFieldsAreRejectedWherever) {
  ExpectInvalid({{"bogus", 1}}, "bogus", "sandbox.unknown_field");
  ExpectInvalid({{"limits", {{"memroy", "1M"}}}}, "limits.memroy", "sandbox.unknown_field");
  ExpectInvalid({{"mounts", {{{"type", "tmpfs"}, {"target", "/t"}, {"source", "/x"}}}}},
                "mounts[0].source", "sandbox.unknown_field");
  ExpectInvalid({{"namespaces", {{"users", false}}}}, "namespaces.users");
  ExpectInvalid({{"limits", {{"rlimits", {{"files", 3}}}}}}, "limits.rlimits.files");
  ExpectInvalid({{"rootfs", {{"readonly", true}}}}, "rootfs.readonly");
  ExpectInvalid({{"seccomp", {{"profile", {{"defaultAction", "SCMP_ACT_ERRNO"}, {"x", 1}}}}}},
                "seccomp.profile.x");
  ExpectInvalid({{"landlock", {{"pathz", Json::array()}}}}, "landlock.pathz");
}

TEST(SandboxSpecTest, WrongTypesNameTheField) {
  ExpectInvalid({{"limits", {{"memory", true}}}}, "limits.memory", "sandbox.wrong_type");
  ExpectInvalid({{"env", {{"A", 1}}}}, "env.A", "sandbox.wrong_type");
  ExpectInvalid({{"hostname", 5}}, "hostname", "sandbox.wrong_type");
  ExpectInvalid({{"mounts", "tmpfs"}}, "mounts", "sandbox.wrong_type");
  ExpectInvalid({{"limits", {{"pids", "many"}}}}, "limits.pids", "sandbox.wrong_type");
  ExpectInvalid({{"network", "host"}}, "network");
  ExpectInvalid({{"version", 2}}, "version", "sandbox.unsupported_version");
  ExpectInvalid(Json::array(), "spec", "sandbox.wrong_type");
}

TEST(SandboxSpecTest, NonexistentPathsNameTheField) {
  ExpectInvalid({{"rootfs", {{"path", "/nonexistent/arsenal-root"}}}}, "rootfs.path",
                "sandbox.path_not_found");
  ExpectInvalid({{"mounts", {{{"type", "bind"}, {"source", "/nonexistent/x"}, {"target", "/x"}}}}},
                "mounts[0].source", "sandbox.path_not_found");
  ExpectInvalid({{"seccomp", {{"profile_file", "/nonexistent/profile.json"}}}},
                "seccomp.profile_file", "sandbox.path_not_found");
  ExpectInvalid({{"landlock", {{"paths", {{{"path", "/nonexistent/ll"}}}}}}},
                "landlock.paths[0].path", "sandbox.path_not_found");
  ExpectInvalid({{"mounts", {{{"type", "tmpfs"}, {"target", "relative"}}}}}, "mounts[0].target");
  ExpectInvalid({{"mounts", {{{"type", "tmpfs"}, {"target", "/a/../b"}}}}}, "mounts[0].target");
  ExpectInvalid({{"rootfs", {{"path", "/etc/hostname"}}}}, "rootfs.path");
  ExpectInvalid({{"cwd", "tmp"}}, "cwd");
}

TEST(SandboxSpecTest, UnknownSyscallAndCapabilityNames) {
  Json profile = {
      {"defaultAction", "SCMP_ACT_ERRNO"},
      {"syscalls",
       {{{"names", Json::array({"read", "no_such_call"})}, {"action", "SCMP_ACT_ALLOW"}}}}};
  ExpectInvalid({{"seccomp", {{"profile", profile}}}}, "seccomp.profile.syscalls[0].names[1]",
                "seccomp.unknown_syscall");
  ExpectInvalid({{"capabilities", Json::array({"CAP_NET_RAW", "CAP_MAKE_COFFEE"})}},
                "capabilities[1]", "capability.unknown");
  ExpectInvalid({{"seccomp", {{"unconfined", true}, {"profile_file", "/x"}}}}, "seccomp");
  ExpectInvalid({{"seccomp", {{"unconfined", false}}}}, "seccomp.unconfined");
}

TEST(SandboxSpecTest, ImpossibleLimitsNameTheField) {
  ExpectInvalid({{"limits", {{"memory", "4K"}}}}, "limits.memory", "sandbox.invalid_limit");
  ExpectInvalid({{"limits", {{"memory", "64M"}, {"memory_swap", "32M"}}}}, "limits.memory_swap",
                "sandbox.invalid_limit");
  ExpectInvalid({{"limits", {{"memory_swap", "32M"}}}}, "limits.memory_swap");
  ExpectInvalid({{"limits", {{"pids", 1}}}}, "limits.pids", "sandbox.invalid_limit");
  ExpectInvalid({{"limits", {{"cpus", 100000}}}}, "limits.cpus", "sandbox.invalid_limit");
  ExpectInvalid({{"limits", {{"cpus", 0}}}}, "limits.cpus");
  ExpectInvalid({{"limits", {{"cpu_weight", 0}}}}, "limits.cpu_weight");
  ExpectInvalid({{"limits", {{"timeout", 0}}}}, "limits.timeout");
  ExpectInvalid({{"limits", {{"io", {{{"device", "8:0"}}}}}}}, "limits.io[0]");
  ExpectInvalid({{"limits", {{"io", {{{"device", "sda"}, {"read_bps", 1}}}}}}},
                "limits.io[0].device");
  // Above this machine's hard limit (20000 here; unlimited is above any finite one).
  ExpectInvalid({{"limits", {{"rlimits", {{"nofile", "unlimited"}}}}}}, "limits.rlimits.nofile");
  ExpectInvalid({{"output", {{"max_bytes", 10}}}}, "output.max_bytes", "sandbox.invalid_limit");
  ExpectInvalid({{"uid_map", Json::array()}}, "uid_map");
  ExpectInvalid({{"uid_map", {{{"inside", 0}, {"outside", 0}, {"count", 0}}}}}, "uid_map[0]");
  ExpectInvalid({{"namespaces", {{"net", false}}}, {"network", "loopback"}}, "namespaces.net");
  ExpectInvalid(
      {{"namespaces", {{"mount", false}}}, {"mounts", {{{"type", "tmpfs"}, {"target", "/t"}}}}},
      "namespaces.mount");
}

TEST(SandboxSpecTest, FromTextAndFile) {
  EXPECT_EQ(SandboxSpec::FromText("{nope").error().code(), "sandbox.invalid_json");
  EXPECT_EQ(SandboxSpec::FromFile("/nonexistent/spec.json").error().code(), "sandbox.read_failed");
  auto spec = SandboxSpec::FromText(R"({"version": 1, "limits": {"memory": "64M"}})");
  ASSERT_TRUE(spec) << spec.error().ToString();
  EXPECT_EQ(*spec->limits.memory_bytes, 64u << 20);
}

TEST(SandboxSpecTest, BuilderValidatesLikeTheParser) {
  auto spec = SandboxSpecBuilder()
                  .Tmpfs("/tmp", 16 << 20)
                  .BindReadOnly("/usr", "/mnt/usr")
                  .Memory(64 << 20)
                  .Pids(32)
                  .Env("PATH", "/usr/bin:/bin")
                  .Hostname("built")
                  .Label("k", "v")
                  .Timeout(std::chrono::seconds(5))
                  .Build();
  ASSERT_TRUE(spec) << spec.error().ToString();
  auto parsed = SandboxSpec::FromJson(spec->ToJson());
  ASSERT_TRUE(parsed) << parsed.error().ToString();
  EXPECT_EQ(parsed->ToJson(), spec->ToJson());

  auto bad = SandboxSpecBuilder().Memory(10).Build();
  ASSERT_FALSE(bad);
  EXPECT_EQ(FieldOf(bad.error()), "limits.memory");
  auto missing = SandboxSpecBuilder().BindReadOnly("/nonexistent/q", "/q").Build();
  ASSERT_FALSE(missing);
  EXPECT_EQ(FieldOf(missing.error()), "mounts[0].source");
  auto profile = SandboxSpecBuilder().SeccompProfile({{"defaultAction", "SCMP_ACT_ALLOW"}}).Build();
  ASSERT_TRUE(profile) << profile.error().ToString();
  EXPECT_NE(profile->seccomp.parsed, nullptr);
}

// Every builder setter lands in the spec and survives the JSON round trip unchanged, so a spec
// built in C++ and one sent over HTTP mean the same sandbox.
TEST(SandboxSpecTest, EveryBuilderSetterRoundTripsThroughJson) {
  policies::RlimitSpec rlimits;
  rlimits.nofile = policies::RlimitValue{64, 128};
  rlimits.core = policies::RlimitValue{0, 0};
  policies::LandlockSpec landlock;
  landlock.paths.push_back(
      {"/usr", policies::landlock::kReadFile | policies::landlock::kReadDir, false});
  landlock.ports.push_back({8080, policies::landlock::kBindTcp});
  landlock.scope_signal = false;
  SandboxNamespaces namespaces;
  namespaces.time = false;
  namespaces.cgroup = false;
  auto spec = SandboxSpecBuilder()
                  .Rootfs("/", true)
                  .BindReadWrite("/tmp", "/mnt/scratch")
                  .Namespaces(namespaces)
                  .UidMap({{0, 65534, 1}})
                  .GidMap({{0, 65534, 1}})
                  .Cwd("/tmp")
                  .Network(SandboxNetwork::kLoopback)
                  .Memory(64 << 20)
                  .MemorySwap(64 << 20)
                  .Cpus(0.5)
                  .CpuWeight(200)
                  .Rlimits(rlimits)
                  .KeepCapabilities({"CAP_NET_BIND_SERVICE"})
                  .Landlock(landlock)
                  .OutputLimit(4096)
                  .SeccompUnconfinedUnsafe()
                  .Build();
  ASSERT_TRUE(spec) << spec.error().ToString();
  EXPECT_EQ(spec->network, SandboxNetwork::kLoopback);
  EXPECT_EQ(spec->namespaces, namespaces);
  EXPECT_EQ(spec->limits.cpu_weight, 200u);
  EXPECT_EQ(spec->output_limit_bytes, 4096u);
  const Json json = spec->ToJson();
  EXPECT_EQ(json["seccomp"], (Json{{"unconfined", true}}));
  auto parsed = SandboxSpec::FromJson(json);
  ASSERT_TRUE(parsed) << parsed.error().ToString() << "\n" << json.dump(2);
  EXPECT_EQ(parsed->ToJson(), json);
}

// A profile given by file is parsed at validation; a broken one names both the spec field and
// the field inside the profile.
TEST(SandboxSpecTest, SeccompProfileFiles) {
  char dir_template[] = "/tmp/arsenal-spec-test-XXXXXX";
  ASSERT_NE(::mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string good = dir + "/good.json", bad = dir + "/bad.json";
  std::ofstream(good) << R"({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []})";
  std::ofstream(bad) << R"({"defaultAction": "SCMP_ACT_NOPE"})";

  auto ok = SandboxSpecBuilder().SeccompProfileFile(good).Build();
  ASSERT_TRUE(ok) << ok.error().ToString();
  EXPECT_NE(ok->seccomp.parsed, nullptr);
  EXPECT_EQ(ok->ToJson()["seccomp"], (Json{{"profile_file", good}}));
  auto again = SandboxSpec::FromJson(ok->ToJson());
  ASSERT_TRUE(again) << again.error().ToString();

  auto broken = SandboxSpecBuilder().SeccompProfileFile(bad).Build();
  ASSERT_FALSE(broken);
  EXPECT_EQ(FieldOf(broken.error()), "seccomp.profile_file");
  EXPECT_EQ(broken.error().details().value("profile_field", ""), "defaultAction")
      << broken.error().ToString();
  auto missing = SandboxSpecBuilder().SeccompProfileFile(dir + "/none.json").Build();
  ASSERT_FALSE(missing);
  EXPECT_EQ(FieldOf(missing.error()), "seccomp.profile_file");
  std::filesystem::remove_all(dir);
}

TEST(SandboxSpecSchemaTest, SchemaAcceptsWhatTheParserAccepts) {
  auto schema = CompiledSchema::Compile(SandboxSpecSchema());
  ASSERT_TRUE(schema) << schema.error().ToString();
  EXPECT_TRUE((*schema)->Validate(FullSpec(), "t.invalid"));
  EXPECT_TRUE((*schema)->Validate(Json::object(), "t.invalid"));
  auto spec = SandboxSpec::FromJson(FullSpec());
  ASSERT_TRUE(spec);
  auto canonical = (*schema)->Validate(spec->ToJson(), "t.invalid");
  EXPECT_TRUE(canonical) << canonical.error().ToString();
  auto defaults = SandboxSpec::FromJson(Json::object());
  EXPECT_TRUE((*schema)->Validate(defaults->ToJson(), "t.invalid"));
}

TEST(SandboxSpecSchemaTest, SchemaRejectsWhatTheParserRejectsStructurally) {
  auto schema = CompiledSchema::Compile(SandboxSpecSchema());
  ASSERT_TRUE(schema);
  for (Json bad :
       {Json{{"bogus", 1}}, Json{{"limits", {{"memory", true}}}},
        Json{{"limits", {{"memory", "12X"}}}}, Json{{"version", 2}}, Json{{"network", "host"}},
        Json{{"mounts", {{{"type", "nfs"}, {"target", "/x"}}}}},
        Json{{"seccomp", {{"unconfined", true}, {"profile_file", "/x"}}}},
        Json{{"limits", {{"rlimits", {{"files", 1}}}}}}, Json{{"env", {{"A", 1}}}}}) {
    EXPECT_FALSE((*schema)->Validate(bad, "t.invalid")) << bad.dump();
    EXPECT_FALSE(SandboxSpec::FromJson(bad)) << bad.dump();
  }
  auto err = (*schema)->Validate(Json{{"limits", {{"memroy", 1}}}}, "t.invalid");
  ASSERT_FALSE(err);
  EXPECT_EQ(FieldOf(err.error()), "limits.memroy");
}

}  // namespace
}  // namespace arsenal
