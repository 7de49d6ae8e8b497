// CommitGroup: a commit group in the making (docs/format.md "Atomicity and durability").
//
// One plain WriteBatch, and beside it what the group's own commands read back of what it
// wrote: task records, idempotency keys, dependents, claims by seq. A WriteBatchWithIndex
// did that generically, but indexing every key of the batch and reading through batch and
// DB cost more CPU than the rest of a command (perf: the index ~13 %, batch-and-DB reads
// ~24 % of a group); the writes the group reads back are few and known.
//
// Task records are kept decoded in a RecordCache the ledger owns across groups, so a
// command on a leased task (heartbeat, complete) neither reads nor decodes its record from
// RocksDB (perf, served worker load: DB::Get ~13 % of the writer thread's time).
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

// Decoded task records as the DB holds them after the last committed group (plus what the
// group in the making wrote). Owned by the ledger, used under its write mutex only.
class RecordCache {
 public:
  // Records kept at most; past it the cache starts again empty (about 0.7 KiB each).
  static constexpr size_t kMaxRecords = 65536;

  // After a group was written: the records it wrote that hold no lease leave (a done or
  // waiting task is rarely commanded again soon; a leased one is, by its holder).
  void Retire(const std::vector<std::string>& written);
  // After a failed write, or when anything but a commit group rewrote the records.
  void Clear() { records_.clear(); }

 private:
  friend class CommitGroup;
  std::unordered_map<std::string, TaskRecord> records_;
};

class CommitGroup {
 public:
  // Reads through `cache` to `db`. REQUIRES: `write_mutex` (the ledger's) is held for the
  // group's whole life, so that nothing else writes what it read or the cache holds.
  CommitGroup(rocksdb::DB* db, const ColumnFamilyHandles& handles, RecordCache* cache,
              [[maybe_unused]] Mutex* write_mutex) REQUIRES(write_mutex)
      : db_(db), handles_(handles), records_(cache->records_) {}
  CommitGroup(const CommitGroup&) = delete;
  CommitGroup& operator=(const CommitGroup&) = delete;

  // A task's record as of the group: written by it, cached, or read from the DB; null if
  // there is no such task. The pointer is valid until the next PutTask of that task or a
  // rollback, whichever comes first.
  Result<const TaskRecord*> FindTask(const std::string& id);
  Result<bool> TaskExists(const std::string& id);
  // Writes a task's record and keeps it decoded for the rest of the group (a command reads
  // its task three or four times: decide, apply, schedule, reply) and after it. Returns
  // the record kept.
  const TaskRecord& PutTask(TaskRecord record);

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

  // The tasks whose records the committed commands wrote, each once, for
  // RecordCache::Retire.
  std::vector<std::string> WrittenTasks() const;

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
  std::unordered_map<std::string, TaskRecord>& records_;  // the cache: as of the batch
  std::unordered_map<uint64_t, std::pair<std::string, std::string>> claims_;  // seq -> task, worker
  std::unordered_map<std::string, std::string> idempotency_;
  std::unordered_map<std::string, std::vector<std::string>> dependents_;
  std::vector<Undo> undo_;
  std::vector<size_t> save_points_;
};

}  // namespace taskledger
