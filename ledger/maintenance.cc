// Deriving the projection and the schedule from the log: LoadIndex (the in-memory schedule
// at open), the conversion of a format-1 ledger, rebuild, import; and backup.
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <algorithm>

#include "ledger/codec.h"
#include "ledger/keys.h"
#include "ledger/ledger_impl.h"
#include "ledger/log_scan.h"
#include "ledger/rocks_status.h"
#include "ledger/schedule_key.h"
#include "projections/check.h"

namespace taskledger {
namespace {

// Events per write while rebuilding.
constexpr size_t kRebuildBatchEvents = 10'000;
// Events per write while importing: each event is two entries (log and task index).
constexpr uint32_t kImportBatchEvents = 10'000;

}  // namespace

Status LedgerImpl::ClearFamilies(bool with_log) {
  records_.Clear();  // the records it holds are about to go
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
Status LedgerImpl::LoadIndex() {
  index_.Clear();
  records_.Clear();  // called when the records were (re)written wholesale
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
Status LedgerImpl::ConvertFromFormat1() {
  TL_CHECK(!options_.read_only);
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

Result<RebuildReport> LedgerImpl::Rebuild() {
  if (options_.read_only) return Status::IOError("ledger " + options_.path + " is open read-only");
  MutexLock lock(&mutex_);
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

Status LedgerImpl::WriteProjection(const Replay& replay, RebuildReport* report) {
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

Result<ImportReport> LedgerImpl::CheckLog(const EventSource& source) {
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

Result<ImportReport> LedgerImpl::Import(const EventSource& source) {
  if (options_.read_only) return Status::IOError("ledger " + options_.path + " is open read-only");
  MutexLock lock(&mutex_);
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
    // As on the command path: a DCHECK, because it decodes every imported event again.
    TL_DCHECK(DecodeEvent(encoded).ok() && *DecodeEvent(encoded) == e);
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

Status LedgerImpl::Backup(const std::string& dir) {
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
  MutexLock lock(&mutex_);
  return FromRocks(checkpoint->CreateCheckpoint(dir), "cannot back up into " + dir);
}

}  // namespace taskledger
