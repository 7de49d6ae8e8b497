// ledger_load: a load generator for `taskledger serve`.
//
//   ledger_load --connect ADDR --clients N --tasks N --heartbeats K [--queue Q] [--ping-calls P]
//               [--max-seconds S] [--inflight F] [--no-create] [--pattern percommand|worker]
//               [--no-verify] [--json]
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
// calls each. Every command's outcome is checked: a refused complete or heartbeat is an
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
#include <capnp/ez-rpc.h>
#include <kj/async-io.h>
#include <kj/timer.h>
#include <kj/vector.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_util.h"
#include "ledger/wire.h"

namespace taskledger::bench {
namespace {

// Replies to our own server: allow big messages (as the CLI does).
constexpr uint64_t kTraversalWords = uint64_t{1} << 30;
// A busy server (its queue full) is retried after this pause.
constexpr auto kBusyPause = std::chrono::milliseconds(1);

enum Kind { kCreate, kClaim, kHeartbeat, kComplete, kKindCount };
const char* const kKindNames[kKindCount] = {"create", "claim_next", "heartbeat", "complete"};

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
  bool verify = true;      // worker pattern: read the ledger back and check the counts
};

// Tasks created per call before a --no-create load (the server takes up to 1024).
constexpr size_t kPrecreateBatch = 1000;

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

class Client {
 public:
  Client(const Config& config, int index, ClientResult* result)
      : config_(config), worker_("load-" + std::to_string(index)), result_(result) {}

  void Run(Gate& connected, Gate& pinged, size_t tasks) {
    capnp::ReaderOptions options;
    options.traversalLimitInWords = kTraversalWords;
    capnp::EzRpcClient client(config_.endpoint, 0, options);
    rpc::Ledger::Client ledger = client.getMain<rpc::Ledger>();
    kj::WaitScope& wait = client.getWaitScope();
    timer_ = &client.getIoProvider().getTimer();
    (void)ledger.nowRequest().send().wait(wait);  // connected
    if (config_.no_create && !Precreate(ledger, wait, tasks)) {
      connected.Break();
      pinged.Break();
      return;
    }
    if (!connected.ArriveAndWait()) return;
    for (size_t i = 0; i < config_.ping_calls; ++i) {
      const int64_t t0 = MonotonicNs();
      (void)ledger.nowRequest().send().wait(wait);
      result_->ping.Add(MonotonicNs() - t0);
    }
    result_->ping_end_ns = MonotonicNs();
    if (!pinged.ArriveAndWait()) return;
    deadline_ns_ = config_.max_seconds > 0 ? pinged.opened_ns() + static_cast<int64_t>(config_.max_seconds * 1e9)
                                           : INT64_MAX;
    remaining_ = tasks;
    result_->cycles.Reserve(tasks);
    if (config_.worker) {
      RunWorker(ledger, wait);
      result_->load_end_ns = MonotonicNs();
      return;
    }
    kj::Vector<kj::Promise<void>> lanes;
    for (int l = 0; l < config_.inflight && static_cast<size_t>(l) < tasks; ++l) lanes.add(Lane(ledger));
    kj::joinPromises(lanes.releaseAsArray()).wait(wait);
    result_->load_end_ns = MonotonicNs();
  }

 private:
  // A lease this worker holds.
  struct Held {
    std::string task_id;
    uint64_t token = 0;
    int64_t claim_call_ns = 0;  // when the call that claimed it was sent
    int heartbeats = 0;         // done so far
  };

  // --pattern worker: this connection is one worker with config_.inflight slots; one call at
  // a time, many commands per call (see the top of the file).
  void RunWorker(rpc::Ledger::Client& ledger, kj::WaitScope& wait) {
    const size_t slots = static_cast<size_t>(config_.inflight);
    std::vector<Held> held;
    held.reserve(slots);
    bool queue_empty = false;
    std::vector<Command> commands;
    std::vector<size_t> subject;  // per command: index into `held`, or SIZE_MAX for a claim
    while (!failed_) {
      commands.clear();
      subject.clear();
      bool renewing = false;
      for (size_t i = 0; i < held.size(); ++i) {
        if (held[i].heartbeats < config_.heartbeats) renewing = true;
      }
      if (renewing) {  // one call renews every held lease that needs it
        for (size_t i = 0; i < held.size(); ++i) {
          if (held[i].heartbeats >= config_.heartbeats) continue;
          commands.push_back(HolderCommand(held[i], CommandKind::kHeartbeat));
          subject.push_back(i);
        }
      } else {  // every held task is done: complete them all, claim for every free slot
        for (size_t i = 0; i < held.size(); ++i) {
          commands.push_back(HolderCommand(held[i], CommandKind::kComplete));
          subject.push_back(i);
        }
        const bool claiming = !queue_empty && MonotonicNs() < deadline_ns_;
        // Every slot frees in this call (a complete refused as Busy keeps its slot a call
        // longer, beyond the F).
        const size_t claims = claiming ? std::min(slots, remaining_) : 0;
        for (size_t c = 0; c < claims; ++c) {
          Command claim;
          claim.kind = CommandKind::kClaim;
          claim.next = true;
          claim.queue = config_.queue;
          claim.actor = worker_;
          commands.push_back(std::move(claim));
          subject.push_back(SIZE_MAX);
        }
      }
      if (commands.empty()) break;  // nothing held, nothing more to claim

      auto request = ledger.submitRequest();
      auto list = request.initCommands(static_cast<unsigned>(commands.size()));
      for (size_t k = 0; k < commands.size(); ++k) wire::WriteCommand(commands[k], list[static_cast<unsigned>(k)]);
      const int64_t t0 = MonotonicNs();
      auto response = request.send().wait(wait);
      const int64_t t1 = MonotonicNs();
      result_->calls++;
      result_->commands_sent += commands.size();
      result_->calls_latency.Add(t1 - t0);
      auto outcomes = response.getOutcomes();
      if (outcomes.size() != commands.size()) {
        Fail("the server answered a different count");
        break;
      }
      bool busy = false;
      std::vector<bool> released(held.size(), false);
      std::vector<Held> claimed;
      for (size_t k = 0; k < commands.size() && !failed_; ++k) {
        Result<Outcome> outcome = wire::ReadOutcome(outcomes[static_cast<unsigned>(k)]);
        if (!outcome.ok()) {
          Fail(outcome.status().message());
          break;
        }
        const CommandKind kind = commands[k].kind;
        const Kind stat = kind == CommandKind::kClaim ? kClaim : kind == CommandKind::kHeartbeat ? kHeartbeat : kComplete;
        if (outcome->status.code() == Code::kBusy) {  // retried in a later call
          busy = true;
          result_->busy_retries++;
          continue;
        }
        if (kind == CommandKind::kClaim && outcome->status.IsNotFound()) {
          queue_empty = true;
          result_->claims_empty++;
          continue;
        }
        if (!outcome->status.ok()) {
          Fail(std::string(kKindNames[stat]) + ": " + outcome->status.message());
          break;
        }
        result_->by_kind[stat].Add(t1 - t0);
        result_->commands++;
        if (kind == CommandKind::kClaim) {
          --remaining_;
          claimed.push_back(Held{outcome->reply.task_id, outcome->reply.token, t0, 0});
        } else if (kind == CommandKind::kHeartbeat) {
          held[subject[k]].heartbeats++;
        } else {
          result_->cycles.Add(t1 - held[subject[k]].claim_call_ns);
          result_->tasks++;
          result_->completed++;
          released[subject[k]] = true;
        }
      }
      if (failed_) break;
      size_t kept = 0;
      for (size_t i = 0; i < held.size(); ++i) {
        if (released[i]) continue;
        if (kept != i) held[kept] = std::move(held[i]);
        ++kept;
      }
      held.resize(kept);
      for (Held& h : claimed) held.push_back(std::move(h));
      if (busy) std::this_thread::sleep_for(kBusyPause);
    }
  }

  Command HolderCommand(const Held& held, CommandKind kind) const {
    Command c;
    c.kind = kind;
    c.task_id = held.task_id;
    c.token = held.token;
    c.actor = worker_;
    return c;
  }

  // Creates this client's tasks in calls of kPrecreateBatch commands; false on a failure.
  bool Precreate(rpc::Ledger::Client& ledger, kj::WaitScope& wait, size_t tasks) {
    const int64_t t0 = MonotonicNs();
    Command create = CreateCommand();
    for (size_t done = 0; done < tasks;) {
      const size_t n = std::min(kPrecreateBatch, tasks - done);
      auto request = ledger.submitRequest();
      auto commands = request.initCommands(static_cast<unsigned>(n));
      for (size_t i = 0; i < n; ++i) wire::WriteCommand(create, commands[static_cast<unsigned>(i)]);
      auto response = request.send().wait(wait);
      if (response.getOutcomes().size() != n) {
        Fail("pre-create: the server answered a different count");
        return false;
      }
      size_t busy = 0;
      for (auto o : response.getOutcomes()) {
        Result<Outcome> outcome = wire::ReadOutcome(o);
        if (!outcome.ok()) {
          Fail(outcome.status().message());
          return false;
        }
        if (outcome->status.code() == Code::kBusy) {
          ++busy;
        } else if (!outcome->status.ok()) {
          Fail("pre-create: " + outcome->status.message());
          return false;
        }
      }
      if (busy > 0) {  // the creates are all alike: make up for the refused ones
        result_->busy_retries++;
        std::this_thread::sleep_for(kBusyPause);
      }
      done += n - busy;
    }
    result_->precreate_ns = MonotonicNs() - t0;
    return true;
  }

  Command CreateCommand() const {
    Command create;
    create.kind = CommandKind::kCreate;
    create.spec.title = "load";
    create.spec.queue = config_.queue;
    return create;
  }

  // One lane: task cycles one after another until this client's share is done, the
  // deadline passes or a command fails.
  kj::Promise<void> Lane(rpc::Ledger::Client ledger) {
    if (remaining_ == 0 || failed_ || MonotonicNs() >= deadline_ns_) return kj::READY_NOW;
    --remaining_;
    const int64_t t0 = MonotonicNs();
    return Cycle(ledger).then([this, ledger, t0](bool ok) mutable -> kj::Promise<void> {
      if (!ok) {
        failed_ = true;
        return kj::READY_NOW;
      }
      result_->cycles.Add(MonotonicNs() - t0);
      result_->tasks++;
      return Lane(kj::mv(ledger));
    });
  }

  // One task: [create,] claim --next, heartbeats, complete. False on a failure.
  kj::Promise<bool> Cycle(rpc::Ledger::Client ledger) {
    kj::Promise<bool> created = config_.no_create ? kj::Promise<bool>(true)
                                                  : Submit(ledger, CreateCommand(), kCreate).then(
                                                        [](std::optional<Outcome>&& o) { return o.has_value(); });
    return created.then([this, ledger](bool ok) mutable -> kj::Promise<bool> {
      if (!ok) return false;
      Command claim;
      claim.kind = CommandKind::kClaim;
      claim.next = true;
      claim.queue = config_.queue;
      claim.actor = worker_;
      return Submit(ledger, std::move(claim), kClaim)
          .then([this, ledger](std::optional<Outcome>&& claimed) mutable -> kj::Promise<bool> {
            if (!claimed) return false;
            Command holder;
            holder.task_id = claimed->reply.task_id;
            holder.token = claimed->reply.token;
            holder.actor = worker_;
            return Hold(kj::mv(ledger), std::move(holder), 0);
          });
    });
  }

  // The holder's commands from heartbeat number `h` on: the rest of the heartbeats, then
  // complete.
  kj::Promise<bool> Hold(rpc::Ledger::Client ledger, Command holder, int h) {
    if (h == config_.heartbeats) {
      holder.kind = CommandKind::kComplete;
      return Submit(ledger, std::move(holder), kComplete).then([](std::optional<Outcome>&& o) {
        return o.has_value();
      });
    }
    holder.kind = CommandKind::kHeartbeat;
    Command next = holder;
    return Submit(ledger, std::move(holder), kHeartbeat)
        .then([this, ledger, next = std::move(next), h](std::optional<Outcome>&& o) mutable -> kj::Promise<bool> {
          if (!o) return false;
          return Hold(kj::mv(ledger), std::move(next), h + 1);
        });
  }

  // One command in one call, retried while the server is busy; nullopt on a failure.
  // t0: when the command was first sent (its latency includes the retries).
  kj::Promise<std::optional<Outcome>> Submit(rpc::Ledger::Client ledger, Command command, Kind kind,
                                             int64_t t0 = -1) {
    if (t0 < 0) t0 = MonotonicNs();
    result_->calls++;
    result_->commands_sent++;
    auto request = ledger.submitRequest();
    wire::WriteCommand(command, request.initCommands(1)[0]);
    return request.send().then(
        [this, ledger, command = std::move(command), kind,
         t0](capnp::Response<rpc::Ledger::SubmitResults>&& response) mutable
        -> kj::Promise<std::optional<Outcome>> {
          if (response.getOutcomes().size() != 1) return Fail("the server answered a different count");
          Result<Outcome> outcome = wire::ReadOutcome(response.getOutcomes()[0]);
          if (!outcome.ok()) return Fail(outcome.status().message());
          if (outcome->status.code() == Code::kBusy) {
            result_->busy_retries++;
            return timer_->afterDelay(kBusyPause.count() * kj::MILLISECONDS)
                .then([this, ledger, command = std::move(command), kind, t0]() mutable {
                  return Submit(kj::mv(ledger), std::move(command), kind, t0);
                });
          }
          if (!outcome->status.ok()) {
            return Fail(std::string(kKindNames[kind]) + ": " + outcome->status.message());
          }
          result_->by_kind[kind].Add(MonotonicNs() - t0);
          result_->commands++;
          return std::optional<Outcome>(std::move(*outcome));
        });
  }

  std::optional<Outcome> Fail(const std::string& what) {
    failed_ = true;
    if (result_->errors++ == 0) result_->first_error = what;
    return std::nullopt;
  }

  const Config& config_;
  const std::string worker_;
  ClientResult* result_;
  kj::Timer* timer_ = nullptr;
  int64_t deadline_ns_ = INT64_MAX;
  size_t remaining_ = 0;  // task cycles of this client's share not yet started
  bool failed_ = false;
};

nlohmann::json Percentiles(Latencies& l) {
  return {{"count", l.count()},
          {"p50_us", l.PercentileUs(0.5)},
          {"p99_us", l.PercentileUs(0.99)},
          {"p999_us", l.PercentileUs(0.999)},
          {"max_us", l.PercentileUs(1.0)},
          {"mean_us", l.MeanUs()}};
}

// --pattern worker: reads every task back (`tasksAt` now) and checks that in config.queue
// the tasks done number `completed`, each claimed exactly once, and (unless the load was cut
// by --max-seconds) none is left open. Adds "verified" to `out`; returns the problem, or "".
std::string VerifyLedger(const Config& config, uint64_t completed, nlohmann::json* out) {
  try {
    capnp::ReaderOptions options;
    options.traversalLimitInWords = kTraversalWords;
    capnp::EzRpcClient client(config.endpoint, 0, options);
    rpc::Ledger::Client ledger = client.getMain<rpc::Ledger>();
    auto request = ledger.tasksAtRequest();
    request.initAt().setKind(0);
    auto response = request.send().wait(client.getWaitScope());
    if (response.getError().getCode() != 0) return "verify: tasksAt: " + std::string(response.getError().getMessage().cStr());
    uint64_t in_queue = 0, done = 0, claimed_more = 0, open = 0;
    for (auto view : response.getTasks()) {
      auto settled = view.getSettled();
      if (settled.getSpec().getQueue() != config.queue.c_str()) continue;
      ++in_queue;
      if (view.getStatus() == static_cast<uint8_t>(TaskStatus::kDone)) {
        ++done;
        if (settled.getAttempts() != 1) ++claimed_more;
      } else {
        ++open;
      }
    }
    (*out)["verified"] = {{"in_queue", in_queue}, {"done", done}, {"claimed_more_than_once", claimed_more}, {"not_done", open}};
    if (done != completed) {
      return "verify: the ledger has " + std::to_string(done) + " tasks done in queue " + config.queue + ", the load " +
             std::to_string(completed) + " completes that succeeded";
    }
    if (claimed_more != 0) return "verify: " + std::to_string(claimed_more) + " done task(s) were claimed more than once";
    if (config.max_seconds <= 0 && in_queue <= config.tasks && open != 0) {
      return "verify: " + std::to_string(open) + " task(s) of queue " + config.queue + " not done after the load";
    }
    return "";
  } catch (const kj::Exception& e) {
    return std::string("verify: ") + e.getDescription().cStr();
  }
}

int Main(int argc, char** argv) {
  Config config;
  bool json = false;
  CLI::App app("Drive full task cycles against a taskledger server", "ledger_load");
  app.add_option("--connect", config.address, "the server: unix:/path or tcp:HOST:PORT")
      ->required()
      ->envname("TASKLEDGER_ADDR");
  app.add_option("--clients", config.clients, "client threads, one connection each")->check(CLI::Range(1, 4096));
  app.add_option("--tasks", config.tasks, "task cycles in all, shared among the clients");
  app.add_option("--heartbeats", config.heartbeats, "heartbeats per task")->check(CLI::Range(0, 10000));
  app.add_option("--queue", config.queue, "queue the tasks go to (default load)");
  app.add_option("--ping-calls", config.ping_calls, "`now` calls per client before the load (default 200; 0: none)");
  app.add_option("--max-seconds", config.max_seconds, "stop starting new tasks after this long (default: no limit)");
  app.add_option("--inflight", config.inflight, "task cycles in flight per connection (default 1: one call at a time)")
      ->check(CLI::Range(1, 4096));
  app.add_flag("--no-create", config.no_create,
               "create the tasks before the load (not timed); cycles are claim --next, heartbeats, complete");
  app.add_option("--slots", config.inflight, "--pattern worker: leases held per connection (the same as --inflight)")
      ->check(CLI::Range(1, 1000));
  std::string pattern = "percommand";
  app.add_option("--pattern", pattern,
                 "percommand (default): one command per call, F cycles in flight per connection; worker: one "
                 "worker per connection holding F leases, batched calls (needs --no-create)")
      ->check(CLI::IsMember({"percommand", "worker"}));
  app.add_flag("--no-verify", [&](int64_t) { config.verify = false; },
               "--pattern worker: skip reading the ledger back after the load");
  app.add_flag("--json", json, "one JSON object");
  CLI11_PARSE(app, argc, argv);
  config.worker = pattern == "worker";
  if (config.worker && !config.no_create) {
    std::fprintf(stderr, "ledger_load: --pattern worker needs --no-create (tasks created before the load)\n");
    return 2;
  }
  if (config.worker && 2 * static_cast<size_t>(config.inflight) > 1024) {
    std::fprintf(stderr, "ledger_load: --pattern worker: at most 512 slots (a call carries up to 2 x F commands)\n");
    return 2;
  }
  if (config.address.rfind("unix:", 0) == 0 && config.address.size() > 5) {
    config.endpoint = config.address;
  } else if (config.address.rfind("tcp:", 0) == 0 && config.address.find(':', 4) != std::string::npos) {
    config.endpoint = config.address.substr(4);
  } else {
    std::fprintf(stderr, "ledger_load: --connect: expected unix:/path or tcp:HOST:PORT, not '%s'\n",
                 config.address.c_str());
    return 2;
  }

  Gate connected(config.clients), pinged(config.clients);
  std::vector<ClientResult> results(static_cast<size_t>(config.clients));
  std::vector<std::thread> threads;
  std::mutex error_mutex;
  std::string connect_error;
  for (int i = 0; i < config.clients; ++i) {
    const size_t share = config.tasks / static_cast<size_t>(config.clients) +
                         (static_cast<size_t>(i) < config.tasks % static_cast<size_t>(config.clients) ? 1 : 0);
    threads.emplace_back([&, i, share] {
      try {
        Client(config, i, &results[static_cast<size_t>(i)]).Run(connected, pinged, share);
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
  if (!connect_error.empty()) {
    std::fprintf(stderr, "ledger_load: %s: %s\n", config.address.c_str(), connect_error.c_str());
    return 1;
  }

  ClientResult total;
  int64_t ping_end = 0, load_end = 0;
  for (ClientResult& r : results) {
    total.ping.Append(r.ping);
    total.cycles.Append(r.cycles);
    total.precreate_ns = std::max(total.precreate_ns, r.precreate_ns);
    for (int k = 0; k < kKindCount; ++k) total.by_kind[k].Append(r.by_kind[k]);
    total.commands += r.commands;
    total.tasks += r.tasks;
    total.calls += r.calls;
    total.commands_sent += r.commands_sent;
    total.completed += r.completed;
    total.claims_empty += r.claims_empty;
    total.calls_latency.Append(r.calls_latency);
    total.busy_retries += r.busy_retries;
    if (r.errors > 0 && total.errors == 0) total.first_error = r.first_error;
    total.errors += r.errors;
    ping_end = std::max(ping_end, r.ping_end_ns);
    load_end = std::max(load_end, r.load_end_ns);
  }
  Latencies all;
  for (int k = 0; k < kKindCount; ++k) all.Append(total.by_kind[k]);
  const double ping_seconds = std::max(1e-9, (ping_end - connected.opened_ns()) / 1e9);
  const double seconds = std::max(1e-9, (load_end - pinged.opened_ns()) / 1e9);

  nlohmann::json out = {
      {"address", config.address},
      {"clients", config.clients},
      {"tasks", total.tasks},
      {"heartbeats", config.heartbeats},
      {"inflight", config.inflight},
      {"created_in_load", !config.no_create},
      {"commands", total.commands},
      {"seconds", seconds},
      {"tasks_per_s", static_cast<double>(total.tasks) / seconds},
      {"commands_per_s", static_cast<double>(total.commands) / seconds},
      {"latency", Percentiles(all)},
      {"cycle_latency", Percentiles(total.cycles)},
      {"by_command", nlohmann::json::object()},
      {"rpc_now",
       {{"calls", total.ping.count()},
        {"calls_per_s", static_cast<double>(total.ping.count()) / ping_seconds},
        {"p50_us", total.ping.PercentileUs(0.5)},
        {"p99_us", total.ping.PercentileUs(0.99)}}},
      {"busy_retries", total.busy_retries},
      {"errors", total.errors},
  };
  for (int k = 0; k < kKindCount; ++k) out["by_command"][kKindNames[k]] = Percentiles(total.by_kind[k]);
  out["pattern"] = config.worker ? "worker" : "percommand";
  out["calls"] = total.calls;
  out["calls_per_s"] = static_cast<double>(total.calls) / seconds;
  out["commands_per_call"] = total.calls > 0 ? static_cast<double>(total.commands_sent) / total.calls : 0.0;
  if (config.worker) {
    out["slots"] = config.inflight;
    out["call_latency"] = Percentiles(total.calls_latency);
    out["completed"] = total.completed;
    out["claims_empty"] = total.claims_empty;
    if (config.verify && total.errors == 0) {
      std::string problem = VerifyLedger(config, total.completed, &out);
      if (!problem.empty()) {
        if (total.errors++ == 0) total.first_error = problem;
      }
    }
  }
  if (!total.first_error.empty()) out["first_error"] = total.first_error;
  if (config.no_create) out["precreate_seconds"] = static_cast<double>(total.precreate_ns) / 1e9;

  if (json) {
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("%d clients x %d in flight, %llu tasks x (%d heartbeats + %d) in %.2f s%s\n", config.clients,
                config.inflight, static_cast<unsigned long long>(total.tasks), config.heartbeats,
                config.no_create ? 2 : 3, seconds, config.no_create ? " (created before the load)" : "");
    std::printf("  %.0f tasks/s, %.0f commands/s\n", out["tasks_per_s"].get<double>(),
                out["commands_per_s"].get<double>());
    std::printf("  per command: p50 %.0f us, p99 %.0f us, p999 %.0f us, max %.0f us\n", all.PercentileUs(0.5),
                all.PercentileUs(0.99), all.PercentileUs(0.999), all.PercentileUs(1.0));
    std::printf("  per task cycle: p50 %.0f us, p99 %.0f us, p999 %.0f us, max %.0f us\n",
                total.cycles.PercentileUs(0.5), total.cycles.PercentileUs(0.99), total.cycles.PercentileUs(0.999),
                total.cycles.PercentileUs(1.0));
    for (int k = 0; k < kKindCount; ++k) {
      if (total.by_kind[k].count() == 0) continue;
      std::printf("  %-10s p50 %.0f us, p99 %.0f us\n", kKindNames[k], total.by_kind[k].PercentileUs(0.5),
                  total.by_kind[k].PercentileUs(0.99));
    }
    std::printf("  baseline rpc `now`: %.0f calls/s, p50 %.0f us, p99 %.0f us\n",
                out["rpc_now"]["calls_per_s"].get<double>(), total.ping.PercentileUs(0.5),
                total.ping.PercentileUs(0.99));
    if (config.worker) {
      std::printf("  worker pattern: %d connection(s) x %d slots; %.0f calls/s, %.1f commands per call; per call: "
                  "p50 %.0f us, p99 %.0f us\n",
                  config.clients, config.inflight, out["calls_per_s"].get<double>(),
                  out["commands_per_call"].get<double>(), total.calls_latency.PercentileUs(0.5),
                  total.calls_latency.PercentileUs(0.99));
      if (out.contains("verified")) {
        std::printf("  ledger: %llu tasks of queue %s done, each claimed once (completes that succeeded: %llu)\n",
                    static_cast<unsigned long long>(out["verified"]["done"].get<uint64_t>()), config.queue.c_str(),
                    static_cast<unsigned long long>(total.completed));
      }
    }
    if (total.busy_retries > 0) std::printf("  busy retries: %llu\n", static_cast<unsigned long long>(total.busy_retries));
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
