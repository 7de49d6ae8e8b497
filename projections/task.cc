#include "projections/task.h"

#include <algorithm>
#include <array>
#include <limits>

#include "projections/check.h"

namespace taskledger {
namespace {

constexpr std::array<std::string_view, kAttemptEndCount> kAttemptEndNames = {
    "none", "completed", "failed", "exited", "expired", "interrupted", "released", "blocked", "cancelled"};
constexpr std::array<std::string_view, kTaskStatusCount> kTaskStatusNames = {
    "waiting", "ready", "running", "blocked", "done", "dead", "cancelled"};

int64_t SaturatingAdd(int64_t a, int64_t b) {
  int64_t sum;
  if (__builtin_add_overflow(a, b, &sum)) return std::numeric_limits<int64_t>::max();
  return sum;
}

// The latest a holder's lease may run to, whatever its ttl: the max-runtime cap of the
// attempt and, once signaled, the signal's grace.
int64_t DeadlineCap(const TaskRecord& r) {
  int64_t cap = std::numeric_limits<int64_t>::max();
  if (r.runtime_cap_ns > 0) cap = std::min(cap, r.runtime_cap_ns);
  if (r.signal_cap_ns > 0) cap = std::min(cap, r.signal_cap_ns);
  return cap;
}

// Ends the open attempt at `t`. Failures count toward max attempts and start a backoff
// from the moment the attempt ended.
void EndAttempt(TaskRecord* r, AttemptEnd end, int64_t t) {
  r->attempt_open = false;
  r->last_end = end;
  r->last_end_ns = t;
  switch (end) {
    case AttemptEnd::kFailed:
    case AttemptEnd::kExited:
    case AttemptEnd::kExpired:
      r->failures++;
      r->backoff_until_ns = SaturatingAdd(t, BackoffNs(r->spec, r->failures));
      if (end == AttemptEnd::kExpired) r->expiries++;
      break;
    case AttemptEnd::kInterrupted:
      r->interruptions++;
      break;
    default:
      break;
  }
}

Status Corrupt(const Event& e, std::string_view what) {
  return Status::DataLoss("seq " + std::to_string(e.seq) + " (" + std::string(EventKindName(e.kind)) +
                          " of task " + e.task_id + "): " + std::string(what));
}

// A holder command is acceptable iff it carries the current token of an open attempt and
// arrives before the deadline (the lease rule; DESIGN §4).
bool HoldsLease(const TaskRecord& r, uint64_t token, int64_t t) {
  return r.attempt_open && token == r.last_token && t < r.deadline_ns;
}

}  // namespace

std::string_view AttemptEndName(AttemptEnd end) { return kAttemptEndNames[static_cast<int>(end)]; }
std::string_view TaskStatusName(TaskStatus status) { return kTaskStatusNames[static_cast<int>(status)]; }
std::optional<TaskStatus> TaskStatusFromName(std::string_view name) {
  for (int i = 0; i < kTaskStatusCount; ++i) {
    if (kTaskStatusNames[i] == name) return static_cast<TaskStatus>(i);
  }
  return std::nullopt;
}
std::string_view WaitReasonName(WaitReason reason) {
  switch (reason) {
    case WaitReason::kNone: return "none";
    case WaitReason::kDependency: return "dependency";
    case WaitReason::kNotBefore: return "not_before";
    case WaitReason::kBackoff: return "backoff";
  }
  return "none";
}

int64_t BackoffNs(const TaskSpec& spec, uint32_t failures) {
  if (failures == 0 || spec.backoff_initial_ns <= 0) return 0;
  int64_t backoff = spec.backoff_initial_ns;
  for (uint32_t i = 1; i < failures && backoff < spec.backoff_max_ns; ++i) {
    backoff = SaturatingAdd(backoff, backoff);
  }
  return std::min(backoff, std::max(spec.backoff_max_ns, spec.backoff_initial_ns));
}

void Settle(TaskRecord* r, int64_t t) {
  if (!LeaseLapsed(*r, t)) return;
  // Invariant: a lapsed lease ends at its deadline, whenever the lapse is noticed.
  EndAttempt(r, r->signal.empty() ? AttemptEnd::kExpired : AttemptEnd::kInterrupted, r->deadline_ns);
  if (r->last_end == AttemptEnd::kExpired) r->last_error = "lease expired";
}

namespace {

// ApplyEvent on a record already settled at the event's time. Every case checks before it
// changes anything, so a refused event leaves the record as it was.
Status ApplySettled(TaskRecord* r, const Event& e);

}  // namespace

Status ApplyEvent(TaskRecord* r, const Event& e) {
  if (e.kind == EventKind::kCreated) {
    if (!r->id.empty()) return Corrupt(e, "the task already exists");
    r->id = e.task_id;
    r->spec = e.spec;
    r->created_seq = e.seq;
    r->created_ns = e.time_ns;
    r->last_seq = e.seq;
    r->last_ns = e.time_ns;
    return Status::Ok();
  }
  if (r->id.empty()) return Corrupt(e, "no such task");
  if (e.time_ns < r->last_ns) return Corrupt(e, "ledger time went backwards");
  if (e.seq <= r->last_seq) return Corrupt(e, "seq does not increase");
  if (LeaseLapsed(*r, e.time_ns)) {
    // The lease lapsed before this event: settle a copy, so that a refusal still leaves
    // the record unchanged (the common case, no lapse, needs no copy).
    TaskRecord settled = *r;
    Settle(&settled, e.time_ns);
    TL_RETURN_IF_ERROR(ApplySettled(&settled, e));
    *r = std::move(settled);
    return Status::Ok();
  }
  return ApplySettled(r, e);
}

namespace {

// One function on purpose (~105 lines): one case per event kind, the derivation rules of
// docs/derivation.md side by side, each refusing an event the rules could not have appended.
Status ApplySettled(TaskRecord* r, const Event& e) {
  const int64_t t = e.time_ns;
  switch (e.kind) {
    case EventKind::kCreated:
      break;  // handled above
    case EventKind::kClaimed: {
      if (r->terminal() || r->blocked || r->attempt_open) return Corrupt(e, "task was not claimable");
      if (t < r->spec.not_before_ns || t < r->backoff_until_ns) return Corrupt(e, "task was still waiting");
      if (e.token != e.seq || e.token <= r->last_token) return Corrupt(e, "token is not the claim's seq");
      if (e.ttl_ns <= 0) return Corrupt(e, "ttl is not positive");
      r->attempts++;
      r->last_token = e.token;
      r->attempt_open = true;
      r->holder = e.actor;
      r->claimed_ns = t;
      r->ttl_ns = e.ttl_ns;
      r->runtime_cap_ns = r->spec.max_runtime_ns > 0 ? SaturatingAdd(t, r->spec.max_runtime_ns) : 0;
      r->signal_cap_ns = 0;
      r->signal.clear();
      r->last_heartbeat_ns = 0;
      r->heartbeats = 0;
      r->deadline_ns = std::min(SaturatingAdd(t, e.ttl_ns), DeadlineCap(*r));
      break;
    }
    case EventKind::kHeartbeat:
      if (!HoldsLease(*r, e.token, t)) return Corrupt(e, "heartbeat without the live lease");
      r->last_heartbeat_ns = t;
      r->heartbeats++;
      r->deadline_ns = std::min(SaturatingAdd(t, r->ttl_ns), DeadlineCap(*r));
      break;
    case EventKind::kSignaled: {
      if (!HoldsLease(*r, e.token, t)) return Corrupt(e, "signal without the live lease");
      const int64_t cap = SaturatingAdd(t, std::max<int64_t>(e.grace_ns, 0));
      r->signal_cap_ns = r->signal_cap_ns > 0 ? std::min(r->signal_cap_ns, cap) : cap;
      r->signal = e.signal;
      r->deadline_ns = std::min(r->deadline_ns, r->signal_cap_ns);
      Settle(r, t);  // a zero grace ends the lease now
      break;
    }
    case EventKind::kExited:
      if (HoldsLease(*r, e.token, t)) {
        EndAttempt(r, r->signal.empty() ? AttemptEnd::kExited : AttemptEnd::kInterrupted, t);
        r->last_error = e.exit_code ? "exited with code " + std::to_string(*e.exit_code)
                                    : "killed by " + e.signal;
      } else if (e.token != 0 && e.token == r->completed_token && !r->completed_exit_recorded) {
        r->completed_exit_recorded = true;  // the supervisor's record after `completed`
      } else {
        return Corrupt(e, "exit without the live lease");
      }
      break;
    case EventKind::kCompleted:
      if (!HoldsLease(*r, e.token, t)) return Corrupt(e, "completion without the live lease");
      EndAttempt(r, AttemptEnd::kCompleted, t);
      r->done = true;
      r->result = e.text;
      r->completed_token = e.token;
      r->completed_exit_recorded = false;
      break;
    case EventKind::kFailed:
      if (!HoldsLease(*r, e.token, t)) return Corrupt(e, "failure without the live lease");
      EndAttempt(r, AttemptEnd::kFailed, t);
      r->last_error = e.text;
      break;
    case EventKind::kReleased:
      if (!HoldsLease(*r, e.token, t)) return Corrupt(e, "release without the live lease");
      EndAttempt(r, AttemptEnd::kReleased, t);
      break;
    case EventKind::kBlocked:
      if (r->terminal() || r->blocked) return Corrupt(e, "task could not be blocked");
      if (r->attempt_open) EndAttempt(r, AttemptEnd::kBlocked, t);
      r->blocked = true;
      r->block_reason = e.text;
      break;
    case EventKind::kUnblocked:
      if (!r->blocked) return Corrupt(e, "task was not blocked");
      r->blocked = false;
      r->block_reason.clear();
      break;
    case EventKind::kCancelled:
      if (r->done || r->cancelled) return Corrupt(e, "task was already finished");
      if (r->attempt_open) EndAttempt(r, AttemptEnd::kCancelled, t);
      r->cancelled = true;
      r->blocked = false;
      r->block_reason.clear();
      break;
    case EventKind::kRevived:
      if (!r->dead() && !r->cancelled) return Corrupt(e, "task was neither dead nor cancelled");
      r->cancelled = false;
      r->failures = 0;
      r->backoff_until_ns = 0;
      break;
    case EventKind::kLeaseExpired:
      // A marker: Settle() above has already ended the attempt it observes.
      if (e.token != r->last_token || r->attempt_open || e.deadline_ns > t || e.deadline_ns != r->last_end_ns ||
          (r->last_end != AttemptEnd::kExpired && r->last_end != AttemptEnd::kInterrupted)) {
        return Corrupt(e, "marks a lease that had not lapsed");
      }
      break;
    case EventKind::kRejected:
      r->rejections++;
      break;
    case EventKind::kAnnotated:
      break;  // an imported fact with no equivalent: no state change, any status
  }
  r->last_seq = e.seq;
  r->last_ns = t;
  return Status::Ok();
}

}  // namespace

TaskStatus OwnStatus(const TaskRecord& record, int64_t t) {
  if (LeaseLapsed(record, t)) {
    // Only a lapsed lease changes the record when settled; copy just then.
    TaskRecord settled = record;
    Settle(&settled, t);
    return OwnStatus(settled, t);
  }
  const TaskRecord& r = record;
  if (r.done) return TaskStatus::kDone;
  if (r.cancelled) return TaskStatus::kCancelled;
  if (r.dead()) return TaskStatus::kDead;
  if (r.blocked) return TaskStatus::kBlocked;
  if (r.attempt_open) return TaskStatus::kRunning;
  if (t < r.spec.not_before_ns || t < r.backoff_until_ns) return TaskStatus::kWaiting;
  return TaskStatus::kReady;
}

namespace {

// Evaluate's verdict (every field of the view but `settled`) on a record settled at t.
void Classify(const TaskRecord& r, int64_t t, const DependencyLookup& dependencies, TaskView* view) {
  if (r.done) { view->status = TaskStatus::kDone; return; }
  if (r.cancelled) { view->status = TaskStatus::kCancelled; return; }
  if (r.dead()) { view->status = TaskStatus::kDead; return; }
  if (r.blocked) { view->status = TaskStatus::kBlocked; return; }
  if (r.attempt_open) {
    // Invariant (the lease rule): running means the deadline is still ahead.
    TL_CHECK(t < r.deadline_ns);
    view->status = TaskStatus::kRunning;
    view->until_ns = r.deadline_ns;
    return;
  }
  // A dead or cancelled dependency blocks; one not done yet makes the task wait.
  const std::string* pending = nullptr;
  TaskStatus pending_status = TaskStatus::kWaiting;
  for (const std::string& dep : r.spec.after) {
    const std::optional<TaskStatus> status = dependencies ? dependencies(dep) : std::nullopt;
    const TaskStatus s = status.value_or(TaskStatus::kWaiting);
    if (s == TaskStatus::kDead || s == TaskStatus::kCancelled) {
      view->status = TaskStatus::kBlocked;
      view->dependency = dep;
      view->dependency_status = s;
      return;
    }
    if (s != TaskStatus::kDone && pending == nullptr) {
      pending = &dep;
      pending_status = s;
    }
  }
  if (pending != nullptr) {
    view->status = TaskStatus::kWaiting;
    view->wait = WaitReason::kDependency;
    view->dependency = *pending;
    view->dependency_status = pending_status;
    return;
  }
  if (t < r.spec.not_before_ns) {
    view->status = TaskStatus::kWaiting;
    view->wait = WaitReason::kNotBefore;
    view->until_ns = r.spec.not_before_ns;
    return;
  }
  if (t < r.backoff_until_ns) {
    view->status = TaskStatus::kWaiting;
    view->wait = WaitReason::kBackoff;
    view->until_ns = r.backoff_until_ns;
    return;
  }
  view->status = TaskStatus::kReady;
}

}  // namespace

TaskView Evaluate(const TaskRecord& record, int64_t t, const DependencyLookup& dependencies) {
  TaskView view;
  view.settled = record;
  Settle(&view.settled, t);
  Classify(view.settled, t, dependencies, &view);
  return view;
}

TaskView EvaluateVerdict(const TaskRecord& record, int64_t t, const DependencyLookup& dependencies) {
  TaskView view;
  if (LeaseLapsed(record, t)) {  // settling changes it: on a copy
    TaskRecord settled = record;
    Settle(&settled, t);
    Classify(settled, t, dependencies, &view);
  } else {
    Classify(record, t, dependencies, &view);
  }
  return view;
}

void SortInCreationOrder(std::vector<TaskView>* views) {
  const auto by_creation = [](const TaskView& a, const TaskView& b) {
    return a.settled.created_seq < b.settled.created_seq;
  };
  // A replay's views come in creation order already; std::sort would still move each one.
  if (std::is_sorted(views->begin(), views->end(), by_creation)) return;
  std::sort(views->begin(), views->end(), by_creation);
}

}  // namespace taskledger
