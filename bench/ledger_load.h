// What the parts of ledger_load share (bench/ledger_load.cc describes the program): its
// configuration, a client's results, the gate the clients start behind, and the client.
//
//   ledger_load.cc              main: options, the clients' threads, the report, the exit code
//   ledger_load_options.cc      the command line (ParseOptions)
//   ledger_load_client.cc       a client: connect, pre-create, ping, then its pattern
//   ledger_load_percommand.cc   --pattern percommand: one command per call, F cycles in flight
//   ledger_load_worker.cc       --pattern worker: batched calls, F leases held; VerifyLedger
//   ledger_load_report.cc       the clients' results summed, as JSON or as a table
//
// Benchmark code only.
#pragma once

#include <kj/async.h>
#include <kj/timer.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "ledger/wire.h"

namespace taskledger::bench {

// Replies to our own server: allow big messages (as the CLI does).
inline constexpr uint64_t kTraversalWords = uint64_t{1} << 30;
// A busy server (its queue full) is retried after this pause.
inline constexpr auto kBusyPause = std::chrono::milliseconds(1);
// Tasks created per call before a --no-create load (the server takes up to 1024).
inline constexpr size_t kPrecreateBatch = 1000;

// The commands whose latencies are kept apart, and their names in the report.
enum Kind { kCreate, kClaim, kHeartbeat, kComplete, kKindCount };
inline constexpr const char* kKindNames[kKindCount] = {"create", "claim_next", "heartbeat", "complete"};

struct Config {
  std::string address;
  std::string endpoint;
  int clients = 8;
  size_t tasks = 1000;
  int heartbeats = 2;
  std::string queue = "load";
  size_t ping_calls = 200;
  double max_seconds = 0;  // 0: until every task is done
  int inflight = 1;        // task cycles in flight per connection
  bool no_create = false;  // tasks created before the load, not timed
  bool worker = false;     // --pattern worker: batched calls, F leases held per connection
  int lanes = 1;           // --pattern worker: the F leases split into this many lanes, a call each in flight
  bool verify = true;      // worker pattern: read the ledger back and check the counts
  bool json = false;       // --json: one JSON object instead of the table
};

// Reads the command line into `config`. nullopt: go on; else the exit code (0 after
// --help; 2 on a bad option, with the reason on stderr).
std::optional<int> ParseOptions(int argc, char** argv, Config* config);

// A barrier the main thread can break when a client fails, so nobody waits forever.
class Gate {
 public:
  explicit Gate(int parties) : parties_(parties) {}
  // False if the gate was broken. The last to arrive records the time it opened.
  bool ArriveAndWait() {
    std::unique_lock lock(mutex_);
    if (broken_) return false;
    const int generation = generation_;
    if (++arrived_ == parties_) {
      arrived_ = 0;
      ++generation_;
      opened_ns_ = MonotonicNs();
      opened_.notify_all();
      return true;
    }
    opened_.wait(lock, [&] { return generation_ != generation || broken_; });
    return !broken_;
  }
  void Break() {
    std::lock_guard lock(mutex_);
    broken_ = true;
    opened_.notify_all();
  }
  int64_t opened_ns() {
    std::lock_guard lock(mutex_);
    return opened_ns_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable opened_;
  const int parties_;
  int arrived_ = 0;
  int generation_ = 0;
  bool broken_ = false;
  int64_t opened_ns_ = 0;
};

struct ClientResult {
  Latencies ping;
  Latencies by_kind[kKindCount];
  Latencies cycles;
  Latencies calls_latency;  // worker pattern: every call's round trip
  int64_t ping_end_ns = 0;
  int64_t load_end_ns = 0;
  int64_t precreate_ns = 0;
  uint64_t commands = 0;
  uint64_t tasks = 0;
  uint64_t calls = 0;         // submit calls of the load (busy retries included)
  uint64_t commands_sent = 0; // commands in those calls
  uint64_t completed = 0;     // completes that succeeded
  uint64_t claims_empty = 0;  // claim --next answered NotFound (queue empty)
  uint64_t busy_retries = 0;
  uint64_t errors = 0;
  std::string first_error;
};

// One connection of the load, run on its own thread (Run).
class Client {
 public:
  Client(const Config& config, int index, ClientResult* result)
      : config_(config), worker_("load-" + std::to_string(index)), result_(result) {}

  // Connects; with --no-create creates this client's `tasks`; waits at `connected` for the
  // others, makes its `now` calls, waits at `pinged`, then drives its `tasks` task cycles in
  // the configured pattern. Breaks both gates if the pre-create fails.
  void Run(Gate& connected, Gate& pinged, size_t tasks);

 private:
  // ---- ledger_load_client.cc ----

  // Creates this client's tasks in calls of kPrecreateBatch commands; false on a failure.
  bool Precreate(rpc::Ledger::Client& ledger, kj::WaitScope& wait, size_t tasks);
  Command CreateCommand() const;
  Command ClaimNextCommand() const;
  // Records a failure (the first one's text is kept); always nullopt.
  std::optional<Outcome> Fail(const std::string& what);

  // ---- ledger_load_percommand.cc ----

  // One lane: task cycles one after another until this client's share is done, the
  // deadline passes or a command fails.
  kj::Promise<void> Lane(rpc::Ledger::Client ledger);
  // One task: [create,] claim --next, heartbeats, complete. False on a failure.
  kj::Promise<bool> Cycle(rpc::Ledger::Client ledger);
  // The holder's commands from heartbeat number `h` on: the rest of the heartbeats, then
  // complete.
  kj::Promise<bool> Hold(rpc::Ledger::Client ledger, Command holder, int h);
  // One command in one call, retried while the server is busy; nullopt on a failure.
  // t0: when the command was first sent (its latency includes the retries).
  kj::Promise<std::optional<Outcome>> Submit(rpc::Ledger::Client ledger, Command command, Kind kind,
                                             int64_t t0 = -1);

  // ---- ledger_load_worker.cc ----

  // A lease this worker holds.
  struct Held {
    std::string task_id;
    uint64_t token = 0;
    int64_t claim_call_ns = 0;  // when the call that claimed it was sent
    int heartbeats = 0;         // done so far
  };
  // What the worker holds between calls.
  struct WorkerState {
    size_t slots = 0;  // leases this lane holds at most
    std::vector<Held> held;
    bool queue_empty = false;  // a claim --next found nothing: claim no more
  };
  // One call of the worker: its commands and, per command, the index into `held` of the
  // lease it is about (kClaimSubject for a claim --next).
  struct WorkerCall {
    static constexpr size_t kClaimSubject = SIZE_MAX;
    std::vector<Command> commands;
    std::vector<size_t> subject;
  };

  // --pattern worker: this connection is one worker with config_.inflight slots in
  // config_.lanes lanes; a lane makes one call at a time, many commands per call (see
  // bench/ledger_load.cc), so up to `lanes` calls are in flight on the connection.
  void RunWorker(rpc::Ledger::Client& ledger, kj::WaitScope& wait);
  // One lane's calls, each planned when the previous one is answered, until it is done.
  kj::Promise<void> WorkerLane(rpc::Ledger::Client ledger, WorkerState* state);
  // The next call: heartbeats if a held lease still needs one, else completes for every held
  // task and claims for the free slots. Empty when nothing is held and nothing to claim.
  void PlanWorkerCall(const WorkerState& state, WorkerCall* call) const;
  // Applies a call's outcomes (sent at t0, answered at t1) to the state and the results.
  // True if a command was refused as Busy (retried in a later call).
  bool ApplyWorkerOutcomes(const WorkerCall& call, capnp::List<rpc::Outcome>::Reader outcomes, int64_t t0,
                           int64_t t1, WorkerState* state);
  Command HolderCommand(const Held& held, CommandKind kind) const;

  const Config& config_;
  const std::string worker_;
  ClientResult* result_;
  kj::Timer* timer_ = nullptr;
  int64_t deadline_ns_ = INT64_MAX;
  size_t remaining_ = 0;  // task cycles of this client's share not yet started
  bool failed_ = false;
};

// --pattern worker: reads every task back (`tasksAt` now) and checks that in config.queue
// the tasks done number `completed`, each claimed exactly once, and (unless the load was cut
// by --max-seconds) none is left open. Adds "verified" to `out`; returns the problem, or "".
std::string VerifyLedger(const Config& config, uint64_t completed, nlohmann::json* out);

// ---- ledger_load_report.cc ----

// The clients' results as one: latencies appended, counts added, the latest ends and the
// longest pre-create, the first error of the first client that had one.
ClientResult SumResults(std::vector<ClientResult>& results);
// The figures of the load (`all`: every command's latency; seconds of the load and of the
// `now` calls), with the worker pattern's own; not yet "verified", "first_error" nor
// "precreate_seconds".
nlohmann::json ReportJson(const Config& config, ClientResult& total, Latencies& all, double seconds,
                          double ping_seconds);
// The same figures as the human-readable table.
void PrintTable(const Config& config, ClientResult& total, Latencies& all, double seconds, const nlohmann::json& out);

}  // namespace taskledger::bench
