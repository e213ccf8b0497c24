// AuditLog: who ran which operation, with what (a digest of the params), and how it ended.
//
// Record() never touches the disk on the caller's thread: entries are queued and a writer thread
// inserts them into the Store in batches (one transaction per batch). After a batch the writer
// waits a few milliseconds for more entries before it sleeps, so a steady stream of calls neither
// wakes it per entry nor commits per entry. Flush() waits until everything recorded so far is
// durable in the database (and ends that wait early). Params are stored only as a SHA-256
// digest of their canonical JSON so secrets passed as params never reach the audit table.
//
// Ordering and durability: entries are written in the order Record/RecordCall were called (per
// calling thread; calls racing on different threads are ordered by the queue's lock). Nothing
// queued is dropped: the destructor writes whatever is still queued before it returns, and a
// failed batch is counted in write_failures() and logged.
//
// Cost: RecordCall(), the engine's per-call path, serializes and hashes the params on the caller's
// thread without allocating (reused per-thread buffers), and queues the rest inline; the writer
// thread formats the hex digest and inserts a batch with a few multi-row INSERT statements.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
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

// Hex SHA-256 of the canonical (sorted keys, compact) serialization of `params`, i.e. of
// params.dump(). Strings that are not valid UTF-8 are serialized with U+FFFD in place of the bad
// bytes instead of throwing, so every params value has a digest.
std::string DigestParams(const Json& params);

// One Engine::Execute call, recorded by AuditLog::RecordCall. The views and `params` are read
// before RecordCall returns.
struct AuditCall {
  int64_t time_unix_ms = 0;
  std::string_view principal;
  std::string_view operation;
  const Json& params;
  std::string_view outcome;  // "ok" or the error code
  int64_t duration_us = 0;
  std::string_view request_id;
};

class AuditLog {
 public:
  // Creates the audit table in `store` if needed. `store` must outlive the log.
  static Result<std::unique_ptr<AuditLog>> Open(Store& store);
  ~AuditLog();  // flushes

  void Record(AuditEntry entry);
  // Same entry as Record({time_unix_ms, principal, operation, DigestParams(params), outcome,
  // duration_us, request_id}), without building the AuditEntry's strings on the caller's thread.
  void RecordCall(const AuditCall& call);
  Status Flush();
  // Most recent first; filter by operation and/or principal when non-empty.
  Result<std::vector<AuditEntry>> Recent(size_t limit, std::string_view operation = {},
                                         std::string_view principal = {});
  uint64_t write_failures() const;

 private:
  explicit AuditLog(Store& store);
  struct Pending;  // a queued entry in compact form (audit.cc)
  struct Chunk;    // a fixed-capacity run of queued entries, reused once written
  void Enqueue(Pending&& pending);
  void Run();
  Status WriteRows(const Pending* const* rows, size_t count);

  Store& store_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable flushed_cv_;
  // Entries in record order, in chunks; the writer takes all of them at once and hands the
  // emptied chunks back through spare_, so a steady stream of entries allocates nothing and a
  // writer that falls behind costs a new chunk now and then, not a reallocation of the queue.
  std::vector<std::unique_ptr<Chunk>> queue_;
  std::vector<std::unique_ptr<Chunk>> spare_;
  uint64_t enqueued_ = 0;
  uint64_t written_ = 0;
  uint64_t write_failures_ = 0;
  Status last_error_;
  bool stopping_ = false;
  bool writer_idle_ = false;  // Record wakes the writer only when it sleeps (one wake per burst)
  size_t flush_waiters_ = 0;  // callers in Flush(), who end the writer's batch window early
  std::thread writer_;
};

}  // namespace arsenal
