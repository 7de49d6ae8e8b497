// The verbs of DESIGN §6, one group per file. Each Add* adds its verbs to `app`, in the
// order `taskledger --help` lists them; a verb's callback sets `run` to its action, which
// Main calls once parsing is done. The flags a verb reads live as long as the app (CLI11
// keeps pointers to them): each group owns them through its callbacks.
//
// Thin wiring: rules are in projections/ (validate.h, decide.h), storage in ledger/; a
// verb parses its flags, submits or reads through the Backend, and prints.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "tools/cli/common.h"

namespace taskledger::cli {

using VerbAction = std::function<int()>;

// task_verbs.cc: create, claim, heartbeat, complete, fail, release, signal, exit (the
// holder's), block, unblock, cancel, revive (the operator's).
void AddTaskVerbs(CLI::App& app, Cli& cli, VerbAction& run);
// create_from.cc: create --from FILE, many creates from JSON Lines (docs/create-from.md).
int RunCreateFrom(Cli& cli, const std::string& path);

// read_verbs.cc: ls, show, log.
void AddReadVerbs(CLI::App& app, Cli& cli, VerbAction& run);

// audit_verbs.cc: explain, timeline, stats, export, import, backup. The read-only ones
// (explain, timeline, stats, export) work embedded on --db (as a RocksDB secondary, beside
// a server), through --connect, and on a backup copy; import and backup write files of
// their own and are embedded-only. The stories, pictures and numbers are pure code in
// projections/ (explain.h, timeline.h, stats.h); the JSON Lines format is docs/export.md.
void AddAuditVerbs(CLI::App& app, Cli& cli, VerbAction& run);

// import_board_verb.cc: import-board, a kanban board (SQLite, opened read-only) into an
// empty ledger; the mapping is projections/board_import.h. Embedded-only, like import.
void AddImportBoardVerb(CLI::App& app, Cli& cli, VerbAction& run);

// whatif_verb.cc: whatif, the history replayed under another lease policy
// (projections/whatif.h). Read-only, like the audit verbs.
void AddWhatIfVerb(CLI::App& app, Cli& cli, VerbAction& run);

// maintenance_verbs.cc: verify, rebuild, sweep.
void AddMaintenanceVerbs(CLI::App& app, Cli& cli, VerbAction& run);

// serve_verb.cc: serve (tools/server).
void AddServeVerb(CLI::App& app, Cli& cli, VerbAction& run);

// run_verb.cc: run (tools/supervisor). `worker_command` is what followed `--` on the
// command line, split off before parsing so that CLI11 never reads the worker's flags.
void AddRunVerb(CLI::App& app, Cli& cli, VerbAction& run, std::vector<std::string> worker_command);

// worker_verb.cc: worker (tools/worker): up to N children at once, one task each, with
// batched renewals and finish-and-claim-next in one call. `worker_command` as for run.
void AddWorkerVerb(CLI::App& app, Cli& cli, VerbAction& run, std::vector<std::string> worker_command);

}  // namespace taskledger::cli
