// Store: the engine's embedded SQLite database (audit log, history, persisted definitions).
//
// One connection, serialized by a mutex; WAL journal, synchronous=NORMAL. Components own their
// tables and create them through Migrate(component, version, sql), which runs each migration once
// (recorded in schema_migrations). Values cross the API as JSON scalars: null, integer, real,
// string; rows come back as JSON objects keyed by column name.
//
// Security: always pass user input as bind parameters, never by string concatenation.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "arsenal/base/result.h"

struct sqlite3;

namespace arsenal {

class Store {
 public:
  // `path` is a file (created with its directory's permissions; parent must exist) or ":memory:".
  static Result<std::unique_ptr<Store>> Open(const std::string& path);
  ~Store();

  // Runs one or more statements without parameters.
  Status Exec(std::string_view sql);
  // Runs one statement with `binds` (positional ?1..?N).
  Status Run(std::string_view sql, const std::vector<Json>& binds = {});
  Result<std::vector<Json>> Query(std::string_view sql, const std::vector<Json>& binds = {});
  // Runs one statement `times` times, preparing it once: before run i, `binds(i, values)` fills
  // the positional parameters (`values` arrives empty). For bulk writes, where parsing the
  // statement again for every row would cost more than running it. Stops at the first failure;
  // wrap it in Transaction() to make the runs all-or-nothing.
  Status RunEach(std::string_view sql, size_t times,
                 const std::function<void(size_t i, std::vector<Json>& values)>& binds);
  // Runs `body` inside BEGIN/COMMIT; rolls back when it fails. Not reentrant.
  Status Transaction(const std::function<Status(Store&)>& body);
  // Applies `sql` once per (component, version).
  Status Migrate(std::string_view component, int version, std::string_view sql);

  const std::string& path() const { return path_; }

 private:
  Store(sqlite3* db, std::string path);
  Status RunLocked(std::string_view sql, const std::vector<Json>& binds, std::vector<Json>* rows);

  std::recursive_mutex mu_;
  sqlite3* db_;
  std::string path_;
};

}  // namespace arsenal
