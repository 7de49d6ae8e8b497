#include "projections/replay.h"

#include <algorithm>
#include <functional>

namespace taskledger {

Replay::Replay(const Replay& other) { *this = other; }

Replay& Replay::operator=(const Replay& other) {
  if (this == &other) return *this;
  slots_.assign(other.slots_.size(), Slot{});
  records_.clear();
  creation_order_.clear();
  records_.reserve(other.records_.size());
  creation_order_.reserve(other.creation_order_.size());
  for (const auto& record : other.records_) {
    auto copy = std::make_unique<TaskRecord>(*record);
    const uint64_t hash = Hash(copy->id);
    Insert(std::move(copy), hash);
  }
  idempotency_keys_ = other.idempotency_keys_;
  last_seq_ = other.last_seq_;
  last_ns_ = other.last_ns_;
  return *this;
}

uint64_t Replay::Hash(std::string_view id) { return std::hash<std::string_view>()(id); }

TaskRecord* Replay::Lookup(std::string_view id, uint64_t hash) const {
  if (slots_.empty()) return nullptr;
  const size_t mask = slots_.size() - 1;
  for (size_t i = hash & mask;; i = (i + 1) & mask) {
    const Slot& slot = slots_[i];
    if (slot.record == nullptr) return nullptr;
    if (slot.hash == hash && slot.record->id == id) return slot.record;
  }
}

void Replay::PrefetchSlot(std::string_view id) const {
  if (slots_.empty()) return;
  __builtin_prefetch(&slots_[Hash(id) & (slots_.size() - 1)]);
}

void Replay::PrefetchRecord(std::string_view id) const {
  if (slots_.empty()) return;
  const uint64_t hash = Hash(id);
  const Slot& slot = slots_[hash & (slots_.size() - 1)];
  // The first probe only: most lookups end there at this load factor.
  if (slot.record != nullptr && slot.hash == hash) {
    const char* record = reinterpret_cast<const char*>(slot.record);
    __builtin_prefetch(record);
    __builtin_prefetch(record + 64);
  }
}

void Replay::Insert(std::unique_ptr<TaskRecord> record, uint64_t hash) {
  if ((records_.size() + 1) * 2 > slots_.size()) {
    std::vector<Slot> old(std::max<size_t>(64, slots_.size() * 2));
    old.swap(slots_);
    const size_t mask = slots_.size() - 1;
    for (const Slot& slot : old) {
      if (slot.record == nullptr) continue;
      size_t i = slot.hash & mask;
      while (slots_[i].record != nullptr) i = (i + 1) & mask;
      slots_[i] = slot;
    }
  }
  const size_t mask = slots_.size() - 1;
  size_t i = hash & mask;
  while (slots_[i].record != nullptr) i = (i + 1) & mask;
  slots_[i] = Slot{hash, record.get()};
  creation_order_.push_back(record.get());
  records_.push_back(std::move(record));
}

Status Replay::Apply(const Event& event) {
  if (event.seq != last_seq_ + 1) {
    return Status::DataLoss("seq " + std::to_string(last_seq_ + 1) + " is missing (found seq " +
                            std::to_string(event.seq) + " after seq " + std::to_string(last_seq_) + ")");
  }
  if (event.time_ns < last_ns_) {
    return Status::DataLoss("seq " + std::to_string(event.seq) + " (task " + event.task_id +
                            "): ledger time goes backwards");
  }
  const uint64_t hash = Hash(event.task_id);
  if (event.kind == EventKind::kCreated) {
    if (Lookup(event.task_id, hash) != nullptr) {
      return Status::DataLoss("seq " + std::to_string(event.seq) + ": task " + event.task_id + " created twice");
    }
    for (const std::string& dep : event.spec.after) {
      if (Lookup(dep, Hash(dep)) == nullptr) {
        return Status::DataLoss("seq " + std::to_string(event.seq) + ": task " + event.task_id +
                                " depends on unknown task " + dep);
      }
    }
    const std::string& key = event.spec.idempotency_key;
    if (!key.empty() && idempotency_keys_.count(key) != 0) {
      // The ledger answers a second create with the same key with the first task.
      return Status::DataLoss("seq " + std::to_string(event.seq) + ": task " + event.task_id +
                              " reuses the idempotency key of task " + idempotency_keys_.at(key));
    }
    auto record = std::make_unique<TaskRecord>();
    TL_RETURN_IF_ERROR(ApplyEvent(record.get(), event));
    if (!key.empty()) idempotency_keys_.emplace(key, event.task_id);
    Insert(std::move(record), hash);
  } else {
    TaskRecord* const found = Lookup(event.task_id, hash);
    if (found == nullptr) {
      return Status::DataLoss("seq " + std::to_string(event.seq) + ": event for unknown task " + event.task_id);
    }
    if (event.kind == EventKind::kClaimed) {
      TaskRecord next = *found;
      TL_RETURN_IF_ERROR(ApplyEvent(&next, event));
      // A claim needs its dependencies done (the rest of claimability is the task's own).
      const TaskView view = View(*found, event.time_ns);
      if (view.status != TaskStatus::kReady) {
        return Status::DataLoss("seq " + std::to_string(event.seq) + ": claim of task " + event.task_id +
                                " that was " + std::string(TaskStatusName(view.status)));
      }
      *found = std::move(next);
    } else {
      // In place: ApplyEvent leaves the record unchanged when it refuses the event.
      TL_RETURN_IF_ERROR(ApplyEvent(found, event));
    }
  }
  last_seq_ = event.seq;
  last_ns_ = event.time_ns;
  return Status::Ok();
}

const TaskRecord* Replay::Find(const std::string& id) const { return Lookup(id, Hash(id)); }

DependencyLookup Replay::Dependencies(int64_t t) const {
  return [this, t](const std::string& id) -> std::optional<TaskStatus> {
    const TaskRecord* dep = Find(id);
    if (dep == nullptr) return std::nullopt;
    return OwnStatus(*dep, t);
  };
}

TaskView Replay::View(const TaskRecord& record, int64_t t) const { return Evaluate(record, t, Dependencies(t)); }

std::vector<TaskView> Replay::TakeViews(int64_t t) && {
  // Every verdict first, while every dependency's record is still here to be asked.
  std::vector<TaskView> views;
  views.reserve(records_.size());
  const DependencyLookup dependencies = Dependencies(t);
  for (const std::unique_ptr<TaskRecord>& record : records_) views.push_back(EvaluateVerdict(*record, t, dependencies));
  slots_ = {};
  creation_order_ = {};
  idempotency_keys_ = {};
  for (size_t i = 0; i < records_.size(); ++i) {
    views[i].settled = std::move(*records_[i]);
    records_[i].reset();
    Settle(&views[i].settled, t);
  }
  records_.clear();
  records_.shrink_to_fit();
  return views;
}

}  // namespace taskledger
