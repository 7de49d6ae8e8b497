#include "projections/replay.h"

namespace taskledger {

Replay::Replay(const Replay& other) { *this = other; }

Replay& Replay::operator=(const Replay& other) {
  if (this == &other) return *this;
  tasks_.clear();
  creation_order_.clear();
  tasks_.reserve(other.tasks_.size());
  creation_order_.reserve(other.creation_order_.size());
  for (const TaskRecord* record : other.creation_order_) {
    auto copy = std::make_unique<TaskRecord>(*record);
    creation_order_.push_back(copy.get());
    tasks_.emplace(record->id, std::move(copy));
  }
  idempotency_keys_ = other.idempotency_keys_;
  last_seq_ = other.last_seq_;
  last_ns_ = other.last_ns_;
  return *this;
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
  if (event.kind == EventKind::kCreated) {
    if (tasks_.count(event.task_id) != 0) {
      return Status::DataLoss("seq " + std::to_string(event.seq) + ": task " + event.task_id + " created twice");
    }
    for (const std::string& dep : event.spec.after) {
      if (tasks_.count(dep) == 0) {
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
    creation_order_.push_back(record.get());
    tasks_.emplace(event.task_id, std::move(record));
  } else {
    auto it = tasks_.find(event.task_id);
    if (it == tasks_.end()) {
      return Status::DataLoss("seq " + std::to_string(event.seq) + ": event for unknown task " + event.task_id);
    }
    if (event.kind == EventKind::kClaimed) {
      TaskRecord next = *it->second;
      TL_RETURN_IF_ERROR(ApplyEvent(&next, event));
      // A claim needs its dependencies done (the rest of claimability is the task's own).
      const TaskView view = View(*it->second, event.time_ns);
      if (view.status != TaskStatus::kReady) {
        return Status::DataLoss("seq " + std::to_string(event.seq) + ": claim of task " + event.task_id +
                                " that was " + std::string(TaskStatusName(view.status)));
      }
      *it->second = std::move(next);
    } else {
      // In place: ApplyEvent leaves the record unchanged when it refuses the event.
      TL_RETURN_IF_ERROR(ApplyEvent(it->second.get(), event));
    }
  }
  last_seq_ = event.seq;
  last_ns_ = event.time_ns;
  return Status::Ok();
}

const TaskRecord* Replay::Find(const std::string& id) const {
  auto it = tasks_.find(id);
  return it == tasks_.end() ? nullptr : it->second.get();
}

DependencyLookup Replay::Dependencies(int64_t t) const {
  return [this, t](const std::string& id) -> std::optional<TaskStatus> {
    const TaskRecord* dep = Find(id);
    if (dep == nullptr) return std::nullopt;
    return OwnStatus(*dep, t);
  };
}

TaskView Replay::View(const TaskRecord& record, int64_t t) const { return Evaluate(record, t, Dependencies(t)); }

}  // namespace taskledger
