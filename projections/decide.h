// Commands, and the pure decision of what a command appends (DESIGN §3, §4).
//
// The ledger looks up the records a command touches, calls Decide*, assigns nothing
// itself: the events come back with their seq and time already set, ready to apply and
// append. A refused holder command still yields its `rejected` event (the evidence of a
// zombie); every other refusal yields no event.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "projections/event.h"
#include "projections/status.h"
#include "projections/task.h"
#include "projections/validate.h"

namespace taskledger {

enum class CommandKind : uint8_t {
  kCreate,
  kClaim,
  kHeartbeat,
  kComplete,
  kFail,
  kRelease,
  kSignal,
  kExit,
  kBlock,
  kUnblock,
  kCancel,
  kRevive,
  kSweep,
};

// The holder command a command is (heartbeat, complete, fail, release, signal, exit: the
// ones fenced by the claim's token); nullopt for the others.
std::optional<HolderCommand> HolderCommandOf(CommandKind kind);

struct Command {
  CommandKind kind = CommandKind::kCreate;
  std::string task_id;  // create: empty = the ledger names it; claim --next, sweep: empty
  // create: the caller named the task, so an empty task_id is a malformed id, not a
  // request for a generated one (ValidateCommand). Not carried over RPC: a remote caller
  // that means "name it for me" sends an empty id, and the CLI checks before it sends.
  bool task_id_given = false;
  std::string actor;    // worker id; "operator" for operator commands
  ClientMeta meta;
  TaskSpec spec;        // create; zero fields take the defaults of projections/limits.h
  bool next = false;    // claim --next
  std::string queue;    // claim --next: empty = the default queue
  int64_t ttl_ns = 0;   // claim: 0 = the task's lease ttl
  uint64_t token = 0;   // holder commands
  std::string text;     // note / result / error / reason
  std::string signal;   // signal; exit by a signal
  int64_t grace_ns = 0; // signal: 0 = the default grace, unless has_grace
  bool has_grace = false;  // signal: grace_ns was given, so 0 means no grace (not the default)
  std::optional<int32_t> exit_code;  // exit
  // complete: also record the supervisor's `exited` with code 0 in the same commit.
  bool with_exit = false;
};

// What a command did, for its caller.
struct CommandReply {
  std::string task_id;
  uint64_t token = 0;
  int64_t deadline_ns = 0;
  TaskStatus status = TaskStatus::kWaiting;  // the task's status right after the command
  bool existing = false;                     // create: the idempotency key named this task
  std::vector<Event> events;                 // appended, in order
};

// A command's outcome: ok, or refused with the reason. A refused holder command still
// appended its `rejected` event (reply.events).
struct Outcome {
  Status status;
  CommandReply reply;
};

struct DecisionContext {
  int64_t now_ns = 0;     // ledger time of the command
  uint64_t next_seq = 0;  // seq of the first event it would append
  DependencyLookup dependencies;
};

// Checks a create's spec and fills the defaults. Existence of the id, of the dependencies
// and idempotency are the caller's (they need lookups).
Status NormalizeSpec(TaskSpec* spec);

// The event for a create of `task_id` with a normalized spec.
Event DecideCreate(const Command& command, const std::string& task_id, const DecisionContext& context);

// Every other per-task command. `record` is the task's stored record (not yet settled).
// Runs ValidateCommand first: a command that breaks a rule is refused (InvalidArgument)
// with no event, not even a `rejected` one.
Outcome DecideOnTask(const Command& command, const TaskRecord& record, const DecisionContext& context);

// Human explanation of why a task cannot be claimed now.
std::string NotClaimableReason(const TaskView& view);

}  // namespace taskledger
