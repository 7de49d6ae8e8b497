// The rules a command must meet whatever the state of the ledger: names, texts, ranges.
// Pure code, no I/O: the same check serves the ledger's command path (DecideOnTask runs
// it on every command that acts on a task), the CLI (before it opens anything, so a bad
// command costs nothing and writes nothing), the RPC server (through the ledger) and
// import (ValidateEventValues, on the events a command would have appended).
//
// Each rule refuses with InvalidArgument: the caller must fix the request (exit code 2).
// What depends on state (does the task exist, does the token hold) is decide.h's.
#pragma once

#include <cstdint>
#include <string_view>

#include "projections/event.h"
#include "projections/status.h"

namespace taskledger {

struct Command;

// Ids, workers, queues and keys: printable ASCII tokens, 1 to kMaxIdBytes bytes.
Status ValidateName(std::string_view what, std::string_view name);
// Titles, notes, results, errors, reasons: valid UTF-8, no control characters but
// newline and tab, at most kMaxTextBytes.
Status ValidateText(std::string_view what, std::string_view text);

// 0..255: what a process can exit with (waitpid reports 8 bits). Takes int64 so that a
// caller checks a number before narrowing it.
Status ValidateExitCode(int64_t code);
// A claim's ttl: 0 (the task's own) up to a year.
Status ValidateClaimTtl(int64_t ttl_ns);
// A signal's grace: 0 (none) up to a year.
Status ValidateGrace(int64_t grace_ns);

// A create's spec as NormalizeSpec would check it, without filling its defaults.
Status ValidateSpec(const TaskSpec& spec);

// Every rule of one command that needs no lookup. Checked in the order the ledger
// applies them, so the first problem reported is the same on every path.
Status ValidateCommand(const Command& command);

// The same ranges on an event read from outside (an import): what no accepted command
// can append must not enter through a file either.
Status ValidateEventValues(const Event& event);

}  // namespace taskledger
