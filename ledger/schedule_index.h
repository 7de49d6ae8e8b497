// ScheduleIndex: the writer's in-memory mirror of the `schedule` and `deadlines` column
// families (docs/format.md "Keys").
//
// Why: claim --next, timer promotion and sweep read the smallest keys of an index whose
// entries are deleted as fast as they are added. In an LSM tree every delete leaves a
// tombstone that later scans must step over until compaction, so the cost of a claim grew
// with the number of tasks ever claimed. The mirror answers those reads in O(log n); the
// column families stay the durable truth (written in the same WriteBatch) and are what
// Open loads the mirror from and what `verify` checks.
//
// Changes are undoable to a save point, so a command or a group that is rolled back leaves
// the mirror as it found it. Not thread-safe: the ledger's write mutex guards it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

namespace taskledger {

class ScheduleIndex {
 public:
  // ---- schedule: task id <-> its R (ready) or T (timer) key ----
  // The task's current key, or "" if it is not scheduled.
  std::string PlaceOf(const std::string& id) const;
  // Moves the task to `key` ("" = unscheduled).
  void Place(const std::string& id, const std::string& key);
  // The first key with this prefix and its task, if any.
  std::optional<std::pair<std::string, std::string>> First(const std::string& prefix) const;
  // Up to `limit` keys with this prefix, in order, and their tasks.
  std::vector<std::pair<std::string, std::string>> Scan(const std::string& prefix, size_t limit) const;

  // ---- deadlines: one key per open attempt ----
  void AddDeadline(const std::string& key);
  void RemoveDeadline(const std::string& key);
  // Up to `limit` deadline keys, smallest first.
  std::vector<std::string> FirstDeadlines(size_t limit) const;

  // ---- undo ----
  size_t SavePoint() const { return undo_.size(); }
  void RollbackTo(size_t save_point);
  void Commit() { undo_.clear(); }
  void Clear();

  size_t scheduled() const { return place_.size(); }

 private:
  struct Undo {
    enum class Kind { kPlace, kAddDeadline, kRemoveDeadline } kind;
    std::string id_or_key;
    std::string previous;  // kPlace: the key before
  };
  void SetPlace(const std::string& id, const std::string& key);

  std::map<std::string, std::string> keys_;              // R/T key -> task id
  std::unordered_map<std::string, std::string> place_;   // task id -> R/T key
  std::set<std::string> deadlines_;
  std::vector<Undo> undo_;
};

}  // namespace taskledger
