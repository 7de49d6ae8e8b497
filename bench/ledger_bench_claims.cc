// taskledger_bench, claims: what claim --next costs against the backlog of ready tasks, as
// claims accumulate (churn), and after mass lapses, durable beside a raw sync Put
// interleaved, or CPU only (sync=false) where the name says Cpu (bench/ledger_bench.cc lists
// the suite).
//
//   ClaimBacklog/ready:N          claims at N ready tasks, durable then CPU only
//   ClaimChurnCpu/claims:N        claims in windows after 0, N/4 and N claims
//   ClaimLapsed/lapsed:N/live:M   claims after N leases lapsed beside M live ones
#include <rocksdb/perf_level.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bench/ledger_bench_support.h"

namespace taskledger::bench {
namespace {

// ---- Claim cost vs backlog ----

// Times `count` claim --next commands one by one. Returns false on a refusal.
// With `raw`, a raw sync Put before each claim: the baseline, interleaved.
bool TimeClaims(Ledger* ledger, size_t count, Latencies* latencies, SkipCounts* skipped, RawProbe* raw = nullptr,
                Latencies* raw_latencies = nullptr) {
  Command claim;
  claim.kind = CommandKind::kClaim;
  claim.next = true;
  claim.actor = "claimer";
  ResetRocksCounters();
  for (size_t i = 0; i < count; ++i) {
    if (raw != nullptr) {
      rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
      raw_latencies->Add(raw->PutSyncNs());
      rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
    }
    const int64_t t0 = MonotonicNs();
    const Outcome o = ledger->Submit(claim);
    latencies->Add(MonotonicNs() - t0);
    if (!o.status.ok()) {
      std::fprintf(stderr, "bench: claim %zu: %s\n", i, o.status.message().c_str());
      return false;
    }
  }
  *skipped = ReadRocksCounters();
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  return true;
}

// `ready` claimable tasks; claims --next durable (sync=true), then as many more with
// sync=false, which measures the CPU and index cost alone (labelled cpu).
// The same number of claims at every backlog: each claim's cost grows with the claims made
// before it (ClaimChurnCpu), so only equal counts compare backlogs.
void BM_ClaimBacklog(benchmark::State& state, size_t ready) {
  const size_t claims = BySize<size_t>(RunMode(), 50, 300, 500);
  for (auto _ : state) {
    (void)_;
    ScratchDir dir("claim");
    ManualClock clock(SystemClock().NowNs());
    {
      std::unique_ptr<Ledger> ledger = OpenOrDie(dir.Sub("ledger"), &clock);
      (void)CreateTasks(ledger.get(), ready, "", "", &clock);
    }
    const std::string prefix = "claim.ready_" + SizeName(ready);
    const int64_t start = MonotonicNs();
    Latencies durable, cpu, raw_puts;
    SkipCounts skipped_durable, skipped_cpu;
    {
      RawProbe raw;
      std::unique_ptr<Ledger> ledger = OpenOrDie(dir.Sub("ledger"), &clock, /*sync=*/true);
      if (!TimeClaims(ledger.get(), claims, &durable, &skipped_durable, &raw, &raw_puts)) {
        return state.SkipWithError("claim failed");
      }
    }
    {
      std::unique_ptr<Ledger> ledger = OpenOrDie(dir.Sub("ledger"), &clock, /*sync=*/false);
      if (!TimeClaims(ledger.get(), claims, &cpu, &skipped_cpu)) return state.SkipWithError("claim failed");
    }
    state.SetIterationTime((MonotonicNs() - start) / 1e9);
    Report(state, prefix + ".p50_us", durable.PercentileUs(0.5));
    Report(state, prefix + ".p99_us", durable.PercentileUs(0.99));
    Report(state, prefix + ".raw_put_p50_us", raw_puts.PercentileUs(0.5));
    Report(state, prefix + ".p50_over_raw_put", durable.PercentileUs(0.5) / raw_puts.PercentileUs(0.5));
    Report(state, prefix + ".cpu_p50_us", cpu.PercentileUs(0.5));
    Report(state, prefix + ".cpu_p99_us", cpu.PercentileUs(0.99));
    Report(state, prefix + ".deletes_skipped_per_claim",
           static_cast<double>(skipped_durable.deletes + skipped_cpu.deletes) / static_cast<double>(2 * claims));
  }
}

// ---- Claim cost as claims accumulate ----

// Every claim --next, complete and create of the churn is made by this worker.
constexpr const char* kChurner = "churner";
// Claim cycles per group in the untimed part of the churn.
constexpr size_t kChurnGroupCycles = 256;

Command ChurnClaim() {
  Command claim;
  claim.kind = CommandKind::kClaim;
  claim.next = true;
  claim.actor = kChurner;
  return claim;
}

Command ChurnComplete(const Outcome& claimed) {
  Command complete;
  complete.kind = CommandKind::kComplete;
  complete.task_id = claimed.reply.task_id;
  complete.actor = kChurner;
  complete.token = claimed.reply.token;
  return complete;
}

// The new ready task that replaces a completed one.
Command ChurnCreate() {
  Command create;
  create.kind = CommandKind::kCreate;
  create.spec.title = "bench task";
  return create;
}

// A timed window after `done` claims: `window` claim --next commands, each timed alone with
// its reads' skip counts; each claimed task is then completed and replaced, untimed and
// uncounted. Reports claim.churn_after_<done>.*. False if a command was refused.
bool MeasureChurnWindow(benchmark::State& state, Ledger* ledger, size_t window, size_t done) {
  Latencies window_latencies;
  SkipCounts skipped;
  ResetRocksCounters();
  for (size_t i = 0; i < window; ++i) {
    const Command claim = ChurnClaim();
    const int64_t t0 = MonotonicNs();
    const Outcome o = ledger->Submit(claim);
    window_latencies.Add(MonotonicNs() - t0);
    if (!o.status.ok()) return false;
    rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
    for (const Outcome& done_or_created : ledger->SubmitGroup({ChurnComplete(o), ChurnCreate()})) {
      if (!done_or_created.status.ok()) return false;
    }
    rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
  }
  skipped = ReadRocksCounters();
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
  const std::string prefix = "claim.churn_after_" + SizeName(done);
  Report(state, prefix + ".cpu_p50_us", window_latencies.PercentileUs(0.5));
  Report(state, prefix + ".deletes_skipped_per_claim", static_cast<double>(skipped.deletes) / window);
  return true;
}

// `cycles` untimed claim cycles in groups (claims, then their completes and replacing
// creates), as a busy server's are. False if a command was refused.
bool ChurnUntimed(Ledger* ledger, size_t cycles) {
  std::vector<Command> group;
  for (size_t done = 0; done < cycles; done += kChurnGroupCycles) {
    group.assign(std::min(kChurnGroupCycles, cycles - done), ChurnClaim());
    const std::vector<Outcome> claimed = ledger->SubmitGroup(group);
    group.clear();
    for (const Outcome& o : claimed) {
      if (!o.status.ok()) return false;
      group.push_back(ChurnComplete(o));
      group.push_back(ChurnCreate());
    }
    for (const Outcome& o : ledger->SubmitGroup(group)) {
      if (!o.status.ok()) return false;
    }
  }
  return true;
}

// Claim cost as claims accumulate: a backlog kept at 1k ready tasks (each claimed task is
// completed and replaced by a new one), claim --next timed in windows after 0, 1/4 of and
// all of `total` claims. sync=false: this measures the CPU and index cost alone.
void BM_ClaimChurnCpu(benchmark::State& state, size_t total) {
  const size_t backlog = 1000, window = BySize<size_t>(RunMode(), 100, 300, 500);
  for (auto _ : state) {
    (void)_;
    ScratchDir dir("churn");
    ManualClock clock(SystemClock().NowNs());
    std::unique_ptr<Ledger> ledger = OpenOrDie(dir.Sub("ledger"), &clock, /*sync=*/false);
    (void)CreateTasks(ledger.get(), backlog, "", "", &clock);
    const int64_t start = MonotonicNs();
    Ledger* churned = ledger.get();
    if (!MeasureChurnWindow(state, churned, window, 0) || !ChurnUntimed(churned, total / 4 - window) ||
        !MeasureChurnWindow(state, churned, window, total / 4) ||
        !ChurnUntimed(churned, total - total / 4 - window) || !MeasureChurnWindow(state, churned, window, total)) {
      return state.SkipWithError("a claim cycle failed");
    }
    state.SetIterationTime((MonotonicNs() - start) / 1e9);
  }
}

// ---- Claims after mass lapses ----

// `lapsed` leases that lapsed (and whose backoff ran out) beside `live` live ones; then
// claims --next, durable. The first claim promotes the due timers.
void BM_ClaimLapsed(benchmark::State& state, size_t lapsed, size_t live) {
  const size_t claims = std::min(lapsed / 2, BySize<size_t>(RunMode(), 50, 300, 1000));
  for (auto _ : state) {
    (void)_;
    ScratchDir dir("lapsed");
    ManualClock clock(SystemClock().NowNs());
    {
      std::unique_ptr<Ledger> ledger = OpenOrDie(dir.Sub("ledger"), &clock);
      std::vector<std::string> short_ids = CreateTasks(ledger.get(), lapsed, "", "lapsing-", &clock);
      (void)ClaimTasks(ledger.get(), short_ids, "zombie", 10 * kNanosPerSecond, &clock);
      if (live > 0) {
        std::vector<std::string> long_ids = CreateTasks(ledger.get(), live, "", "live-", &clock);
        (void)ClaimTasks(ledger.get(), long_ids, "alive", 3600 * kNanosPerSecond, &clock);
      }
    }
    // Past the short deadlines and the 1 s backoff of the first failure.
    clock.Advance(20 * kNanosPerSecond);
    std::unique_ptr<Ledger> ledger = OpenOrDie(dir.Sub("ledger"), &clock);
    Latencies first, rest, raw_puts;
    SkipCounts skipped_first, skipped_rest;
    RawProbe raw;
    const int64_t start = MonotonicNs();
    if (!TimeClaims(ledger.get(), 1, &first, &skipped_first)) return state.SkipWithError("first claim failed");
    if (!TimeClaims(ledger.get(), claims, &rest, &skipped_rest, &raw, &raw_puts)) {
      return state.SkipWithError("claim failed");
    }
    state.SetIterationTime((MonotonicNs() - start) / 1e9);
    const std::string prefix = "claim.lapsed_" + SizeName(lapsed) + "_live_" + SizeName(live);
    Report(state, prefix + ".first_us", first.PercentileUs(0.5));
    Report(state, prefix + ".p50_us", rest.PercentileUs(0.5));
    Report(state, prefix + ".p99_us", rest.PercentileUs(0.99));
    Report(state, prefix + ".raw_put_p50_us", raw_puts.PercentileUs(0.5));
    Report(state, prefix + ".first_deletes_skipped", static_cast<double>(skipped_first.deletes));
    Report(state, prefix + ".first_keys_skipped", static_cast<double>(skipped_first.keys));
  }
}

}  // namespace

void RegisterClaimBenchmarks() {
  for (size_t ready : BySize<std::vector<size_t>>(RunMode(), {100, 1000, 10'000}, {1000, 10'000, 100'000},
                                                  {1000, 100'000, 1'000'000})) {
    RegisterOnce("ClaimBacklog/ready:" + SizeName(ready),
                 [ready](benchmark::State& s) { BM_ClaimBacklog(s, ready); });
  }
  const size_t churn = BySize<size_t>(RunMode(), 1000, 5000, 10'000);
  RegisterOnce("ClaimChurnCpu/claims:" + SizeName(churn), [churn](benchmark::State& s) { BM_ClaimChurnCpu(s, churn); });
  // With and without live leases beside the lapsed ones (same count), then the target's
  // 100k lapsed (full mode; the first claim's cost is quadratic, hence the smaller pair).
  const size_t pair = BySize<size_t>(RunMode(), 200, 10'000, 30'000);
  std::vector<std::pair<size_t, size_t>> scenarios = {{pair, 0}, {pair, pair}};
  if (RunMode() == Mode::kFull) scenarios.emplace_back(100'000, 100'000);
  for (const auto& [lapsed, live] : scenarios) {
    RegisterOnce("ClaimLapsed/lapsed:" + SizeName(lapsed) + "/live:" + SizeName(live),
                 [lapsed = lapsed, live = live](benchmark::State& s) { BM_ClaimLapsed(s, lapsed, live); });
  }
}

}  // namespace taskledger::bench
