// Ledger: the event log in RocksDB and the materialized projection beside it.
//
// A command is validated against the current state (projections/decide.h); its events and
// every projection and index change go into one WriteBatch, written with sync (durable) by
// default. A group of commands shares one batch and one sync (SubmitGroup): the server's
// group commit. See docs/format.md for the column families and keys.
//
// Thread-safety: all methods may be called from any thread. Writes are serialized by an
// internal mutex; reads see the last committed state.
//
// The implementation is behind LedgerImpl (ledger/ledger_impl.h), which lists the files
// that hold each part.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ledger/clock.h"
#include "projections/decide.h"
#include "projections/event.h"
#include "projections/replay.h"
#include "projections/status.h"
#include "projections/task.h"

namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace taskledger {

class LedgerImpl;     // ledger_impl.h
class TaskPagesImpl;  // task_pages.cc

struct LedgerOptions {
  std::string path;
  // Durable writes: every commit group is fsynced before it is acknowledged. Default true;
  // only tests and benchmarks that measure something else turn it off.
  bool sync = true;
  // Never writes; opens beside a server that owns the ledger (as a RocksDB secondary) or
  // on a copy. Default false.
  bool read_only = false;
  // Default true (ignored when read_only).
  bool create_if_missing = true;
  // The RocksDB environment; default (nullptr) the real filesystem. Tests may pass an
  // in-memory one.
  rocksdb::Env* env = nullptr;
  // Cluster mode (docs/scale-out.md): the local view of a partition whose log is
  // replicated elsewhere. Each commit group's events, encoded as stored, are handed to
  // `replicate` after they are decided and before anything is written here. The group is
  // written only if it returns Ok, with the returned position (the group's place in the
  // replicated log) stored in the same write; otherwise every command of the group fails
  // with its status and nothing of it is written. Called under the write mutex. A group
  // without events (a claim --next's repairs of the in-memory schedule only) is not handed
  // over. Default empty: a single-node ledger.
  std::function<Result<uint64_t>(const std::vector<std::string>& events)> replicate;
};

// A moment of the log to evaluate at (DESIGN §4): now, a ledger time, or after a seq.
struct PointInTime {
  enum class Kind { kNow, kTime, kSeq };
  Kind kind = Kind::kNow;
  int64_t value = 0;
  static PointInTime Now() { return {}; }
  static PointInTime AtTime(int64_t ns) { return {Kind::kTime, ns}; }
  static PointInTime AtSeq(uint64_t seq) { return {Kind::kSeq, static_cast<int64_t>(seq)}; }
};

struct TasksSnapshot {
  int64_t at_ns = 0;        // the evaluation time
  uint64_t seq = 0;         // the last event folded
  std::vector<TaskView> tasks;  // in creation order
};

struct VerifyReport {
  uint64_t events = 0;
  uint64_t tasks = 0;
  std::vector<std::string> problems;  // empty: clean. The first is the earliest found.
};

struct RebuildReport {
  uint64_t events = 0;
  uint64_t tasks = 0;
};

// An import source: calls `sink` for each event, in order, and returns the first error
// (the sink's, or its own), saying where in the source it happened (e.g. a line number).
using EventSink = std::function<Status(const Event&)>;
using EventSource = std::function<Status(const EventSink& sink)>;

struct ImportReport {
  uint64_t events = 0;
  uint64_t tasks = 0;
  uint64_t last_seq = 0;
  int64_t last_ns = 0;
};

// The current tasks (PointInTime::Now()) read a page at a time, in task-id order, with
// memory bounded by a page: what `ls` streams from a server. Every page comes from one
// RocksDB snapshot taken with seq() and at_ns() under the ledger's write mutex, and every
// view is evaluated at at_ns(), so the pages together are one consistent moment whatever is
// committed meanwhile. Dependencies are point reads at the same snapshot (a bounded cache
// of their statuses saves repeated reads).
//
// A read-only ledger is a RocksDB secondary, which has no snapshots: there the walk reads
// the state of the last Refresh(), and REQUIRES no Refresh() until it ends.
//
// Holds the snapshot (RocksDB keeps what it pins) until destroyed. Not thread-safe: one
// caller at a time. Must not outlive its Ledger. Made by Ledger::TaskPagesNow().
class TaskPages {
 public:
  ~TaskPages();
  TaskPages(const TaskPages&) = delete;
  TaskPages& operator=(const TaskPages&) = delete;

  int64_t at_ns() const;  // the evaluation time
  uint64_t seq() const;   // the last event the snapshot holds

  // Replaces *page with the next views, in id order: at most max_views of them, holding at
  // most max_record_bytes of stored records, except that a page always takes one record
  // however large. An empty page: the walk is over. REQUIRES: max_views > 0.
  Status Next(size_t max_views, size_t max_record_bytes, std::vector<TaskView>* page);

 private:
  friend class LedgerImpl;
  explicit TaskPages(std::unique_ptr<TaskPagesImpl> impl);
  std::unique_ptr<TaskPagesImpl> impl_;  // task_pages.cc
};

class Ledger {
 public:
  // Opens (creating if allowed) the ledger at options.path. `clock` must outlive it.
  // Busy with the holder's pid when another process owns the ledger.
  static Result<std::unique_ptr<Ledger>> Open(const LedgerOptions& options, Clock* clock);
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // One command, one durable commit.
  Outcome Submit(const Command& command);
  // The commands in order, each validated against the state the previous ones left, all
  // committed by one durable write. A write failure fails every outcome of the group.
  std::vector<Outcome> SubmitGroup(const std::vector<Command>& commands);

  // For a committer that overlaps one group's fsync with the next group's work
  // (GroupCommitter): as SubmitGroup, but the write is not synced. The group is visible
  // to later groups at once, and durable only once a SyncWrites() that began after this
  // call returned Ok. Reads (GetTask, TaskAt, TasksAt, TaskPagesNow, ForEachEvent,
  // last_seq, ...) see it only then: they never show what a power cut could take back.
  // REQUIRES: no outcome is acknowledged before that sync.
  std::vector<Outcome> SubmitGroupUnsynced(const std::vector<Command>& commands);
  // Makes every write submitted so far durable: one fsync of the write-ahead log. Ok at
  // once when the ledger was opened with sync = false. Thread-safe with submits.
  Status SyncWrites();

  // The ledger's current time: the clock, but never before the last event.
  int64_t Now();
  // The last event reads see (durable; see SubmitGroupUnsynced).
  uint64_t last_seq() const;
  bool read_only() const;
  const std::string& path() const;

  // A read-only ledger beside a live server: catch up with what it has written.
  Status Refresh();

  Result<std::optional<TaskRecord>> GetTask(const std::string& id);
  // One task's state at a point in time; NotFound if it did not exist then.
  Result<TaskView> TaskAt(const std::string& id, const PointInTime& at);
  // Every task's state at a point in time, in creation order. Now: every page of
  // TaskPagesNow(), sorted (it holds every view); otherwise a replay of the log.
  Result<TasksSnapshot> TasksAt(const PointInTime& at);
  // The current tasks, a page at a time (see TaskPages), from this moment's snapshot.
  Result<std::unique_ptr<TaskPages>> TaskPagesNow();

  // Events with seq >= from_seq, in order, until `fn` returns false.
  Status ForEachEvent(uint64_t from_seq, const std::function<bool(const Event&)>& fn);
  // One task's events with seq >= from_seq, in order.
  Status ForEachTaskEvent(const std::string& id, uint64_t from_seq, const std::function<bool(const Event&)>& fn);
  // The seq of the first event at or after a ledger time (last_seq()+1 if none).
  Result<uint64_t> FirstSeqAtOrAfter(int64_t time_ns);

  // Cluster mode: the position of the last replicated group this ledger holds (0: none),
  // and the way a group another writer replicated is applied here. ApplyReplicated checks
  // that the events continue this ledger's log (the next seqs, time never decreasing,
  // accepted by the derivation rules) and that `position` is past the stored one, then
  // folds and writes them as the command path would have, all in one write; DataLoss
  // names what does not fit and nothing is written.
  Result<uint64_t> ReplicatedPosition();
  Status ApplyReplicated(const std::vector<std::string>& events, uint64_t position);

  // Replays the whole log and checks it, the materialized projection and the indexes
  // against it (DESIGN §5).
  Result<VerifyReport> Verify();
  // Rebuilds the projection and indexes from the log.
  Result<RebuildReport> Rebuild();

  // Checks a whole log as Import does (Replay: dense seqs from 1, ledger time never
  // decreasing, every event accepted by the derivation rules). Writes nothing.
  static Result<ImportReport> CheckLog(const EventSource& source);
  // Loads a whole log into this ledger, which must be empty (FailedPrecondition-like
  // Refused otherwise). The events keep their own seq and time. `source` is read twice:
  // first every event is checked (CheckLog) and nothing is written if any is refused;
  // then the events are appended in batches, and the projection and indexes are built
  // from them as `rebuild` builds them. If the second reading differs from the first,
  // what was written is removed again.
  Result<ImportReport> Import(const EventSource& source);
  // A consistent copy of the ledger (a RocksDB checkpoint: a commit-group boundary, hard
  // links where possible) in `dir`, which must not exist or be empty. The copy opens on
  // its own. REQUIRES: opened writable (RocksDB checkpoints need the primary).
  Status Backup(const std::string& dir);

 private:
  explicit Ledger(std::unique_ptr<LedgerImpl> impl);
  std::unique_ptr<LedgerImpl> impl_;  // ledger_impl.h
};

}  // namespace taskledger
