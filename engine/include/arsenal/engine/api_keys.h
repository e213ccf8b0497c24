// ApiKeys: API keys and roles, the identity layer behind every remote front door.
//
// Purpose: turn a presented bearer key into a Principal whose permissions come from the key's
// role. It is an engine service (engine.Service<ApiKeys>()) so the key-management operations in
// ops/auth/ and the HTTP server (api/) share one instance and one cache.
//
// Keys: "ars_<id>_<secret>", where <id> is 12 hex characters (public, shown by list_api_keys,
// used to revoke) and <secret> is 32 random bytes (OpenSSL RAND_bytes) in base64url. Only the
// SHA-256 of the whole key is stored (table api_keys, migrated by this service), so the secret is
// returned exactly once, by Create(). Verification hashes the presented key and compares digests
// with CRYPTO_memcmp (constant time); an unknown id still costs one hash and one comparison.
//
// Roles: a role is a list of permission patterns: "*" (everything), "family.*" (every verb of a
// family), "*.verb" (that verb of every family) and exact "family.verb"; a leading "!" removes
// what a pattern matches. Built-ins:
//   viewer   = ["*.read", "!auth.*"]       read everything except the key table
//   operator = ["*.read", "*.write", "!auth.*"]
//   admin    = ["*"]
// Custom roles come from the daemon config: {"api": {"roles": {"ci": ["sandbox.*"]}}} (a custom
// role may not redefine a built-in). Patterns are expanded into concrete permissions against the
// engine's registry (plus the non-operation permissions in kExtraPermissions) when a key is
// authenticated, so Principal::Allows stays a plain lookup.
//
// Keys changed by other processes: the key table is cached in memory, and every Authenticate()
// (and EnsureBootstrapKey()) first checks whether the table changed in the database, so a key
// created or revoked by another process on the same state dir (`arsenal keys revoke --state-dir
// DIR` while arsenald serves DIR), or by another Engine of this process, is seen by the next
// request: a revocation committed before a request's authentication starts refuses that request;
// there is no polling interval. The check is cheap (two cached statements on a private read-only
// SQLite connection; no query runs unless some connection committed): `PRAGMA data_version` tells
// whether anything was committed since the last check, and a generation counter that triggers on
// api_keys bump (table api_keys_generation, migration 2) tells whether the commit touched the key
// table; only then is the table re-read. An in-memory store (":memory:", used when the engine has
// no state dir) cannot be shared, so no check is made there. When the check itself fails (the
// database is gone or unreadable) authentication fails closed (auth.key_store_unavailable).
//
// Bootstrap: EnsureBootstrapKey() creates one admin key when no active key exists and writes it,
// mode 0600, to a file in the state dir; the daemon logs the file's path, never the key.
//
// Thread-safety: every method may be called from any thread.
// Security: never log or return a key except from Create(); error messages never contain keys.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "arsenal/base/result.h"
#include "arsenal/engine/operation.h"

namespace arsenal {

class Engine;

struct ApiKeyInfo {
  std::string id;    // public identifier, 12 hex characters
  std::string name;  // free text chosen by the creator
  std::string role;
  int64_t created_unix_ms = 0;
  std::optional<int64_t> revoked_unix_ms;
  std::optional<int64_t> last_used_unix_ms;  // since this process started

  // {"id","name","role","created_unix_ms","revoked","revoked_unix_ms"?,"last_used_unix_ms"?}
  Json ToJson() const;
};

struct CreatedApiKey {
  ApiKeyInfo info;
  std::string key;  // the only copy of the secret key
};

class ApiKeys {
 public:
  // Permissions that no operation declares but front doors check (metrics, event stream topics).
  static const std::vector<std::string> kExtraPermissions;

  explicit ApiKeys(Engine& engine);
  ~ApiKeys();

  // Adds custom roles: {"name": ["pattern", ...]}. Names are lower_snake_case; built-in names are
  // refused (auth.invalid_role).
  Status DefineRoles(const Json& roles);
  // Built-in and custom role names, sorted.
  std::vector<std::string> RoleNames() const;
  // The patterns of `role`, or auth.unknown_role.
  Result<std::vector<std::string>> RolePatterns(std::string_view role) const;
  // Concrete permissions a role grants now (expanded against the registry).
  Result<std::vector<std::string>> RolePermissions(std::string_view role);

  Result<CreatedApiKey> Create(std::string name, std::string role);
  Result<std::vector<ApiKeyInfo>> List(bool include_revoked);
  // auth.key_not_found for an unknown id; revoking twice is not an error (idempotent).
  Result<ApiKeyInfo> Revoke(std::string_view id);
  // Principal "key:<id>" with the role's permissions; auth.invalid_key (unauthenticated) for an
  // unknown, malformed or revoked key.
  Result<Principal> Authenticate(std::string_view presented_key);
  // Id of the key part of `presented_key` when well-formed (for rate limiting and audit).
  static std::optional<std::string> KeyId(std::string_view presented_key);

  // When no active key exists: creates an admin key named "bootstrap" and writes it to `path`
  // (mode 0600, replaced atomically). Returns the path written, or nullopt when keys exist.
  Result<std::optional<std::string>> EnsureBootstrapKey(const std::string& path);

 private:
  struct Cached {
    std::string hash_hex;
    std::string role;
    bool revoked = false;
  };
  class Watch;  // the read-only connection that notices commits of other connections
  Status LoadLocked();
  // Re-reads the table when another connection changed it since the last call.
  Status RefreshLocked();
  std::vector<std::string> ExpandLocked(const std::vector<std::string>& patterns);

  Engine& engine_;
  mutable std::mutex mu_;
  Status init_;
  std::map<std::string, std::vector<std::string>, std::less<>> roles_;
  std::unique_ptr<Watch> watch_;  // null for an in-memory store
  std::map<std::string, Cached, std::less<>> keys_;
  std::map<std::string, int64_t, std::less<>> last_used_;
  size_t expanded_for_registry_size_ = 0;
  std::map<std::string, std::vector<std::string>, std::less<>> expanded_;
};

}  // namespace arsenal
