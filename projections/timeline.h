// `timeline`: the picture of tasks' lives as one self-contained HTML page (inline SVG, CSS
// and a small script for zoom and pan; nothing fetched; without script it is the same
// picture at its full range). A lane per task; each attempt a bar coloured by how it
// ended; heartbeats as ticks; signals, exits, lease expiries, rejected commands and
// operator acts as marks; arrows from each dependency to its dependent. Every bar and mark
// carries an SVG <title>: hovering shows the event's details.
//
// Pure: task histories (projections/explain.h) in, HTML text out. The caller writes it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "projections/explain.h"
#include "projections/task.h"

namespace taskledger {

// The most lanes one page draws: beyond this a page is unreadable and heavy; narrow the
// selection (--task, --since, --until) instead.
inline constexpr size_t kTimelineLanesMax = 5000;

struct TimelineLane {
  TaskHistory history;  // settled at the timeline's end
  TaskStatus status = TaskStatus::kWaiting;  // at the timeline's end
};

struct TimelineOptions {
  int64_t from_ns = 0;  // the left edge (ledger time)
  int64_t to_ns = 0;    // the right edge: the evaluation time of the lanes
  std::string title;    // shown above the picture (e.g. the ledger's path)
};

// The default range when the caller gives no edge: from the first task's creation to the
// last thing that happened in the lanes, with a small margin on each side, so the bars
// fill the page. The right edge is `now_ns` only while an attempt is running (its bar
// grows until now); `timeline` drawn an hour after the work ended still fits the work.
// Each edge given (non-zero) is kept as it is.
struct TimelineRange {
  int64_t from_ns = 0;
  int64_t to_ns = 0;
};
TimelineRange FitTimelineRange(const std::vector<TimelineLane>& lanes, int64_t now_ns, int64_t given_from_ns = 0,
                               int64_t given_to_ns = 0);

// REQUIRES: lanes.size() <= kTimelineLanesMax, from_ns < to_ns.
std::string RenderTimelineHtml(const std::vector<TimelineLane>& lanes, const TimelineOptions& options);

}  // namespace taskledger
