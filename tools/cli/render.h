// How the CLI shows things: one line per event, task tables, task details. Text for
// people; JSON objects (projections/event_json.h) for scripts.
#pragma once

#include <string>

#include "ledger/ledger.h"

namespace taskledger::cli {

std::string EventLine(const Event& event);
std::string TaskTable(const TasksSnapshot& snapshot);
std::string TaskDetails(const TaskView& view, int64_t at_ns);
// "running until ...", "waiting for dependency a", "blocked: reason"...
std::string StatusPhrase(const TaskView& view);

}  // namespace taskledger::cli
