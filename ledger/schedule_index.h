// ScheduleIndex: where each live task waits (ready or on a timer) and every open
// attempt's deadline, in memory only (docs/format.md "The schedule").
//
// Why in memory: claim --next, timer promotion and sweep read the smallest keys of an
// index whose entries move on almost every command (a heartbeat moves its lease's deadline
// and timer). Kept in RocksDB (format 1) that cost five of a command's eight keys, and
// every delete left a tombstone that later scans stepped over. The index is a projection
// of the task records, so the ledger derives it at open from the records of the *live*
// tasks, and persists only which tasks are live: one `schedule` key per task, written when
// a task enters or leaves the index (LivenessChanges), not when it moves.
//
// A task is live while it has a place or an open attempt's deadline. Nothing but an event
// (on the task or, for a dependent, on its dependency) makes a task live, so a task that
// is not live at the end of a commit stays out of the index until a command touches it.
//
// Changes are undoable to a save point, so a command or a group that is rolled back leaves
// the index as it found it. Not thread-safe: the ledger's write mutex guards it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
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

  // ---- deadlines: one key (keys::Deadline) per open attempt, at most one per task ----
  void AddDeadline(const std::string& key);
  void RemoveDeadline(const std::string& key);
  // Up to `limit` deadline keys, smallest first.
  std::vector<std::string> FirstDeadlines(size_t limit) const;

  // At open: a live task's place ("" = none) and deadline key ("" = none), as committed
  // state (nothing to undo, no liveness change).
  void Load(const std::string& id, const std::string& place, const std::string& deadline);

  // ---- liveness: what the ledger persists ----
  // Whether the task has a place or an open attempt's deadline.
  bool IsLive(const std::string& id) const { return tasks_.count(id) != 0; }
  // The tasks whose liveness differs from the last Commit, with their liveness now.
  std::vector<std::pair<std::string, bool>> LivenessChanges() const;

  // ---- undo ----
  size_t SavePoint() const { return undo_.size(); }
  void RollbackTo(size_t save_point);
  // The current state becomes the committed one: no undo, no liveness changes.
  void Commit() {
    undo_.clear();
    live_at_commit_.clear();
  }
  void Clear();

 private:
  struct Undo {
    enum class Kind { kPlace, kAddDeadline, kRemoveDeadline } kind;
    std::string id_or_key;
    std::string previous;  // kPlace: the key before
  };
  void SetPlace(const std::string& id, const std::string& key);
  void InsertDeadline(const std::string& key);
  void EraseDeadline(const std::string& key);
  bool HasDeadline(const std::string& key) const;
  // Remembers the task's liveness before its first change since Commit.
  void Touch(const std::string& id) { live_at_commit_.try_emplace(id, IsLive(id)); }

  // A live task: it has a place, a deadline, or both (else it has no entry). Why so
  // compact: a server holds one per open lease, a million of them at the target size.
  struct Live {
    std::string place;          // its R/T key, "" = none
    uint64_t deadline = 0;      // its open attempt's deadline (keys::Deadline's first 8 bytes)
    bool has_deadline = false;  // one per task: an attempt's deadline moves, never doubles
  };
  // The tasks' ids are the keys of tasks_; keys_ and deadlines_ refer to them (nodes of an
  // unordered_map do not move), and an entry leaves tasks_ only once it is in neither.
  std::unordered_map<std::string, Live> tasks_;                // task id -> where it is
  std::map<std::string, std::string_view> keys_;               // R/T key -> task id
  std::set<std::pair<uint64_t, std::string_view>> deadlines_;  // (deadline, task id), in key order
  std::unordered_map<std::string, bool> live_at_commit_;  // touched since Commit
  std::vector<Undo> undo_;
};

}  // namespace taskledger
