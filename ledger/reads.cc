// Reads: point reads of the projection, the log by seq and by task, and time travel (a
// task or every task as it was at a ledger time or after a seq). None takes the write
// mutex for longer than reading the last commit's seq and time.
#include <rocksdb/db.h>

#include <iterator>
#include <map>

#include "ledger/codec.h"
#include "ledger/keys.h"
#include "ledger/ledger_impl.h"
#include "ledger/log_scan.h"
#include "ledger/rocks_status.h"
#include "projections/time_text.h"

namespace taskledger {
namespace {

// The pages TasksAt(now) reads: it holds every view anyway; the page only bounds the
// transient part.
constexpr size_t kTasksAtPageViews = 4096;
constexpr size_t kTasksAtPageRecordBytes = 16 << 20;

}  // namespace

rocksdb::ReadOptions LedgerImpl::ReadView::Options() const {
  rocksdb::ReadOptions options;
  options.snapshot = snapshot.get();
  return options;
}

rocksdb::ReadOptions LedgerImpl::ReadView::ScanOptions() const {
  rocksdb::ReadOptions options = LogScanOptions();
  options.snapshot = snapshot.get();
  return options;
}

LedgerImpl::ReadView LedgerImpl::DurableView() {
  {
    MutexLock view(&view_mutex_);
    if (durable_) return *durable_;
  }
  // Nothing pending a sync, or not yet: under the write mutex no unsynced write can begin
  // between the check and the snapshot.
  MutexLock lock(&mutex_);
  MutexLock view(&view_mutex_);
  if (durable_) return *durable_;
  // A secondary (read-only beside a live server) has no snapshots: it reads its last Refresh.
  return ReadView{secondary_path_.empty() ? TakeSnapshot() : nullptr, last_seq_, last_ns_};
}

Result<std::optional<TaskRecord>> LedgerImpl::GetTask(const std::string& id) { return GetTaskIn(DurableView(), id); }

Result<std::optional<TaskRecord>> LedgerImpl::GetTaskIn(const ReadView& view, const std::string& id) {
  std::string bytes;
  const rocksdb::Status s = db_->Get(view.Options(), cf(kTasks), id, &bytes);
  if (s.IsNotFound()) return std::optional<TaskRecord>();
  TL_RETURN_IF_ERROR(FromRocks(s, "read task " + id));
  Result<TaskRecord> record = DecodeTask(bytes);
  if (!record.ok()) return record.status();
  return std::optional<TaskRecord>(std::move(*record));
}

Status LedgerImpl::ForEachEvent(uint64_t from_seq, const std::function<bool(const Event&)>& fn) {
  return ForEachEventIn(DurableView(), from_seq, fn);
}

Status LedgerImpl::ForEachEventIn(const ReadView& view, uint64_t from_seq, const std::function<bool(const Event&)>& fn) {
  return ScanEvents(db_.get(), cf(kEvents), view.Options(), from_seq, fn);
}

Status LedgerImpl::ForEachTaskEvent(const std::string& id, uint64_t from_seq,
                                    const std::function<bool(const Event&)>& fn) {
  return ForEachTaskEventIn(DurableView(), id, from_seq, fn);
}

Status LedgerImpl::ForEachTaskEventIn(const ReadView& view, const std::string& id, uint64_t from_seq,
                                      const std::function<bool(const Event&)>& fn) {
  const std::string prefix = keys::TaskEventPrefix(id);
  const rocksdb::ReadOptions read_options = view.Options();
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read_options, cf(kTaskEvents)));
  std::string bytes;
  for (it->Seek(keys::TaskEvent(id, from_seq)); it->Valid(); it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (!keys::StartsWith(key, prefix)) break;
    const uint64_t seq = keys::ReadU64(key.substr(prefix.size()));
    const rocksdb::Status s = db_->Get(read_options, cf(kEvents), keys::Seq(seq), &bytes);
    if (s.IsNotFound()) return Status::DataLoss("task " + id + " lists seq " + std::to_string(seq) + ", not in the log");
    TL_RETURN_IF_ERROR(FromRocks(s, "read the log"));
    Result<Event> event = DecodeEvent(bytes);
    if (!event.ok()) return event.status();
    if (!fn(*event)) return Status::Ok();
  }
  return FromRocks(it->status(), "read task events");
}

Result<uint64_t> LedgerImpl::FirstSeqAtOrAfter(int64_t time_ns) {
  // Ledger time never decreases along seq: binary search on point reads.
  const ReadView view = DurableView();
  const rocksdb::ReadOptions read_options = view.Options();
  uint64_t low = 1, high = view.seq + 1;
  std::string bytes;
  while (low < high) {
    const uint64_t mid = low + (high - low) / 2;
    TL_RETURN_IF_ERROR(FromRocks(db_->Get(read_options, cf(kEvents), keys::Seq(mid), &bytes), "read the log"));
    Result<Event> event = DecodeEvent(bytes);
    if (!event.ok()) return event.status();
    if (event->time_ns >= time_ns) high = mid;
    else low = mid + 1;
  }
  return low;
}

Result<Replay> LedgerImpl::ReplayTo(const ReadView& view, const PointInTime& at, int64_t* eval_ns) {
  Replay replay;
  const uint64_t end = view.seq;
  if (at.kind == PointInTime::Kind::kSeq && static_cast<uint64_t>(at.value) > end) {
    return Status::InvalidArgument("seq " + std::to_string(at.value) + " is past the end of the log (last seq " +
                                   std::to_string(end) + ")");
  }
  Status failed = Status::Ok();
  Status s = FoldEvents(db_.get(), cf(kEvents), view.ScanOptions(), replay, [&](const Event& e) {
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

Result<TasksSnapshot> LedgerImpl::TasksAt(const PointInTime& at) {
  TasksSnapshot snapshot;
  if (at.kind != PointInTime::Kind::kNow) {
    Result<Replay> replay = ReplayTo(DurableView(), at, &snapshot.at_ns);
    if (!replay.ok()) return replay.status();
    snapshot.seq = replay->last_seq();
    snapshot.tasks = std::move(*replay).TakeViews(snapshot.at_ns);
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

Result<TaskView> LedgerImpl::TaskAt(const std::string& id, const PointInTime& at) {
  if (Status s = ValidateName("task id", id); !s.ok()) return s;
  const ReadView view = DurableView();  // one view for the task and its dependencies
  if (at.kind == PointInTime::Kind::kNow) {
    Result<std::optional<TaskRecord>> record = GetTaskIn(view, id);
    if (!record.ok()) return record.status();
    if (!record->has_value()) return Status::NotFound("no task " + id);
    const int64_t t = std::max(clock_->NowNs(), view.ns);
    return Evaluate(**record, t, [this, &view, t](const std::string& dep) -> std::optional<TaskStatus> {
      Result<std::optional<TaskRecord>> found = GetTaskIn(view, dep);
      if (!found.ok() || !found->has_value()) return std::nullopt;
      return OwnStatus(**found, t);
    });
  }
  // Single-task time travel folds only this task's events (and its dependencies').
  int64_t eval_ns = at.value;
  uint64_t until_seq = UINT64_MAX;
  if (at.kind == PointInTime::Kind::kSeq) {
    if (static_cast<uint64_t>(at.value) > view.seq) {
      return Status::InvalidArgument("seq " + std::to_string(at.value) + " is past the end of the log");
    }
    until_seq = static_cast<uint64_t>(at.value);
    eval_ns = 0;
    if (until_seq > 0) {
      Status found = ForEachEventIn(view, until_seq, [&](const Event& e) {
        eval_ns = e.time_ns;
        return false;
      });
      TL_RETURN_IF_ERROR(found);
    }
  }
  const auto fold = [&](const std::string& task, TaskRecord* record) -> Status {
    Status failed = Status::Ok();
    TL_RETURN_IF_ERROR(ForEachTaskEventIn(view, task, 0, [&](const Event& e) {
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

}  // namespace taskledger
