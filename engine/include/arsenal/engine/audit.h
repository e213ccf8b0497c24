// AuditLog: who ran which operation, with what (a digest of the params), and how it ended.
//
// Record() never touches the disk on the caller's thread: entries are queued and a writer thread
// inserts them into the Store in batches (one transaction per batch). Flush() waits until
// everything recorded so far is durable in the database. Params are stored only as a SHA-256
// digest of their canonical JSON so secrets passed as params never reach the audit table.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "arsenal/base/result.h"
#include "arsenal/engine/store.h"

namespace arsenal {

struct AuditEntry {
  int64_t time_unix_ms = 0;
  std::string principal;
  std::string operation;
  std::string params_digest;  // hex SHA-256 of params.dump()
  std::string outcome;        // "ok" or the error code
  int64_t duration_us = 0;
  std::string request_id;

  Json ToJson() const;
};

// Hex SHA-256 of the canonical (sorted keys, compact) serialization of `params`.
std::string DigestParams(const Json& params);

class AuditLog {
 public:
  // Creates the audit table in `store` if needed. `store` must outlive the log.
  static Result<std::unique_ptr<AuditLog>> Open(Store& store);
  ~AuditLog();  // flushes

  void Record(AuditEntry entry);
  Status Flush();
  // Most recent first; filter by operation and/or principal when non-empty.
  Result<std::vector<AuditEntry>> Recent(size_t limit, std::string_view operation = {},
                                         std::string_view principal = {});
  uint64_t write_failures() const;

 private:
  explicit AuditLog(Store& store);
  void Run();
  Status WriteBatch(std::vector<AuditEntry>& batch);

  Store& store_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable flushed_cv_;
  std::deque<AuditEntry> queue_;
  uint64_t enqueued_ = 0;
  uint64_t written_ = 0;
  uint64_t write_failures_ = 0;
  Status last_error_;
  bool stopping_ = false;
  bool writer_idle_ = false;  // Record wakes the writer only when it sleeps (one wake per burst)
  std::thread writer_;
};

}  // namespace arsenal
