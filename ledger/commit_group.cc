#include "ledger/commit_group.h"

#include <rocksdb/db.h>

#include <algorithm>
#include <memory>

#include "ledger/codec.h"
#include "ledger/keys.h"
#include "ledger/rocks_status.h"
#include "projections/check.h"

namespace taskledger {

void RecordCache::Retire(const std::vector<std::string>& written) {
  if (records_.size() > kMaxRecords) {
    records_.clear();
    return;
  }
  for (const std::string& id : written) {
    auto it = records_.find(id);
    if (it != records_.end() && !it->second.attempt_open) records_.erase(it);
  }
}

Result<const TaskRecord*> CommitGroup::FindTask(const std::string& id) {
  if (auto cached = records_.find(id); cached != records_.end()) return &cached->second;
  std::string bytes;
  const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kTasks), id, &bytes);
  if (s.IsNotFound()) return static_cast<const TaskRecord*>(nullptr);
  if (!s.ok()) return FromRocks(s, "read task " + id);
  Result<TaskRecord> record = DecodeTask(bytes);
  if (!record.ok()) return record.status();
  // What the DB holds: stays true across a rollback, so no undo.
  return &records_.emplace(id, std::move(*record)).first->second;
}

Result<bool> CommitGroup::TaskExists(const std::string& id) {
  if (records_.count(id) != 0) return true;
  std::string bytes;
  const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kTasks), id, &bytes);
  if (s.IsNotFound()) return false;
  if (!s.ok()) return FromRocks(s, "read task " + id);
  return true;
}

const TaskRecord& CommitGroup::PutTask(TaskRecord record) {
  batch_.Put(cf(kTasks), record.id, EncodeTask(record));
  auto it = records_.find(record.id);
  if (it == records_.end()) {
    undo_.push_back({Undo::kRecord, record.id, std::nullopt});
    return records_.emplace(record.id, std::move(record)).first->second;
  }
  undo_.push_back({Undo::kRecord, record.id, std::move(it->second)});
  it->second = std::move(record);
  return it->second;
}

std::vector<std::string> CommitGroup::WrittenTasks() const {
  std::vector<std::string> written;
  for (const Undo& undo : undo_) {
    if (undo.kind == Undo::kRecord) written.push_back(undo.key);
  }
  std::sort(written.begin(), written.end());
  written.erase(std::unique(written.begin(), written.end()), written.end());
  return written;
}

void CommitGroup::PutEvent(const Event& event, const std::string& encoded) {
  batch_.Put(cf(kEvents), keys::Seq(event.seq), encoded);
  batch_.Put(cf(kTaskEvents), keys::TaskEvent(event.task_id, event.seq), "");
  if (event.kind == EventKind::kClaimed) {
    claims_[event.seq] = {event.task_id, event.actor};
    undo_.push_back({Undo::kClaim, keys::Seq(event.seq), std::nullopt});
  }
}

Result<std::optional<std::pair<std::string, std::string>>> CommitGroup::GetClaim(uint64_t seq) {
  using Claim = std::optional<std::pair<std::string, std::string>>;
  if (auto it = claims_.find(seq); it != claims_.end()) return Claim(it->second);
  std::string bytes;
  const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kEvents), keys::Seq(seq), &bytes);
  if (s.IsNotFound()) return Claim();
  if (!s.ok()) return FromRocks(s, "read event " + std::to_string(seq));
  Result<Event> event = DecodeEvent(bytes);
  if (!event.ok() || event->kind != EventKind::kClaimed) return Claim();
  return Claim(std::make_pair(event->task_id, event->actor));
}

void CommitGroup::PutIdempotency(const std::string& key, const std::string& id) {
  batch_.Put(cf(kIdempotency), key, id);
  idempotency_[key] = id;
  undo_.push_back({Undo::kIdempotency, key, std::nullopt});
}

Result<std::optional<std::string>> CommitGroup::GetIdempotency(const std::string& key) {
  if (auto it = idempotency_.find(key); it != idempotency_.end()) return std::optional<std::string>(it->second);
  std::string id;
  const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kIdempotency), key, &id);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "read idempotency key");
  return std::optional<std::string>(std::move(id));
}

void CommitGroup::PutDependent(const std::string& dependency, const std::string& dependent) {
  batch_.Put(cf(kDependents), keys::Dependent(dependency, dependent), "");
  dependents_[dependency].push_back(dependent);
  undo_.push_back({Undo::kDependent, dependency, std::nullopt});
}

Result<std::vector<std::string>> CommitGroup::Dependents(const std::string& dependency) {
  std::vector<std::string> found;
  const std::string prefix = keys::DependentPrefix(dependency);
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kDependents)));
  for (it->Seek(prefix); it->Valid() && keys::StartsWith(it->key().ToStringView(), prefix); it->Next()) {
    found.emplace_back(it->key().ToStringView().substr(prefix.size()));
  }
  TL_RETURN_IF_ERROR(FromRocks(it->status(), "read dependents"));
  if (auto written = dependents_.find(dependency); written != dependents_.end()) {
    found.insert(found.end(), written->second.begin(), written->second.end());
  }
  return found;
}

void CommitGroup::PutLiveMarker(const std::string& id, bool live) {
  if (live) {
    batch_.Put(cf(kSchedule), keys::ScheduleOf(id), "");
  } else {
    batch_.Delete(cf(kSchedule), keys::ScheduleOf(id));
  }
}

DependencyLookup CommitGroup::Dependencies(int64_t now_ns) {
  return [this, now_ns](const std::string& id) -> std::optional<TaskStatus> {
    Result<const TaskRecord*> dep = FindTask(id);
    if (!dep.ok() || *dep == nullptr) return std::nullopt;
    return OwnStatus(**dep, now_ns);
  };
}

void CommitGroup::SetSavePoint() {
  batch_.SetSavePoint();
  save_points_.push_back(undo_.size());
}

void CommitGroup::PopSavePoint() {
  TL_CHECK(!save_points_.empty());
  (void)batch_.PopSavePoint();
  save_points_.pop_back();
}

void CommitGroup::RollbackToSavePoint() {
  TL_CHECK(!save_points_.empty());
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

}  // namespace taskledger
