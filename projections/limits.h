// Named limits, each with its reason. Everything that enters the ledger is bounded.
#pragma once

#include <cstddef>
#include <cstdint>

#include "projections/event.h"

namespace taskledger {

// Task ids, worker ids, queue names, idempotency keys: short printable tokens, so that
// they can be key prefixes (no NUL, no spaces) and be shown in one line of a report.
inline constexpr size_t kMaxIdBytes = 128;
// A task's payload is JSON for the worker; a megabyte keeps one event well under RocksDB's
// comfortable value size and bounds what a single command can make the ledger hold.
inline constexpr size_t kMaxPayloadBytes = 1 << 20;
// Titles, notes, results, errors and reasons are for people: bounded so a chatty worker
// cannot bloat the log through heartbeat notes.
inline constexpr size_t kMaxTextBytes = 64 * 1024;
inline constexpr size_t kMaxDependencies = 1024;
// Durations beyond a year are a typo (or an overflow attempt), not a lease.
inline constexpr int64_t kMaxDurationNs = 366LL * 24 * 3600 * kNanosPerSecond;
inline constexpr uint32_t kMaxAttemptsLimit = 1'000'000;
// Commands in one call to the server: a batch is one commit group's worth, and a bound on
// what one request makes the server decide and write at once. More is refused.
inline constexpr size_t kMaxCommandsPerCall = 1024;

// Defaults applied to a `create` that leaves a field unset.
inline constexpr int64_t kDefaultLeaseTtlNs = 30 * kNanosPerSecond;
inline constexpr uint32_t kDefaultMaxAttempts = 3;
inline constexpr int64_t kDefaultBackoffInitialNs = 1 * kNanosPerSecond;
inline constexpr int64_t kDefaultBackoffMaxNs = 300 * kNanosPerSecond;
inline constexpr int64_t kDefaultGraceNs = 10 * kNanosPerSecond;
inline constexpr char kDefaultQueue[] = "default";

}  // namespace taskledger
