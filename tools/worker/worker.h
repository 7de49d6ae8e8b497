// `taskledger worker`: one long-running process that keeps up to N children running, each
// supervised exactly as `taskledger run` supervises its one child (DESIGN §6 "Supervisor"):
// its own process group, PDEATHSIG, reaping (the worker is a subreaper, so grandchildren
// too), signal forwarding, stopping on a lost lease, `completed`+`exited` in one commit for
// exit 0. What a fleet gains over N `run` loops: one process and one connection, every
// lease renewed in one batched call, and the end of one task and the claim of the next in
// one call (Backend::SubmitGroup: each command keeps its own outcome, events and fencing).
//
// On SIGTERM, SIGINT or SIGHUP it stops claiming, records `signaled` for every task it
// holds (one call), forwards the signal to every child's group, waits the grace, SIGKILLs
// what is left, records how each child ended, and exits 0.
//
// Not thread-safe: one per process (it owns SIGCHLD and the subreaper flag).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tools/cli/backend.h"

namespace taskledger::worker {

struct WorkerOptions {
  std::string queue;        // empty: the default queue
  std::string worker;       // the worker id every claim and holder command carries
  int concurrency = 1;      // children at once; REQUIRES: 1..kConcurrencyMax
  int64_t ttl_ns = 0;       // claim ttl; 0: the task's
  int64_t grace_ns = 10 * kNanosPerSecond;
  std::vector<std::string> command;  // REQUIRES: not empty
  uint64_t max_tasks = 0;   // stop claiming after this many claims (0: no limit)
  bool exit_when_idle = false;  // exit once nothing is ready and no child runs
  int64_t idle_poll_ns = 200 * kNanosPerMilli;  // how often an idle worker asks again
  bool json = false;        // the summary as one JSON object
};

// A bound on children per worker: each holds a lease, a process group and an fd or two.
inline constexpr int kConcurrencyMax = 1024;

// What the worker did, for its summary line.
struct WorkerSummary {
  uint64_t claimed = 0;
  uint64_t completed = 0;     // exit 0 (recorded as completed, or completed by the child)
  uint64_t failed = 0;        // another exit code, or a signal nobody asked for
  uint64_t interrupted = 0;   // ended after the worker was told to stop
  uint64_t lease_lost = 0;    // a renewal was refused: the child was stopped
};

// Runs until told to stop (or --max-tasks / --exit-when-idle), then returns the exit code:
// 0, or the claim error's code when a claim is refused as bad input (nothing started).
int Run(cli::Backend& backend, const WorkerOptions& options, WorkerSummary* summary);

}  // namespace taskledger::worker
