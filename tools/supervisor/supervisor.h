// `taskledger run`: the supervisor (DESIGN §6 "Supervisor"). Claims a task, runs the
// worker command as its child in its own process group, heartbeats while it runs, reaps
// it and every orphan it leaves, records how it ended, and stops it when the lease is lost
// or the supervisor is told to stop.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "projections/limits.h"
#include "tools/cli/backend.h"

namespace taskledger::supervisor {

struct RunOptions {
  std::string task_id;  // empty: --next
  std::string queue;
  std::string worker;
  int64_t ttl_ns = 0;   // 0: the task's
  int64_t grace_ns = kDefaultGraceNs;  // the ledger's default grace of a signal
  std::vector<std::string> command;
  bool json = false;
};

// Returns the exit code: the child's code, 128+signal, 3 when the lease was lost, or the
// claim's error code when nothing was started.
int Run(cli::Backend& backend, const RunOptions& options);

}  // namespace taskledger::supervisor
