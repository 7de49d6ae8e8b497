// The task projection: a pure fold of one task's events, and its evaluation at a time.
//
// The derivation rules are DESIGN §4; docs/format.md "Derivation" restates them next to
// the fields below. Nothing here does I/O: the same code serves the live ledger, replay,
// time travel and tests.
//
// Time-dependence lives in exactly one place, Settle(): a record is folded as of its last
// event, and a lease that lapses later is derived when the record is looked at (or when the
// task's next event arrives), never written by a timer. Settling is idempotent in time:
// Settle(r, t1) then Settle(r, t2) == Settle(r, t2) for t1 <= t2.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "projections/event.h"
#include "projections/status.h"

namespace taskledger {

enum class AttemptEnd : uint8_t {
  kNone,
  kCompleted,
  kFailed,
  kExited,
  kExpired,
  kInterrupted,  // ended (exit or expiry) after a signal someone asked for: not a failure
  kReleased,
  kBlocked,
  kCancelled,
};
inline constexpr int kAttemptEndCount = 9;
std::string_view AttemptEndName(AttemptEnd end);

enum class TaskStatus : uint8_t { kWaiting, kReady, kRunning, kBlocked, kDone, kDead, kCancelled };
inline constexpr int kTaskStatusCount = 7;
std::string_view TaskStatusName(TaskStatus status);
std::optional<TaskStatus> TaskStatusFromName(std::string_view name);

// Why a task is waiting.
enum class WaitReason : uint8_t { kNone, kDependency, kNotBefore, kBackoff };
std::string_view WaitReasonName(WaitReason reason);

// The fold of one task's events as of its last event. Field meanings: schemas/event.capnp
// TaskState, which is its stored form.
struct TaskRecord {
  std::string id;
  TaskSpec spec;
  uint64_t created_seq = 0;
  int64_t created_ns = 0;
  uint64_t last_seq = 0;
  int64_t last_ns = 0;

  bool done = false;
  bool cancelled = false;
  bool blocked = false;
  std::string block_reason;
  std::string result;

  uint32_t failures = 0;
  uint32_t attempts = 0;
  uint64_t last_token = 0;

  bool attempt_open = false;
  std::string holder;
  int64_t claimed_ns = 0;
  int64_t ttl_ns = 0;
  int64_t deadline_ns = 0;
  int64_t runtime_cap_ns = 0;
  int64_t signal_cap_ns = 0;
  std::string signal;
  int64_t last_heartbeat_ns = 0;
  uint32_t heartbeats = 0;

  AttemptEnd last_end = AttemptEnd::kNone;
  int64_t last_end_ns = 0;
  std::string last_error;
  int64_t backoff_until_ns = 0;
  uint64_t completed_token = 0;
  bool completed_exit_recorded = false;

  uint32_t expiries = 0;
  uint32_t rejections = 0;
  uint32_t interruptions = 0;

  bool operator==(const TaskRecord&) const = default;

  // Dead: failures reached max attempts (and no operator has revived or cancelled it).
  bool dead() const { return !done && !cancelled && failures >= spec.max_attempts; }
  bool terminal() const { return done || cancelled || dead(); }
};

// The backoff before the attempt after `failures` failures: initial * 2^(failures-1),
// capped at max.
int64_t BackoffNs(const TaskSpec& spec, uint32_t failures);

// Whether the record holds a lease that has lapsed by t: an open attempt whose deadline is
// <= t. Exactly then does Settle change the record.
inline bool LeaseLapsed(const TaskRecord& record, int64_t t) {
  return record.attempt_open && record.deadline_ns <= t;
}

// Ends a lapsed lease: if LeaseLapsed(record, t), the attempt ends by expiry at the deadline
// (interrupted if it had been signaled, else a failure with backoff).
void Settle(TaskRecord* record, int64_t t);

// Folds one event into the record (the record must be empty for `created`). Refuses, with
// DataLoss naming the seq, an event the derivation rules could not have accepted: this is
// how replay and `verify` catch a log that was not written by these rules. A refused event
// leaves the record unchanged.
Status ApplyEvent(TaskRecord* record, const Event& event);

// A task's status ignoring its dependencies: what its dependents need to know of it.
TaskStatus OwnStatus(const TaskRecord& record, int64_t t);

// The state of a task at time t (t >= record.last_ns).
struct TaskView {
  TaskStatus status = TaskStatus::kWaiting;
  WaitReason wait = WaitReason::kNone;
  int64_t until_ns = 0;         // running: the deadline; waiting: until when (0 = unknown)
  std::string dependency;       // waiting on, or blocked by, this task
  TaskStatus dependency_status = TaskStatus::kWaiting;
  TaskRecord settled;           // the record settled at t
};

// Looks up a dependency's own status at the evaluation time; nullopt if unknown (which a
// well-formed log never produces: dependencies must exist when a task is created).
using DependencyLookup = std::function<std::optional<TaskStatus>(const std::string& id)>;

TaskView Evaluate(const TaskRecord& record, int64_t t, const DependencyLookup& dependencies);
// Evaluate without `settled` (left empty): the status, what the task waits on, until when.
// It copies the record only to settle a lapsed lease.
TaskView EvaluateVerdict(const TaskRecord& record, int64_t t, const DependencyLookup& dependencies);

// Orders views as `ls` lists tasks: by creation (created_seq, unique per task). Storage
// reads them in id order and may deliver them in pages; the order users see is this one.
void SortInCreationOrder(std::vector<TaskView>* views);

}  // namespace taskledger
