// Events and task states as JSON objects with stable keys: the shape of `--json` output
// and of `export` lines (docs/format.md). Times appear twice: `*_ns` integers for tools,
// RFC 3339 strings for people.
#pragma once

#include <nlohmann/json.hpp>

#include "projections/event.h"
#include "projections/task.h"

namespace taskledger {

nlohmann::json EventToJson(const Event& event);
// A task's state at an evaluation time.
nlohmann::json TaskViewToJson(const TaskView& view, int64_t at_ns);

}  // namespace taskledger
