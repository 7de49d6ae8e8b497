// The schedule's placement rule (docs/format.md "The schedule"): where a task waits at a
// ledger time. Applied after every event (the command path), at open (LoadIndex), by
// rebuild and import (which store a marker for every live task) and by verify.
#pragma once

#include <cstdint>
#include <string>

#include "projections/task.h"

namespace taskledger {

// The task's place in the schedule index at `now_ns`, after settling its record then: an R
// (ready) or T (timer) key of keys.h, or "" for nowhere (finished, blocked, or waiting for
// a dependency, whose completion re-places it).
std::string ScheduleKey(TaskRecord record, int64_t now_ns, const DependencyLookup& dependencies);

}  // namespace taskledger
