// Verifier: checks a whole ledger against its log (docs/format.md "Verify"): the table
// files' checksums, the log's own rules (a full replay), the task_events index, the
// materialized projection, and the dependents, idempotency and schedule families. Every
// problem is placed at the seq where the log and what was derived from it part, and the
// report leads with the earliest.
//
// Reads only, on two threads at most. Not thread-safe: one Run per Verifier; the ledger it reads may be written
// meanwhile only by its own owner (a verify beside a live server reads a secondary).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ledger/column_families.h"
#include "ledger/ledger.h"

namespace rocksdb {
class DB;
struct LiveFileMetaData;
struct Options;
}  // namespace rocksdb

namespace taskledger {

class Verifier {
 public:
  // `db` and `handles`: the open ledger; `options`: how it was opened; `format_version`:
  // of the ledger on disk; `ledger_now`: the ledger's current time. All must outlive Run.
  Verifier(rocksdb::DB* db, const ColumnFamilyHandles& handles, const LedgerOptions& options, int format_version,
           std::function<int64_t()> ledger_now);
  Verifier(const Verifier&) = delete;
  Verifier& operator=(const Verifier&) = delete;

  Result<VerifyReport> Run();

 private:
  // One finding, placed at the seq where the log and what was derived from it part
  // (kNoSeq when no single event is to blame), so that the report leads with the earliest.
  struct Problem {
    uint64_t seq = 0;
    std::string text;
  };

  Status VerifyTableFiles();
  // The table files of a ledger no process owns, listed by a strict read-only open.
  Status ListFilesOfUnownedLedger(std::vector<rocksdb::LiveFileMetaData>* files);
  void VerifyTableFile(const rocksdb::Options& options, const rocksdb::LiveFileMetaData& file);
  // The task_events index summed into a fingerprint, in one pass (thread-safe: reads only).
  struct IndexFingerprint {
    uint64_t entries = 0;
    uint64_t sum = 0;
  };
  Result<IndexFingerprint> FingerprintTaskEvents();
  // Compares the fingerprint with the log's; on a mismatch, names the events and entries.
  Status VerifyTaskEvents(uint64_t events, uint64_t log_fingerprint, const IndexFingerprint& index);
  // `misfolded`: the tasks whose stored record is missing or differs from the replay's.
  Status VerifyProjection(const Replay& replay, std::set<std::string>* misfolded);
  Status VerifyExactIndexes(const Replay& replay);
  Status VerifySchedule(const Replay& replay, int64_t now_ns, const std::set<std::string>& misfolded);
  // The tasks the schedule family marks live (format 1: by a deadlines entry too).
  struct MarkedTasks {
    std::vector<const TaskRecord*> tasks;  // sorted, each once
    std::optional<std::string> first_stray;  // the least id marked that no task has
  };
  Status ReadMarkedTasks(const Replay& replay, MarkedTasks* marked);
  Result<std::map<std::string, std::string>> ReadFamily(ColumnFamily family);
  std::string TaskListingSeq(uint64_t seq);
  uint64_t NextTaskSeq(const std::string& id, uint64_t after_seq);
  rocksdb::ColumnFamilyHandle* cf(ColumnFamily family) const { return handles_[family]; }

  rocksdb::DB* const db_;
  const ColumnFamilyHandles& handles_;
  const LedgerOptions& options_;
  const int format_version_;
  const std::function<int64_t()> ledger_now_;
  std::vector<Problem> problems_;
};

}  // namespace taskledger
