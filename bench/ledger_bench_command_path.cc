// taskledger_bench, the command path: durable commands through the group committer and
// through Ledger::Submit, and the CPU a command costs with the fsync taken out, each beside
// its raw RocksDB baseline (bench/ledger_bench.cc lists the suite).
//
//   RawSync                   the raw baselines alone
//   GroupCommitCycles/threads:N  N submitters' task cycles through a GroupCommitter
//   CommandCpu                CPU per command, sync=false, groups of 64
//   SubmitLatency             Ledger::Submit, one submitter, durable
#include <rocksdb/db.h>

#include <algorithm>
#include <atomic>
#include <ctime>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/ledger_bench_support.h"
#include "ledger/group_commit.h"
#include "ledger/keys.h"

namespace taskledger::bench {
namespace {

// The raw baselines alone, as TOOLCHAIN.md measured them (reference; the ratios use the
// baselines measured beside each benchmark).
void BM_RawSync(benchmark::State& state) {
  const double seconds = BySize(RunMode(), 0.3, 2.0, 3.0);
  const size_t puts = BySize<size_t>(RunMode(), 100, 1000, 2000);
  for (auto _ : state) {
    (void)_;
    RawProbe raw;
    Latencies batches, singles;
    const int64_t start = MonotonicNs();
    Report(state, "raw.batch100_sync.values_per_s", raw.Batch100ValuesPerSecond(seconds, &batches));
    for (size_t i = 0; i < puts; ++i) singles.Add(raw.PutSyncNs());
    state.SetIterationTime((MonotonicNs() - start) / 1e9);
    Report(state, "raw.batch100_sync.batch_p50_us", batches.PercentileUs(0.5));
    Report(state, "raw.put_sync.p50_us", singles.PercentileUs(0.5));
    Report(state, "raw.put_sync.p99_us", singles.PercentileUs(0.99));
  }
}

// ---- Durable command throughput through the group committer ----

// Submits one batch through the committer and waits until it is durable.
Outcome SubmitThrough(GroupCommitter& committer, const Command& command) {
  std::promise<std::vector<Outcome>> done;
  std::future<std::vector<Outcome>> outcomes = done.get_future();
  for (;;) {
    const Status queued =
        committer.Enqueue({command}, [&done](std::vector<Outcome> o) { done.set_value(std::move(o)); });
    if (queued.ok()) break;
    if (queued.code() != Code::kBusy) return {queued, {}};
    std::this_thread::yield();
  }
  return std::move(outcomes.get().front());
}

// N submitter threads, each running claim --next -> heartbeat x2 -> complete cycles, one
// command at a time (as a client of the server does), for a fixed time.
void BM_GroupCommitCycles(benchmark::State& state, int threads) {
  const double seconds = BySize(RunMode(), 0.3, 3.0, 5.0);
  const size_t ready = BySize<size_t>(RunMode(), 3000, 20'000, 50'000);
  for (auto _ : state) {
    (void)_;
    ScratchDir dir("group-commit");
    SystemClock clock;
    std::unique_ptr<Ledger> ledger = OpenOrDie(dir.Sub("ledger"), &clock);
    (void)CreateTasks(ledger.get(), ready, "gc", "", nullptr);
    RawProbe raw;
    const double raw_before = raw.Batch100ValuesPerSecond(seconds / 2);
    GroupCommitter committer(ledger.get(), GroupCommitOptions{});
    std::atomic<uint64_t> commands{0}, failures{0};
    std::atomic<bool> ran_out{false};
    std::atomic<int> waiting{threads};
    int64_t end_ns = 0;
    std::atomic<bool> go{false};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        const std::string worker = "w" + std::to_string(t);
        waiting.fetch_sub(1);
        while (!go.load()) std::this_thread::yield();
        uint64_t mine = 0;
        while (MonotonicNs() < end_ns) {
          Command claim;
          claim.kind = CommandKind::kClaim;
          claim.next = true;
          claim.queue = "gc";
          claim.actor = worker;
          Outcome claimed = SubmitThrough(committer, claim);
          if (claimed.status.IsNotFound()) {
            ran_out = true;
            break;
          }
          if (!claimed.status.ok()) {
            failures++;
            break;
          }
          ++mine;
          for (CommandKind kind : {CommandKind::kHeartbeat, CommandKind::kHeartbeat, CommandKind::kComplete}) {
            Command holder;
            holder.kind = kind;
            holder.task_id = claimed.reply.task_id;
            holder.actor = worker;
            holder.token = claimed.reply.token;
            if (!SubmitThrough(committer, holder).status.ok()) failures++;
            else ++mine;
          }
        }
        commands += mine;
      });
    }
    while (waiting.load() > 0) std::this_thread::yield();
    const int64_t start = MonotonicNs();
    end_ns = start + static_cast<int64_t>(seconds * 1e9);
    go = true;
    for (std::thread& w : workers) w.join();
    const double elapsed = (MonotonicNs() - start) / 1e9;
    committer.Stop();
    const double raw_after = raw.Batch100ValuesPerSecond(seconds / 2);
    if (failures > 0) return state.SkipWithError("a command of the cycle failed");
    state.SetIterationTime(elapsed);
    const std::string prefix = "group_commit.threads_" + std::to_string(threads);
    Report(state, prefix + ".commands_per_s", static_cast<double>(commands) / elapsed);
    Report(state, prefix + ".commands_per_group",
           static_cast<double>(committer.commands_committed()) / std::max<uint64_t>(1, committer.groups_committed()));
    Report(state, prefix + ".groups_per_s", static_cast<double>(committer.groups_committed()) / elapsed);
    Report(state, prefix + ".raw_batch100_values_per_s", (raw_before + raw_after) / 2);
    if (ran_out) state.SetLabel("ran out of ready tasks before the time was up");
  }
}

// ---- CPU per command (no fsync) ----

int64_t ThreadCpuNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// What the writer thread spends per command with the fsync taken out (sync=false): the
// ceiling of group commit once groups are large. Groups of 64 commands, in waves of claim
// --next, heartbeat, heartbeat, complete. Baseline, same run and thread: raw WriteBatch of
// 100 x 200-byte values, sync=false, CPU per value (a command writes ~8 keys).
void BM_CommandCpu(benchmark::State& state) {
  const size_t ready = BySize<size_t>(RunMode(), 3000, 20'000, 50'000);
  constexpr size_t kGroup = 64;
  for (auto _ : state) {
    (void)_;
    ScratchDir dir("cpu");
    SystemClock clock;
    std::unique_ptr<Ledger> ledger = OpenOrDie(dir.Sub("ledger"), &clock, /*sync=*/false);
    (void)CreateTasks(ledger.get(), ready, "cpu", "", nullptr);
    uint64_t commands = 0;
    const int64_t wall0 = MonotonicNs(), cpu0 = ThreadCpuNs();
    for (size_t wave = 0; wave + kGroup <= ready; wave += kGroup) {
      std::vector<Command> group(kGroup);
      for (Command& c : group) {
        c.kind = CommandKind::kClaim;
        c.next = true;
        c.queue = "cpu";
        c.actor = "w";
      }
      const std::vector<Outcome> claimed = ledger->SubmitGroup(group);
      for (CommandKind kind : {CommandKind::kHeartbeat, CommandKind::kHeartbeat, CommandKind::kComplete}) {
        for (size_t i = 0; i < kGroup; ++i) {
          group[i] = Command{};
          group[i].kind = kind;
          group[i].task_id = claimed[i].reply.task_id;
          group[i].token = claimed[i].reply.token;
          group[i].actor = "w";
        }
        for (const Outcome& o : ledger->SubmitGroup(group)) {
          if (!o.status.ok()) return state.SkipWithError(("a command failed: " + o.status.ToString()).c_str());
        }
      }
      commands += 4 * kGroup;
    }
    const double cpu_us = (ThreadCpuNs() - cpu0) / 1e3 / static_cast<double>(commands);
    const double wall_s = (MonotonicNs() - wall0) / 1e9;
    // The baseline: raw batches without sync, same thread.
    const std::unique_ptr<rocksdb::DB> raw = OpenRaw(dir.Sub("raw"));
    rocksdb::WriteOptions no_sync;
    const std::string value(kRawValueBytes, 'v');
    uint64_t values = 0;
    const int64_t raw_cpu0 = ThreadCpuNs();
    for (uint64_t seq = 0; values < commands * 8;) {
      rocksdb::WriteBatch batch;
      for (size_t i = 0; i < kRawBatchValues; ++i) batch.Put(keys::Seq(++seq), value);
      if (!raw->Write(no_sync, &batch).ok()) return state.SkipWithError("raw write failed");
      values += kRawBatchValues;
    }
    const double raw_value_cpu_us = (ThreadCpuNs() - raw_cpu0) / 1e3 / static_cast<double>(values);
    state.SetIterationTime(wall_s);
    Report(state, "cpu.command_us", cpu_us);
    Report(state, "cpu.commands_per_s_unsynced", static_cast<double>(commands) / wall_s);
    Report(state, "cpu.raw_value_us", raw_value_cpu_us);
    Report(state, "cpu.raw_8_values_us", 8 * raw_value_cpu_us);
  }
}

// ---- Single-submitter durable latency ----

void BM_SubmitLatency(benchmark::State& state) {
  const size_t cycles = BySize<size_t>(RunMode(), 50, 500, 500);
  for (auto _ : state) {
    (void)_;
    ScratchDir dir("latency");
    SystemClock clock;
    std::unique_ptr<Ledger> ledger = OpenOrDie(dir.Sub("ledger"), &clock);
    (void)CreateTasks(ledger.get(), cycles, "lat", "", nullptr);
    RawProbe raw;
    Latencies all, claims, heartbeats, completes, raw_puts;
    const auto timed = [&](const Command& c, Latencies* kind) {
      raw_puts.Add(raw.PutSyncNs());  // the baseline, interleaved: same disk, same moment
      const int64_t t0 = MonotonicNs();
      Outcome o = ledger->Submit(c);
      const int64_t ns = MonotonicNs() - t0;
      all.Add(ns);
      kind->Add(ns);
      return o;
    };
    const int64_t start = MonotonicNs();
    for (size_t i = 0; i < cycles; ++i) {
      Command claim;
      claim.kind = CommandKind::kClaim;
      claim.next = true;
      claim.queue = "lat";
      claim.actor = "w";
      Outcome claimed = timed(claim, &claims);
      if (!claimed.status.ok()) return state.SkipWithError(claimed.status.message().c_str());
      Command holder;
      holder.task_id = claimed.reply.task_id;
      holder.actor = "w";
      holder.token = claimed.reply.token;
      holder.kind = CommandKind::kHeartbeat;
      if (!timed(holder, &heartbeats).status.ok() || !timed(holder, &heartbeats).status.ok()) {
        return state.SkipWithError("heartbeat failed");
      }
      holder.kind = CommandKind::kComplete;
      if (!timed(holder, &completes).status.ok()) return state.SkipWithError("complete failed");
    }
    state.SetIterationTime((MonotonicNs() - start) / 1e9);
    Report(state, "submit.all.p50_us", all.PercentileUs(0.5));
    Report(state, "submit.all.p99_us", all.PercentileUs(0.99));
    Report(state, "submit.raw_put_sync.p50_us", raw_puts.PercentileUs(0.5));
    Report(state, "submit.raw_put_sync.p99_us", raw_puts.PercentileUs(0.99));
    Report(state, "submit.claim_next.p50_us", claims.PercentileUs(0.5));
    Report(state, "submit.heartbeat.p50_us", heartbeats.PercentileUs(0.5));
    Report(state, "submit.complete.p50_us", completes.PercentileUs(0.5));
  }
}

}  // namespace

void RegisterCommandPathBenchmarks() {
  RegisterOnce("RawSync", BM_RawSync);
  for (int threads : {1, 8, 64}) {
    RegisterOnce("GroupCommitCycles/threads:" + std::to_string(threads),
                 [threads](benchmark::State& s) { BM_GroupCommitCycles(s, threads); });
  }
  RegisterOnce("CommandCpu", BM_CommandCpu);
  RegisterOnce("SubmitLatency", BM_SubmitLatency);
}

}  // namespace taskledger::bench
