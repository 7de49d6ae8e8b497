// Replay: the whole-log fold in memory. The reference the materialized projection is
// checked against (`verify`, the property tests), and the engine of time travel.
//
// Not thread-safe; a value type (copyable) so a test can snapshot it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "projections/event.h"
#include "projections/status.h"
#include "projections/task.h"

namespace taskledger {

class Replay {
 public:
  Replay() = default;
  Replay(const Replay& other);
  Replay& operator=(const Replay& other);
  Replay(Replay&&) noexcept = default;
  Replay& operator=(Replay&&) noexcept = default;

  // Folds the next event of the log. Checks invariant 1 (seq dense from 1, ledger time
  // never decreasing) and, through ApplyEvent, that the event obeys the derivation rules
  // (invariants 2, 3 and 7). On error the replay is unchanged.
  Status Apply(const Event& event);

  uint64_t last_seq() const { return last_seq_; }
  int64_t last_ns() const { return last_ns_; }
  size_t task_count() const { return records_.size(); }

  // Hints that an event of task `id` is about to be folded, a few events ahead: the first
  // brings the task's slot toward the cache, the second (later, once the slot is there) its
  // record. Both change nothing: a scan of the log overlaps these cache misses, which
  // otherwise stall every event of a replay over many tasks.
  void PrefetchSlot(std::string_view id) const;
  void PrefetchRecord(std::string_view id) const;

  const TaskRecord* Find(const std::string& id) const;
  // Tasks in creation order.
  const std::vector<const TaskRecord*>& Tasks() const { return creation_order_; }

  // A task's state at t (t >= the time of the last folded event).
  TaskView View(const TaskRecord& record, int64_t t) const;
  // Every task's view at t, in creation order, consuming the replay: each record moves into
  // its view instead of being copied (a time-travel `ls` of 1M tasks held every record
  // twice). The replay is empty afterwards.
  std::vector<TaskView> TakeViews(int64_t t) &&;
  DependencyLookup Dependencies(int64_t t) const;

 private:
  // The records by id: open addressing with linear probing over slots of (hash, record),
  // at most half full. A lookup (one per event) touches one 16-byte slot, compares the
  // hash there and then the id in the record the fold reads anyway; a node-based map cost
  // two more dependent cache misses per event (bucket, node) with 1M scattered records.
  struct Slot {
    uint64_t hash = 0;
    TaskRecord* record = nullptr;  // null: empty
  };
  static uint64_t Hash(std::string_view id);
  TaskRecord* Lookup(std::string_view id, uint64_t hash) const;
  void Insert(std::unique_ptr<TaskRecord> record, uint64_t hash);

  std::vector<Slot> slots_;  // a power of two in size, or empty
  std::vector<std::unique_ptr<TaskRecord>> records_;  // in creation order
  std::vector<const TaskRecord*> creation_order_;  // events create tasks in seq order
  std::unordered_map<std::string, std::string> idempotency_keys_;  // key -> the task it created
  uint64_t last_seq_ = 0;
  int64_t last_ns_ = 0;
};

}  // namespace taskledger
