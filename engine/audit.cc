#include "arsenal/engine/audit.h"

#include <openssl/evp.h>

#include "arsenal/base/log.h"

namespace arsenal {

Json AuditEntry::ToJson() const {
  return {{"time_unix_ms", time_unix_ms},   {"principal", principal}, {"operation", operation},
          {"params_digest", params_digest}, {"outcome", outcome},     {"duration_us", duration_us},
          {"request_id", request_id}};
}

std::string DigestParams(const Json& params) {
  // nlohmann::json objects are std::map-backed, so dump() is already key-sorted and canonical.
  const std::string text = params.dump();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(len * 2, '0');
  for (unsigned int i = 0; i < len; ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 0xf];
  }
  return hex;
}

AuditLog::AuditLog(Store& store) : store_(store) {}

Result<std::unique_ptr<AuditLog>> AuditLog::Open(Store& store) {
  ARSENAL_TRY(store.Migrate("audit", 1,
                            "CREATE TABLE audit("
                            "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
                            "  time_unix_ms INTEGER NOT NULL, principal TEXT NOT NULL,"
                            "  operation TEXT NOT NULL, params_digest TEXT NOT NULL,"
                            "  outcome TEXT NOT NULL, duration_us INTEGER NOT NULL,"
                            "  request_id TEXT NOT NULL);"
                            "CREATE INDEX audit_operation ON audit(operation);"));
  std::unique_ptr<AuditLog> log(new AuditLog(store));
  log->writer_ = std::thread([raw = log.get()] { raw->Run(); });
  return log;
}

AuditLog::~AuditLog() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  writer_.join();
}

void AuditLog::Record(AuditEntry entry) {
  bool wake;
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(entry));
    ++enqueued_;
    wake = writer_idle_;
    writer_idle_ = false;
  }
  if (wake) cv_.notify_one();
}

Status AuditLog::Flush() {
  std::unique_lock lock(mu_);
  const uint64_t target = enqueued_;
  cv_.notify_one();
  flushed_cv_.wait(lock, [&] { return written_ >= target; });
  return last_error_;
}

void AuditLog::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    writer_idle_ = true;
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    writer_idle_ = false;
    if (queue_.empty() && stopping_) return;
    std::vector<AuditEntry> batch(std::make_move_iterator(queue_.begin()),
                                  std::make_move_iterator(queue_.end()));
    queue_.clear();
    lock.unlock();
    Status status = WriteBatch(batch);
    lock.lock();
    written_ += batch.size();
    if (!status) {
      ++write_failures_;
      last_error_ = status;
      log::Get("audit")->error("audit batch of {} entries lost: {}", batch.size(),
                               status.error().ToString());
    }
    flushed_cv_.notify_all();
  }
}

Status AuditLog::WriteBatch(std::vector<AuditEntry>& batch) {
  return store_.Transaction([&](Store& s) -> Status {
    for (const auto& e : batch) {
      ARSENAL_TRY(
          s.Run("INSERT INTO audit(time_unix_ms, principal, operation, params_digest, outcome, "
                "duration_us, request_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                {e.time_unix_ms, e.principal, e.operation, e.params_digest, e.outcome,
                 e.duration_us, e.request_id}));
    }
    return {};
  });
}

Result<std::vector<AuditEntry>> AuditLog::Recent(size_t limit, std::string_view operation,
                                                 std::string_view principal) {
  ARSENAL_ASSIGN_OR_RETURN(
      auto rows,
      store_.Query("SELECT * FROM audit WHERE (?1 = '' OR operation = ?1) AND "
                   "(?2 = '' OR principal = ?2) ORDER BY id DESC LIMIT ?3",
                   {std::string(operation), std::string(principal), static_cast<int64_t>(limit)}));
  std::vector<AuditEntry> out;
  for (const auto& r : rows) {
    out.push_back({r["time_unix_ms"].get<int64_t>(), r["principal"].get<std::string>(),
                   r["operation"].get<std::string>(), r["params_digest"].get<std::string>(),
                   r["outcome"].get<std::string>(), r["duration_us"].get<int64_t>(),
                   r["request_id"].get<std::string>()});
  }
  return out;
}

uint64_t AuditLog::write_failures() const {
  std::lock_guard lock(mu_);
  return write_failures_;
}

}  // namespace arsenal
