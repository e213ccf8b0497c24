#include "arsenal/engine/api_keys.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <regex>
#include <set>

#include "arsenal/base/unique_fd.h"
#include "arsenal/engine/engine.h"

namespace arsenal {
namespace {

constexpr std::string_view kKeyPrefix = "ars_";
constexpr size_t kIdHexLen = 12;
constexpr size_t kSecretBytes = 32;

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Hex(const unsigned char* data, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 0xf];
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  return Hex(digest, sizeof digest);
}

Result<std::string> RandomBytes(size_t n) {
  std::string buf(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(buf.data()), static_cast<int>(n)) != 1) {
    return Fail(InternalError("auth.random_failed", "OpenSSL RAND_bytes failed")
                    .WithHint("the system random source is unavailable; check /dev/urandom"));
  }
  return buf;
}

std::string Base64Url(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

bool IsRoleName(std::string_view name) {
  static const std::regex re("^[a-z][a-z0-9_]{0,63}$");
  return std::regex_match(name.begin(), name.end(), re);
}

bool IsPattern(std::string_view p) {
  static const std::regex re(
      R"(^!?(\*|[a-z][a-z0-9_]*\.\*|\*\.[a-z][a-z0-9_]*|[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)$)");
  return std::regex_match(p.begin(), p.end(), re);
}

// Pattern (without "!") against a concrete permission "family.verb".
bool PatternMatches(std::string_view pattern, std::string_view perm) {
  if (pattern == "*") return true;
  const auto dot = perm.find('.');
  if (dot == std::string_view::npos) return pattern == perm;
  if (pattern.ends_with(".*")) return pattern.substr(0, pattern.size() - 2) == perm.substr(0, dot);
  if (pattern.starts_with("*.")) return pattern.substr(2) == perm.substr(dot + 1);
  return pattern == perm;
}

// Whether some permission matches both patterns (neither negated).
bool PatternsOverlap(std::string_view a, std::string_view b) {
  if (a == "*" || b == "*") return true;
  auto family = [](std::string_view p) { return p.substr(0, p.find('.')); };
  auto verb = [](std::string_view p) { return p.substr(p.find('.') + 1); };
  const bool a_any_family = family(a) == "*", b_any_family = family(b) == "*";
  const bool a_any_verb = verb(a) == "*", b_any_verb = verb(b) == "*";
  const bool families = a_any_family || b_any_family || family(a) == family(b);
  const bool verbs = a_any_verb || b_any_verb || verb(a) == verb(b);
  return families && verbs;
}

const std::map<std::string, std::vector<std::string>, std::less<>>& BuiltinRoles() {
  static const std::map<std::string, std::vector<std::string>, std::less<>> roles = {
      {"viewer", {"*.read", "!auth.*"}},
      {"operator", {"*.read", "*.write", "!auth.*"}},
      {"admin", {"*"}},
  };
  return roles;
}

ApiKeyInfo InfoFromRow(const Json& row) {
  ApiKeyInfo info;
  info.id = row.at("id").get<std::string>();
  info.name = row.at("name").get<std::string>();
  info.role = row.at("role").get<std::string>();
  info.created_unix_ms = row.at("created_unix_ms").get<int64_t>();
  if (row.contains("revoked_unix_ms") && !row["revoked_unix_ms"].is_null()) {
    info.revoked_unix_ms = row["revoked_unix_ms"].get<int64_t>();
  }
  return info;
}

Error InvalidKey() {
  return Error(ErrorCategory::kUnauthenticated, "auth.invalid_key",
               "the API key is unknown, malformed or revoked")
      .WithHint("send 'Authorization: Bearer <key>' with a key from create_api_key");
}

Error KeyStoreUnavailable(const std::string& path, const std::string& why) {
  return Error(ErrorCategory::kUnavailable, "auth.key_store_unavailable",
               "cannot check the API key table in " + path + ": " + why)
      .WithHint(
          "check that the state dir's arsenal.db exists and is readable; restart the "
          "daemon if it was removed");
}

}  // namespace

// A private read-only connection to the store's file. SQLite changes a connection's
// `PRAGMA data_version` only for commits of *other* connections, so "did anything change since
// the last look" costs one statement that reads no table. The engine's own Store connection is
// such another connection here and commits audit rows all the time, so a change is narrowed to
// the key table by the generation the api_keys triggers bump.
class ApiKeys::Watch {
 public:
  static Result<std::unique_ptr<Watch>> Open(const std::string& path) {
    std::unique_ptr<Watch> w(new Watch(path));
    if (sqlite3_open_v2(path.c_str(), &w->db_,
                        SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
                        nullptr) != SQLITE_OK) {
      return Fail(KeyStoreUnavailable(path, w->db_ ? sqlite3_errmsg(w->db_) : "out of memory"));
    }
    // Readers of a WAL database do not wait for writers; this only covers WAL recovery.
    sqlite3_busy_timeout(w->db_, 1000);
    ARSENAL_TRY(w->Prepare("PRAGMA data_version", &w->data_version_));
    ARSENAL_TRY(w->Prepare("SELECT n FROM api_keys_generation", &w->generation_));
    return w;
  }

  ~Watch() {
    sqlite3_finalize(data_version_);
    sqlite3_finalize(generation_);
    sqlite3_close_v2(db_);
  }

  // Whether the key table may have changed since the previous call; true on the first call.
  // Callers re-read the table after this returns true (not before), so a commit that lands
  // between the two is either in what they read or seen by the next call.
  Result<bool> Changed() {
    ARSENAL_ASSIGN_OR_RETURN(const int64_t data_version, StepInt(data_version_));
    if (data_version == data_version_seen_) return false;
    data_version_seen_ = data_version;
    ARSENAL_ASSIGN_OR_RETURN(const int64_t generation, StepInt(generation_));
    if (generation == generation_seen_) return false;
    generation_seen_ = generation;
    return true;
  }

 private:
  explicit Watch(std::string path) : path_(std::move(path)) {}

  Status Prepare(const char* sql, sqlite3_stmt** stmt) {
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt, nullptr) != SQLITE_OK) {
      return Fail(KeyStoreUnavailable(path_, sqlite3_errmsg(db_)));
    }
    return {};
  }

  // Resets the statement before returning so no read transaction stays open (an open one would
  // hold back WAL checkpoints).
  Result<int64_t> StepInt(sqlite3_stmt* stmt) {
    const int rc = sqlite3_step(stmt);
    const int64_t value = rc == SQLITE_ROW ? sqlite3_column_int64(stmt, 0) : 0;
    sqlite3_reset(stmt);
    if (rc != SQLITE_ROW) return Fail(KeyStoreUnavailable(path_, sqlite3_errmsg(db_)));
    return value;
  }

  std::string path_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* data_version_ = nullptr;
  sqlite3_stmt* generation_ = nullptr;
  int64_t data_version_seen_ = -1;
  int64_t generation_seen_ = -1;
};

const std::vector<std::string> ApiKeys::kExtraPermissions = {
    "telemetry.read", "process.read", "sandbox.read", "supervisor.read", "module.read"};

Json ApiKeyInfo::ToJson() const {
  Json j = {{"id", id},
            {"name", name},
            {"role", role},
            {"created_unix_ms", created_unix_ms},
            {"revoked", revoked_unix_ms.has_value()}};
  if (revoked_unix_ms) j["revoked_unix_ms"] = *revoked_unix_ms;
  if (last_used_unix_ms) j["last_used_unix_ms"] = *last_used_unix_ms;
  return j;
}

ApiKeys::ApiKeys(Engine& engine) : engine_(engine) {
  for (const auto& [name, patterns] : BuiltinRoles()) roles_.emplace(name, patterns);
  init_ = engine_.store().Migrate("api_keys", 1, R"sql(
    CREATE TABLE api_keys (
      id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      role TEXT NOT NULL,
      key_sha256 TEXT NOT NULL,
      created_unix_ms INTEGER NOT NULL,
      revoked_unix_ms INTEGER
    );
  )sql");
  // Every write to api_keys, by any connection or process (or an older binary), bumps the
  // generation the Watch reads.
  if (init_) {
    init_ = engine_.store().Migrate("api_keys", 2, R"sql(
      CREATE TABLE api_keys_generation (n INTEGER NOT NULL);
      INSERT INTO api_keys_generation(n) VALUES (0);
      CREATE TRIGGER api_keys_generation_insert AFTER INSERT ON api_keys
        BEGIN UPDATE api_keys_generation SET n = n + 1; END;
      CREATE TRIGGER api_keys_generation_update AFTER UPDATE ON api_keys
        BEGIN UPDATE api_keys_generation SET n = n + 1; END;
      CREATE TRIGGER api_keys_generation_delete AFTER DELETE ON api_keys
        BEGIN UPDATE api_keys_generation SET n = n + 1; END;
    )sql");
  }
  const std::string& db_path = engine_.store().path();
  if (init_ && !db_path.empty() && db_path != ":memory:") {
    auto watch = Watch::Open(db_path);
    if (watch) {
      watch_ = std::move(*watch);
    } else {
      init_ = Fail(watch.error());
    }
  }
  if (init_) {
    std::lock_guard lock(mu_);
    init_ = watch_ ? RefreshLocked() : LoadLocked();
  }
  const Json& config = engine_.options().config;
  if (init_ && config.is_object() && config.contains("api") && config["api"].is_object() &&
      config["api"].contains("roles")) {
    init_ = DefineRoles(config["api"]["roles"]);
  }
}

Status ApiKeys::LoadLocked() {
  ARSENAL_ASSIGN_OR_RETURN(auto rows,
                           engine_.store().Query("SELECT id, role, key_sha256, revoked_unix_ms "
                                                 "FROM api_keys"));
  keys_.clear();
  for (const auto& row : rows) {
    keys_[row["id"].get<std::string>()] = {row["key_sha256"].get<std::string>(),
                                           row["role"].get<std::string>(),
                                           !row["revoked_unix_ms"].is_null()};
  }
  return {};
}

ApiKeys::~ApiKeys() = default;

Status ApiKeys::RefreshLocked() {
  if (!watch_) return {};
  ARSENAL_ASSIGN_OR_RETURN(const bool changed, watch_->Changed());
  if (!changed) return {};
  return LoadLocked();
}

Status ApiKeys::DefineRoles(const Json& roles) {
  if (!roles.is_object()) {
    return Fail(ValidationError("auth.invalid_role", "api.roles must be an object of role lists",
                                "api.roles"));
  }
  std::lock_guard lock(mu_);
  for (const auto& [name, patterns] : roles.items()) {
    if (!IsRoleName(name)) {
      return Fail(ValidationError("auth.invalid_role",
                                  "role name '" + name + "' is not lower_snake_case",
                                  "api.roles." + name));
    }
    if (BuiltinRoles().contains(name)) {
      return Fail(ValidationError("auth.invalid_role",
                                  "role '" + name + "' is built in and cannot be redefined",
                                  "api.roles." + name)
                      .WithHint("choose another name for the custom role"));
    }
    if (!patterns.is_array()) {
      return Fail(ValidationError("auth.invalid_role",
                                  "role '" + name + "' must be a list of permission patterns",
                                  "api.roles." + name));
    }
    std::vector<std::string> list;
    for (const auto& p : patterns) {
      if (!p.is_string() || !IsPattern(p.get<std::string>())) {
        return Fail(
            ValidationError("auth.invalid_role",
                            "role '" + name + "' has an invalid permission pattern " + p.dump(),
                            "api.roles." + name)
                .WithHint("use '*', 'family.*', '*.verb' or 'family.verb', optionally "
                          "prefixed with '!'"));
      }
      list.push_back(p.get<std::string>());
    }
    roles_[name] = std::move(list);
  }
  expanded_.clear();
  return {};
}

std::vector<std::string> ApiKeys::RoleNames() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> names;
  for (const auto& [name, _] : roles_) names.push_back(name);
  return names;
}

Result<std::vector<std::string>> ApiKeys::RolePatterns(std::string_view role) const {
  std::lock_guard lock(mu_);
  auto it = roles_.find(role);
  if (it == roles_.end()) {
    return Fail(NotFoundError("auth.unknown_role", "no role named '" + std::string(role) + "'")
                    .WithHint("built-in roles are viewer, operator and admin; custom roles come "
                              "from the api.roles section of the config"));
  }
  return it->second;
}

std::vector<std::string> ApiKeys::ExpandLocked(const std::vector<std::string>& patterns) {
  bool has_negation = false;
  for (const auto& p : patterns) has_negation |= p.starts_with("!");
  // "*" alone stays "*" so permissions registered later are covered too.
  if (!has_negation && std::find(patterns.begin(), patterns.end(), "*") != patterns.end()) {
    return {"*"};
  }
  std::set<std::string> universe(kExtraPermissions.begin(), kExtraPermissions.end());
  for (const auto& entry : engine_.registry().List()) universe.insert(entry->op.permission);
  std::vector<std::string> out;
  for (const auto& perm : universe) {
    bool granted = false;
    for (const auto& p : patterns) {
      if (p.starts_with("!")) {
        if (PatternMatches(std::string_view(p).substr(1), perm)) {
          granted = false;
          break;
        }
      } else if (PatternMatches(p, perm)) {
        granted = true;
      }
    }
    if (granted) out.push_back(perm);
  }
  // Family wildcards and exact permissions that no negation touches are kept as they are, so
  // they also cover permissions of operations registered later.
  for (const auto& p : patterns) {
    if (p.starts_with("!") || p.starts_with("*")) continue;
    const bool touched = std::any_of(patterns.begin(), patterns.end(), [&](const std::string& n) {
      return n.starts_with("!") && PatternsOverlap(std::string_view(n).substr(1), p);
    });
    if (!touched) out.push_back(p);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

Result<std::vector<std::string>> ApiKeys::RolePermissions(std::string_view role) {
  std::lock_guard lock(mu_);
  auto it = roles_.find(role);
  if (it == roles_.end()) {
    return Fail(NotFoundError("auth.unknown_role", "no role named '" + std::string(role) + "'"));
  }
  // Operations can register after a role was expanded; re-expand when the registry grew.
  const size_t registry_size = engine_.registry().size();
  if (registry_size != expanded_for_registry_size_) {
    expanded_.clear();
    expanded_for_registry_size_ = registry_size;
  }
  auto cached = expanded_.find(role);
  if (cached == expanded_.end()) {
    cached = expanded_.emplace(std::string(role), ExpandLocked(it->second)).first;
  }
  return cached->second;
}

Result<CreatedApiKey> ApiKeys::Create(std::string name, std::string role) {
  ARSENAL_TRY(init_);
  ARSENAL_TRY(RolePatterns(role));
  ARSENAL_ASSIGN_OR_RETURN(auto id_bytes, RandomBytes(kIdHexLen / 2));
  ARSENAL_ASSIGN_OR_RETURN(auto secret, RandomBytes(kSecretBytes));
  CreatedApiKey created;
  created.info.id = Hex(reinterpret_cast<const unsigned char*>(id_bytes.data()), id_bytes.size());
  created.info.name = std::move(name);
  created.info.role = std::move(role);
  created.info.created_unix_ms = NowUnixMs();
  created.key = std::string(kKeyPrefix) + created.info.id + "_" + Base64Url(secret);
  const std::string hash = Sha256Hex(created.key);
  std::lock_guard lock(mu_);
  ARSENAL_TRY(engine_.store().Run(
      "INSERT INTO api_keys(id, name, role, key_sha256, created_unix_ms) VALUES (?1,?2,?3,?4,?5)",
      {created.info.id, created.info.name, created.info.role, hash, created.info.created_unix_ms}));
  keys_[created.info.id] = {hash, created.info.role, false};
  return created;
}

Result<std::vector<ApiKeyInfo>> ApiKeys::List(bool include_revoked) {
  ARSENAL_TRY(init_);
  ARSENAL_ASSIGN_OR_RETURN(
      auto rows, engine_.store().Query("SELECT id, name, role, created_unix_ms, revoked_unix_ms "
                                       "FROM api_keys ORDER BY created_unix_ms, id"));
  std::vector<ApiKeyInfo> out;
  std::lock_guard lock(mu_);
  for (const auto& row : rows) {
    ApiKeyInfo info = InfoFromRow(row);
    if (info.revoked_unix_ms && !include_revoked) continue;
    if (auto it = last_used_.find(info.id); it != last_used_.end()) {
      info.last_used_unix_ms = it->second;
    }
    out.push_back(std::move(info));
  }
  return out;
}

Result<ApiKeyInfo> ApiKeys::Revoke(std::string_view id) {
  ARSENAL_TRY(init_);
  std::lock_guard lock(mu_);
  ARSENAL_TRY(engine_.store().Run(
      "UPDATE api_keys SET revoked_unix_ms = ?2 WHERE id = ?1 AND revoked_unix_ms IS NULL",
      {std::string(id), NowUnixMs()}));
  ARSENAL_ASSIGN_OR_RETURN(
      auto rows, engine_.store().Query("SELECT id, name, role, created_unix_ms, revoked_unix_ms "
                                       "FROM api_keys WHERE id = ?1",
                                       {std::string(id)}));
  if (rows.empty()) {
    return Fail(NotFoundError("auth.key_not_found", "no API key with id '" + std::string(id) + "'")
                    .WithHint("list_api_keys shows the ids of existing keys"));
  }
  if (auto it = keys_.find(id); it != keys_.end()) it->second.revoked = true;
  return InfoFromRow(rows.front());
}

std::optional<std::string> ApiKeys::KeyId(std::string_view key) {
  if (!key.starts_with(kKeyPrefix)) return std::nullopt;
  key.remove_prefix(kKeyPrefix.size());
  if (key.size() < kIdHexLen + 2 || key[kIdHexLen] != '_') return std::nullopt;
  for (char c : key.substr(0, kIdHexLen)) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) ||
        std::isupper(static_cast<unsigned char>(c))) {
      return std::nullopt;
    }
  }
  return std::string(key.substr(0, kIdHexLen));
}

Result<Principal> ApiKeys::Authenticate(std::string_view presented_key) {
  ARSENAL_TRY(init_);
  // Hash before looking anything up so an unknown id costs the same as a wrong secret.
  const std::string presented_hash = Sha256Hex(presented_key);
  const auto id = KeyId(presented_key);
  std::string role;
  {
    std::lock_guard lock(mu_);
    ARSENAL_TRY(RefreshLocked());
    static const std::string kDummy(SHA256_DIGEST_LENGTH * 2, '0');
    const Cached* cached = nullptr;
    if (id) {
      if (auto it = keys_.find(*id); it != keys_.end()) cached = &it->second;
    }
    const std::string& expected = cached ? cached->hash_hex : kDummy;
    const bool equal = CRYPTO_memcmp(expected.data(), presented_hash.data(), expected.size()) == 0;
    if (!cached || !equal || cached->revoked) return Fail(InvalidKey());
    role = cached->role;
    last_used_[*id] = NowUnixMs();
  }
  auto perms = RolePermissions(role);
  if (!perms) {
    // A key whose custom role disappeared from the config grants nothing (fail closed).
    return Principal{"key:" + *id, {}};
  }
  return Principal{"key:" + *id, std::move(*perms)};
}

Result<std::optional<std::string>> ApiKeys::EnsureBootstrapKey(const std::string& path) {
  ARSENAL_TRY(init_);
  {
    std::lock_guard lock(mu_);
    ARSENAL_TRY(RefreshLocked());
    for (const auto& [id, k] : keys_) {
      if (!k.revoked) return std::optional<std::string>();
    }
  }
  ARSENAL_ASSIGN_OR_RETURN(auto created, Create("bootstrap", "admin"));
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return Fail(ErrnoError("auth.bootstrap_key", "open", tmp, errno));
  const std::string line = created.key + "\n";
  if (::write(fd.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Fail(ErrnoError("auth.bootstrap_key", "write", tmp, err));
  }
  if (::fsync(fd.get()) != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return Fail(ErrnoError("auth.bootstrap_key", "rename", path, err));
  }
  return std::optional<std::string>(path);
}

}  // namespace arsenal
