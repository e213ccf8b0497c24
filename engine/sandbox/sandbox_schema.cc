// The JSON Schema of sandbox spec version 1. Built in code (no "$ref"), so operations can embed it
// as a sub-schema of their params without dangling references.
#include "arsenal/engine/sandbox_spec.h"

namespace arsenal {
namespace {

Json Describe(Json schema, const char* description) {
  schema["description"] = description;
  return schema;
}

Json Size(const char* description) {
  return {{"description", description},
          {"oneOf", Json::array({{{"type", "integer"}, {"minimum", 0}},
                                 {{"type", "string"}, {"pattern", "^[0-9]+[KkMmGgTt]?$"}}})}};
}

Json SizeOrUnlimited(const char* description) {
  return {{"description", description},
          {"oneOf",
           Json::array({{{"type", "integer"}, {"minimum", 0}},
                        {{"type", "string"}, {"pattern", "^([0-9]+[KkMmGgTt]?|unlimited)$"}}})}};
}

Json Duration(const char* description) {
  return {{"description", description},
          {"oneOf",
           Json::array({{{"type", "number"}, {"exclusiveMinimum", 0}},
                        {{"type", "string"}, {"pattern", "^[0-9]+(\\.[0-9]+)?(ms|s|m|h)$"}}})}};
}

Json Bool(const char* description) { return {{"type", "boolean"}, {"description", description}}; }

Json StringMap(const char* description) {
  return {{"type", "object"},
          {"additionalProperties", {{"type", "string"}}},
          {"description", description}};
}

Json IdMap(const char* description) {
  return {{"type", "array"},
          {"description", description},
          {"minItems", 1},
          {"maxItems", 340},
          {"items",
           {{"type", "object"},
            {"properties",
             {{"inside", {{"type", "integer"}, {"minimum", 0}}},
              {"outside", {{"type", "integer"}, {"minimum", 0}}},
              {"count", {{"type", "integer"}, {"minimum", 1}}}}},
            {"required", Json::array({"inside", "outside"})},
            {"additionalProperties", false}}}};
}

Json Rlimit() {
  Json value = {{"oneOf", Json::array({{{"type", "integer"}, {"minimum", 0}},
                                       {{"type", "string"},
                                        {"pattern", "^([0-9]+[KkMmGgTt]?|unlimited)$"}}})}};
  return {{"oneOf", Json::array({value,
                                 {{"type", "object"},
                                  {"properties", {{"soft", value}, {"hard", value}}},
                                  {"required", Json::array({"soft", "hard"})},
                                  {"additionalProperties", false}}})}};
}

Json BuildSchema() {
  Json mount_bind = {
      {"type", "object"},
      {"properties",
       {{"type", {{"const", "bind"}}},
        {"source", Describe({{"type", "string"}}, "absolute host path (must exist)")},
        {"target", Describe({{"type", "string"}}, "absolute path inside the sandbox")},
        {"read_only", Bool("default true; false lets the sandbox write to the host path")}}},
      {"required", {"type", "source", "target"}},
      {"additionalProperties", false}};
  Json mount_tmpfs = {
      {"type", "object"},
      {"properties",
       {{"type", {{"const", "tmpfs"}}},
        {"target", Describe({{"type", "string"}}, "absolute path inside the sandbox")},
        {"size", Size("maximum size (default: the kernel's, half of RAM)")},
        {"mode", Describe({{"type", "string"}, {"pattern", "^[0-7]{1,4}$"}},
                          "octal permission bits of its root (default \"1777\")")}}},
      {"required", Json::array({"type", "target"})},
      {"additionalProperties", false}};

  Json rlimits_props = Json::object();
  for (const char* r : {"nofile", "nproc", "core", "fsize", "stack", "as", "cpu"}) {
    rlimits_props[r] = Rlimit();
  }

  Json limits = {
      {"type", "object"},
      {"description", "resource limits; cgroup limits bound the whole sandbox"},
      {"properties",
       {{"memory", Size("memory limit of the sandbox's cgroup (at least 1M)")},
        {"memory_swap", SizeOrUnlimited("memory plus swap (default: equal to memory, no swap)")},
        {"cpus", {{"type", "number"}, {"description", "CPU time per wall-clock time, e.g. 0.5"}}},
        {"cpu_period_us", {{"type", "integer"}, {"minimum", 1000}, {"maximum", 1000000}}},
        {"cpu_weight", {{"type", "integer"}, {"minimum", 1}, {"maximum", 10000}}},
        {"pids", {{"type", "integer"}, {"minimum", 2}, {"description", "max processes+threads"}}},
        {"io",
         {{"type", "array"},
          {"items",
           {{"type", "object"},
            {"properties",
             {{"device", {{"type", "string"}, {"pattern", "^[0-9]+:[0-9]+$"}}},
              {"read_bps", Size("bytes per second")},
              {"write_bps", Size("bytes per second")},
              {"read_iops", {{"type", "integer"}, {"minimum", 0}}},
              {"write_iops", {{"type", "integer"}, {"minimum", 0}}}}},
            {"required", {"device"}},
            {"additionalProperties", false}}}}},
        {"rlimits",
         {{"type", "object"},
          {"description", "setrlimit per process: a value (soft = hard) or {soft, hard}"},
          {"properties", rlimits_props},
          {"additionalProperties", false}}},
        {"timeout", Duration("wall-clock limit of each command")}}},
      {"additionalProperties", false}};

  Json seccomp = {
      {"description",
       "omit for the built-in profile; else exactly one of profile, profile_file, unconfined"},
      {"oneOf", Json::array({{{"type", "object"},
                              {"properties",
                               {{"profile",
                                 {{"type", "object"},
                                  {"additionalProperties", true},
                                  {"description", "a Docker/OCI seccomp profile"}}}}},
                              {"required", {"profile"}},
                              {"additionalProperties", false}},
                             {{"type", "object"},
                              {"properties", {{"profile_file", {{"type", "string"}}}}},
                              {"required", {"profile_file"}},
                              {"additionalProperties", false}},
                             {{"type", "object"},
                              {"properties", {{"unconfined", {{"const", true}}}}},
                              {"required", {"unconfined"}},
                              {"additionalProperties", false}}})}};

  Json landlock = {
      {"type", "object"},
      {"description",
       "Landlock rules (host paths); everything the kernel's ABI knows is denied "
       "unless a rule allows it"},
      {"properties",
       {{"paths",
         {{"type", "array"},
          {"items",
           {{"type", "object"},
            {"properties",
             {{"path", {{"type", "string"}}},
              {"access", {{"type", "array"}, {"items", {{"type", "string"}}}}},
              {"optional", {{"type", "boolean"}}}}},
            {"required", {"path"}},
            {"additionalProperties", false}}}}},
        {"ports",
         {{"type", "array"},
          {"items",
           {{"type", "object"},
            {"properties",
             {{"port", {{"type", "integer"}, {"minimum", 0}, {"maximum", 65535}}},
              {"access",
               {{"type", "array"},
                {"items", {{"type", "string"}, {"enum", Json::array({"bind", "connect"})}}}}}}},
            {"required", {"port"}},
            {"additionalProperties", false}}}}},
        {"restrict_fs", {{"type", "boolean"}}},
        {"restrict_tcp", {{"type", "boolean"}}},
        {"scopes",
         {{"type", "array"},
          {"items",
           {{"type", "string"}, {"enum", Json::array({"abstract_unix_socket", "signal"})}}}}},
        {"required", {{"type", "boolean"}}}}},
      {"additionalProperties", false}};

  Json ns_props = Json::object();
  for (const char* n : {"user", "mount", "pid", "net", "uts", "ipc", "cgroup", "time"}) {
    ns_props[n] = {{"type", "boolean"}};
  }

  return {
      {"$schema", "http://json-schema.org/draft-07/schema#"},
      {"title", "Arsenal sandbox spec, version 1 (docs/sandbox-spec.md)"},
      {"type", "object"},
      {"properties",
       {{"version", {{"const", 1}, {"description", "spec format version (default 1)"}}},
        {"rootfs",
         {{"type", "object"},
          {"properties",
           {{"path", Describe({{"type", "string"}}, "host directory; \"/\" or omitted = host /")},
            {"read_only", Bool("default true")}}},
          {"additionalProperties", false}}},
        {"mounts",
         {{"type", "array"},
          {"description", "bind and tmpfs mounts, applied in order"},
          {"items", {{"oneOf", Json::array({mount_bind, mount_tmpfs})}}}}},
        {"namespaces",
         {{"type", "object"},
          {"description", "which namespaces to create (default: all)"},
          {"properties", ns_props},
          {"additionalProperties", false}}},
        {"uid_map", IdMap("user namespace uid map (default: 0 inside = 65534 outside)")},
        {"gid_map", IdMap("user namespace gid map (default: 0 inside = 65534 outside)")},
        {"hostname", {{"type", "string"}, {"maxLength", 64}}},
        {"env", StringMap("the exact environment; nothing is inherited")},
        {"cwd", {{"type", "string"}, {"description", "absolute working directory (default /)"}}},
        {"network", {{"type", "string"}, {"enum", Json::array({"none", "loopback"})}}},
        {"limits", limits},
        {"seccomp", seccomp},
        {"capabilities",
         {{"type", "array"},
          {"items", {{"type", "string"}}},
          {"description", "capabilities kept (default none)"}}},
        {"landlock", landlock},
        {"output",
         {{"type", "object"},
          {"properties", {{"max_bytes", Size("captured bytes per stream (default 1M)")}}},
          {"additionalProperties", false}}},
        {"labels", StringMap("free-form key/value labels (filterable)")}}},
      {"additionalProperties", false}};
}

}  // namespace

const Json& SandboxSpecSchema() {
  static const Json* const schema = new Json(BuildSchema());
  return *schema;
}

}  // namespace arsenal
