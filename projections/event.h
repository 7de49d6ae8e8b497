// The events of the log as plain values (DESIGN §3). The ledger encodes them with
// Cap'n Proto (schemas/event.capnp, ledger/codec.h); projections fold them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace taskledger {

inline constexpr int64_t kNanosPerMilli = 1'000'000;
inline constexpr int64_t kNanosPerSecond = 1'000'000'000;

enum class EventKind : uint8_t {
  kCreated,
  kClaimed,
  kHeartbeat,
  kSignaled,
  kExited,
  kCompleted,
  kFailed,
  kReleased,
  kBlocked,
  kUnblocked,
  kCancelled,
  kRevived,
  kLeaseExpired,
  kRejected,
  kAnnotated,  // an imported fact with no equivalent; changes no state
};
inline constexpr int kEventKindCount = 15;

// Stable lower_snake names, used in `log`, JSON output and export.
std::string_view EventKindName(EventKind kind);
std::optional<EventKind> EventKindFromName(std::string_view name);

// The holder-side commands a `rejected` event can name.
enum class HolderCommand : uint8_t { kHeartbeat, kComplete, kFail, kRelease, kSignal, kExit };
std::string_view HolderCommandName(HolderCommand command);
std::optional<HolderCommand> HolderCommandFromName(std::string_view name);

struct ClientMeta {
  uint32_t pid = 0;
  std::string host;
  int64_t wall_time_ns = 0;
  bool operator==(const ClientMeta&) const = default;
};

// What a task is created with. Durations and times in ns; 0 = not set.
struct TaskSpec {
  std::string title;
  std::string payload;  // JSON text or empty
  std::vector<std::string> after;
  std::string queue;
  int32_t priority = 0;
  int64_t lease_ttl_ns = 0;
  uint32_t max_attempts = 0;
  int64_t max_runtime_ns = 0;
  int64_t not_before_ns = 0;
  std::string idempotency_key;
  int64_t backoff_initial_ns = 0;
  int64_t backoff_max_ns = 0;
  bool operator==(const TaskSpec&) const = default;
};

// One event. Fields beyond the envelope are meaningful per kind, as listed; the others
// stay at their defaults (the codec only writes the ones of the event's kind).
struct Event {
  uint64_t seq = 0;
  int64_t time_ns = 0;
  std::string task_id;
  std::string actor;
  ClientMeta meta;
  EventKind kind = EventKind::kCreated;

  TaskSpec spec;        // created
  uint64_t token = 0;   // claimed (= seq), heartbeat, signaled, exited, completed, failed,
                        // released, lease_expired; rejected: the token presented
  int64_t ttl_ns = 0;   // claimed
  std::string text;     // heartbeat note, completed result, failed error, released/blocked/
                        // cancelled reason, rejected: what the command carried,
                        // annotated: the original record as JSON
  std::string signal;   // signaled; exited by a signal
  int64_t grace_ns = 0; // signaled
  std::optional<int32_t> exit_code;  // exited normally (else `signal` is set)
  int64_t deadline_ns = 0;           // lease_expired: the deadline observed to have passed
  HolderCommand rejected_command = HolderCommand::kHeartbeat;  // rejected
  uint64_t current_token = 0;                                  // rejected
  std::string reason;                                          // rejected
  std::string source_kind;  // annotated: the source's kind name (the payload is in `text`)
  std::string source_id;    // annotated: where the fact came from, e.g. "task_events:123"

  bool operator==(const Event&) const = default;
};

}  // namespace taskledger
