// The audit, replay and forensics verbs (DESIGN §6): explain, timeline, stats, export,
// import and backup. The read-only ones (explain, timeline, stats, export) work embedded
// on --db (as a RocksDB secondary, beside a server), through --connect, and on a backup
// copy; import and backup write files of their own and are embedded-only.
//
// Thin wiring: the stories, pictures and numbers are pure code in projections/
// (explain.h, timeline.h, stats.h); the JSON Lines format is docs/export.md.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

#include "tools/cli/common.h"

namespace taskledger::cli {

// Adds the verbs to `app`; each one's callback sets `run` to its action.
void AddAuditVerbs(CLI::App& app, Cli& cli, std::function<int()>& run);

}  // namespace taskledger::cli
