// `whatif`: the recorded history replayed under another lease policy. For each attempt,
// the holder's recorded signs of life (its claim, its accepted heartbeats, the commands it
// sent after losing its lease, and how it ended the attempt itself) are kept exactly as
// they happened, and the lease is re-derived from them under the policy asked for. The
// answer, per task and in total, against the recorded policy:
//   - stall: time a task stayed held after its holder's last sign of life, in attempts the
//     holder never ended itself (the zombie's cost: nobody could take the task);
//   - duplicate runs: attempts whose lease lapses while the holder is still alive (it shows
//     life later), so a second holder may run the task beside it;
//   - extra retries: attempts the policy cuts short that the recorded one did not (each
//     costs a retry), or, negative, cuts it no longer makes;
//   - recovery: from the holder's last sign of life to the task's next claim.
//
// What cannot be known is not invented: heartbeats that were never recorded stay absent
// (a shorter --heartbeat-every does not add any), an operator's block or cancel happens
// when it happened, and the next claim after a lapse comes as long after the task became
// claimable as it did in the record. The assumptions are listed in the result.
//
// Pure: task histories (projections/explain.h) in, numbers out.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "projections/explain.h"

namespace taskledger {

struct LeasePolicy {
  int64_t ttl_ns = 0;              // > 0
  int64_t heartbeat_every_ns = 0;  // 0: not given (checked against the ttl and the record only)
  int64_t grace_ns = -1;           // -1: each signal's recorded grace
  int64_t max_runtime_ns = -1;     // -1: each task's recorded max runtime (0 there: none)
};

struct WhatIfInput {
  LeasePolicy policy;
  std::vector<TaskHistory> histories;  // settled at at_ns
  int64_t at_ns = 0;
  // Only attempts claimed in [since_ns, until_ns] count (0: unbounded).
  int64_t since_ns = 0;
  int64_t until_ns = 0;
};

// One side of the comparison (the record, or the policy asked for).
struct PolicyFigures {
  int64_t stall_ns = 0;
  uint64_t stalls = 0;           // attempts with a stall
  uint64_t lapses = 0;           // attempts ended by their lease (ttl, max runtime or grace)
  uint64_t duplicate_runs = 0;   // lapses while the holder was still alive
  int64_t duplicate_overlap_ns = 0;  // how long those holders went on after their lapse
  std::vector<int64_t> recovery_ns;  // one per stall followed by a claim
};

struct TaskWhatIf {
  std::string task;
  uint64_t attempts = 0;
  PolicyFigures recorded, whatif;
  int64_t extra_retries = 0;
  std::vector<std::string> notes;  // one sentence each, for the attempts that change
};

struct WhatIfReport {
  LeasePolicy policy;
  int64_t at_ns = 0, since_ns = 0, until_ns = 0;
  std::vector<std::string> assumptions;
  std::vector<std::string> warnings;  // about the policy itself (e.g. ttl under 2 heartbeats)
  uint64_t tasks = 0, attempts = 0;
  PolicyFigures recorded, whatif;
  int64_t extra_retries = 0;
  uint64_t recorded_gaps_over_heartbeat = 0;  // renewal gaps longer than --heartbeat-every
  std::vector<TaskWhatIf> by_task;  // tasks with attempts in the window, in the input's order
};

WhatIfReport WhatIf(const WhatIfInput& input);
nlohmann::json WhatIfToJson(const WhatIfReport& report);
std::string RenderWhatIf(const WhatIfReport& report);

}  // namespace taskledger
