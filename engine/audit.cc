#include "arsenal/engine/audit.h"

#include <openssl/evp.h>

#include <array>
#include <chrono>
#include <memory>

#include "arsenal/base/log.h"
#include "compact_fields.h"

namespace arsenal {
namespace {

using Sha256 = std::array<unsigned char, 32>;

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

// SHA-256 fetched once: EVP_sha256() inside EVP_Digest looks the algorithm up in the provider
// store (locks and a hash table) on every call.
const EVP_MD* Sha256Md() {
  static const EVP_MD* const md = [] {
    const EVP_MD* fetched = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return fetched ? fetched : EVP_sha256();
  }();
  return md;
}

// Per-thread scratch for digesting params: the serialized text and its serializer (whose
// construction allocates a 512-byte indent string and the output adapter) are reused, so a
// digest costs no allocation once a thread has digested params of that size.
struct ParamsDigester {
  std::string text;
  nlohmann::detail::serializer<Json> serializer{
      nlohmann::detail::output_adapter<char, std::string>(text), ' ',
      nlohmann::detail::error_handler_t::replace};
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx{EVP_MD_CTX_new()};

  Sha256 Digest(const Json& params) {
    text.clear();
    // Same bytes as params.dump(): compact, keys sorted (objects are std::map-backed), UTF-8.
    serializer.dump(params, /*pretty_print=*/false, /*ensure_ascii=*/false, 0);
    Sha256 out{};
    unsigned int len = 0;
    if (!ctx || EVP_DigestInit_ex2(ctx.get(), Sha256Md(), nullptr) != 1 ||
        EVP_DigestUpdate(ctx.get(), text.data(), text.size()) != 1 ||
        EVP_DigestFinal_ex(ctx.get(), out.data(), &len) != 1) {
      // Only a broken OpenSSL set-up gets here; the one-shot API is the slow but simple path.
      EVP_Digest(text.data(), text.size(), out.data(), &len, EVP_sha256(), nullptr);
    }
    return out;
  }
};

Sha256 DigestBytes(const Json& params) {
  thread_local ParamsDigester digester;
  return digester.Digest(params);
}

std::string Hex(const Sha256& digest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(digest.size() * 2, '0');
  for (size_t i = 0; i < digest.size(); ++i) {
    hex[2 * i] = kHex[digest[i] >> 4];
    hex[2 * i + 1] = kHex[digest[i] & 0xf];
  }
  return hex;
}

// Entries per queue chunk, and how many emptied chunks are kept for reuse (a burst's extra chunks
// are freed).
constexpr size_t kChunkEntries = 128;
constexpr size_t kSpareChunks = 16;
// How long the writer waits for more entries after a batch before it sleeps (see audit.h).
constexpr std::chrono::milliseconds kBatchWindow{2};

// Rows per INSERT statement for a full group; the rest of a batch goes one row per statement.
// Both statements are prepared once per batch and run many times. A multi-row INSERT also updates
// the AUTOINCREMENT counter once per statement instead of once per row.
constexpr size_t kRowsPerInsert = 32;
// Rows per transaction, which bounds how long one commit holds the store's lock.
constexpr size_t kRowsPerTransaction = 2048;

std::string InsertSql(size_t rows) {
  std::string sql =
      "INSERT INTO audit(time_unix_ms, principal, operation, params_digest, outcome, "
      "duration_us, request_id) VALUES ";
  for (size_t i = 0; i < rows; ++i) sql += i == 0 ? "(?,?,?,?,?,?,?)" : ",(?,?,?,?,?,?,?)";
  return sql;
}

}  // namespace

struct AuditLog::Pending {
  int64_t time_unix_ms = 0;
  int64_t duration_us = 0;
  internal::CompactFields<4, 128> text;  // principal, operation, outcome, request_id
  Sha256 digest{};
  std::string digest_text;  // from Record(AuditEntry): stored as given; else hex of `digest`
  bool has_digest_text = false;
};

struct AuditLog::Chunk {
  Chunk() { entries.reserve(kChunkEntries); }
  std::vector<Pending> entries;
};

Json AuditEntry::ToJson() const {
  return {{"time_unix_ms", time_unix_ms},   {"principal", principal}, {"operation", operation},
          {"params_digest", params_digest}, {"outcome", outcome},     {"duration_us", duration_us},
          {"request_id", request_id}};
}

std::string DigestParams(const Json& params) { return Hex(DigestBytes(params)); }

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
  Pending pending;
  pending.time_unix_ms = entry.time_unix_ms;
  pending.duration_us = entry.duration_us;
  pending.text.Assign({entry.principal, entry.operation, entry.outcome, entry.request_id});
  pending.digest_text = std::move(entry.params_digest);
  pending.has_digest_text = true;
  Enqueue(std::move(pending));
}

void AuditLog::RecordCall(const AuditCall& call) {
  Pending pending;
  pending.time_unix_ms = call.time_unix_ms;
  pending.duration_us = call.duration_us;
  pending.text.Assign({call.principal, call.operation, call.outcome, call.request_id});
  pending.digest = DigestBytes(call.params);
  Enqueue(std::move(pending));
}

void AuditLog::Enqueue(Pending&& pending) {
  bool wake;
  {
    std::lock_guard lock(mu_);
    if (queue_.empty() || queue_.back()->entries.size() == kChunkEntries) {
      if (spare_.empty()) {
        queue_.push_back(std::make_unique<Chunk>());
      } else {
        queue_.push_back(std::move(spare_.back()));
        spare_.pop_back();
      }
    }
    queue_.back()->entries.push_back(std::move(pending));
    ++enqueued_;
    wake = writer_idle_;
    writer_idle_ = false;
  }
  if (wake) cv_.notify_one();
}

Status AuditLog::Flush() {
  std::unique_lock lock(mu_);
  const uint64_t target = enqueued_;
  ++flush_waiters_;
  cv_.notify_one();
  flushed_cv_.wait(lock, [&] { return written_ >= target; });
  --flush_waiters_;
  return last_error_;
}

void AuditLog::Run() {
  std::vector<std::unique_ptr<Chunk>> batch;
  std::vector<const Pending*> rows;
  bool wrote = false;
  std::unique_lock lock(mu_);
  while (true) {
    if (wrote) {
      // The batch window: Record sees writer_idle_ false and does not notify.
      cv_.wait_for(lock, kBatchWindow, [&] { return stopping_ || flush_waiters_ > 0; });
    }
    if (queue_.empty()) {
      if (stopping_) return;
      writer_idle_ = true;
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      writer_idle_ = false;
      if (queue_.empty()) return;  // stopping, nothing left
    }
    wrote = true;
    batch.swap(queue_);
    lock.unlock();
    rows.clear();
    for (const auto& chunk : batch) {
      for (const Pending& pending : chunk->entries) rows.push_back(&pending);
    }
    // A writer that fell behind does not hold the store (shared with every other component) for
    // one huge transaction: it commits in slices.
    uint64_t failures = 0;
    Status error;
    for (size_t begin = 0; begin < rows.size(); begin += kRowsPerTransaction) {
      const size_t count = std::min(kRowsPerTransaction, rows.size() - begin);
      if (Status status = WriteRows(rows.data() + begin, count); !status) {
        ++failures;
        log::Get("audit")->error("audit batch of {} entries lost: {}", count,
                                 status.error().ToString());
        error = std::move(status);
      }
    }
    for (auto& chunk : batch) chunk->entries.clear();
    lock.lock();
    written_ += rows.size();
    while (!batch.empty() && spare_.size() < kSpareChunks) {
      spare_.push_back(std::move(batch.back()));
      batch.pop_back();
    }
    if (failures > 0) {
      write_failures_ += failures;
      last_error_ = std::move(error);
    }
    flushed_cv_.notify_all();
    if (!batch.empty()) {
      lock.unlock();
      batch.clear();  // chunks beyond the spares, freed without holding up Record
      lock.lock();
    }
  }
}

Status AuditLog::WriteRows(const Pending* const* rows, size_t count) {
  static const std::string group_sql = InsertSql(kRowsPerInsert);
  static const std::string single_sql = InsertSql(1);
  auto append = [](const Pending& e, std::vector<Json>& values) {
    values.emplace_back(e.time_unix_ms);
    values.emplace_back(e.text.get(0));
    values.emplace_back(e.text.get(1));
    values.emplace_back(e.has_digest_text ? e.digest_text : Hex(e.digest));
    values.emplace_back(e.text.get(2));
    values.emplace_back(e.duration_us);
    values.emplace_back(e.text.get(3));
  };
  const size_t groups = count / kRowsPerInsert;
  const size_t grouped = groups * kRowsPerInsert;
  // Parsing the INSERT again for every row cost more than the insert itself.
  return store_.Transaction([&](Store& s) -> Status {
    if (groups > 0) {
      ARSENAL_TRY(s.RunEach(group_sql, groups, [&](size_t g, std::vector<Json>& values) {
        for (size_t i = g * kRowsPerInsert; i < (g + 1) * kRowsPerInsert; ++i) {
          append(*rows[i], values);
        }
      }));
    }
    if (grouped < count) {
      ARSENAL_TRY(s.RunEach(single_sql, count - grouped, [&](size_t i, std::vector<Json>& values) {
        append(*rows[grouped + i], values);
      }));
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
