// `explain`: why a task is in its state, told as the story of its attempts (DESIGN §7,
// story 4). Who claimed it (worker, pid, host) and when, heartbeat gaps worth noting,
// signals and exits, why each attempt ended, every command refused from a stale holder,
// what the task waits for now and what would happen next.
//
// Pure: the task's events and its state come in, a value and its text come out. Times are
// the events' own and the evaluation time given; nothing reads a clock, so the same input
// always tells the same story (golden tests: tests/audit/explain_test.cc).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "projections/event.h"
#include "projections/status.h"
#include "projections/task.h"

namespace taskledger {

// A writer whose wall clock (the client time its commands carry) differs from the ledger's
// by more than this is flagged: beyond any round trip and commit wait, its clock is off,
// and the times it reports (or a lease it computes from its own clock) cannot be trusted.
inline constexpr int64_t kClockSkewBoundNs = 2'000'000'000;

// One noteworthy moment: of an attempt (a signal, a late heartbeat, a refused command) or
// of the task (an operator's act).
struct ExplainMark {
  uint64_t seq = 0;  // the event that is the moment
  int64_t time_ns = 0;
  std::string kind;  // stable: heartbeat_gap, clock_skew, signal, exit, lease_expired, rejected,
                     // blocked, unblocked, cancelled, revived, annotated, claim_extended (a run
                     // of imported claim extensions with no heartbeat between them, as one mark)
  std::string actor;
  uint32_t pid = 0;  // where the event's command came from (client metadata)
  std::string host;
  std::string text;  // one plain sentence
  // rejected: the refused command (whatif replays it: under a longer lease it might have
  // been accepted).
  std::optional<HolderCommand> refused;
  // heartbeat_gap: the silence before it; clock_skew: the writer's clock minus the ledger's.
  int64_t value_ns = 0;
};

// One claim's lifetime.
struct AttemptStory {
  uint32_t number = 0;  // 1-based, in claim order
  uint64_t token = 0;
  uint64_t claimed_seq = 0;
  std::string worker;
  uint32_t pid = 0;
  std::string host;
  int64_t claimed_ns = 0;
  int64_t ttl_ns = 0;
  int64_t deadline_ns = 0;  // the lease's deadline: the latest one while open, the last one when ended
  std::vector<int64_t> heartbeat_ns;
  int64_t longest_gap_ns = 0;  // the longest silence between claim, heartbeats and the end
  std::string signal;          // the last signal recorded, if any
  int64_t signaled_ns = 0;
  int64_t grace_ns = 0;
  int64_t exited_ns = 0;       // when the holder's process exit was recorded (0: never)

  bool open = true;
  AttemptEnd end = AttemptEnd::kNone;
  int64_t end_ns = 0;
  uint64_t end_seq = 0;  // the event that ended it; 0 when its lease lapsed (no event)
  bool lapsed = false;   // ended at its deadline without word from the holder
  std::string detail;    // result, error, exit code or signal, reason
  std::string ending;    // why it ended, in words, with what followed
  std::vector<ExplainMark> marks;  // in seq order
  // Imported claim extensions (annotations of a board's `claim_extended`) with no heartbeat
  // in between: the longest such run in this attempt.
  uint32_t silent_extensions = 0;
  int64_t silent_extensions_first_ns = 0;
  int64_t silent_extensions_last_ns = 0;
  int64_t silent_since_ns = 0;  // the holder's last sign of life before that run
};

// A task's history as attempts and moments: the part of the story that needs only the
// task's own events. The timeline draws the same history.
struct TaskHistory {
  std::string task_id;
  TaskSpec spec;
  std::string created_by;
  uint64_t created_seq = 0;
  int64_t created_ns = 0;
  uint64_t last_seq = 0;
  std::vector<AttemptStory> attempts;
  std::vector<ExplainMark> marks;  // the task's own moments, in seq order
  TaskRecord record;               // the fold, settled at the evaluation time
};

// Builds one task's history event by event, for callers that stream a whole log rather
// than hold its events. A value type; not thread-safe.
class TaskHistoryBuilder {
 public:
  // Folds the task's next event, in seq order; the first must be its `created`. DataLoss
  // if the events break the rules (the builder is then of no further use).
  Status Add(const Event& event);
  // The history so far, settled at `at_ns` (>= the last event's time).
  TaskHistory Finish(int64_t at_ns) const;

 private:
  void Note(const Event& e, bool ends_attempt);
  AttemptStory* OpenAttempt();
  AttemptStory* ByToken(uint64_t token);
  void CloseIfLapsed(int64_t t);
  void Close(AttemptStory* a, const TaskRecord& r, const Event* by);
  void OnClaimed(const Event& e);
  void OnHeartbeat(const Event& e);
  void OnSignaled(const Event& e, bool ends_attempt);
  void OnLateExit(const Event& e);
  void OnOperator(const Event& e);
  void OnLeaseExpired(const Event& e);
  void OnRejected(const Event& e);
  void OnAnnotated(const Event& e);
  void NoteClockSkew(const Event& e);

  TaskHistory h_;
  TaskRecord r_;               // the fold, as of the last event
  int64_t last_alive_ns_ = 0;  // the open attempt's claim or last heartbeat
  std::map<std::string, int64_t> skew_flagged_;  // per writer: the skew last flagged
  // The open attempt's current run of claim extensions with no heartbeat: how many, and
  // the index of its mark (in the attempt's marks).
  uint32_t extension_run_ = 0;
  size_t extension_mark_ = 0;
};

// Folds one task's events (in seq order, starting with its `created`) into its history,
// settled at `at_ns` (>= the last event's time). DataLoss if the events break the rules.
Result<TaskHistory> BuildHistory(const std::vector<Event>& events, int64_t at_ns);

struct ExplainInput {
  std::vector<Event> events;  // the task's events up to the point of view, in seq order
  TaskView view;              // the task's state at at_ns
  int64_t at_ns = 0;
  // The states at at_ns of the tasks this one waits on or is blocked by (optional: they
  // only make the story richer).
  std::map<std::string, TaskView> dependencies;
};

struct Explanation {
  TaskHistory history;
  TaskView view;
  int64_t at_ns = 0;
  std::string state;  // what the task is, or waits for, at at_ns
  std::string next;   // what would happen next
  std::map<std::string, TaskView> dependencies;
};

Result<Explanation> Explain(const ExplainInput& input);
// The narrative, one fact per line.
std::string RenderExplanation(const Explanation& explanation);
// The same as one JSON object (docs/export.md lists its keys).
nlohmann::json ExplanationToJson(const Explanation& explanation);

}  // namespace taskledger
