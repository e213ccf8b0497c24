#include "arsenal/engine/store.h"

#include <sqlite3.h>

namespace arsenal {
namespace {

Error SqliteError(sqlite3* db, std::string_view what) {
  return InternalError("store.sqlite_error",
                       std::string(what) + ": " + (db ? sqlite3_errmsg(db) : "out of memory"))
      .WithHint("check the state directory's disk space and permissions");
}

struct StmtDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

Status Bind(sqlite3* db, sqlite3_stmt* stmt, const std::vector<Json>& binds) {
  for (size_t i = 0; i < binds.size(); ++i) {
    const int idx = static_cast<int>(i + 1);
    const Json& v = binds[i];
    int rc;
    if (v.is_null()) {
      rc = sqlite3_bind_null(stmt, idx);
    } else if (v.is_boolean()) {
      rc = sqlite3_bind_int64(stmt, idx, v.get<bool>() ? 1 : 0);
    } else if (v.is_number_integer()) {
      rc = sqlite3_bind_int64(stmt, idx, v.get<int64_t>());
    } else if (v.is_number_unsigned()) {
      rc = sqlite3_bind_int64(stmt, idx, static_cast<int64_t>(v.get<uint64_t>()));
    } else if (v.is_number_float()) {
      rc = sqlite3_bind_double(stmt, idx, v.get<double>());
    } else if (v.is_string()) {
      const auto& s = v.get_ref<const std::string&>();
      rc = sqlite3_bind_text(stmt, idx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    } else {
      const std::string s = v.dump();
      rc = sqlite3_bind_text(stmt, idx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    }
    if (rc != SQLITE_OK) return Fail(SqliteError(db, "bind parameter " + std::to_string(idx)));
  }
  return {};
}

Json Column(sqlite3_stmt* stmt, int i) {
  switch (sqlite3_column_type(stmt, i)) {
    case SQLITE_INTEGER:
      return sqlite3_column_int64(stmt, i);
    case SQLITE_FLOAT:
      return sqlite3_column_double(stmt, i);
    case SQLITE_TEXT:
    case SQLITE_BLOB:
      return std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, i)),
                         static_cast<size_t>(sqlite3_column_bytes(stmt, i)));
    default:
      return nullptr;
  }
}

}  // namespace

Store::Store(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

Store::~Store() { sqlite3_close_v2(db_); }

Result<std::unique_ptr<Store>> Store::Open(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_EXRESCODE,
      nullptr);
  if (rc != SQLITE_OK) {
    Error e = SqliteError(db, "open database " + path);
    sqlite3_close_v2(db);
    return Fail(std::move(e).WithDetail("path", path));
  }
  std::unique_ptr<Store> store(new Store(db, path));
  sqlite3_busy_timeout(db, 5000);
  ARSENAL_TRY(store->Exec(
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
      "CREATE TABLE IF NOT EXISTS schema_migrations("
      "  component TEXT NOT NULL, version INTEGER NOT NULL, applied_unix_ms INTEGER NOT NULL,"
      "  PRIMARY KEY(component, version));"));
  return store;
}

Status Store::Exec(std::string_view sql) {
  std::lock_guard lock(mu_);
  char* err = nullptr;
  const std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Fail(InternalError("store.sqlite_error", "exec failed: " + msg));
  }
  return {};
}

Status Store::RunLocked(std::string_view sql, const std::vector<Json>& binds,
                        std::vector<Json>* rows) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &raw, nullptr) !=
      SQLITE_OK) {
    return Fail(SqliteError(db_, "prepare"));
  }
  Stmt stmt(raw);
  ARSENAL_TRY(Bind(db_, raw, binds));
  while (true) {
    const int rc = sqlite3_step(raw);
    if (rc == SQLITE_DONE) return {};
    if (rc != SQLITE_ROW) return Fail(SqliteError(db_, "step"));
    if (!rows) continue;
    Json row = Json::object();
    const int n = sqlite3_column_count(raw);
    for (int i = 0; i < n; ++i) row[sqlite3_column_name(raw, i)] = Column(raw, i);
    rows->push_back(std::move(row));
  }
}

Status Store::Run(std::string_view sql, const std::vector<Json>& binds) {
  std::lock_guard lock(mu_);
  return RunLocked(sql, binds, nullptr);
}

Status Store::RunEach(std::string_view sql, size_t times,
                      const std::function<void(size_t i, std::vector<Json>& values)>& binds) {
  std::lock_guard lock(mu_);
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &raw, nullptr) !=
      SQLITE_OK) {
    return Fail(SqliteError(db_, "prepare"));
  }
  Stmt stmt(raw);
  std::vector<Json> values;
  for (size_t i = 0; i < times; ++i) {
    values.clear();
    binds(i, values);
    sqlite3_reset(raw);
    sqlite3_clear_bindings(raw);
    ARSENAL_TRY(Bind(db_, raw, values));
    int rc;
    while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) return Fail(SqliteError(db_, "step"));
  }
  return {};
}

Result<std::vector<Json>> Store::Query(std::string_view sql, const std::vector<Json>& binds) {
  std::lock_guard lock(mu_);
  std::vector<Json> rows;
  ARSENAL_TRY(RunLocked(sql, binds, &rows));
  return rows;
}

Status Store::Transaction(const std::function<Status(Store&)>& body) {
  std::lock_guard lock(mu_);
  ARSENAL_TRY(Exec("BEGIN IMMEDIATE"));
  Status status = body(*this);
  if (!status) {
    (void)Exec("ROLLBACK");
    return status;
  }
  if (auto commit = Exec("COMMIT"); !commit) {
    (void)Exec("ROLLBACK");
    return commit;
  }
  return {};
}

Status Store::Migrate(std::string_view component, int version, std::string_view sql) {
  return Transaction([&](Store& s) -> Status {
    ARSENAL_ASSIGN_OR_RETURN(auto rows, s.Query("SELECT 1 FROM schema_migrations WHERE "
                                                "component = ?1 AND version = ?2",
                                                {std::string(component), version}));
    if (!rows.empty()) return {};
    ARSENAL_TRY(s.Exec(sql));
    return s.Run(
        "INSERT INTO schema_migrations(component, version, applied_unix_ms) VALUES (?1, ?2, "
        "CAST(strftime('%s','now') AS INTEGER) * 1000)",
        {std::string(component), version});
  });
}

}  // namespace arsenal
