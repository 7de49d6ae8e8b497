#include "projections/decide.h"

#include <nlohmann/json.hpp>

#include "projections/limits.h"
#include "projections/time_text.h"

namespace taskledger {

std::optional<HolderCommand> HolderCommandOf(CommandKind kind) {
  switch (kind) {
    case CommandKind::kHeartbeat: return HolderCommand::kHeartbeat;
    case CommandKind::kComplete: return HolderCommand::kComplete;
    case CommandKind::kFail: return HolderCommand::kFail;
    case CommandKind::kRelease: return HolderCommand::kRelease;
    case CommandKind::kSignal: return HolderCommand::kSignal;
    case CommandKind::kExit: return HolderCommand::kExit;
    default: return std::nullopt;
  }
}

namespace {

Event NewEvent(const Command& c, const std::string& task_id, EventKind kind, const DecisionContext& ctx,
               uint64_t seq_offset = 0) {
  Event e;
  e.seq = ctx.next_seq + seq_offset;
  e.time_ns = ctx.now_ns;
  e.task_id = task_id;
  e.actor = c.actor;
  e.meta = c.meta;
  e.kind = kind;
  return e;
}

// The event a holder command appends when the ledger accepts it.
EventKind HolderEventOf(CommandKind kind) {
  switch (kind) {
    case CommandKind::kHeartbeat: return EventKind::kHeartbeat;
    case CommandKind::kComplete: return EventKind::kCompleted;
    case CommandKind::kFail: return EventKind::kFailed;
    case CommandKind::kRelease: return EventKind::kReleased;
    case CommandKind::kSignal: return EventKind::kSignaled;
    default: return EventKind::kExited;
  }
}

// Why a token no longer holds the lease, in words a zombie's operator understands.
std::string StaleReason(const TaskRecord& settled, uint64_t token, int64_t now_ns) {
  if (token == 0 || token > settled.last_token) return "unknown token";
  if (token != settled.last_token) {
    return "stale token (the current token is " + std::to_string(settled.last_token) + ")";
  }
  switch (settled.last_end) {
    case AttemptEnd::kExpired:
    case AttemptEnd::kInterrupted:
      if (settled.last_end_ns == settled.deadline_ns) {
        return "lease expired at " + FormatTime(settled.deadline_ns) + " (" +
               FormatDuration(now_ns - settled.deadline_ns) + " ago)";
      }
      return std::string("attempt already ended (") + std::string(AttemptEndName(settled.last_end)) + ")";
    default:
      return std::string("attempt already ended (") + std::string(AttemptEndName(settled.last_end)) + ")";
  }
}

Outcome Refuse(Status status) { return Outcome{std::move(status), {}}; }

// The caller applies the events and fills the reply's status and deadline from the result.
Outcome Accept(const TaskRecord& record, std::vector<Event> events) {
  Outcome out;
  out.reply.task_id = record.id;
  out.reply.events = std::move(events);
  return out;
}

Outcome DecideHolder(const Command& c, const TaskRecord& record, const DecisionContext& ctx) {
  TaskRecord settled = record;
  Settle(&settled, ctx.now_ns);
  const bool holds = settled.attempt_open && c.token == settled.last_token && ctx.now_ns < settled.deadline_ns;
  // The completer's `exited` record after `completed`: by `exit`, or by `complete` with
  // with_exit when the child already completed the task itself with this token (then
  // only the exit is new). A supervisor can so end every attempt in one call, without
  // reading the task first, and with no window between the read and the write.
  const bool completer = c.token != 0 && c.token == settled.completed_token && !settled.completed_exit_recorded;
  const bool completed_exit =
      completer && (c.kind == CommandKind::kExit || (c.kind == CommandKind::kComplete && c.with_exit));
  if (!holds && !completed_exit) {
    Event e = NewEvent(c, record.id, EventKind::kRejected, ctx);
    e.rejected_command = *HolderCommandOf(c.kind);
    e.token = c.token;
    e.current_token = settled.last_token;
    e.reason = StaleReason(settled, c.token, ctx.now_ns);
    e.text = c.kind == CommandKind::kSignal ? c.signal : c.text;
    Outcome out;
    out.status = Status::Refused("task " + record.id + ": " + std::string(HolderCommandName(e.rejected_command)) +
                                 " refused: " + e.reason + " (token " + std::to_string(c.token) + ")");
    out.reply.task_id = record.id;
    out.reply.events.push_back(std::move(e));
    return out;
  }
  // Every holder event carries the token; the text is the note, result, error or reason.
  Event e = NewEvent(c, record.id, HolderEventOf(c.kind), ctx);
  e.token = c.token;
  e.text = c.text;
  if (c.kind == CommandKind::kSignal) {
    e.text.clear();
    e.signal = c.signal;
    // A grace given as 0 is no grace: the lease ends at the signal.
    e.grace_ns = c.has_grace || c.grace_ns > 0 ? c.grace_ns : kDefaultGraceNs;
  } else if (c.kind == CommandKind::kExit) {
    e.text.clear();
    e.exit_code = c.exit_code;
    if (!c.exit_code) e.signal = c.signal;
  }
  std::vector<Event> events;
  if (completed_exit && c.kind == CommandKind::kComplete) {
    Event exited = NewEvent(c, record.id, EventKind::kExited, ctx);
    exited.token = c.token;
    exited.exit_code = 0;
    return Accept(record, {std::move(exited)});
  }
  events.push_back(std::move(e));
  if (c.kind == CommandKind::kComplete && c.with_exit) {
    Event exited = NewEvent(c, record.id, EventKind::kExited, ctx, 1);
    exited.token = c.token;
    exited.exit_code = 0;
    events.push_back(std::move(exited));
  }
  return Accept(record, std::move(events));
}

Outcome DecideOperator(const Command& c, const TaskRecord& record, const DecisionContext& ctx) {
  TaskRecord settled = record;
  Settle(&settled, ctx.now_ns);
  const std::string& id = record.id;
  EventKind kind;
  switch (c.kind) {
    case CommandKind::kBlock:
      if (settled.terminal()) return Refuse(Status::Refused("task " + id + " is finished and cannot be blocked"));
      if (settled.blocked) return Refuse(Status::Refused("task " + id + " is already blocked"));
      kind = EventKind::kBlocked;
      break;
    case CommandKind::kUnblock:
      if (!settled.blocked) return Refuse(Status::Refused("task " + id + " is not blocked"));
      kind = EventKind::kUnblocked;
      break;
    case CommandKind::kCancel:
      if (settled.done) return Refuse(Status::Refused("task " + id + " is done and cannot be cancelled"));
      if (settled.cancelled) return Refuse(Status::Refused("task " + id + " is already cancelled"));
      kind = EventKind::kCancelled;
      break;
    case CommandKind::kRevive:
      if (!settled.dead() && !settled.cancelled) {
        return Refuse(Status::Refused("task " + id + " is neither dead nor cancelled"));
      }
      kind = EventKind::kRevived;
      break;
    default:
      return Refuse(Status::Internal("not an operator command"));
  }
  Event e = NewEvent(c, id, kind, ctx);
  // Only blocked and cancelled events carry a reason (schemas/event.capnp).
  if (kind == EventKind::kBlocked || kind == EventKind::kCancelled) e.text = c.text;
  return Accept(record, {std::move(e)});
}

Outcome DecideClaim(const Command& c, const TaskRecord& record, const DecisionContext& ctx) {
  const TaskView view = Evaluate(record, ctx.now_ns, ctx.dependencies);
  if (view.status != TaskStatus::kReady) {
    return Refuse(Status::Refused("task " + record.id + " is not claimable: " + NotClaimableReason(view)));
  }
  Event e = NewEvent(c, record.id, EventKind::kClaimed, ctx);
  e.token = e.seq;
  e.ttl_ns = c.ttl_ns > 0 ? c.ttl_ns : record.spec.lease_ttl_ns;
  return Accept(record, {std::move(e)});
}

}  // namespace

Status NormalizeSpec(TaskSpec* spec) {
  TL_RETURN_IF_ERROR(ValidateText("title", spec->title));
  if (spec->payload.size() > kMaxPayloadBytes) {
    return Status::InvalidArgument("payload is " + std::to_string(spec->payload.size()) +
                                   " bytes; the limit is " + std::to_string(kMaxPayloadBytes));
  }
  if (!spec->payload.empty() && !nlohmann::json::accept(spec->payload)) {
    return Status::InvalidArgument("payload is not valid JSON");
  }
  if (spec->after.size() > kMaxDependencies) {
    return Status::InvalidArgument("more than " + std::to_string(kMaxDependencies) + " dependencies");
  }
  for (const std::string& dep : spec->after) TL_RETURN_IF_ERROR(ValidateName("dependency id", dep));
  if (spec->queue.empty()) spec->queue = kDefaultQueue;
  TL_RETURN_IF_ERROR(ValidateName("queue", spec->queue));
  if (!spec->idempotency_key.empty()) TL_RETURN_IF_ERROR(ValidateName("idempotency key", spec->idempotency_key));
  auto check_duration = [](std::string_view what, int64_t ns) -> Status {
    if (ns < 0) return Status::InvalidArgument(std::string(what) + " is negative");
    if (ns > kMaxDurationNs) return Status::InvalidArgument(std::string(what) + " is longer than a year");
    return Status::Ok();
  };
  TL_RETURN_IF_ERROR(check_duration("ttl", spec->lease_ttl_ns));
  TL_RETURN_IF_ERROR(check_duration("max runtime", spec->max_runtime_ns));
  TL_RETURN_IF_ERROR(check_duration("backoff", spec->backoff_initial_ns));
  TL_RETURN_IF_ERROR(check_duration("max backoff", spec->backoff_max_ns));
  if (spec->not_before_ns < 0) return Status::InvalidArgument("not-before is before 1970");
  if (spec->max_attempts > kMaxAttemptsLimit) {
    return Status::InvalidArgument("max attempts is over " + std::to_string(kMaxAttemptsLimit));
  }
  if (spec->lease_ttl_ns == 0) spec->lease_ttl_ns = kDefaultLeaseTtlNs;
  if (spec->max_attempts == 0) spec->max_attempts = kDefaultMaxAttempts;
  if (spec->backoff_initial_ns == 0) spec->backoff_initial_ns = kDefaultBackoffInitialNs;
  if (spec->backoff_max_ns == 0) spec->backoff_max_ns = std::max(kDefaultBackoffMaxNs, spec->backoff_initial_ns);
  if (spec->backoff_max_ns < spec->backoff_initial_ns) {
    return Status::InvalidArgument("max backoff is shorter than the initial backoff");
  }
  return Status::Ok();
}

Event DecideCreate(const Command& command, const std::string& task_id, const DecisionContext& context) {
  Event e = NewEvent(command, task_id, EventKind::kCreated, context);
  e.spec = command.spec;
  return e;
}

Outcome DecideOnTask(const Command& command, const TaskRecord& record, const DecisionContext& context) {
  Outcome (*decide)(const Command&, const TaskRecord&, const DecisionContext&) = nullptr;
  switch (command.kind) {
    case CommandKind::kClaim:
      decide = DecideClaim;
      break;
    case CommandKind::kHeartbeat:
    case CommandKind::kComplete:
    case CommandKind::kFail:
    case CommandKind::kRelease:
    case CommandKind::kSignal:
    case CommandKind::kExit:
      decide = DecideHolder;
      break;
    case CommandKind::kBlock:
    case CommandKind::kUnblock:
    case CommandKind::kCancel:
    case CommandKind::kRevive:
      decide = DecideOperator;
      break;
    case CommandKind::kCreate:
    case CommandKind::kSweep:
      return Refuse(Status::Internal("command does not act on one task"));
  }
  if (decide == nullptr) return Refuse(Status::Internal("unknown command kind"));
  // Every entry (CLI, RPC, an embedding) reaches here: the rules hold whoever sent it.
  if (Status s = ValidateCommand(command); !s.ok()) return Refuse(std::move(s));
  return decide(command, record, context);
}

std::string NotClaimableReason(const TaskView& view) {
  const TaskRecord& r = view.settled;
  switch (view.status) {
    case TaskStatus::kRunning:
      return "running, held by " + r.holder + " (token " + std::to_string(r.last_token) + ") until " +
             FormatTime(r.deadline_ns);
    case TaskStatus::kBlocked:
      if (!view.dependency.empty()) {
        return "blocked: dependency " + view.dependency + " is " + std::string(TaskStatusName(view.dependency_status));
      }
      return "blocked by an operator" + (r.block_reason.empty() ? std::string() : ": " + r.block_reason);
    case TaskStatus::kWaiting:
      switch (view.wait) {
        case WaitReason::kDependency:
          return "waiting for dependency " + view.dependency + " (" +
                 std::string(TaskStatusName(view.dependency_status)) + ")";
        case WaitReason::kNotBefore:
          return "waiting: not before " + FormatTime(view.until_ns);
        case WaitReason::kBackoff:
          return "waiting: retry backoff until " + FormatTime(view.until_ns);
        case WaitReason::kNone:
          return "waiting";
      }
      return "waiting";
    case TaskStatus::kDone: return "done";
    case TaskStatus::kDead:
      return "dead after " + std::to_string(r.failures) + " failed attempts";
    case TaskStatus::kCancelled: return "cancelled";
    case TaskStatus::kReady: return "ready";
  }
  return "unknown";
}

}  // namespace taskledger
