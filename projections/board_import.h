// `import-board`: a Hermes kanban board (the SQLite `kanban.db` of an agent dispatcher)
// mapped to ledger events, so that explain, stats, verify and whatif can tell its history
// (docs/forensics.md "Importing a kanban board").
//
// Pure: the board's rows come in (read by tools/cli/import_board_verb.cc, strictly
// read-only), a checked log comes out. Every board row is kept: what has an equivalent
// kind becomes that kind, the rest becomes `annotated` with the original row as JSON. The
// log passes the derivation rules by construction: an event the rules would refuse (a
// board that did something the ledger's rules never allow) is kept as an annotation and
// reported as an anomaly, never dropped.
//
// Mapping (one line each; the doc has the table):
//   tasks        -> created (title; the whole row as the payload; assignee as the queue;
//                   task_links parents as dependencies), in creation order, parents first
//   task_runs    -> one attempt each: claimed (actor = the claim lock, pid = the worker's),
//                   heartbeats, and its end: completed; failed (crashed without a code,
//                   timed_out, spawn_failed, stale, reclaimed, reconciled); exited (crashed
//                   or protocol_violation with a code); released (rate_limited, review and
//                   changes requested); blocked (blocked, gave_up, dependency_wait)
//   other kinds  -> annotated (claim_extended, spawned, reclaim_deferred, comments...)
// Times: board seconds become ns; events keep the board's order (by id), and ledger time
// is kept strictly increasing (1 ns apart at least); the board's own time is kept in each
// event's client time, and in the annotation's row.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "projections/event.h"
#include "projections/status.h"

namespace taskledger {

// The board's claim ttl when nothing else says (hermes-board.md §5): the lease ttl the
// imported tasks get, and what "a lease would have expired" is measured with.
inline constexpr int64_t kBoardClaimTtlNs = 15 * 60 * kNanosPerSecond;
// A run of claim extensions with no heartbeat longer than this is reported as an anomaly:
// past one claim ttl, a lease would have lapsed.
inline constexpr int64_t kSilentExtensionAnomalyNs = kBoardClaimTtlNs;
// Anomalies listed one by one in the summary; the count covers them all.
inline constexpr size_t kBoardAnomaliesListedMax = 100;
// Board rows are kept in annotations up to this size (the ledger's text limit, with room);
// longer text fields of the row are cut, and the cut is marked.
inline constexpr size_t kBoardRowBytesMax = 60 * 1024;

// One table's rows as read: each a JSON object of column -> value (null, integer, real or
// text), every column kept, known or not (hermes-board.md §1.7: columns keep growing).
struct BoardTable {
  bool present = false;
  std::vector<nlohmann::json> rows;
};

struct Board {
  BoardTable tasks;        // keyed by "id"; "rowid" added by the reader
  BoardTable task_links;   // parent_id, child_id; "rowid"
  BoardTable task_events;  // id, task_id, kind, created_at, [run_id], payload
  BoardTable task_runs;    // absent on boards from before runs existed
  BoardTable task_comments;
};

struct BoardImportSummary {
  uint64_t tasks = 0;
  uint64_t runs = 0;
  uint64_t board_events = 0;
  uint64_t comments = 0;
  uint64_t events_mapped = 0;  // board events that became a native kind
  uint64_t annotations = 0;    // ledger events of kind annotated
  uint64_t ledger_events = 0;  // everything written
  uint64_t attempts = 0;
  uint64_t anomalies_total = 0;
  std::vector<std::string> anomalies;  // the first kBoardAnomaliesListedMax, one line each
};

nlohmann::json BoardImportSummaryToJson(const BoardImportSummary& summary);
std::string RenderBoardImportSummary(const BoardImportSummary& summary);

// Checks the whole board: InvalidArgument naming the table, the row and what is wrong
// ("task_events row 12: task t_00000009 does not exist") for the first malformed row.
Status CheckBoard(const Board& board);

// Maps a checked board (REQUIRES: CheckBoard(board) is ok) to the log, event by event in
// seq order from 1, and returns the summary. Deterministic: the same board gives the same
// events, so a caller may run it twice (check, then write) without holding the log.
Result<BoardImportSummary> MapBoard(const Board& board, const std::function<Status(const Event&)>& sink);

}  // namespace taskledger
