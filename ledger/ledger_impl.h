// LedgerImpl: what is behind ledger.h's Ledger, which forwards every call here
// (ledger.cc). The parts live in files named for their job:
//
//   ledger_open.cc    open, close, flush, format check, Refresh, ledger time
//   command_path.cc   SubmitGroup: Execute*, ApplyEvents, the schedule, claim --next, sweep
//   reads.cc          point reads, events, time travel (TaskAt, TasksAt)
//   task_pages.cc     TaskPagesNow and TaskPages (the paged listing)
//   verifier.cc       Verify (the Verifier class)
//   maintenance.cc    LoadIndex, format-1 conversion, rebuild, import, backup
//   replication.cc    cluster mode: the replicate hook, ApplyReplicated
//
// and the helpers they share: commit_group.h (a group's WriteBatch and what it reads back),
// log_scan.h (reading the log), schedule_key.h (the placement rule), process_lock.h (who
// owns a ledger directory), rocks_status.h, column_families.h.
//
// Thread-safety: as Ledger. mutex_ serializes writes and guards the last commit's seq and
// time and the in-memory schedule; db_, handles_ and format_version_ are set by Open and
// constant afterwards.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ledger/column_families.h"
#include "ledger/commit_group.h"
#include "ledger/ledger.h"
#include "ledger/process_lock.h"
#include "ledger/schedule_index.h"
#include "ledger/thread_safety.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Snapshot;
struct ReadOptions;
}  // namespace rocksdb

namespace taskledger {

class CommitGroup;

class LedgerImpl {
 public:
  // ---- ledger_open.cc ----
  static Result<std::unique_ptr<LedgerImpl>> Open(const LedgerOptions& options, Clock* clock);
  ~LedgerImpl();
  LedgerImpl(const LedgerImpl&) = delete;
  LedgerImpl& operator=(const LedgerImpl&) = delete;

  Status Refresh() EXCLUDES(mutex_);
  int64_t Now() EXCLUDES(mutex_);
  uint64_t last_seq() EXCLUDES(mutex_, view_mutex_);  // of the durable view (DurableView)
  const LedgerOptions& options() const { return options_; }

  // ---- command_path.cc ----
  // sync: fsync the group's write (if options_.sync); false: SyncWrites() will.
  std::vector<Outcome> SubmitGroup(const std::vector<Command>& commands, bool sync) EXCLUDES(mutex_);
  Status SyncWrites();

  // ---- replication.cc ----
  Result<uint64_t> ReplicatedPosition() EXCLUDES(mutex_);
  Status ApplyReplicated(const std::vector<std::string>& events, uint64_t position) EXCLUDES(mutex_);

  // ---- reads.cc ----
  // What reads see: only what is durable. A group the server's committer wrote without
  // sync (SubmitGroup(sync = false)) is visible to later groups at once, but to reads only
  // once a SyncWrites() that began after its write returned Ok: until then they read the
  // snapshot of the last synced state, so a power cut can never take back something a
  // reader was shown. Synced writes (the embedded CLI) are read at once.
  struct ReadView {
    std::shared_ptr<const rocksdb::Snapshot> snapshot;  // null: the latest state (read-only ledgers)
    uint64_t seq = 0;                                   // the last event it holds
    int64_t ns = 0;                                     // and that event's ledger time
    rocksdb::ReadOptions Options() const;
    rocksdb::ReadOptions ScanOptions() const;  // for whole-log scans (log_scan.h)
  };
  ReadView DurableView() EXCLUDES(mutex_, view_mutex_);

  Result<std::optional<TaskRecord>> GetTask(const std::string& id);
  Result<TaskView> TaskAt(const std::string& id, const PointInTime& at) EXCLUDES(mutex_);
  Result<TasksSnapshot> TasksAt(const PointInTime& at) EXCLUDES(mutex_);
  Status ForEachEvent(uint64_t from_seq, const std::function<bool(const Event&)>& fn);
  Status ForEachTaskEvent(const std::string& id, uint64_t from_seq, const std::function<bool(const Event&)>& fn);
  Result<uint64_t> FirstSeqAtOrAfter(int64_t time_ns) EXCLUDES(mutex_);

  // ---- task_pages.cc ----
  Result<std::unique_ptr<TaskPages>> TaskPagesNow() EXCLUDES(mutex_);

  // ---- verifier.cc ----
  Result<VerifyReport> Verify() EXCLUDES(mutex_);

  // ---- maintenance.cc ----
  Result<RebuildReport> Rebuild() EXCLUDES(mutex_);
  static Result<ImportReport> CheckLog(const EventSource& source);
  Result<ImportReport> Import(const EventSource& source) EXCLUDES(mutex_);
  Status Backup(const std::string& dir) EXCLUDES(mutex_);

 private:
  LedgerImpl(LedgerOptions options, Clock* clock);

  // ---- ledger_open.cc ----
  // Opens the RocksDB database: the primary, or a secondary beside it when read-only.
  Status OpenDatabase();
  // Reads (or, writable, writes) the format version; DataLoss for one this build does not read.
  Status CheckFormatVersion();
  // Writable: converts a format-1 ledger and derives the in-memory schedule.
  Status LoadWritableState() EXCLUDES(mutex_);
  // Flushes the memtables if the WAL has grown past its bounds (ledger_open.cc says why).
  void FlushIfLogGrew();

  // ---- command_path.cc ----
  Outcome Execute(CommitGroup& group, const Command& command, int64_t now_ns, uint64_t next_seq) REQUIRES(mutex_);
  Outcome ExecuteCreate(CommitGroup& group, const Command& command, int64_t now_ns, uint64_t next_seq)
      REQUIRES(mutex_);
  Outcome ExecuteClaimNext(CommitGroup& group, const Command& command, int64_t now_ns, uint64_t next_seq)
      REQUIRES(mutex_);
  Outcome ExecuteSweep(CommitGroup& group, const Command& command, int64_t now_ns, uint64_t next_seq)
      REQUIRES(mutex_);
  Status ApplyEvents(CommitGroup& group, const std::vector<Event>& events, int64_t now_ns) REQUIRES(mutex_);
  Status UpdateSchedule(CommitGroup& group, const TaskRecord& record, int64_t now_ns) REQUIRES(mutex_);
  Status PromoteDueTimers(CommitGroup& group, const std::string& queue, int64_t now_ns) REQUIRES(mutex_);
  Status FillReply(CommitGroup& group, int64_t now_ns, CommandReply* reply);
  // Writes a group made by SubmitGroup or ApplyReplicated (synced if `sync` and
  // options_.sync), keeping the durable view's bookkeeping; on success the schedule's
  // changes are committed and the group's records retired into the cache, on failure both
  // are dropped. `last_seq` and `last_ns`: the log's end with the group.
  Status WriteGroup(CommitGroup& group, bool sync, uint64_t last_seq, int64_t last_ns) REQUIRES(mutex_);
  // Forgets a group that is not written: the schedule's changes and the cached records.
  void DropGroup() REQUIRES(mutex_);

  // ---- replication.cc ----
  // Hands the group's events to options_.replicate and adds the position it returns to the
  // group's batch.
  Status Replicate(CommitGroup& group, const std::vector<Outcome>& outcomes) REQUIRES(mutex_);
  Result<uint64_t> ReadReplicatedPosition() REQUIRES(mutex_);

  // ---- reads.cc ----
  // The log folded up to `at`; *eval_ns: the time to evaluate it at.
  Result<Replay> ReplayTo(const ReadView& view, const PointInTime& at, int64_t* eval_ns);
  Result<std::optional<TaskRecord>> GetTaskIn(const ReadView& view, const std::string& id);
  Status ForEachEventIn(const ReadView& view, uint64_t from_seq, const std::function<bool(const Event&)>& fn);
  Status ForEachTaskEventIn(const ReadView& view, const std::string& id, uint64_t from_seq,
                            const std::function<bool(const Event&)>& fn);
  // ---- command_path.cc: the durable view's bookkeeping ----
  std::shared_ptr<const rocksdb::Snapshot> TakeSnapshot();
  // Before an unsynced write: reads keep the state before it until a sync covers it.
  void BeginUnsyncedWrite() REQUIRES(mutex_) EXCLUDES(view_mutex_);
  // After it: whether it was written, and the last seq and time it holds; its view is
  // pending until a sync covers it.
  void EndUnsyncedWrite(bool written, uint64_t seq, int64_t ns) REQUIRES(mutex_) EXCLUDES(view_mutex_);
  // After a synced write (which syncs every write before it too): reads see the latest.
  void AfterSyncedWrite() REQUIRES(mutex_) EXCLUDES(view_mutex_);

  // ---- maintenance.cc ----
  // Writes the records and indexes of every replayed task, then LoadIndex.
  Status WriteProjection(const Replay& replay, RebuildReport* report) REQUIRES(mutex_);
  // Deletes the derived families (and the log too if `with_log`) and the in-memory schedule.
  Status ClearFamilies(bool with_log) REQUIRES(mutex_);
  // Derives index_ from the live tasks' records.
  Status LoadIndex() REQUIRES(mutex_);
  // REQUIRES: opened writable. Drops format 1's stored places and deadlines.
  Status ConvertFromFormat1() REQUIRES(mutex_);

  rocksdb::ColumnFamilyHandle* cf(ColumnFamily family) const { return handles_[family]; }

  const LedgerOptions options_;
  Clock* const clock_;
  std::string secondary_path_;            // read-only beside a live owner: our RocksDB secondary dir
  std::optional<OwnedPath> owned_path_;   // writable on a real filesystem: registered as this process's
  std::unique_ptr<rocksdb::DB> db_;
  ColumnFamilyHandles handles_;
  int format_version_ = kFormatVersion;  // of the ledger on disk (a read-only format-1 ledger stays 1)

  mutable Mutex mutex_;
  uint64_t last_seq_ GUARDED_BY(mutex_) = 0;
  int64_t last_ns_ GUARDED_BY(mutex_) = 0;
  ScheduleIndex index_ GUARDED_BY(mutex_);  // writable ledgers only
  RecordCache records_ GUARDED_BY(mutex_);  // the writer's decoded records (commit_group.h)

  // The durable view (DurableView). Taken after mutex_ when both are held.
  mutable Mutex view_mutex_;
  // The last synced state while writes are pending a sync; empty: the latest is durable.
  std::optional<ReadView> durable_ GUARDED_BY(view_mutex_);
  // Unsynced writes in order, each the view right after it (snapshot null while written).
  std::deque<ReadView> unsynced_ GUARDED_BY(view_mutex_);
  // Whether reads must wait for syncs at all: writable, and acknowledging only after fsync.
  bool durable_reads_ = false;
};

}  // namespace taskledger
