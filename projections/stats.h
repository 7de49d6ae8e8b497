// `stats`: the ledger's health in numbers. Counts by status; attempts by how they ended;
// lease expiries; refused (zombie) commands by worker and host; how long a lapsed task
// waited for its next claim (recovery time); the longest-running and most-retried tasks.
//
// Pure: task histories (projections/explain.h) in, numbers out. A window (`since`)
// limits what happened to the moments at or after it; statuses are always as of now.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "projections/event.h"
#include "projections/explain.h"
#include "projections/task.h"

namespace taskledger {

// How many tasks the top lists name.
inline constexpr size_t kStatsTopTasks = 5;

struct StatsInput {
  int64_t now_ns = 0;
  uint64_t last_seq = 0;
  int64_t since_ns = 0;  // 0: the whole log
  std::vector<TaskHistory> histories;  // every task, settled at now_ns
  std::vector<TaskStatus> statuses;    // the same tasks' statuses at now_ns
  std::map<EventKind, uint64_t> events_by_kind;  // the events in the window
};

struct TaskFigure {
  std::string task;
  int64_t held_ns = 0;  // time under a lease, within the window
  uint32_t attempts = 0;
  uint32_t failures = 0;
  TaskStatus status = TaskStatus::kWaiting;
};

struct DurationSummary {
  uint64_t count = 0;
  int64_t p50_ns = 0;
  int64_t p99_ns = 0;
  int64_t max_ns = 0;
};

struct LedgerStats {
  int64_t now_ns = 0;
  int64_t since_ns = 0;
  uint64_t last_seq = 0;
  uint64_t tasks = 0;
  std::map<std::string, uint64_t> by_status;       // every status, zeros included
  std::map<std::string, uint64_t> events_by_kind;  // every kind, zeros included
  uint64_t events_in_window = 0;
  uint64_t attempts = 0;  // claims in the window
  std::map<std::string, uint64_t> attempts_by_outcome;  // attempts that ended in the window, and running ones
  uint64_t failures = 0;       // attempts that ended as failed, exited or expired
  uint64_t expiries = 0;       // attempts that ended as expired
  uint64_t interruptions = 0;  // attempts that ended as interrupted
  uint64_t lapses = 0;         // attempts that ended at their deadline without word from the holder
  uint64_t lapses_observed = 0;  // lease_expired markers appended by a sweep
  uint64_t rejections = 0;
  std::map<std::string, uint64_t> rejections_by_worker;
  std::map<std::string, uint64_t> rejections_by_host;
  // Pauses: heartbeats that came after more than half the ttl of silence (a frozen, paused
  // or starved holder; explain's heartbeat_gap marks).
  uint64_t pauses = 0;
  int64_t longest_pause_ns = 0;
  std::map<std::string, uint64_t> pauses_by_worker;
  // Writers whose clock was off the ledger's by more than kClockSkewBoundNs: the largest
  // skew seen of each (their clock minus the ledger's).
  std::map<std::string, int64_t> clock_skew_by_writer;
  DurationSummary recovery;     // from each lapse to the task's next claim
  uint64_t unrecovered = 0;     // lapses not followed by a claim (yet)
  std::vector<TaskFigure> longest_running;
  std::vector<TaskFigure> most_retried;
};

LedgerStats ComputeStats(const StatsInput& input);
// The keys of the first `stats --json` (tasks, events, by_status, events_by_kind, attempts,
// failures, expiries, rejections, interruptions) keep their meaning; the rest were added.
nlohmann::json StatsToJson(const LedgerStats& stats);
std::string RenderStats(const LedgerStats& stats);

}  // namespace taskledger
