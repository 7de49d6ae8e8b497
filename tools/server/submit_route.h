// Where a call's commands go, over RPC and HTTP alike: the group committer, or, on a
// standby of a cluster, the partition's writer (Forwarder). Both count the call in flight
// (a stopping server waits for it) and record its outcomes in the metrics.
#pragma once

#include <kj/async.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "ledger/group_commit.h"
#include "projections/decide.h"
#include "tools/server/forwarder.h"
#include "tools/server/metrics.h"

namespace taskledger::server {

// Each command's kind, in order: what the metrics label an outcome with, kept apart
// because the commands themselves move on to the committer or the forwarder.
std::vector<CommandKind> KindsOf(const std::vector<Command>& commands);

// Outcomes in the order of `kinds` (the commands that could be read; any others are
// counted as of unknown kind). Runs on the event loop or the committer's syncer thread.
void RecordOutcomes(ServerMetrics& metrics, const std::vector<CommandKind>& kinds,
                    const std::vector<Outcome>& outcomes, std::chrono::steady_clock::time_point submitted);

// The one way commands reach this server's ledger: queued on the committer (validated and
// committed with its group), counted in `in_flight` until their outcomes are back.
kj::Promise<std::vector<Outcome>> SubmitToCommitter(GroupCommitter& committer, ServerMetrics& metrics,
                                                    size_t* in_flight, std::vector<Command> commands);

// A standby's way: passed on to the partition's writer at `writer`, counted and recorded
// as SubmitToCommitter does.
kj::Promise<std::vector<Outcome>> ForwardToWriter(Forwarder& forwarder, ServerMetrics& metrics, size_t* in_flight,
                                                  const std::string& writer, std::vector<Command> commands);

// Where a call's commands go: the committer; in a cluster, a standby passes them on to
// the partition's writer, unless they were passed on to it already (`forwarded`).
using SubmitRoute = std::function<kj::Promise<std::vector<Outcome>>(std::vector<Command>, bool forwarded)>;

}  // namespace taskledger::server
