#include "ledger/ledger.h"

#include <fcntl.h>
#include <rocksdb/db.h>
#include <rocksdb/sst_file_reader.h>
#include <rocksdb/env.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/utilities/checkpoint.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cassert>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <thread>
#include <unordered_map>

#include "ledger/codec.h"
#include "ledger/keys.h"
#include "projections/limits.h"
#include "projections/time_text.h"

namespace taskledger {
namespace {

// Column families (docs/format.md "Keys"). The order is the handle index.
enum ColumnFamily : int {
  kMeta = 0,  // RocksDB's default: format_version
  kEvents,
  kTaskEvents,
  kTasks,
  kSchedule,   // which tasks are live (in the in-memory schedule): ledger/schedule_index.h
  kDeadlines,  // format 1 only: emptied when a format-1 ledger is opened writable
  kDependents,
  kIdempotency,
  kColumnFamilyCount,
};
const char* const kColumnFamilyNames[kColumnFamilyCount] = {
    "default", "events", "task_events", "tasks", "schedule", "deadlines", "dependents", "idempotency"};
// The projection and indexes: everything `rebuild` recreates from the log.
constexpr ColumnFamily kDerivedFamilies[] = {kTaskEvents, kTasks, kSchedule, kDeadlines, kDependents, kIdempotency};

constexpr char kFormatVersionKey[] = "format_version";
// 2: the schedule and deadlines are in memory; `schedule` holds one live marker per task.
// 1: they were stored (R/T/S keys, `deadlines`). A format-1 ledger opens read-only as it
// is and is converted at its first writable open (ConvertFromFormat1).
constexpr int kFormatVersion = 2;
constexpr int kOldestFormatVersion = 1;

// Due timers promoted per pass of claim --next: bounds one batch of index reads.
constexpr size_t kPromoteBatch = 256;
// A schedule entry that cannot be claimed is repaired and skipped; more than this many in
// one claim means the index is broken, not merely stale.
constexpr int kMaxClaimSkips = 64;
// Lease-expired markers appended by one sweep: bounds one commit.
constexpr size_t kMaxSweepEvents = 10'000;
// Events per write while rebuilding.
constexpr size_t kRebuildBatchEvents = 10'000;
// Events per write while importing: each event is two entries (log and task index).
constexpr uint32_t kImportBatchEvents = 10'000;
// A writable ledger flushes at open and close once its memtables hold this much...
constexpr uint64_t kFlushMemtableBytes = 16ULL << 20;
// ...or this many WAL files have accumulated (see FlushIfLogGrew).
constexpr size_t kFlushWalFiles = 8;
// TaskPages remembers the own statuses of this many dependencies it has read: a few hundred
// KiB, enough for dependencies shared by many tasks.
constexpr size_t kDependencyStatusesMax = 4096;
// The pages TasksAt(now) reads: it holds every view anyway; the page only bounds the
// transient part.
constexpr size_t kTasksAtPageViews = 4096;
constexpr size_t kTasksAtPageRecordBytes = 16 << 20;

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  const std::string message = std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) return Status::DataLoss(message);
  if (s.IsNoSpace()) return Status::IOError(message + " (disk full)");
  if (s.IsNotFound()) return Status::NotFound(message);
  return Status::IOError(message);
}

// Read options of a scan of the whole log (replay to a point in time, verify, rebuild) or
// of a whole derived family (verify): such a scan reads every block once, so it must not
// evict the block cache that serves the ledger's point reads (fill_cache), and reads ahead
// in large steps. Checksums stay verified: measured, they cost under 1 % of a verify
// (hardware crc32c), not worth a scan that could read a damaged block unnoticed.
rocksdb::ReadOptions LogScanOptions() {
  rocksdb::ReadOptions options;
  options.fill_cache = false;
  options.readahead_size = 2 << 20;
  return options;
}

// Every event of the log from `from_seq` on, decoded into one reused Event, until `fn`
// returns false. `fn` must not keep a reference to the event past its call.
template <typename Fn>
Status ScanEvents(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events, const rocksdb::ReadOptions& options,
                  uint64_t from_seq, Fn&& fn) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(options, events));
  EventDecoder decoder;
  Event event;
  for (it->Seek(keys::Seq(std::max<uint64_t>(from_seq, 1))); it->Valid(); it->Next()) {
    if (Status s = decoder.Decode(it->value().ToStringView(), &event); !s.ok()) {
      return Status::DataLoss("event at seq " + std::to_string(keys::ReadU64(it->key().ToStringView())) + ": " +
                              s.message());
    }
    if (!fn(static_cast<const Event&>(event))) return Status::Ok();
  }
  return FromRocks(it->status(), "read the log");
}

// ScanEvents for a fold: events are decoded kFoldAhead ahead of `fn`, and the replay is
// told of each as it is decoded (the task's slot) and again half way (its record), so the
// cache misses of its lookup overlap decoding instead of stalling each event. What `fn`
// sees, and where the scan stops, is exactly as with ScanEvents: the events are passed in
// order, a decoding or read error is returned only once every event before it was passed,
// and none if `fn` stops first (ReplayTo stops at a time, maybe before a damaged event).
constexpr size_t kFoldAhead = 8;

template <typename Fn>
Status FoldEventsOneThread(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events, const rocksdb::ReadOptions& options,
                           const Replay& replay, Fn&& fn) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(options, events));
  EventDecoder decoder;
  std::array<Event, kFoldAhead> ring;
  size_t decoded = 0, passed = 0;
  Status error = Status::Ok();
  for (it->Seek(keys::Seq(1)); it->Valid(); it->Next()) {
    if (decoded - passed == kFoldAhead) {
      if (!fn(static_cast<const Event&>(ring[passed % kFoldAhead]))) return Status::Ok();
      ++passed;
    }
    Event& event = ring[decoded % kFoldAhead];
    if (Status s = decoder.Decode(it->value().ToStringView(), &event); !s.ok()) {
      error = Status::DataLoss("event at seq " + std::to_string(keys::ReadU64(it->key().ToStringView())) + ": " +
                               s.message());
      break;
    }
    replay.PrefetchSlot(event.task_id);
    ++decoded;
    if (decoded - passed > kFoldAhead / 2) replay.PrefetchRecord(ring[(decoded - kFoldAhead / 2 - 1) % kFoldAhead].task_id);
  }
  if (error.ok()) error = FromRocks(it->status(), "read the log");
  for (; passed < decoded; ++passed) {
    if (!fn(static_cast<const Event&>(ring[passed % kFoldAhead]))) return Status::Ok();
  }
  return error;
}

// FoldEvents on two threads: a reader iterates and decodes the log into batches of reused
// Events, handed over through a bounded queue, while the calling thread prefetches and
// folds them. Same contract as FoldEventsOneThread (order, errors, stopping).
constexpr size_t kFoldBatchEvents = 256;
constexpr size_t kFoldBatches = 4;

struct EventBatch {
  std::vector<Event> events = std::vector<Event>(kFoldBatchEvents);
  size_t size = 0;
  Status status = Status::Ok();  // after the last event of the batch
  bool last = false;
};

template <typename Fn>
Status FoldEventsTwoThreads(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events, const rocksdb::ReadOptions& options,
                            const Replay& replay, Fn&& fn) {
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<std::unique_ptr<EventBatch>> empty, full;
  bool stop = false;
  for (size_t i = 0; i < kFoldBatches; ++i) empty.push_back(std::make_unique<EventBatch>());
  std::thread reader([&] {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(options, events));
    EventDecoder decoder;
    it->Seek(keys::Seq(1));
    for (bool last = false; !last;) {
      std::unique_ptr<EventBatch> batch;
      {
        std::unique_lock lock(mutex);
        changed.wait(lock, [&] { return stop || !empty.empty(); });
        if (stop) return;
        batch = std::move(empty.front());
        empty.pop_front();
      }
      batch->size = 0;
      batch->status = Status::Ok();
      batch->last = false;
      for (; batch->size < kFoldBatchEvents && it->Valid(); it->Next()) {
        if (Status s = decoder.Decode(it->value().ToStringView(), &batch->events[batch->size]); !s.ok()) {
          batch->status = Status::DataLoss("event at seq " + std::to_string(keys::ReadU64(it->key().ToStringView())) +
                                           ": " + s.message());
          batch->last = true;
          break;
        }
        ++batch->size;
      }
      if (!batch->last && !it->Valid()) {
        batch->status = FromRocks(it->status(), "read the log");
        batch->last = true;
      }
      last = batch->last;
      {
        std::lock_guard lock(mutex);
        full.push_back(std::move(batch));
      }
      changed.notify_all();
    }
  });
  const auto finish = [&](Status status) {
    {
      std::lock_guard lock(mutex);
      stop = true;
    }
    changed.notify_all();
    reader.join();
    return status;
  };
  for (;;) {
    std::unique_ptr<EventBatch> batch;
    {
      std::unique_lock lock(mutex);
      changed.wait(lock, [&] { return !full.empty(); });
      batch = std::move(full.front());
      full.pop_front();
    }
    const std::vector<Event>& batch_events = batch->events;
    for (size_t i = 0; i < batch->size && i < kFoldAhead; ++i) replay.PrefetchSlot(batch_events[i].task_id);
    for (size_t i = 0; i < batch->size && i < kFoldAhead / 2; ++i) replay.PrefetchRecord(batch_events[i].task_id);
    for (size_t i = 0; i < batch->size; ++i) {
      if (i + kFoldAhead < batch->size) replay.PrefetchSlot(batch_events[i + kFoldAhead].task_id);
      if (i + kFoldAhead / 2 < batch->size) replay.PrefetchRecord(batch_events[i + kFoldAhead / 2].task_id);
      if (!fn(static_cast<const Event&>(batch_events[i]))) return finish(Status::Ok());
    }
    if (batch->last) return finish(batch->status);
    {
      std::lock_guard lock(mutex);
      empty.push_back(std::move(batch));
    }
    changed.notify_all();
  }
}

template <typename Fn>
Status FoldEvents(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events, const rocksdb::ReadOptions& options,
                  const Replay& replay, Fn&& fn) {
  if (std::thread::hardware_concurrency() < 2) return FoldEventsOneThread(db, events, options, replay, fn);
  return FoldEventsTwoThreads(db, events, options, replay, fn);
}

// The pid that holds RocksDB's LOCK file of `path` (an fcntl lock), or 0.
// The paths of the ledgers this process has open for writing. fcntl locks belong to a
// process, so LockHolder cannot see our own: a read-only verify beside a writable ledger of
// the same process (tests, an embedded tool) must still know that an owner is writing.
std::mutex& OwnedPathsMutex() {
  static std::mutex mutex;
  return mutex;
}
std::multiset<std::string>& OwnedPaths() {
  static std::multiset<std::string> paths;
  return paths;
}
std::string CanonicalPath(const std::string& path) {
  std::error_code error;
  const std::filesystem::path canonical = std::filesystem::weakly_canonical(path, error);
  return error ? path : canonical.string();
}
bool OwnedByThisProcess(const std::string& path) {
  std::lock_guard lock(OwnedPathsMutex());
  return OwnedPaths().count(CanonicalPath(path)) != 0;
}

pid_t LockHolder(const std::string& path) {
  const std::string lock_path = path + "/LOCK";
  // Read-only is enough for F_GETLK, and lets an auditor who may only read the ledger
  // still see its owner.
  const int fd = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct flock query {};
  query.l_type = F_WRLCK;
  query.l_whence = SEEK_SET;
  const int rc = ::fcntl(fd, F_GETLK, &query);
  ::close(fd);
  if (rc != 0 || query.l_type == F_UNLCK) return 0;
  return query.l_pid;
}

std::string DescribeProcess(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  while (!cmdline.empty() && cmdline.back() == ' ') cmdline.pop_back();
  std::string out = "pid " + std::to_string(pid);
  if (!cmdline.empty()) out += ": " + cmdline;
  return out;
}

// Where a task waits in the schedule index at `now` ("" = nowhere: finished, blocked, or
// waiting for a dependency, which wakes it when it completes).
std::string ScheduleKey(TaskRecord r, int64_t now_ns, const DependencyLookup& dependencies) {
  Settle(&r, now_ns);
  if (r.terminal() || r.blocked) return "";
  if (r.attempt_open) return keys::Timer(r.spec.queue, r.deadline_ns, r.id);
  for (const std::string& dep : r.spec.after) {
    if (dependencies(dep) != TaskStatus::kDone) return "";
  }
  const int64_t ready_at = std::max(r.spec.not_before_ns, r.backoff_until_ns);
  if (ready_at > now_ns) return keys::Timer(r.spec.queue, ready_at, r.id);
  return keys::Ready(r.spec.queue, r.spec.priority, r.created_seq);
}

std::string DefaultActor(const Command& c) {
  if (!c.actor.empty()) return c.actor;
  switch (c.kind) {
    case CommandKind::kCreate: return "dispatcher";
    case CommandKind::kBlock:
    case CommandKind::kUnblock:
    case CommandKind::kCancel:
    case CommandKind::kRevive: return "operator";
    case CommandKind::kSweep: return "sweeper";
    default: return "unknown";
  }
}

}  // namespace

// A commit group in the making: one plain WriteBatch, and beside it what the group's own
// commands read back of what it wrote (task records, idempotency keys, dependents, claims).
// A WriteBatchWithIndex did that generically, but indexing every key of the batch and
// reading through batch and DB cost more CPU than the rest of a command (perf: the index
// ~13 %, batch-and-DB reads ~24 % of a group); the writes the group reads back are few and
// known.
// Save points cover the batch and the overlay together.
// REQUIRES: the ledger's mutex is held for the Txn's whole life.
class Ledger::Txn {
 public:
  explicit Txn(Ledger* ledger) : ledger_(ledger) {}

  // A task's record as of the group: written by it, read before, or from the DB.
  Result<std::optional<TaskRecord>> GetTask(const std::string& id) {
    if (auto cached = records_.find(id); cached != records_.end()) return std::optional<TaskRecord>(cached->second);
    std::string bytes;
    const rocksdb::Status s = ledger_->db_->Get(rocksdb::ReadOptions(), ledger_->cf(kTasks), id, &bytes);
    if (s.IsNotFound()) return std::optional<TaskRecord>();
    if (!s.ok()) return FromRocks(s, "read task " + id);
    Result<TaskRecord> record = DecodeTask(bytes);
    if (!record.ok()) return record.status();
    // What the DB holds: stays true across a rollback, so no undo.
    records_.emplace(id, *record);
    return std::optional<TaskRecord>(std::move(*record));
  }

  Result<bool> TaskExists(const std::string& id) {
    if (records_.count(id) != 0) return true;
    std::string bytes;
    const rocksdb::Status s = ledger_->db_->Get(rocksdb::ReadOptions(), ledger_->cf(kTasks), id, &bytes);
    if (s.IsNotFound()) return false;
    if (!s.ok()) return FromRocks(s, "read task " + id);
    return true;
  }

  // Writes a task's record and keeps it decoded for the rest of the group: a command reads
  // its task three or four times (decide, apply, schedule, reply).
  void PutTask(const TaskRecord& record) {
    batch_.Put(ledger_->cf(kTasks), record.id, EncodeTask(record));
    auto it = records_.find(record.id);
    if (it == records_.end()) {
      undo_.push_back({Undo::kRecord, record.id, std::nullopt});
      records_.emplace(record.id, record);
    } else {
      undo_.push_back({Undo::kRecord, record.id, std::move(it->second)});
      it->second = record;
    }
  }

  // The events of a claim, by seq: an unnamed holder command speaks for its claim's worker.
  void PutEvent(const Event& event, const std::string& encoded) {
    batch_.Put(ledger_->cf(kEvents), keys::Seq(event.seq), encoded);
    batch_.Put(ledger_->cf(kTaskEvents), keys::TaskEvent(event.task_id, event.seq), "");
    if (event.kind == EventKind::kClaimed) {
      claims_[event.seq] = {event.task_id, event.actor};
      undo_.push_back({Undo::kClaim, keys::Seq(event.seq), std::nullopt});
    }
  }
  // The task and worker of the claim with this seq, if it is one.
  Result<std::optional<std::pair<std::string, std::string>>> GetClaim(uint64_t seq) {
    using Claim = std::optional<std::pair<std::string, std::string>>;
    if (auto it = claims_.find(seq); it != claims_.end()) return Claim(it->second);
    std::string bytes;
    const rocksdb::Status s = ledger_->db_->Get(rocksdb::ReadOptions(), ledger_->cf(kEvents), keys::Seq(seq), &bytes);
    if (s.IsNotFound()) return Claim();
    if (!s.ok()) return FromRocks(s, "read event " + std::to_string(seq));
    Result<Event> event = DecodeEvent(bytes);
    if (!event.ok() || event->kind != EventKind::kClaimed) return Claim();
    return Claim(std::make_pair(event->task_id, event->actor));
  }

  void PutIdempotency(const std::string& key, const std::string& id) {
    batch_.Put(ledger_->cf(kIdempotency), key, id);
    idempotency_[key] = id;
    undo_.push_back({Undo::kIdempotency, key, std::nullopt});
  }
  Result<std::optional<std::string>> GetIdempotency(const std::string& key) {
    if (auto it = idempotency_.find(key); it != idempotency_.end()) return std::optional<std::string>(it->second);
    std::string id;
    const rocksdb::Status s = ledger_->db_->Get(rocksdb::ReadOptions(), ledger_->cf(kIdempotency), key, &id);
    if (s.IsNotFound()) return std::optional<std::string>();
    if (!s.ok()) return FromRocks(s, "read idempotency key");
    return std::optional<std::string>(std::move(id));
  }

  void PutDependent(const std::string& dependency, const std::string& dependent) {
    batch_.Put(ledger_->cf(kDependents), keys::Dependent(dependency, dependent), "");
    dependents_[dependency].push_back(dependent);
    undo_.push_back({Undo::kDependent, dependency, std::nullopt});
  }
  // The tasks created after `dependency`, stored or written by the group.
  Result<std::vector<std::string>> Dependents(const std::string& dependency) {
    std::vector<std::string> found;
    const std::string prefix = keys::DependentPrefix(dependency);
    std::unique_ptr<rocksdb::Iterator> it(
        ledger_->db_->NewIterator(rocksdb::ReadOptions(), ledger_->cf(kDependents)));
    for (it->Seek(prefix); it->Valid() && keys::StartsWith(it->key().ToStringView(), prefix); it->Next()) {
      found.emplace_back(it->key().ToStringView().substr(prefix.size()));
    }
    TL_RETURN_IF_ERROR(FromRocks(it->status(), "read dependents"));
    if (auto written = dependents_.find(dependency); written != dependents_.end()) {
      found.insert(found.end(), written->second.begin(), written->second.end());
    }
    return found;
  }

  void PutLiveMarker(const std::string& id, bool live) {
    if (live) {
      batch_.Put(ledger_->cf(kSchedule), keys::ScheduleOf(id), "");
    } else {
      batch_.Delete(ledger_->cf(kSchedule), keys::ScheduleOf(id));
    }
  }

  // Dependencies' own status at `now`, reading through the group. A read error reads as
  // "not done": the safe side (nothing is claimed on it).
  DependencyLookup Dependencies(int64_t now_ns) {
    return [this, now_ns](const std::string& id) -> std::optional<TaskStatus> {
      Result<std::optional<TaskRecord>> dep = GetTask(id);
      if (!dep.ok() || !dep->has_value()) return std::nullopt;
      return OwnStatus(**dep, now_ns);
    };
  }

  void SetSavePoint() {
    batch_.SetSavePoint();
    save_points_.push_back(undo_.size());
  }
  void PopSavePoint() {
    (void)batch_.PopSavePoint();
    save_points_.pop_back();
  }
  void RollbackToSavePoint() {
    (void)batch_.RollbackToSavePoint();
    const size_t keep = save_points_.back();
    save_points_.pop_back();
    while (undo_.size() > keep) {
      Undo undo = std::move(undo_.back());
      undo_.pop_back();
      switch (undo.kind) {
        case Undo::kRecord:
          if (undo.previous) {
            records_[undo.key] = std::move(*undo.previous);
          } else {
            records_.erase(undo.key);
          }
          break;
        case Undo::kClaim: claims_.erase(keys::ReadU64(undo.key)); break;
        case Undo::kIdempotency: idempotency_.erase(undo.key); break;
        case Undo::kDependent: dependents_[undo.key].pop_back(); break;
      }
    }
  }

  rocksdb::WriteBatch& batch() { return batch_; }

 private:
  struct Undo {
    enum Kind { kRecord, kClaim, kIdempotency, kDependent } kind;
    std::string key;                      // task id, seq, idempotency key, dependency
    std::optional<TaskRecord> previous;   // kRecord: the record before, if the group had one
  };

  Ledger* ledger_;
  rocksdb::WriteBatch batch_;
  std::unordered_map<std::string, TaskRecord> records_;  // as of the batch: read or written
  std::unordered_map<uint64_t, std::pair<std::string, std::string>> claims_;  // seq -> task, worker
  std::unordered_map<std::string, std::string> idempotency_;
  std::unordered_map<std::string, std::vector<std::string>> dependents_;
  std::vector<Undo> undo_;
  std::vector<size_t> save_points_;
};

Ledger::Ledger(LedgerOptions options, Clock* clock) : options_(std::move(options)), clock_(clock) {}

// A large unflushed write-ahead log makes every open slow: a primary replays it into
// memtables, and so does every read-only verb's secondary, each time it opens. And since
// recovery does not flush (see Open), each open starts a new WAL file and keeps the older
// ones until a flush. So a writable ledger flushes at open and at close once either has
// grown past its bound; below them (an embedded CLI command wrote a few events) the WAL is
// cheaper to replay than a new SST per family is to write. At open as well as at close: a
// server killed with -9 never closes, and without the flush at open its restarts replayed
// ever more WAL files (the crash loop found it: 138 kills, 148 files, no restart in time).
void Ledger::FlushIfLogGrew() {
  uint64_t unflushed = 0;
  rocksdb::VectorLogPtr wal_files;
  const bool many_wal_files = db_->GetSortedWalFiles(wal_files).ok() && wal_files.size() >= kFlushWalFiles;
  if (many_wal_files || (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &unflushed) &&
                         unflushed >= kFlushMemtableBytes)) {
    rocksdb::FlushOptions flush;
    (void)db_->Flush(flush, handles_);  // best effort: the WAL still holds everything
  }
}

Ledger::~Ledger() {
  if (db_ && !options_.read_only) FlushIfLogGrew();
  if (!owned_path_.empty()) {
    std::lock_guard lock(OwnedPathsMutex());
    auto it = OwnedPaths().find(owned_path_);
    if (it != OwnedPaths().end()) OwnedPaths().erase(it);
  }
  for (rocksdb::ColumnFamilyHandle* handle : handles_) {
    if (db_) (void)db_->DestroyColumnFamilyHandle(handle);
  }
  handles_.clear();
  db_.reset();
  if (!secondary_path_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(secondary_path_, ignored);
  }
}

Result<std::unique_ptr<Ledger>> Ledger::Open(const LedgerOptions& options, Clock* clock) {
  if (options.path.empty()) return Status::InvalidArgument("the ledger path is empty");
  std::unique_ptr<Ledger> ledger(new Ledger(options, clock));

  rocksdb::Options db_options;
  db_options.env = options.env != nullptr ? options.env : rocksdb::Env::Default();
  db_options.create_if_missing = !options.read_only && options.create_if_missing;
  db_options.create_missing_column_families = db_options.create_if_missing;
  db_options.IncreaseParallelism(2);
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  db_options.keep_log_file_num = 4;
  // A damaged record in the middle of the WAL is DataLoss, not the end of the log: the
  // default (point-in-time recovery) would open silently without every acknowledged
  // command after it (tests/faults). A torn last record (a crash mid-write, never
  // acknowledged) is still tolerated.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  // Recovered WAL data stays in the memtables instead of being flushed at open: otherwise
  // every embedded CLI command (open, write a few keys, close) left a new SST per family
  // behind. The memtables are flushed when full, or at open or close once the WAL has
  // grown (FlushIfLogGrew).
  db_options.avoid_flush_during_recovery = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const char* name : kColumnFamilyNames) families.emplace_back(name, rocksdb::ColumnFamilyOptions(db_options));

  const bool real_fs = options.env == nullptr;
  const bool exists = real_fs ? std::filesystem::exists(options.path + "/CURRENT")
                              : db_options.env->FileExists(options.path + "/CURRENT").ok();
  if (!exists && !db_options.create_if_missing) {
    return Status::IOError("no ledger at " + options.path + " (create one with `taskledger create`)");
  }
  const pid_t holder = real_fs ? LockHolder(options.path) : 0;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s;
  if (!options.read_only) {
    if (holder != 0) {
      return Status::Busy("ledger " + options.path + " is held by another process (" + DescribeProcess(holder) +
                          "); stop it, or go through it with --connect");
    }
    if (real_fs && !exists) {
      std::error_code error;
      std::filesystem::create_directories(options.path, error);
      if (error) return Status::IOError("cannot create " + options.path + ": " + error.message());
    }
    s = rocksdb::DB::Open(db_options, options.path, families, &ledger->handles_, &db);
    if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
      return Status::Busy("ledger " + options.path + " is already open (" + s.ToString() + ")");
    }
  } else {
    // Read-only verbs follow the ledger as a RocksDB secondary: safe while a server owns
    // it (OpenForReadOnly is undefined while another process writes), never touching its
    // files, and able to catch up (Refresh) for `log --follow`.
    char dir[] = "/tmp/taskledger-secondary-XXXXXX";
    if (::mkdtemp(dir) == nullptr) return Status::IOError("cannot create a secondary directory in /tmp");
    ledger->secondary_path_ = dir;
    db_options.max_open_files = -1;
    s = rocksdb::DB::OpenAsSecondary(db_options, options.path, ledger->secondary_path_, families,
                                     &ledger->handles_, &db);
  }
  if (!s.ok()) return FromRocks(s, "cannot open ledger " + options.path);
  ledger->db_.reset(db);

  std::string version;
  s = db->Get(rocksdb::ReadOptions(), ledger->cf(kMeta), kFormatVersionKey, &version);
  if (s.IsNotFound()) {
    if (!options.read_only) {
      rocksdb::WriteOptions write_options;
      write_options.sync = options.sync;
      TL_RETURN_IF_ERROR(FromRocks(db->Put(write_options, ledger->cf(kMeta), kFormatVersionKey,
                                           std::to_string(kFormatVersion)),
                                   "cannot initialize ledger"));
    }
  } else if (!s.ok()) {
    return FromRocks(s, "cannot read the ledger's format version");
  } else {
    const int found = version.size() == 1 && version[0] >= '1' && version[0] <= '9' ? version[0] - '0' : 0;
    if (found < kOldestFormatVersion || found > kFormatVersion) {
      return Status::DataLoss("ledger " + options.path + " has format version " + version +
                              "; this taskledger reads versions " + std::to_string(kOldestFormatVersion) + " to " +
                              std::to_string(kFormatVersion));
    }
    ledger->format_version_ = found;
  }
  if (!options.read_only && real_fs) {
    ledger->owned_path_ = CanonicalPath(options.path);
    std::lock_guard lock(OwnedPathsMutex());
    OwnedPaths().insert(ledger->owned_path_);
  }
  TL_RETURN_IF_ERROR(ledger->Refresh());
  if (!options.read_only) {
    ledger->FlushIfLogGrew();
    std::lock_guard lock(ledger->mutex_);
    if (ledger->format_version_ < kFormatVersion) TL_RETURN_IF_ERROR(ledger->ConvertFromFormat1());
    TL_RETURN_IF_ERROR(ledger->LoadIndex());
  }
  return ledger;
}

Status Ledger::Refresh() {
  if (!secondary_path_.empty()) TL_RETURN_IF_ERROR(FromRocks(db_->TryCatchUpWithPrimary(), "catch up"));
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kEvents)));
  it->SeekToLast();
  TL_RETURN_IF_ERROR(FromRocks(it->status(), "read the log's end"));
  std::lock_guard lock(mutex_);
  if (!it->Valid()) {
    last_seq_ = 0;
    last_ns_ = 0;
    return Status::Ok();
  }
  Result<Event> last = DecodeEvent(it->value().ToStringView());
  if (!last.ok()) return last.status();
  last_seq_ = last->seq;
  last_ns_ = last->time_ns;
  return Status::Ok();
}

int64_t Ledger::Now() {
  std::lock_guard lock(mutex_);
  return std::max(clock_->NowNs(), last_ns_);
}

uint64_t Ledger::last_seq() const {
  std::lock_guard lock(mutex_);
  return last_seq_;
}

Outcome Ledger::Submit(const Command& command) { return std::move(SubmitGroup({command}).front()); }

std::vector<Outcome> Ledger::SubmitGroup(const std::vector<Command>& commands) {
  std::vector<Outcome> outcomes;
  outcomes.reserve(commands.size());
  if (options_.read_only) {
    for (size_t i = 0; i < commands.size(); ++i) {
      outcomes.push_back({Status::IOError("ledger " + options_.path + " is open read-only"), {}});
    }
    return outcomes;
  }
  std::lock_guard lock(mutex_);
  Txn txn(this);
  uint64_t next_seq = last_seq_ + 1;
  int64_t last_ns = last_ns_;
  for (const Command& command : commands) {
    // Ledger time never decreases, whatever the clock does.
    const int64_t now_ns = std::max(clock_->NowNs(), last_ns);
    txn.SetSavePoint();
    const size_t index_save_point = index_.SavePoint();
    Outcome outcome = Execute(txn, command, now_ns, next_seq);
    const bool rule_refusal = outcome.status.IsRefused() || outcome.status.IsNotFound() ||
                              outcome.status.code() == Code::kInvalidArgument;
    if (!outcome.status.ok() && !rule_refusal) {
      // Nothing of a command that failed for another reason is written.
      txn.RollbackToSavePoint();
      index_.RollbackTo(index_save_point);
      outcome.reply.events.clear();
    } else {
      txn.PopSavePoint();
    }
    next_seq += outcome.reply.events.size();
    if (!outcome.reply.events.empty()) last_ns = now_ns;
    outcomes.push_back(std::move(outcome));
  }
  // Tasks that entered or left the schedule: the one thing of it that is stored.
  for (const auto& [id, live] : index_.LivenessChanges()) txn.PutLiveMarker(id, live);
  if (txn.batch().Count() > 0) {
    rocksdb::WriteOptions write_options;
    write_options.sync = options_.sync;
    const Status written = FromRocks(db_->Write(write_options, &txn.batch()), "commit");
    if (!written.ok()) {
      for (Outcome& outcome : outcomes) {
        outcome.status = written;
        outcome.reply.events.clear();
      }
      index_.RollbackTo(0);
      index_.Commit();
      return outcomes;
    }
  }
  index_.Commit();
  last_seq_ = next_seq - 1;
  last_ns_ = last_ns;
  return outcomes;
}

Outcome Ledger::Execute(Txn& txn, const Command& given, int64_t now_ns, uint64_t next_seq) {
  Command command = given;
  command.actor = DefaultActor(given);
  if (Status s = ValidateName("actor", command.actor); !s.ok()) return {s, {}};
  if (Status s = ValidateText("text", command.text); !s.ok()) return {s, {}};
  if (!command.meta.host.empty()) {
    if (Status s = ValidateName("client host", command.meta.host); !s.ok()) return {s, {}};
  }
  switch (command.kind) {
    case CommandKind::kCreate:
      return ExecuteCreate(txn, command, now_ns, next_seq);
    case CommandKind::kSweep:
      return ExecuteSweep(txn, command, now_ns, next_seq);
    case CommandKind::kClaim:
      if (command.next) return ExecuteClaimNext(txn, command, now_ns, next_seq);
      break;
    case CommandKind::kSignal:
      if (Status s = ValidateName("signal", command.signal); !s.ok()) return {s, {}};
      if (command.grace_ns < 0 || command.grace_ns > kMaxDurationNs) {
        return {Status::InvalidArgument("grace must be between 0 and a year"), {}};
      }
      break;
    case CommandKind::kExit:
      if (!command.exit_code && command.signal.empty()) {
        return {Status::InvalidArgument("exit needs a code or a signal"), {}};
      }
      if (!command.exit_code) {
        if (Status s = ValidateName("signal", command.signal); !s.ok()) return {s, {}};
      }
      break;
    default:
      break;
  }
  if (command.kind == CommandKind::kClaim && (command.ttl_ns < 0 || command.ttl_ns > kMaxDurationNs)) {
    return {Status::InvalidArgument("ttl must be between 0 and a year"), {}};
  }
  if (Status s = ValidateName("task id", command.task_id); !s.ok()) return {s, {}};
  Result<std::optional<TaskRecord>> record = txn.GetTask(command.task_id);
  if (!record.ok()) return {record.status(), {}};
  if (!record->has_value()) return {Status::NotFound("no task " + command.task_id), {}};
  if (given.actor.empty() && command.token != 0) {
    // A holder command without a name speaks for whoever claimed its token: the token is
    // the seq of that claim, so a zombie's rejected command still names the zombie.
    Result<std::optional<std::pair<std::string, std::string>>> claim = txn.GetClaim(command.token);
    if (!claim.ok()) return {claim.status(), {}};
    if (claim->has_value() && (*claim)->first == command.task_id) command.actor = (*claim)->second;
  }
  const DecisionContext context{now_ns, next_seq, txn.Dependencies(now_ns)};
  Outcome outcome = DecideOnTask(command, **record, context);
  if (!outcome.reply.events.empty()) {
    if (Status s = ApplyEvents(txn, outcome.reply.events, now_ns); !s.ok()) return {s, {}};
  }
  if (outcome.status.ok()) {
    if (Status s = FillReply(txn, now_ns, &outcome.reply); !s.ok()) return {s, {}};
  }
  return outcome;
}

Outcome Ledger::ExecuteCreate(Txn& txn, const Command& given, int64_t now_ns, uint64_t next_seq) {
  Command command = given;
  if (Status s = NormalizeSpec(&command.spec); !s.ok()) return {s, {}};
  Outcome outcome;
  if (!command.spec.idempotency_key.empty()) {
    Result<std::optional<std::string>> existing = txn.GetIdempotency(command.spec.idempotency_key);
    if (!existing.ok()) return {existing.status(), {}};
    if (existing->has_value()) {
      // The same request again: the task it created, and nothing appended.
      outcome.reply.task_id = **existing;
      outcome.reply.existing = true;
      if (Status s = FillReply(txn, now_ns, &outcome.reply); !s.ok()) return {s, {}};
      return outcome;
    }
  }
  std::string id = command.task_id;
  if (id.empty()) {
    id = "t-" + std::to_string(next_seq);
    for (int suffix = 1;; ++suffix) {
      Result<bool> taken = txn.TaskExists(id);
      if (!taken.ok()) return {taken.status(), {}};
      if (!*taken) break;
      id = "t-" + std::to_string(next_seq) + "-" + std::to_string(suffix);
    }
  } else {
    if (Status s = ValidateName("task id", id); !s.ok()) return {s, {}};
    Result<bool> taken = txn.TaskExists(id);
    if (!taken.ok()) return {taken.status(), {}};
    if (*taken) return {Status::Refused("task " + id + " already exists"), {}};
  }
  std::vector<std::string> unique_after;
  for (const std::string& dep : command.spec.after) {
    if (std::find(unique_after.begin(), unique_after.end(), dep) != unique_after.end()) continue;
    Result<bool> found = txn.TaskExists(dep);
    if (!found.ok()) return {found.status(), {}};
    if (!*found) return {Status::NotFound("--after names no task " + dep), {}};
    unique_after.push_back(dep);
  }
  command.spec.after = std::move(unique_after);
  const DecisionContext context{now_ns, next_seq, txn.Dependencies(now_ns)};
  outcome.reply.task_id = id;
  outcome.reply.events.push_back(DecideCreate(command, id, context));
  if (Status s = ApplyEvents(txn, outcome.reply.events, now_ns); !s.ok()) return {s, {}};
  if (Status s = FillReply(txn, now_ns, &outcome.reply); !s.ok()) return {s, {}};
  return outcome;
}

Outcome Ledger::ExecuteClaimNext(Txn& txn, const Command& command, int64_t now_ns, uint64_t next_seq) {
  const std::string queue = command.queue.empty() ? std::string(kDefaultQueue) : command.queue;
  if (Status s = ValidateName("queue", queue); !s.ok()) return {s, {}};
  if (command.ttl_ns < 0 || command.ttl_ns > kMaxDurationNs) {
    return {Status::InvalidArgument("ttl must be between 0 and a year"), {}};
  }
  if (Status s = PromoteDueTimers(txn, queue, now_ns); !s.ok()) return {s, {}};
  const std::string prefix = keys::ReadyPrefix(queue);
  for (int skips = 0; skips < kMaxClaimSkips; ++skips) {
    const std::optional<std::pair<std::string, std::string>> best = index_.First(prefix);
    if (!best) return {Status::NotFound("no task is ready in queue " + queue), {}};
    const std::string id = best->second;
    Result<std::optional<TaskRecord>> record = txn.GetTask(id);
    if (!record.ok()) return {record.status(), {}};
    if (!record->has_value()) return {Status::DataLoss("schedule names unknown task " + id + "; run rebuild"), {}};
    Command claim = command;
    claim.next = false;
    claim.task_id = id;
    const DecisionContext context{now_ns, next_seq, txn.Dependencies(now_ns)};
    Outcome outcome = DecideOnTask(claim, **record, context);
    if (!outcome.status.ok()) {
      // A stale entry: put the task where it belongs now and look again.
      if (Status s = UpdateSchedule(txn, **record, now_ns); !s.ok()) return {s, {}};
      continue;
    }
    if (Status s = ApplyEvents(txn, outcome.reply.events, now_ns); !s.ok()) return {s, {}};
    if (Status s = FillReply(txn, now_ns, &outcome.reply); !s.ok()) return {s, {}};
    return outcome;
  }
  return {Status::Internal("the schedule keeps offering unclaimable tasks in queue " + queue + "; run rebuild"), {}};
}

Outcome Ledger::ExecuteSweep(Txn& txn, const Command& command, int64_t now_ns, uint64_t next_seq) {
  std::vector<std::string> lapsed;
  for (const std::string& key : index_.FirstDeadlines(kMaxSweepEvents)) {
    if (static_cast<int64_t>(keys::ReadU64(key)) > now_ns) break;
    lapsed.push_back(key.substr(8));
  }
  Outcome outcome;
  for (const std::string& id : lapsed) {
    Result<std::optional<TaskRecord>> record = txn.GetTask(id);
    if (!record.ok()) return {record.status(), {}};
    if (!record->has_value()) return {Status::DataLoss("deadline index names unknown task " + id), {}};
    const TaskRecord& r = **record;
    // Invariant: the deadline index holds exactly the open attempts of the projection.
    if (!r.attempt_open || r.deadline_ns > now_ns) {
      return {Status::DataLoss("deadline index is stale for task " + id + "; run rebuild"), {}};
    }
    Event e;
    e.seq = next_seq + outcome.reply.events.size();
    e.time_ns = now_ns;
    e.task_id = id;
    e.actor = command.actor;
    e.meta = command.meta;
    e.kind = EventKind::kLeaseExpired;
    e.token = r.last_token;
    e.deadline_ns = r.deadline_ns;
    outcome.reply.events.push_back(std::move(e));
  }
  if (Status s = ApplyEvents(txn, outcome.reply.events, now_ns); !s.ok()) return {s, {}};
  return outcome;
}

Status Ledger::ApplyEvents(Txn& txn, const std::vector<Event>& events, int64_t now_ns) {
  for (const Event& event : events) {
    std::optional<TaskRecord> before;
    if (event.kind != EventKind::kCreated) {
      Result<std::optional<TaskRecord>> found = txn.GetTask(event.task_id);
      if (!found.ok()) return found.status();
      before = std::move(*found);
      if (!before) return Status::Internal("event for unknown task " + event.task_id);
    }
    TaskRecord record = before.value_or(TaskRecord{});
    // Invariant: the ledger appends only events its own derivation rules accept.
    if (Status s = ApplyEvent(&record, event); !s.ok()) {
      return Status::Internal("refusing to append an event the rules reject: " + s.message());
    }
    const std::string encoded = EncodeEvent(event);
    assert(DecodeEvent(encoded).ok() && *DecodeEvent(encoded) == event);
    txn.PutEvent(event, encoded);
    txn.PutTask(record);
    if (before && before->attempt_open) index_.RemoveDeadline(keys::Deadline(before->deadline_ns, event.task_id));
    if (record.attempt_open) index_.AddDeadline(keys::Deadline(record.deadline_ns, event.task_id));
    if (event.kind == EventKind::kCreated) {
      for (const std::string& dep : record.spec.after) txn.PutDependent(dep, record.id);
      if (!record.spec.idempotency_key.empty()) txn.PutIdempotency(record.spec.idempotency_key, record.id);
    }
    TL_RETURN_IF_ERROR(UpdateSchedule(txn, record, now_ns));
    if (record.done && !(before && before->done)) {
      // Completion is what wakes the tasks waiting on this one.
      Result<std::vector<std::string>> dependents = txn.Dependents(record.id);
      if (!dependents.ok()) return dependents.status();
      for (const std::string& id : *dependents) {
        Result<std::optional<TaskRecord>> dependent = txn.GetTask(id);
        if (!dependent.ok()) return dependent.status();
        if (dependent->has_value()) TL_RETURN_IF_ERROR(UpdateSchedule(txn, **dependent, now_ns));
      }
    }
  }
  return Status::Ok();
}

Status Ledger::UpdateSchedule(Txn& txn, const TaskRecord& record, int64_t now_ns) {
  const std::string wanted = ScheduleKey(record, now_ns, txn.Dependencies(now_ns));
  if (index_.PlaceOf(record.id) != wanted) index_.Place(record.id, wanted);
  return Status::Ok();
}

Status Ledger::PromoteDueTimers(Txn& txn, const std::string& queue, int64_t now_ns) {
  const std::string prefix = keys::TimerPrefix(queue);
  for (;;) {
    std::vector<std::string> due;
    for (const auto& [key, id] : index_.Scan(prefix, kPromoteBatch)) {
      if (static_cast<int64_t>(keys::ReadU64(std::string_view(key).substr(prefix.size()))) > now_ns) break;
      due.push_back(id);
    }
    for (const std::string& id : due) {
      Result<std::optional<TaskRecord>> record = txn.GetTask(id);
      if (!record.ok()) return record.status();
      if (!record->has_value()) return Status::DataLoss("schedule names unknown task " + id + "; run rebuild");
      // Invariant: a due timer always moves (to ready, a later timer, or nowhere), so this
      // loop ends.
      TL_RETURN_IF_ERROR(UpdateSchedule(txn, **record, now_ns));
    }
    if (due.size() < kPromoteBatch) return Status::Ok();
  }
}

Status Ledger::FillReply(Txn& txn, int64_t now_ns, CommandReply* reply) {
  Result<std::optional<TaskRecord>> record = txn.GetTask(reply->task_id);
  if (!record.ok()) return record.status();
  if (!record->has_value()) return Status::Internal("reply for unknown task " + reply->task_id);
  const TaskView view = Evaluate(**record, now_ns, txn.Dependencies(now_ns));
  reply->status = view.status;
  reply->token = view.settled.last_token;
  reply->deadline_ns = view.status == TaskStatus::kRunning ? view.settled.deadline_ns : 0;
  return Status::Ok();
}

// ---- Reads ----

Result<std::optional<TaskRecord>> Ledger::GetTask(const std::string& id) {
  std::string bytes;
  const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kTasks), id, &bytes);
  if (s.IsNotFound()) return std::optional<TaskRecord>();
  TL_RETURN_IF_ERROR(FromRocks(s, "read task " + id));
  Result<TaskRecord> record = DecodeTask(bytes);
  if (!record.ok()) return record.status();
  return std::optional<TaskRecord>(std::move(*record));
}

Status Ledger::ForEachEvent(uint64_t from_seq, const std::function<bool(const Event&)>& fn) {
  return ScanEvents(db_.get(), cf(kEvents), rocksdb::ReadOptions(), from_seq, fn);
}

Status Ledger::ForEachTaskEvent(const std::string& id, uint64_t from_seq,
                                const std::function<bool(const Event&)>& fn) {
  const std::string prefix = keys::TaskEventPrefix(id);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kTaskEvents)));
  std::string bytes;
  for (it->Seek(keys::TaskEvent(id, from_seq)); it->Valid(); it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (!keys::StartsWith(key, prefix)) break;
    const uint64_t seq = keys::ReadU64(key.substr(prefix.size()));
    const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kEvents), keys::Seq(seq), &bytes);
    if (s.IsNotFound()) return Status::DataLoss("task " + id + " lists seq " + std::to_string(seq) + ", not in the log");
    TL_RETURN_IF_ERROR(FromRocks(s, "read the log"));
    Result<Event> event = DecodeEvent(bytes);
    if (!event.ok()) return event.status();
    if (!fn(*event)) return Status::Ok();
  }
  return FromRocks(it->status(), "read task events");
}

Result<uint64_t> Ledger::FirstSeqAtOrAfter(int64_t time_ns) {
  // Ledger time never decreases along seq: binary search on point reads.
  uint64_t low = 1, high = last_seq() + 1;
  std::string bytes;
  while (low < high) {
    const uint64_t mid = low + (high - low) / 2;
    TL_RETURN_IF_ERROR(FromRocks(db_->Get(rocksdb::ReadOptions(), cf(kEvents), keys::Seq(mid), &bytes), "read the log"));
    Result<Event> event = DecodeEvent(bytes);
    if (!event.ok()) return event.status();
    if (event->time_ns >= time_ns) high = mid;
    else low = mid + 1;
  }
  return low;
}

Result<Replay> Ledger::ReplayTo(const PointInTime& at, int64_t* eval_ns) {
  Replay replay;
  const uint64_t end = last_seq();
  if (at.kind == PointInTime::Kind::kSeq && static_cast<uint64_t>(at.value) > end) {
    return Status::InvalidArgument("seq " + std::to_string(at.value) + " is past the end of the log (last seq " +
                                   std::to_string(end) + ")");
  }
  Status failed = Status::Ok();
  Status s = FoldEvents(db_.get(), cf(kEvents), LogScanOptions(), replay, [&](const Event& e) {
    if (at.kind == PointInTime::Kind::kSeq && e.seq > static_cast<uint64_t>(at.value)) return false;
    if (at.kind == PointInTime::Kind::kTime && e.time_ns > at.value) return false;
    failed = replay.Apply(e);
    return failed.ok();
  });
  TL_RETURN_IF_ERROR(s);
  TL_RETURN_IF_ERROR(failed);
  *eval_ns = at.kind == PointInTime::Kind::kTime ? at.value : replay.last_ns();
  return replay;
}

Result<TasksSnapshot> Ledger::TasksAt(const PointInTime& at) {
  TasksSnapshot snapshot;
  if (at.kind != PointInTime::Kind::kNow) {
    Result<Replay> replay = ReplayTo(at, &snapshot.at_ns);
    if (!replay.ok()) return replay.status();
    snapshot.seq = replay->last_seq();
    for (const TaskRecord* record : replay->Tasks()) snapshot.tasks.push_back(replay->View(*record, snapshot.at_ns));
    return snapshot;
  }
  // The same walk a server streams `ls` from, so that both list the same moment the same way.
  Result<std::unique_ptr<TaskPages>> pages = TaskPagesNow();
  if (!pages.ok()) return pages.status();
  snapshot.seq = (*pages)->seq();
  snapshot.at_ns = (*pages)->at_ns();
  std::vector<TaskView> page;
  for (;;) {
    TL_RETURN_IF_ERROR((*pages)->Next(kTasksAtPageViews, kTasksAtPageRecordBytes, &page));
    if (page.empty()) break;
    std::move(page.begin(), page.end(), std::back_inserter(snapshot.tasks));
  }
  SortInCreationOrder(&snapshot.tasks);
  return snapshot;
}

Result<std::unique_ptr<TaskPages>> Ledger::TaskPagesNow() {
  std::unique_ptr<TaskPages> pages(new TaskPages(this));
  {
    // Commits write and advance last_seq_ under this mutex: the snapshot holds exactly
    // the events up to seq_, and at_ns_ is not before the last of them. (The iterator alone
    // would read one moment; the snapshot makes the dependency point reads agree with it.)
    std::lock_guard lock(mutex_);
    if (secondary_path_.empty()) pages->snapshot_ = db_->GetSnapshot();
    pages->seq_ = last_seq_;
    pages->at_ns_ = std::max(clock_->NowNs(), last_ns_);
  }
  rocksdb::ReadOptions read_options;
  read_options.snapshot = pages->snapshot_;
  pages->it_.reset(db_->NewIterator(read_options, cf(kTasks)));
  pages->it_->SeekToFirst();
  TL_RETURN_IF_ERROR(FromRocks(pages->it_->status(), "read tasks"));
  return pages;
}

TaskPages::TaskPages(Ledger* ledger) : ledger_(ledger) {}

TaskPages::~TaskPages() {
  it_.reset();  // before the snapshot it reads
  if (snapshot_ != nullptr) ledger_->db_->ReleaseSnapshot(snapshot_);
}

Status TaskPages::Next(size_t max_views, size_t max_record_bytes, std::vector<TaskView>* page) {
  assert(max_views > 0);
  page->clear();
  const DependencyLookup dependencies = [this](const std::string& id) { return DependencyStatus(id); };
  size_t record_bytes = 0;
  for (; it_->Valid() && page->size() < max_views; it_->Next()) {
    const rocksdb::Slice value = it_->value();
    if (!page->empty() && record_bytes + value.size() > max_record_bytes) break;
    record_bytes += value.size();
    Result<TaskRecord> record = DecodeTask(value.ToStringView());
    if (!record.ok()) {
      return Status::DataLoss("task " + it_->key().ToString() + ": " + record.status().message());
    }
    page->push_back(Evaluate(*record, at_ns_, dependencies));
    TL_RETURN_IF_ERROR(lookup_failed_);
  }
  return FromRocks(it_->status(), "read tasks");
}

std::optional<TaskStatus> TaskPages::DependencyStatus(const std::string& id) {
  if (auto found = dependency_statuses_.find(id); found != dependency_statuses_.end()) return found->second;
  rocksdb::ReadOptions read_options;
  read_options.snapshot = snapshot_;
  std::string bytes;
  const rocksdb::Status s = ledger_->db_->Get(read_options, ledger_->cf(kTasks), id, &bytes);
  std::optional<TaskStatus> status;
  if (s.IsNotFound()) {
    status = std::nullopt;
  } else if (!s.ok()) {
    if (lookup_failed_.ok()) lookup_failed_ = FromRocks(s, "read task " + id);
    return std::nullopt;
  } else {
    Result<TaskRecord> record = DecodeTask(bytes);
    if (!record.ok()) {
      if (lookup_failed_.ok()) lookup_failed_ = Status::DataLoss("task " + id + ": " + record.status().message());
      return std::nullopt;
    }
    status = OwnStatus(*record, at_ns_);
  }
  // Bounded: starting over costs a few point reads again, never memory.
  if (dependency_statuses_.size() >= kDependencyStatusesMax) dependency_statuses_.clear();
  dependency_statuses_.emplace(id, status);
  return status;
}

Result<TaskView> Ledger::TaskAt(const std::string& id, const PointInTime& at) {
  if (Status s = ValidateName("task id", id); !s.ok()) return s;
  if (at.kind == PointInTime::Kind::kNow) {
    Result<std::optional<TaskRecord>> record = GetTask(id);
    if (!record.ok()) return record.status();
    if (!record->has_value()) return Status::NotFound("no task " + id);
    const int64_t t = Now();
    return Evaluate(**record, t, [this, t](const std::string& dep) -> std::optional<TaskStatus> {
      Result<std::optional<TaskRecord>> found = GetTask(dep);
      if (!found.ok() || !found->has_value()) return std::nullopt;
      return OwnStatus(**found, t);
    });
  }
  // Single-task time travel folds only this task's events (and its dependencies').
  int64_t eval_ns = at.value;
  uint64_t until_seq = UINT64_MAX;
  if (at.kind == PointInTime::Kind::kSeq) {
    if (static_cast<uint64_t>(at.value) > last_seq()) {
      return Status::InvalidArgument("seq " + std::to_string(at.value) + " is past the end of the log");
    }
    until_seq = static_cast<uint64_t>(at.value);
    eval_ns = 0;
    if (until_seq > 0) {
      Status found = ForEachEvent(until_seq, [&](const Event& e) {
        eval_ns = e.time_ns;
        return false;
      });
      TL_RETURN_IF_ERROR(found);
    }
  }
  const auto fold = [&](const std::string& task, TaskRecord* record) -> Status {
    Status failed = Status::Ok();
    TL_RETURN_IF_ERROR(ForEachTaskEvent(task, 0, [&](const Event& e) {
      if (e.seq > until_seq || e.time_ns > eval_ns) return false;
      failed = ApplyEvent(record, e);
      return failed.ok();
    }));
    return failed;
  };
  TaskRecord record;
  TL_RETURN_IF_ERROR(fold(id, &record));
  if (record.id.empty()) {
    return Status::NotFound("task " + id + " did not exist at " +
                            (at.kind == PointInTime::Kind::kSeq ? "seq " + std::to_string(at.value) : FormatTime(eval_ns)));
  }
  std::map<std::string, TaskStatus> dep_status;
  for (const std::string& dep : record.spec.after) {
    TaskRecord dep_record;
    TL_RETURN_IF_ERROR(fold(dep, &dep_record));
    if (!dep_record.id.empty()) dep_status[dep] = OwnStatus(dep_record, eval_ns);
  }
  return Evaluate(record, eval_ns, [&dep_status](const std::string& dep) -> std::optional<TaskStatus> {
    auto found = dep_status.find(dep);
    if (found == dep_status.end()) return std::nullopt;
    return found->second;
  });
}

// ---- Verify ----

// One finding of verify, placed at the seq where the log and what was derived from it part
// (kNoSeq when no single event is to blame), so that the report leads with the earliest.
struct Ledger::Problem {
  uint64_t seq = 0;
  std::string text;
};

namespace {

constexpr uint64_t kNoSeq = UINT64_MAX;
// Entries of the task event index that name no event, listed one by one before verify
// summarizes the rest.
constexpr int kMaxListedStrayEntries = 10;

// A 64-bit hash of one task_events entry, summed (mod 2^64) into an order-independent
// fingerprint of the index. Not cryptographic: verify guards against bugs and damage,
// and a tampered ledger is caught by the replay and the projection checks as well.
uint64_t TaskEventHash(std::string_view task, uint64_t seq) {
  uint64_t h = std::hash<std::string_view>()(task) ^ (seq * 0x9E3779B97F4A7C15ULL);
  // splitmix64's finalizer: spreads the bits so that sums of different sets differ.
  h ^= h >> 30;
  h *= 0xBF58476D1CE4E5B9ULL;
  h ^= h >> 27;
  h *= 0x94D049BB133111EBULL;
  h ^= h >> 31;
  return h;
}

std::string SeqAndTask(uint64_t seq, const std::string& task) {
  return "seq " + std::to_string(seq) + ", task " + task + ": ";
}

std::string Show(bool v) { return v ? "true" : "false"; }
std::string Show(uint32_t v) { return std::to_string(v); }
std::string Show(uint64_t v) { return std::to_string(v); }
std::string Show(int64_t v) { return std::to_string(v); }
std::string Show(const std::string& v) { return "\"" + v + "\""; }
std::string Show(AttemptEnd v) { return std::string(AttemptEndName(v)); }
std::string Show(const TaskSpec&) { return "(a different spec)"; }

// The first field where a stored record differs from the replayed one, with both values.
std::string FirstDifference(const TaskRecord& stored, const TaskRecord& derived) {
#define TL_FIELD(f) \
  if (!(stored.f == derived.f)) return #f " (projection " + Show(stored.f) + ", log " + Show(derived.f) + ")";
  TL_FIELD(id) TL_FIELD(spec) TL_FIELD(created_seq) TL_FIELD(created_ns) TL_FIELD(last_seq) TL_FIELD(last_ns)
  TL_FIELD(done) TL_FIELD(cancelled) TL_FIELD(blocked) TL_FIELD(block_reason) TL_FIELD(result) TL_FIELD(failures)
  TL_FIELD(attempts) TL_FIELD(last_token) TL_FIELD(attempt_open) TL_FIELD(holder) TL_FIELD(claimed_ns)
  TL_FIELD(ttl_ns) TL_FIELD(deadline_ns) TL_FIELD(runtime_cap_ns) TL_FIELD(signal_cap_ns) TL_FIELD(signal)
  TL_FIELD(last_heartbeat_ns) TL_FIELD(heartbeats) TL_FIELD(last_end) TL_FIELD(last_end_ns) TL_FIELD(last_error)
  TL_FIELD(backoff_until_ns) TL_FIELD(completed_token) TL_FIELD(completed_exit_recorded) TL_FIELD(expiries)
  TL_FIELD(rejections) TL_FIELD(interruptions)
#undef TL_FIELD
  return "(none)";
}

}  // namespace

Result<VerifyReport> Ledger::Verify() {
  TL_RETURN_IF_ERROR(Refresh());
  VerifyReport report;
  std::vector<Problem> problems;
  TL_RETURN_IF_ERROR(VerifyTableFiles(&problems));
  Replay replay;
  Status replay_error = Status::Ok();
  // The task_events index is checked by fingerprint: the sum of a hash of every (task,
  // seq) entry the log implies must equal the sum over the entries stored. One streaming
  // pass over each family instead of a point read per event (which made verify read the
  // log at a twentieth of iteration speed); only on a mismatch are events looked up one by
  // one, to name the seqs at fault.
  uint64_t log_fingerprint = 0;
  Status read = FoldEvents(db_.get(), cf(kEvents), LogScanOptions(), replay, [&](const Event& e) {
    report.events++;
    replay_error = replay.Apply(e);
    if (!replay_error.ok()) return false;
    log_fingerprint += TaskEventHash(e.task_id, e.seq);
    return true;
  });
  const Status broken = read.ok() ? replay_error : read;
  if (!broken.ok()) {
    // The log itself breaks the rules at this seq: nothing derived from it can be judged.
    const uint64_t seq = replay.last_seq() + 1;
    std::string text = broken.message();
    const std::string owner = TaskListingSeq(seq);
    if (!owner.empty() && text.find("task " + owner) == std::string::npos) {
      text += " (the task_events index lists seq " + std::to_string(seq) + " under task " + owner + ")";
    }
    problems.push_back({seq, text});
  } else {
    report.tasks = replay.task_count();
    TL_RETURN_IF_ERROR(VerifyTaskEvents(report.events, log_fingerprint, &problems));
    std::set<std::string> misfolded;
    TL_RETURN_IF_ERROR(VerifyProjection(replay, &problems, &misfolded));
    TL_RETURN_IF_ERROR(VerifyIndexes(replay, std::max(Now(), replay.last_ns()), misfolded, &problems));
  }
  std::stable_sort(problems.begin(), problems.end(), [](const Problem& a, const Problem& b) { return a.seq < b.seq; });
  for (Problem& problem : problems) report.problems.push_back(std::move(problem.text));
  return report;
}

// Every block of every table file, of every family, against its checksum, each file opened
// on its own. A read-only ledger is a RocksDB secondary, which drops a table file it cannot
// load from its view and then reads that file's keys as absent (DB::VerifyChecksum passes
// too): a flipped byte in an SST made a damaged ledger look clean, or a lost event look
// like a gap in the log (tests/faults). So when no owner is running, the files are listed
// by a strict read-only open of the same directory (OpenForReadOnly: it reads the MANIFEST
// and refuses a referenced file it cannot load), which lists exactly the files the ledger
// consists of, and not a half-written SST a crash left behind (the next writable open
// deletes those).
Status Ledger::VerifyTableFiles(std::vector<Problem>* problems) {
  const rocksdb::Options options = db_->GetOptions();
  const auto check = [&](const std::string& db_path, const rocksdb::LiveFileMetaData& file) {
    const std::string name = file.name.empty() || file.name[0] != '/' ? file.name : file.name.substr(1);
    const std::string path = db_path + "/" + name;
    rocksdb::SstFileReader reader(options);
    rocksdb::Status s = reader.Open(path);
    if (s.ok()) s = reader.VerifyChecksum();
    if (s.ok()) return;
    // An owner's compaction may have deleted the file since it was listed: not damage.
    if (options.env->FileExists(path).IsNotFound()) return;
    // Seq 0: listed first, as the likely cause of anything else verify finds.
    problems->push_back(
        {0, "table file " + name + " of family " + file.column_family_name + " is damaged: " + s.ToString()});
  };
  std::vector<rocksdb::LiveFileMetaData> files;
  if (options_.read_only && options_.env == nullptr && LockHolder(options_.path) == 0 &&
      !OwnedByThisProcess(options_.path)) {
    std::vector<std::string> names;
    rocksdb::Status s = rocksdb::DB::ListColumnFamilies(options, options_.path, &names);
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const std::string& name : names) families.emplace_back(name, rocksdb::ColumnFamilyOptions(options));
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* strict = nullptr;
    rocksdb::Options strict_options = options;
    strict_options.max_open_files = -1;  // load every table file now
    if (s.ok()) s = rocksdb::DB::OpenForReadOnly(strict_options, options_.path, families, &handles, &strict);
    if (!s.ok()) {
      // Damage is what RocksDB calls corruption; anything else (too many open files, an
      // owner that started meanwhile and moved files) is an error of this verify.
      if (!s.IsCorruption()) return FromRocks(s, "open the ledger to check its files");
      problems->push_back({0, "the ledger's files are damaged: " + s.ToString()});
      return Status::Ok();
    }
    strict->GetLiveFilesMetaData(&files);
    for (rocksdb::ColumnFamilyHandle* handle : handles) (void)strict->DestroyColumnFamilyHandle(handle);
    delete strict;
  } else {
    db_->GetLiveFilesMetaData(&files);
  }
  for (const rocksdb::LiveFileMetaData& file : files) check(options_.path, file);
  return Status::Ok();
}

// The task whose index entry names `seq` ("" if none): who lost an event, or owns a bad one.
std::string Ledger::TaskListingSeq(uint64_t seq) {
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kTaskEvents)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (key.size() < 9 || keys::ReadU64(key.substr(key.size() - 8)) != seq) continue;
    return std::string(key.substr(0, key.size() - 9));
  }
  return "";
}

// The first seq after `after_seq` that the task event index lists for `id`.
uint64_t Ledger::NextTaskSeq(const std::string& id, uint64_t after_seq) {
  const std::string prefix = keys::TaskEventPrefix(id);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kTaskEvents)));
  it->Seek(keys::TaskEvent(id, after_seq + 1));
  if (!it->Valid() || !keys::StartsWith(it->key().ToStringView(), prefix)) return after_seq + 1;
  return keys::ReadU64(it->key().ToStringView().substr(prefix.size()));
}

Status Ledger::VerifyTaskEvents(uint64_t events, uint64_t log_fingerprint, std::vector<Problem>* problems) {
  uint64_t indexed = 0;
  uint64_t index_fingerprint = 0;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(LogScanOptions(), cf(kTaskEvents)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    indexed++;
    const std::string_view key = it->key().ToStringView();
    if (key.size() < 9 || key[key.size() - 9] != '\0') {
      index_fingerprint += 1;  // cannot be an entry of any event: forces the slow check
      continue;
    }
    index_fingerprint += TaskEventHash(key.substr(0, key.size() - 9), keys::ReadU64(key.substr(key.size() - 8)));
  }
  TL_RETURN_IF_ERROR(FromRocks(it->status(), "read task events"));
  if (indexed == events && index_fingerprint == log_fingerprint) return Status::Ok();

  // Something differs: find which events lack their entry (each looked up by its key)...
  std::string ignored;
  TL_RETURN_IF_ERROR(ForEachEvent(1, [&](const Event& e) {
    if (!db_->Get(rocksdb::ReadOptions(), cf(kTaskEvents), keys::TaskEvent(e.task_id, e.seq), &ignored).ok()) {
      problems->push_back({e.seq, SeqAndTask(e.seq, e.task_id) + "missing from the task_events index"});
    }
    return true;
  }));
  if (indexed == events) {
    if (problems->empty()) problems->push_back({kNoSeq, "the task event index differs from the log"});
    // (an entry naming the wrong task or seq is listed below with the strays)
  } else {
    problems->push_back({kNoSeq, "the task event index holds " + std::to_string(indexed) + " entries for " +
                                     std::to_string(events) + " events"});
  }
  // ...and which entries point nowhere.
  int listed = 0;
  std::string bytes;
  for (it->SeekToFirst(); it->Valid() && listed < kMaxListedStrayEntries; it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (key.size() < 9) continue;
    const uint64_t seq = keys::ReadU64(key.substr(key.size() - 8));
    const std::string task(key.substr(0, key.size() - 9));
    const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kEvents), keys::Seq(seq), &bytes);
    Result<Event> event = s.ok() ? DecodeEvent(bytes) : Result<Event>(Status::NotFound("absent"));
    if (event.ok() && event->task_id == task && key[key.size() - 9] == '\0') continue;
    problems->push_back({seq, SeqAndTask(seq, task) + "listed in the task_events index but not in the log"});
    listed++;
  }
  return FromRocks(it->status(), "read task events");
}

// Invariant 4: the materialized projection equals a full replay.
Status Ledger::VerifyProjection(const Replay& replay, std::vector<Problem>* problems, std::set<std::string>* misfolded) {
  size_t stored_and_created = 0;  // keys are unique: equal to the task count iff none is missing
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(LogScanOptions(), cf(kTasks)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string id = it->key().ToString();
    Result<TaskRecord> record = DecodeTask(it->value().ToStringView());
    const TaskRecord* expected = replay.Find(id);
    if (expected != nullptr) stored_and_created++;
    if (expected == nullptr) {
      problems->push_back({kNoSeq, "task " + id + ": in the projection but never created in the log"});
    } else if (!record.ok()) {
      misfolded->insert(id);
      problems->push_back({expected->last_seq, SeqAndTask(expected->last_seq, id) + record.status().message()});
    } else if (!(*record == *expected)) {
      misfolded->insert(id);
      // Where they part: the last event both folded, or the first one only one side has.
      const uint64_t common = std::min(record->last_seq, expected->last_seq);
      const uint64_t seq = record->last_seq == expected->last_seq ? common : NextTaskSeq(id, common);
      problems->push_back({seq, SeqAndTask(seq, id) +
                                                   "the projection differs from the replay of the log in field " +
                                                   FirstDifference(*record, *expected) +
                                                   "; the projection is through seq " + std::to_string(record->last_seq)});
    }
  }
  TL_RETURN_IF_ERROR(FromRocks(it->status(), "read tasks"));
  if (stored_and_created == replay.task_count()) return Status::Ok();
  std::set<std::string> stored;  // only to name the missing ones
  for (it->SeekToFirst(); it->Valid(); it->Next()) stored.insert(it->key().ToString());
  TL_RETURN_IF_ERROR(FromRocks(it->status(), "read tasks"));
  for (const TaskRecord* record : replay.Tasks()) {
    if (stored.count(record->id) == 0) {
      misfolded->insert(record->id);
      problems->push_back({record->created_seq, SeqAndTask(record->created_seq, record->id) + "missing from the projection"});
    }
  }
  return Status::Ok();
}

Status Ledger::VerifyIndexes(const Replay& replay, int64_t now_ns, const std::set<std::string>& misfolded,
                             std::vector<Problem>* problems) {
  const auto scan = [this](int family) -> Result<std::map<std::string, std::string>> {
    std::map<std::string, std::string> entries;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(family)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) entries.emplace(it->key().ToString(), it->value().ToString());
    TL_RETURN_IF_ERROR(FromRocks(it->status(), std::string("read ") + kColumnFamilyNames[family]));
    return entries;
  };
  std::map<std::string, std::string> dependents, idempotency;
  for (const TaskRecord* r : replay.Tasks()) {
    for (const std::string& dep : r->spec.after) dependents.emplace(keys::Dependent(dep, r->id), "");
    if (!r->spec.idempotency_key.empty()) idempotency.emplace(r->spec.idempotency_key, r->id);
  }
  const std::pair<int, const std::map<std::string, std::string>*> exact[] = {
      {kDependents, &dependents}, {kIdempotency, &idempotency}};
  for (const auto& [family, expected] : exact) {
    Result<std::map<std::string, std::string>> actual = scan(family);
    if (!actual.ok()) return actual.status();
    if (*actual != *expected) {
      problems->push_back({kNoSeq, std::string("the ") + kColumnFamilyNames[family] + " index holds " +
                                       std::to_string(actual->size()) + " entries where the log implies " +
                                       std::to_string(expected->size()) + " (or different ones)"});
    }
  }

  // The schedule: a marker for every live task (format 1 stored places and deadlines too;
  // the next writable open drops them, so they are not judged here).
  Result<std::map<std::string, std::string>> schedule = scan(kSchedule);
  if (!schedule.ok()) return schedule.status();
  std::set<std::string> marked;
  for (const auto& [key, value] : *schedule) {
    if (key[0] == keys::kScheduleOfTag) {
      marked.insert(key.substr(1));
    } else if (format_version_ >= 2) {
      problems->push_back({kNoSeq, "the schedule holds an entry of the old format (" + key.substr(0, 1) + " " +
                                       (value.empty() ? key.substr(1) : value) + ")"});
      break;
    }
  }
  Result<std::map<std::string, std::string>> deadlines = scan(kDeadlines);
  if (!deadlines.ok()) return deadlines.status();
  if (format_version_ < 2) {
    // Format 1 marked a task with an open attempt by its deadline entry, not by `S`.
    for (const auto& [key, value] : *deadlines) {
      if (key.size() > 8) marked.insert(key.substr(8));
    }
  } else {
    if (!deadlines->empty()) {
      problems->push_back({kNoSeq, "the deadlines family holds " + std::to_string(deadlines->size()) +
                                       " entries; it is unused since format 2"});
    }
  }
  const DependencyLookup dependencies = replay.Dependencies(now_ns);
  for (const TaskRecord* r : replay.Tasks()) {
    const TaskView view = replay.View(*r, now_ns);
    const auto problem = [&](const std::string& what) {
      problems->push_back({r->last_seq, SeqAndTask(r->last_seq, r->id) + what});
    };
    const bool is_marked = marked.erase(r->id) != 0;
    // The schedule follows the stored record: where that already differs from the log,
    // the difference is the problem (reported at its seq), not what follows from it.
    if (misfolded.count(r->id) != 0) continue;
    // Nothing but an event makes a task live, so a live task is marked; a marked task may
    // have stopped being live since its last event (a lease lapsed into `dead`).
    const bool live = r->attempt_open || !ScheduleKey(*r, now_ns, dependencies).empty();
    if (live && !is_marked) {
      problem(std::string(TaskStatusName(view.status)) + " but not in the schedule");
    } else if (is_marked && !r->attempt_open &&
               (view.status == TaskStatus::kDone || view.status == TaskStatus::kCancelled ||
                view.status == TaskStatus::kBlocked)) {
      problem(std::string(TaskStatusName(view.status)) + " but still scheduled");
    }
  }
  if (!marked.empty()) {
    problems->push_back({kNoSeq, "a schedule entry belongs to no task (" + *marked.begin() + ")"});
  }
  return Status::Ok();
}

// ---- Rebuild, import, backup ----

Status Ledger::ClearFamilies(bool with_log) {
  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync;
  rocksdb::WriteBatch clear;
  // Every key of these families sorts below 0xff: seqs and times are far below 2^56,
  // ids and tags are printable ASCII.
  for (ColumnFamily family : kDerivedFamilies) clear.DeleteRange(cf(family), "", "\xff");
  if (with_log) clear.DeleteRange(cf(kEvents), "", "\xff");
  index_.Clear();
  return FromRocks(db_->Write(write_options, &clear), "clear the projection");
}

// Derives the schedule from the records of the live tasks (the `S` markers): where each
// waits now, and each open attempt's deadline. Markers of tasks that are no longer live
// (a lease lapsed into `dead` since) are deleted. Cost: one record decode per live task.
Status Ledger::LoadIndex() {
  index_.Clear();
  const int64_t now_ns = std::max(clock_->NowNs(), last_ns_);
  // A dependency that cannot be read says nothing about the task waiting on it: its marker
  // is kept (for verify to name and rebuild to repair), and a read error fails the open.
  Status read_error = Status::Ok();
  bool unreadable_dependency = false;
  const DependencyLookup dependencies = [&, now_ns](const std::string& id) -> std::optional<TaskStatus> {
    std::string bytes;
    const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kTasks), id, &bytes);
    if (!s.ok() && !s.IsNotFound() && read_error.ok()) read_error = FromRocks(s, "read task " + id);
    Result<TaskRecord> dep = s.ok() ? DecodeTask(bytes) : Result<TaskRecord>(Status::NotFound(id));
    if (!dep.ok()) {
      unreadable_dependency = true;
      return std::nullopt;
    }
    return OwnStatus(*dep, now_ns);
  };
  rocksdb::WriteBatch repairs;
  std::unique_ptr<rocksdb::Iterator> live(db_->NewIterator(rocksdb::ReadOptions(), cf(kSchedule)));
  // Markers and records are both in id order: one forward pass over each, stepping over a
  // few finished tasks' records and seeking past longer runs of them.
  std::unique_ptr<rocksdb::Iterator> tasks(db_->NewIterator(rocksdb::ReadOptions(), cf(kTasks)));
  tasks->SeekToFirst();
  const std::string of_prefix(1, keys::kScheduleOfTag);
  for (live->Seek(of_prefix); live->Valid() && keys::StartsWith(live->key().ToStringView(), of_prefix); live->Next()) {
    const std::string id(live->key().ToStringView().substr(1));
    for (int steps = 0; tasks->Valid() && tasks->key().ToStringView() < id; ++steps) {
      if (steps < 16) {
        tasks->Next();
      } else {
        tasks->Seek(id);
      }
    }
    TL_RETURN_IF_ERROR(FromRocks(tasks->status(), "read tasks"));
    // A marker without a readable record is damage for `verify` to name and `rebuild` to
    // repair, both of which need this open to succeed: the task is left unscheduled.
    if (!tasks->Valid() || tasks->key().ToStringView() != id) continue;
    Result<TaskRecord> record = DecodeTask(tasks->value().ToStringView());
    if (!record.ok()) continue;
    const std::string deadline = record->attempt_open ? keys::Deadline(record->deadline_ns, id) : std::string();
    unreadable_dependency = false;
    index_.Load(id, ScheduleKey(std::move(*record), now_ns, dependencies), deadline);
    TL_RETURN_IF_ERROR(read_error);
    if (!index_.IsLive(id) && !unreadable_dependency) {
      repairs.Delete(cf(kSchedule), live->key());
    } else if (!live->value().empty()) {
      repairs.Put(cf(kSchedule), live->key(), "");  // a format-1 `S` entry named its place
    }
  }
  TL_RETURN_IF_ERROR(FromRocks(live->status(), "read schedule"));
  if (repairs.Count() == 0) return Status::Ok();
  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync;
  return FromRocks(db_->Write(write_options, &repairs), "tidy the schedule");
}

// Format 1 stored the schedule's places (`R`, `T` keys) and the deadlines; format 2 keeps
// them in memory. The `S` keys, one per placed task, are format 2's markers already
// (LoadIndex empties their values); a task with a deadline but no place (a lapse into
// `dead` that no sweep has marked yet) gets one from its deadline entry. One write: a
// crash leaves format 1 or format 2.
Status Ledger::ConvertFromFormat1() {
  rocksdb::WriteBatch batch;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kDeadlines)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (key.size() > 8) batch.Put(cf(kSchedule), keys::ScheduleOf(key.substr(8)), "");
  }
  TL_RETURN_IF_ERROR(FromRocks(it->status(), "read deadlines"));
  it.reset();
  batch.DeleteRange(cf(kSchedule), std::string(1, keys::kReadyTag), std::string(1, static_cast<char>(keys::kReadyTag + 1)));
  batch.DeleteRange(cf(kSchedule), std::string(1, keys::kTimerTag), std::string(1, static_cast<char>(keys::kTimerTag + 1)));
  batch.DeleteRange(cf(kDeadlines), "", "\xff");
  batch.Put(cf(kMeta), kFormatVersionKey, std::to_string(kFormatVersion));
  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync;
  TL_RETURN_IF_ERROR(FromRocks(db_->Write(write_options, &batch), "convert the ledger to format 2"));
  format_version_ = kFormatVersion;
  return Status::Ok();
}

Result<RebuildReport> Ledger::Rebuild() {
  if (options_.read_only) return Status::IOError("ledger " + options_.path + " is open read-only");
  std::lock_guard lock(mutex_);
  TL_RETURN_IF_ERROR(ClearFamilies(/*with_log=*/false));
  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync;
  RebuildReport report;
  Replay replay;
  rocksdb::WriteBatch batch;
  Status failed = Status::Ok();
  TL_RETURN_IF_ERROR(FoldEvents(db_.get(), cf(kEvents), LogScanOptions(), replay, [&](const Event& event) {
    failed = replay.Apply(event);
    if (!failed.ok()) return false;
    batch.Put(cf(kTaskEvents), keys::TaskEvent(event.task_id, event.seq), "");
    if (++report.events % kRebuildBatchEvents == 0) {
      failed = FromRocks(db_->Write(write_options, &batch), "rebuild");
      batch.Clear();
    }
    return failed.ok();
  }));
  TL_RETURN_IF_ERROR(failed);
  TL_RETURN_IF_ERROR(FromRocks(db_->Write(write_options, &batch), "rebuild"));
  TL_RETURN_IF_ERROR(WriteProjection(replay, &report));
  last_seq_ = replay.last_seq();
  last_ns_ = replay.last_ns();
  return report;
}

Status Ledger::WriteProjection(const Replay& replay, RebuildReport* report) {
  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync;
  rocksdb::WriteBatch batch;
  const int64_t now_ns = std::max(clock_->NowNs(), replay.last_ns());
  const DependencyLookup dependencies = replay.Dependencies(now_ns);
  for (const TaskRecord* r : replay.Tasks()) {
    batch.Put(cf(kTasks), r->id, EncodeTask(*r));
    for (const std::string& dep : r->spec.after) batch.Put(cf(kDependents), keys::Dependent(dep, r->id), "");
    if (!r->spec.idempotency_key.empty()) batch.Put(cf(kIdempotency), r->spec.idempotency_key, r->id);
    if (r->attempt_open || !ScheduleKey(*r, now_ns, dependencies).empty()) {
      batch.Put(cf(kSchedule), keys::ScheduleOf(r->id), "");
    }
    if (++report->tasks % kRebuildBatchEvents == 0) {
      TL_RETURN_IF_ERROR(FromRocks(db_->Write(write_options, &batch), "rebuild"));
      batch.Clear();
    }
  }
  TL_RETURN_IF_ERROR(FromRocks(db_->Write(write_options, &batch), "rebuild"));
  return LoadIndex();
}

Result<ImportReport> Ledger::CheckLog(const EventSource& source) {
  Replay replay;
  uint64_t events = 0;
  TL_RETURN_IF_ERROR(source([&](const Event& e) -> Status {
    const Status s = replay.Apply(e);
    // A log that breaks the rules is bad input here, not a damaged ledger.
    if (!s.ok()) return Status::InvalidArgument(s.message());
    events++;
    return Status::Ok();
  }));
  return ImportReport{events, replay.task_count(), replay.last_seq(), replay.last_ns()};
}

Result<ImportReport> Ledger::Import(const EventSource& source) {
  if (options_.read_only) return Status::IOError("ledger " + options_.path + " is open read-only");
  std::lock_guard lock(mutex_);
  for (ColumnFamily family : {kEvents, kTasks}) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(family)));
    it->SeekToFirst();
    TL_RETURN_IF_ERROR(FromRocks(it->status(), "read the ledger"));
    if (it->Valid()) {
      return Status::Refused("ledger " + options_.path + " is not empty (" + std::to_string(last_seq_) +
                             " events): import loads a log into an empty ledger only");
    }
  }
  Result<ImportReport> checked = CheckLog(source);
  if (!checked.ok()) return checked.status();

  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync;
  Replay replay;
  rocksdb::WriteBatch batch;
  const auto flush = [&]() -> Status {
    TL_RETURN_IF_ERROR(FromRocks(db_->Write(write_options, &batch), "import"));
    batch.Clear();
    return Status::Ok();
  };
  Status appended = source([&](const Event& e) -> Status {
    TL_RETURN_IF_ERROR(replay.Apply(e));
    const std::string encoded = EncodeEvent(e);
    assert(DecodeEvent(encoded).ok() && *DecodeEvent(encoded) == e);
    batch.Put(cf(kEvents), keys::Seq(e.seq), encoded);
    batch.Put(cf(kTaskEvents), keys::TaskEvent(e.task_id, e.seq), "");
    return batch.Count() >= 2 * kImportBatchEvents ? flush() : Status::Ok();
  });
  if (appended.ok()) appended = flush();
  if (appended.ok() && (replay.last_seq() != checked->last_seq || replay.last_ns() != checked->last_ns)) {
    appended = Status::InvalidArgument("the log changed while it was imported");
  }
  RebuildReport built;
  if (appended.ok()) appended = WriteProjection(replay, &built);
  if (!appended.ok()) {
    (void)ClearFamilies(/*with_log=*/true);  // best effort: leave the ledger as empty as it was
    return appended;
  }
  last_seq_ = replay.last_seq();
  last_ns_ = replay.last_ns();
  return *checked;
}

Status Ledger::Backup(const std::string& dir) {
  if (options_.read_only) {
    return Status::InvalidArgument("backup needs the ledger itself, not a read-only view of it");
  }
  if (dir.empty()) return Status::InvalidArgument("the backup directory is empty");
  rocksdb::Env* env = options_.env != nullptr ? options_.env : rocksdb::Env::Default();
  if (env->FileExists(dir).ok()) {
    std::vector<std::string> children;
    TL_RETURN_IF_ERROR(FromRocks(env->GetChildren(dir, &children), "cannot read " + dir));
    std::erase_if(children, [](const std::string& c) { return c == "." || c == ".."; });
    if (!children.empty()) return Status::InvalidArgument(dir + " exists and is not empty; give a new directory");
    // A checkpoint creates its directory itself.
    TL_RETURN_IF_ERROR(FromRocks(env->DeleteDir(dir), "cannot replace the empty directory " + dir));
  }
  rocksdb::Checkpoint* raw = nullptr;
  TL_RETURN_IF_ERROR(FromRocks(rocksdb::Checkpoint::Create(db_.get(), &raw), "cannot start a backup"));
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // Under the write mutex: the copy holds whole commit groups, and never half a rebuild or import.
  std::lock_guard lock(mutex_);
  return FromRocks(checkpoint->CreateCheckpoint(dir), "cannot back up into " + dir);
}

}  // namespace taskledger
