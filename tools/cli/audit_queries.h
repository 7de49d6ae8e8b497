// The questions the audit verbs ask of a ledger — a task's explanation, the ledger's
// numbers, a timeline page — answered through a Backend, so that the CLI (explain,
// stats, timeline) and the server's HTTP API (tools/server/http_api.h) give the same
// answers from the same code. The stories, numbers and pictures themselves are pure code
// in projections/ (explain.h, stats.h, timeline.h); this reads what they need.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "projections/explain.h"
#include "projections/stats.h"
#include "projections/whatif.h"
#include "tools/cli/backend.h"
#include "tools/cli/common.h"

namespace taskledger::cli {

// A time flag (RFC 3339, -5m, or a seq meaning that event's time); 0 when not given.
// `flag` names it in errors ("--since").
Result<int64_t> TimeFlag(Backend& ledger, const std::string& flag, const std::string& text, int64_t now_ns);

// `explain ID [--at T | --at-seq N]`: why the task is where it is.
Result<Explanation> ExplainTask(Backend& ledger, const std::string& id, const AtFlags& at);

// `stats [--since T]`: the ledger's numbers now, counting events from `since`.
Result<LedgerStats> ComputeLedgerStats(Backend& ledger, const std::string& since);

struct TimelineRequest {
  std::vector<std::string> tasks;  // empty: every task in the window
  std::string since, until;        // time flags; empty: fitted to the tasks shown
  std::string title;               // what the page says it shows (the ledger's path or address)
};
struct TimelinePage {
  std::string html;
  size_t tasks = 0;
  int64_t from_ns = 0;
  int64_t to_ns = 0;
};
// `timeline`: the page, drawn whole (InvalidArgument for a window with too many tasks).
Result<TimelinePage> DrawTimeline(Backend& ledger, const TimelineRequest& request);

// `whatif`: the recorded history replayed under another lease policy. The durations and
// times are text as the flags take them ("30s", "-1h"); empty: not given.
struct WhatIfRequest {
  std::string ttl, heartbeat_every, grace, max_runtime, since, until;
  std::vector<std::string> tasks;  // empty: every task
};
Result<WhatIfReport> ReplayUnderPolicy(Backend& ledger, const WhatIfRequest& request);

}  // namespace taskledger::cli
