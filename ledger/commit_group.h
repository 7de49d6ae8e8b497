// CommitGroup: a commit group in the making (docs/format.md "Atomicity and durability").
//
// One plain WriteBatch, and beside it what the group's own commands read back of what it
// wrote: task records, idempotency keys, dependents, claims by seq. A WriteBatchWithIndex
// did that generically, but indexing every key of the batch and reading through batch and
// DB cost more CPU than the rest of a command (perf: the index ~13 %, batch-and-DB reads
// ~24 % of a group); the writes the group reads back are few and known.
//
// Save points cover the batch and the overlay together. Not thread-safe: it lives under
// the ledger's write mutex, for one Ledger::SubmitGroup.
#pragma once

#include <rocksdb/write_batch.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ledger/column_families.h"
#include "ledger/thread_safety.h"
#include "projections/event.h"
#include "projections/status.h"
#include "projections/task.h"

namespace rocksdb {
class DB;
}  // namespace rocksdb

namespace taskledger {

class CommitGroup {
 public:
  // Reads through to `db`. REQUIRES: `write_mutex` (the ledger's) is held for the group's
  // whole life, so that nothing else writes what it read.
  CommitGroup(rocksdb::DB* db, const ColumnFamilyHandles& handles, [[maybe_unused]] Mutex* write_mutex)
      REQUIRES(write_mutex)
      : db_(db), handles_(handles) {}
  CommitGroup(const CommitGroup&) = delete;
  CommitGroup& operator=(const CommitGroup&) = delete;

  // A task's record as of the group: written by it, read before, or from the DB.
  Result<std::optional<TaskRecord>> GetTask(const std::string& id);
  Result<bool> TaskExists(const std::string& id);
  // Writes a task's record and keeps it decoded for the rest of the group: a command reads
  // its task three or four times (decide, apply, schedule, reply).
  void PutTask(const TaskRecord& record);

  // Appends an event (and its task_events entry), remembering a claim's task and worker:
  // an unnamed holder command speaks for its claim's worker.
  void PutEvent(const Event& event, const std::string& encoded);
  // The task and worker of the claim with this seq, if it is one.
  Result<std::optional<std::pair<std::string, std::string>>> GetClaim(uint64_t seq);

  void PutIdempotency(const std::string& key, const std::string& id);
  Result<std::optional<std::string>> GetIdempotency(const std::string& key);

  void PutDependent(const std::string& dependency, const std::string& dependent);
  // The tasks created after `dependency`, stored or written by the group.
  Result<std::vector<std::string>> Dependents(const std::string& dependency);

  // Puts (live) or deletes the task's `S` marker.
  void PutLiveMarker(const std::string& id, bool live);

  // Dependencies' own status at `now`, reading through the group. A read error reads as
  // "not done": the safe side (nothing is claimed on it).
  DependencyLookup Dependencies(int64_t now_ns);

  void SetSavePoint();
  void PopSavePoint();
  // Drops what was written since the last save point, from the batch and the overlay.
  void RollbackToSavePoint();

  rocksdb::WriteBatch& batch() { return batch_; }

 private:
  struct Undo {
    enum Kind { kRecord, kClaim, kIdempotency, kDependent } kind;
    std::string key;                     // task id, seq, idempotency key, dependency
    std::optional<TaskRecord> previous;  // kRecord: the record before, if the group had one
  };
  rocksdb::ColumnFamilyHandle* cf(ColumnFamily family) const { return handles_[family]; }

  rocksdb::DB* const db_;
  const ColumnFamilyHandles& handles_;
  rocksdb::WriteBatch batch_;
  std::unordered_map<std::string, TaskRecord> records_;  // as of the batch: read or written
  std::unordered_map<uint64_t, std::pair<std::string, std::string>> claims_;  // seq -> task, worker
  std::unordered_map<std::string, std::string> idempotency_;
  std::unordered_map<std::string, std::vector<std::string>> dependents_;
  std::vector<Undo> undo_;
  std::vector<size_t> save_points_;
};

}  // namespace taskledger
