// jetstream_bench: what one append to a partition's replicated log costs (docs/scale-out.md,
// docs/performance.md "Scale-out"), beside a raw RocksDB sync put measured in the same run.
//
//   JetStreamAppend/rN/partitions:P  P writers, each appending 256-byte groups to its own
//                                    partition's stream (JetStreamLog::Append, one at a
//                                    time, as a partition writer without pipelining does)
//   RawPutSync                       one 200-byte RocksDB put with sync=true at a time,
//                                    before and after the appends (the machine is noisy)
//   Commands/single-node             64 clients, each creating one task at a time through a
//                                    GroupCommitter on one ledger (sync=true): the
//                                    single-node figure of the same run
//   Failover/rN                      two servers' seats (PartitionSeat) at one partition,
//                                    stepping on their own threads with a 500 ms writer
//                                    lease: the writer freezes (stops stepping), and the
//                                    time until the other server has accepted a command
//                                    is measured; then the roles swap
//   Commands/rN/partitions:P         the same 64 clients spread over P partitions, each a
//                                    PartitionWriter (its groups appended to its stream
//                                    before they are written locally; the local ledger
//                                    unsynced) behind its own GroupCommitter
//
// The servers come from the environment (bench/cluster_append.sh starts them):
// TASKLEDGER_NATS_R1 names one server, TASKLEDGER_NATS_R3 three clustered ones, each a
// comma-separated list of nats:// URLs. A replica count whose variable is unset is skipped.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <thread>

#include <atomic>
#include <future>

#include "bench/ledger_bench_support.h"
#include "ledger/group_commit.h"
#include "ledger/jetstream_log.h"
#include "ledger/partition_seat.h"
#include "ledger/partition_writer.h"
#include "ledger/writer_lease.h"

namespace taskledger::bench {
namespace {

std::vector<std::string> Servers(const char* variable) {
  std::vector<std::string> servers;
  const char* list = std::getenv(variable);
  if (list == nullptr) return servers;
  std::stringstream in(list);
  for (std::string url; std::getline(in, url, ',');) {
    if (!url.empty()) servers.push_back(url);
  }
  return servers;
}

void BM_RawPutSync(benchmark::State& state, const std::string& when) {
  const double seconds = BySize(RunMode(), 0.3, 3.0, 10.0);
  for (auto _ : state) {
    (void)_;
    RawProbe raw;
    Latencies puts;
    const int64_t start = MonotonicNs();
    while (MonotonicNs() - start < seconds * 1e9) puts.Add(raw.PutSyncNs());
    const double elapsed = (MonotonicNs() - start) / 1e9;
    state.SetIterationTime(elapsed);
    Report(state, "raw.put_sync." + when + ".per_s", puts.count() / elapsed);
    Report(state, "raw.put_sync." + when + ".p50_us", puts.PercentileUs(0.5));
    Report(state, "raw.put_sync." + when + ".p99_us", puts.PercentileUs(0.99));
  }
}

// After threads that each timed operations from `start` (latencies[i], or errors[i] for
// the one that stopped them): the first error skips the benchmark; otherwise the rate
// (NAME.RATE) and the p50 and p99 of all of them are reported.
void ReportTimedThreads(benchmark::State& state, const std::string& name, const std::string& rate, int64_t start,
                        std::vector<Latencies>& latencies, const std::vector<std::string>& errors) {
  const double elapsed = (MonotonicNs() - start) / 1e9;
  state.SetIterationTime(elapsed);
  Latencies all;
  for (size_t i = 0; i < latencies.size(); ++i) {
    if (!errors[i].empty()) {
      state.SkipWithError(errors[i].c_str());
      return;
    }
    all.Append(latencies[i]);
  }
  Report(state, name + "." + rate, all.count() / elapsed);
  Report(state, name + ".p50_us", all.PercentileUs(0.5));
  Report(state, name + ".p99_us", all.PercentileUs(0.99));
}

void BM_JetStreamAppend(benchmark::State& state, const std::vector<std::string>& servers, int replicas,
                        int partitions) {
  const double seconds = BySize(RunMode(), 0.3, 3.0, 10.0);
  const std::string name = "jetstream.r" + std::to_string(replicas) + ".p" + std::to_string(partitions);
  // Each run appends to fresh streams: a stream's first append costs what the others do.
  static int run = 0;
  ++run;
  for (auto _ : state) {
    (void)_;
    std::vector<std::unique_ptr<JetStreamLog>> logs;
    for (int p = 0; p < partitions; ++p) {
      JetStreamLogOptions options;
      options.servers = servers;
      options.replicas = replicas;
      options.stream = "BENCH_" + std::to_string(run) + "_P" + std::to_string(p);
      options.subject = "bench." + std::to_string(run) + ".p" + std::to_string(p);
      Result<std::unique_ptr<JetStreamLog>> log = JetStreamLog::Open(options);
      if (!log.ok()) {
        state.SkipWithError(log.status().ToString().c_str());
        return;
      }
      logs.push_back(std::move(log).value());
    }
    const std::string group(256, 'g');
    std::vector<Latencies> latencies(partitions);
    std::vector<std::string> errors(partitions);
    const int64_t start = MonotonicNs();
    std::vector<std::thread> writers;
    for (int p = 0; p < partitions; ++p) {
      writers.emplace_back([&, p] {
        uint64_t last = 1;
        while (MonotonicNs() - start < seconds * 1e9) {
          const int64_t asked = MonotonicNs();
          Result<uint64_t> seq = logs[p]->Append(group, last);
          if (!seq.ok()) {
            errors[p] = seq.status().ToString();
            return;
          }
          latencies[p].Add(MonotonicNs() - asked);
          last = *seq;
        }
      });
    }
    for (std::thread& writer : writers) writer.join();
    ReportTimedThreads(state, name, "appends_per_s", start, latencies, errors);
  }
}

constexpr int kCommandClients = 64;

// kCommandClients threads, client i creating tasks one at a time through committers[i % P],
// for the mode's time. Reports commands/s and the latency of each.
void RunCommandClients(benchmark::State& state, const std::string& name,
                       const std::vector<GroupCommitter*>& committers) {
  const double seconds = BySize(RunMode(), 0.3, 3.0, 10.0);
  std::vector<Latencies> latencies(kCommandClients);
  std::vector<std::string> errors(kCommandClients);
  const int64_t start = MonotonicNs();
  std::vector<std::thread> clients;
  for (int c = 0; c < kCommandClients; ++c) {
    clients.emplace_back([&, c] {
      GroupCommitter* committer = committers[c % committers.size()];
      for (int i = 0; MonotonicNs() - start < seconds * 1e9; ++i) {
        Command create;
        create.kind = CommandKind::kCreate;
        create.task_id = "c" + std::to_string(c) + "-" + std::to_string(i);
        create.spec.title = "bench";
        std::promise<Status> done;
        const int64_t asked = MonotonicNs();
        Status queued = committer->Enqueue(
            {std::move(create)}, [&done](std::vector<Outcome> outcomes) { done.set_value(outcomes.front().status); });
        const Status status = queued.ok() ? done.get_future().get() : queued;
        if (!status.ok()) {
          errors[c] = status.ToString();
          return;
        }
        latencies[c].Add(MonotonicNs() - asked);
      }
    });
  }
  for (std::thread& client : clients) client.join();
  ReportTimedThreads(state, name, "commands_per_s", start, latencies, errors);
}

void BM_SingleNodeCommands(benchmark::State& state) {
  for (auto _ : state) {
    (void)_;
    ScratchDir dir("taskledger-bench-single");
    SystemClock clock;
    LedgerOptions options;
    options.path = dir.Sub("ledger");
    Result<std::unique_ptr<Ledger>> ledger = Ledger::Open(options, &clock);
    if (!ledger.ok()) {
      state.SkipWithError(ledger.status().ToString().c_str());
      return;
    }
    GroupCommitter committer(ledger->get(), GroupCommitOptions{});
    RunCommandClients(state, "commands.single_node", {&committer});
  }
}

void BM_PartitionCommands(benchmark::State& state, const std::vector<std::string>& servers, int replicas,
                          int partitions) {
  static int run = 0;
  ++run;
  for (auto _ : state) {
    (void)_;
    ScratchDir dir("taskledger-bench-partitions");
    SystemClock wall;
    // The writers lead on fresh streams with a lease that outlasts the run: renewals are
    // off the command path (PartitionSeat renews at half the lease, on its own thread).
    ManualClock lease_clock(0);
    std::vector<std::unique_ptr<JetStreamLog>> logs;
    std::vector<std::unique_ptr<PartitionWriter>> writers;
    std::vector<std::unique_ptr<GroupCommitter>> committers;
    std::vector<GroupCommitter*> targets;
    for (int p = 0; p < partitions; ++p) {
      JetStreamLogOptions log_options;
      log_options.servers = servers;
      log_options.replicas = replicas;
      log_options.stream = "BENCH_CMD_" + std::to_string(run) + "_P" + std::to_string(p);
      log_options.subject = "bench.cmd." + std::to_string(run) + ".p" + std::to_string(p);
      Result<std::unique_ptr<JetStreamLog>> log = JetStreamLog::Open(log_options);
      if (!log.ok()) {
        state.SkipWithError(log.status().ToString().c_str());
        return;
      }
      LedgerOptions local;
      local.path = dir.Sub("p" + std::to_string(p));
      local.sync = false;  // the stream is the durable copy
      Result<std::unique_ptr<PartitionWriter>> writer = PartitionWriter::Open(
          local, &wall, log->get(), &lease_clock, PartitionWriterOptions{static_cast<uint32_t>(p), "bench"});
      Status led = writer.ok() ? (*writer)->Lead(1, int64_t{1} << 62) : writer.status();
      if (!led.ok()) {
        state.SkipWithError(led.ToString().c_str());
        return;
      }
      logs.push_back(std::move(*log));
      writers.push_back(std::move(*writer));
      committers.push_back(std::make_unique<GroupCommitter>(writers.back().get(), GroupCommitOptions{}));
      targets.push_back(committers.back().get());
    }
    RunCommandClients(state, "commands.r" + std::to_string(replicas) + ".p" + std::to_string(partitions), targets);
    committers.clear();  // before the writers they write through
  }
}

// One server's part in the failover benchmark: its clients of the log and the leases, its
// partition writer and its seat, and the thread that steps the seat unless frozen.
struct FailoverServer {
  std::unique_ptr<JetStreamLog> log;
  std::unique_ptr<WriterLeases> leases;
  std::unique_ptr<PartitionWriter> writer;
  std::unique_ptr<PartitionSeat> seat;
  std::atomic<bool> frozen{false};
  std::atomic<bool> holding{false};  // the seat's, as of its last step (set by its thread)
  std::string error;  // the seat's last failed step, for the report
};

void BM_Failover(benchmark::State& state, const std::vector<std::string>& servers, int replicas) {
  constexpr int64_t kTtlNs = 500'000'000;
  const int rounds = static_cast<int>(BySize(RunMode(), 1, 6, 20));
  static int run = 0;
  ++run;
  const std::string name = "failover.r" + std::to_string(replicas);
  for (auto _ : state) {
    (void)_;
    ScratchDir dir("taskledger-bench-failover");
    SystemClock wall;
    MonotonicClock monotonic;
    FailoverServer parts[2];
    for (int i = 0; i < 2; ++i) {
      JetStreamLogOptions log_options;
      log_options.servers = servers;
      log_options.replicas = replicas;
      log_options.stream = "BENCH_FAILOVER_" + std::to_string(run);
      log_options.subject = "bench.failover." + std::to_string(run);
      Result<std::unique_ptr<JetStreamLog>> log = JetStreamLog::Open(log_options);
      WriterLeaseOptions lease_options;
      lease_options.servers = servers;
      lease_options.replicas = replicas;
      lease_options.stream = "BENCH_WRITERS_" + std::to_string(run);
      lease_options.subject_prefix = "bench.writers." + std::to_string(run);
      Result<std::unique_ptr<WriterLeases>> leases = WriterLeases::Open(lease_options, monotonic);
      Status opened = log.ok() ? leases.status() : log.status();
      if (!opened.ok()) {
        state.SkipWithError(opened.ToString().c_str());
        return;
      }
      LedgerOptions local;
      local.path = dir.Sub("s" + std::to_string(i));
      local.sync = false;
      const std::string server = "s" + std::to_string(i);
      Result<std::unique_ptr<PartitionWriter>> writer =
          PartitionWriter::Open(local, &wall, log->get(), &monotonic, PartitionWriterOptions{0, server});
      if (!writer.ok()) {
        state.SkipWithError(writer.status().ToString().c_str());
        return;
      }
      parts[i].log = std::move(*log);
      parts[i].leases = std::move(*leases);
      parts[i].writer = std::move(*writer);
      parts[i].seat = std::make_unique<PartitionSeat>(parts[i].leases.get(), parts[i].writer.get(), &monotonic, 0,
                                                      server, kTtlNs);
    }
    std::atomic<bool> done{false};
    std::vector<std::thread> steppers;
    for (FailoverServer& part : parts) {
      steppers.emplace_back([&part, &done, &monotonic] {
        while (!done.load()) {
          int64_t next_ns = monotonic.NowNs() + kTtlNs / 10;
          if (!part.frozen.load()) {
            Result<int64_t> next = part.seat->Step();
            if (next.ok()) next_ns = *next;
            if (!next.ok()) part.error = next.status().ToString();
            part.holding = part.seat->holding();
          }
          while (!done.load() && monotonic.NowNs() < next_ns) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
      });
    }
    // Creates a task through server i; true once accepted.
    int tasks = 0;
    const auto create = [&](int i) {
      Command command;
      command.kind = CommandKind::kCreate;
      command.task_id = "t" + std::to_string(++tasks);
      command.spec.title = "bench";
      return parts[i].writer->Submit({command}).front().status.ok();
    };
    Latencies failovers;
    std::string error;
    const int64_t start = MonotonicNs();
    int holder = -1;
    for (int64_t waited = MonotonicNs(); holder == -1; std::this_thread::sleep_for(std::chrono::milliseconds(1))) {
      for (int i = 0; i < 2; ++i) {
        if (parts[i].writer->writing()) holder = i;
      }
      if (MonotonicNs() - waited > 20 * kTtlNs) error = "no server took the partition";
      if (!error.empty()) break;
    }
    for (int round = 0; error.empty() && round < rounds; ++round) {
      if (!create(holder)) {
        error = "the holder refused a command before it froze";
        break;
      }
      // The holder freezes; the other takes over once it may.
      parts[holder].frozen = true;
      const int64_t lost = MonotonicNs();
      const int next = 1 - holder;
      while (!create(next)) {
        if (MonotonicNs() - lost > 20 * kTtlNs) {
          error = "no takeover within 20 ttls";
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      failovers.Add(MonotonicNs() - lost);
      // The old holder wakes, finds its lease taken, and follows.
      parts[holder].frozen = false;
      while (error.empty() && parts[holder].holding.load()) {
        if (MonotonicNs() - lost > 40 * kTtlNs) error = "the woken holder did not step down";
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      holder = next;
    }
    done = true;
    for (std::thread& stepper : steppers) stepper.join();
    state.SetIterationTime((MonotonicNs() - start) / 1e9);
    if (!error.empty()) {
      error += " (seats: " + parts[0].error + " / " + parts[1].error + ")";
      state.SkipWithError(error.c_str());
      return;
    }
    Report(state, name + ".ttl_ms", kTtlNs / 1e6);
    Report(state, name + ".p50_ms", failovers.PercentileUs(0.5) / 1e3);
    Report(state, name + ".max_ms", failovers.PercentileUs(1.0) / 1e3);
    Report(state, name + ".rounds", failovers.count());
  }
}

// A table of every figure named STEM.RATE, with its ratio to `baseline` and its p50 and p99.
void PrintRates(const Figures& figures, const char* what, const std::string& rate, const char* unit,
                const char* ratio, double baseline) {
  std::printf("%-36s %12s %12s %10s %10s\n", what, unit, ratio, "p50 us", "p99 us");
  const std::string suffix = "." + rate;
  for (const std::string& name : figures.order()) {
    if (name.size() < suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) continue;
    const std::string stem = name.substr(0, name.size() - suffix.size());
    const double value = figures.Get(name);
    std::printf("%-36s %12.0f %12.2f %10.0f %10.0f\n", stem.c_str(), value, baseline > 0 ? value / baseline : 0,
                figures.Get(stem + ".p50_us"), figures.Get(stem + ".p99_us"));
  }
}

// Each append rate beside the raw sync put rate (the mean of before and after), and the
// ratio; then every figure.
void PrintAppendSummary() {
  const Figures& figures = RunFigures();
  const double raw = (figures.Get("raw.put_sync.before.per_s") + figures.Get("raw.put_sync.after.per_s")) / 2;
  std::printf("\n== jetstream_bench summary (mode %s) ==\n", ModeName(RunMode()));
  std::printf("raw RocksDB sync puts/s (mean of before and after): %.0f\n", raw);
  PrintRates(figures, "streams", "appends_per_s", "appends/s", "x raw put", raw);
  for (int replicas : {1, 3}) {
    const std::string stem = "failover.r" + std::to_string(replicas);
    if (!figures.Has(stem + ".p50_ms")) continue;
    std::printf("\n%s: writer frozen -> the other server accepting commands, ttl %.0f ms, %.0f rounds: p50 %.0f ms, "
                "max %.0f ms\n",
                stem.c_str(), figures.Get(stem + ".ttl_ms"), figures.Get(stem + ".rounds"),
                figures.Get(stem + ".p50_ms"), figures.Get(stem + ".max_ms"));
  }
  // Commands through partitions beside one node's, all with 64 clients.
  const double single = figures.Get("commands.single_node.commands_per_s");
  std::printf("\n%d clients, one create at a time each\n", kCommandClients);
  PrintRates(figures, "commands", "commands_per_s", "commands/s", "x one node", single);
}

}  // namespace
}  // namespace taskledger::bench

int main(int argc, char** argv) {
  using namespace taskledger::bench;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  RegisterOnce("RawPutSync/before", [](benchmark::State& s) { BM_RawPutSync(s, "before"); });
  for (int replicas : {1, 3}) {
    const std::vector<std::string> servers = Servers(replicas == 1 ? "TASKLEDGER_NATS_R1" : "TASKLEDGER_NATS_R3");
    if (servers.empty()) continue;
    for (int partitions : {1, 2, 4}) {
      RegisterOnce("JetStreamAppend/r" + std::to_string(replicas) + "/partitions:" + std::to_string(partitions),
                   [=](benchmark::State& s) { BM_JetStreamAppend(s, servers, replicas, partitions); });
    }
  }
  RegisterOnce("Commands/single-node", [](benchmark::State& s) { BM_SingleNodeCommands(s); });
  for (int replicas : {1, 3}) {
    const std::vector<std::string> servers = Servers(replicas == 1 ? "TASKLEDGER_NATS_R1" : "TASKLEDGER_NATS_R3");
    if (servers.empty()) continue;
    for (int partitions : {1, 2, 4}) {
      RegisterOnce("Commands/r" + std::to_string(replicas) + "/partitions:" + std::to_string(partitions),
                   [=](benchmark::State& s) { BM_PartitionCommands(s, servers, replicas, partitions); });
    }
  }
  for (int replicas : {1, 3}) {
    const std::vector<std::string> servers = Servers(replicas == 1 ? "TASKLEDGER_NATS_R1" : "TASKLEDGER_NATS_R3");
    if (servers.empty()) continue;
    RegisterOnce("Failover/r" + std::to_string(replicas),
                 [=](benchmark::State& s) { BM_Failover(s, servers, replicas); });
  }
  RegisterOnce("RawPutSync/after", [](benchmark::State& s) { BM_RawPutSync(s, "after"); });
  benchmark::RunSpecifiedBenchmarks();
  PrintAppendSummary();
  benchmark::Shutdown();
  return 0;
}
