// Events and task states as JSON objects with stable keys: the shape of `--json` output
// and of `export` lines (docs/export.md). Times appear twice: `*_ns` integers for tools,
// RFC 3339 strings for people.
#pragma once

#include <nlohmann/json.hpp>

#include "projections/event.h"
#include "projections/status.h"
#include "projections/task.h"

namespace taskledger {

// Every field of the event: EventFromJson(EventToJson(e)) == e for any event the codec
// can store (each kind carries only its own fields).
nlohmann::json EventToJson(const Event& event);

// The inverse of EventToJson, strict: InvalidArgument naming the key for a missing or
// mistyped key, a key this build does not know, an unknown kind, or a value the ledger
// could never have stored (an id that is not a printable token, text that is not UTF-8,
// a spec that is not normalized). The RFC 3339 strings are optional; when present they
// must agree with their `*_ns` twins. Whether the event fits its log is Replay's to say.
Result<Event> EventFromJson(const nlohmann::json& object);

// A task's state at an evaluation time.
nlohmann::json TaskViewToJson(const TaskView& view, int64_t at_ns);

}  // namespace taskledger
