// ledger_load: a load generator for `taskledger serve`.
//
//   ledger_load --connect ADDR --clients N --tasks N --heartbeats K [--queue Q] [--ping-calls P]
//               [--max-seconds S] [--inflight F] [--no-create] [--pattern percommand|worker]
//               [--lanes L] [--no-verify] [--json]
//
// Each client is a thread with its own Cap'n Proto connection (capnp::EzRpcClient) that
// drives full task cycles, one command per call, as a dispatcher and its workers do:
// create, claim --next, K heartbeats, complete. A client keeps F task cycles going at once
// on its connection (--inflight, default 1: one call at a time); each cycle's commands still
// go one after the other. With --no-create, every client first creates its share of the
// tasks (in calls of up to 1000 commands, not timed) and its cycles are claim --next, K
// heartbeats, complete: the enqueue is not counted, as in a queue benchmark that fills the
// queue first (bench/compare.sh). Before the load, every client makes P calls of the
// server's `now` (no storage, no fsync) at the same time: the RPC round trip of this
// machine, the baseline of the load's latencies and rate.
//
// --pattern worker (needs --no-create): each connection is one worker, as `taskledger
// worker` drives its slots (tools/worker/worker.cc), holding up to F leases at once
// (--inflight F, or --slots F). It makes one call at a time, each carrying many commands
// (the server commits a call's commands in one group, each with its own outcome):
//   [complete for every held task whose K heartbeats are done] + [claim --next for every
//   free slot], then, while a held task still needs a renewal, [heartbeat for every held
//   task that needs one]
// so with F tasks held a task cycle costs 1 + K calls shared by F tasks instead of 2 + K
// calls each. --lanes L splits a worker's F leases into L lanes that each run that cycle
// with their own call in flight, so one connection carries up to L calls at once (as one
// BullMQ Worker process with concurrency F multiplexes its jobs on one connection): the
// client, the server's RPC thread and its writer then work at the same time instead of in
// turn. Every command's outcome is checked: a refused complete or heartbeat is an
// error; NotFound on a claim --next means the queue is empty (the worker stops claiming);
// Busy is retried in the next call. Per-task-cycle latency: from the call that claimed the
// task to the reply of the call that completed it; per-command latency: its call's round
// trip. At the end (unless --no-verify) the ledger is read back (`tasksAt` now): in
// --queue, the tasks done must equal the completes that succeeded, and each of them must
// have been claimed exactly once (attempts == 1).
//
// Prints tasks/s, commands/s, per-command latency percentiles (p50/p99/p999), overall and by
// command, and per-cycle latency (first command's call to the complete's reply); with
// --json, one JSON object; also calls/s and commands per call. Exits 1 if any command failed
// or the ledger's count disagrees.
//
// The parts: bench/ledger_load.h lists the files and what each does.
#include <capnp/ez-rpc.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench/ledger_load.h"

namespace taskledger::bench {
namespace {

// Runs every client on its own thread, each with its share of the tasks, until all are
// done. Returns the first connection error ("" if none); on one, both gates are broken so
// that no client waits for the others forever.
std::string RunClients(const Config& config, Gate& connected, Gate& pinged, std::vector<ClientResult>* results) {
  std::vector<std::thread> threads;
  std::mutex error_mutex;
  std::string connect_error;
  for (int i = 0; i < config.clients; ++i) {
    const size_t share = config.tasks / static_cast<size_t>(config.clients) +
                         (static_cast<size_t>(i) < config.tasks % static_cast<size_t>(config.clients) ? 1 : 0);
    threads.emplace_back([&, i, share] {
      try {
        Client(config, i, &(*results)[static_cast<size_t>(i)]).Run(connected, pinged, share);
      } catch (const kj::Exception& e) {
        {
          std::lock_guard lock(error_mutex);
          if (connect_error.empty()) connect_error = e.getDescription().cStr();
        }
        connected.Break();
        pinged.Break();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return connect_error;
}

int Main(int argc, char** argv) {
  Config config;
  if (std::optional<int> exit_code = ParseOptions(argc, argv, &config)) return *exit_code;

  Gate connected(config.clients), pinged(config.clients);
  std::vector<ClientResult> results(static_cast<size_t>(config.clients));
  if (const std::string error = RunClients(config, connected, pinged, &results); !error.empty()) {
    std::fprintf(stderr, "ledger_load: %s: %s\n", config.address.c_str(), error.c_str());
    return 1;
  }

  ClientResult total = SumResults(results);
  Latencies all;
  for (int k = 0; k < kKindCount; ++k) all.Append(total.by_kind[k]);
  const double ping_seconds = std::max(1e-9, (total.ping_end_ns - connected.opened_ns()) / 1e9);
  const double seconds = std::max(1e-9, (total.load_end_ns - pinged.opened_ns()) / 1e9);
  nlohmann::json out = ReportJson(config, total, all, seconds, ping_seconds);
  if (config.worker && config.verify && total.errors == 0) {
    const std::string problem = VerifyLedger(config, total.completed, &out);
    if (!problem.empty() && total.errors++ == 0) total.first_error = problem;
  }
  if (!total.first_error.empty()) out["first_error"] = total.first_error;
  if (config.no_create) out["precreate_seconds"] = static_cast<double>(total.precreate_ns) / 1e9;

  if (config.json) {
    std::printf("%s\n", out.dump().c_str());
  } else {
    PrintTable(config, total, all, seconds, out);
  }
  if (total.errors > 0) {
    std::fprintf(stderr, "ledger_load: %llu command(s) or check(s) failed; the first: %s\n",
                 static_cast<unsigned long long>(total.errors), total.first_error.c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace taskledger::bench

int main(int argc, char** argv) { return taskledger::bench::Main(argc, argv); }
