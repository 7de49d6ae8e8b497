// Replay: the whole-log fold in memory. The reference the materialized projection is
// checked against (`verify`, the property tests), and the engine of time travel.
//
// Not thread-safe; a value type (copyable) so a test can snapshot it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "projections/event.h"
#include "projections/status.h"
#include "projections/task.h"

namespace taskledger {

class Replay {
 public:
  // Folds the next event of the log. Checks invariant 1 (seq dense from 1, ledger time
  // never decreasing) and, through ApplyEvent, that the event obeys the derivation rules
  // (invariants 2, 3 and 7). On error the replay is unchanged.
  Status Apply(const Event& event);

  uint64_t last_seq() const { return last_seq_; }
  int64_t last_ns() const { return last_ns_; }
  size_t task_count() const { return tasks_.size(); }

  const TaskRecord* Find(const std::string& id) const;
  // Tasks in creation order.
  std::vector<const TaskRecord*> Tasks() const;
  const std::unordered_map<std::string, TaskRecord>& records() const { return tasks_; }

  // A task's state at t (t >= the time of the last folded event).
  TaskView View(const TaskRecord& record, int64_t t) const;
  DependencyLookup Dependencies(int64_t t) const;

 private:
  std::unordered_map<std::string, TaskRecord> tasks_;
  std::map<uint64_t, std::string> creation_order_;  // created seq -> id
  std::unordered_map<std::string, std::string> idempotency_keys_;  // key -> the task it created
  uint64_t last_seq_ = 0;
  int64_t last_ns_ = 0;
};

}  // namespace taskledger
