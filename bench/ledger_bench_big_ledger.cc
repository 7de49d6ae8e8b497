// taskledger_bench, the big ledger (bench_util.h BigLedgerSpec, made by ledger_fill or here):
// sweeps among all its live leases, and its replays (Verify, TasksAt, Rebuild) with the peak
// RSS of each, bracketed by a raw iteration of its `events` column family, the ceiling of
// any replay (bench/ledger_bench.cc lists the suite).
//
//   Sweep/live:N              100 lapsed among N live leases, per prepared batch
//   RawIterateEvents/before   the raw iteration (after an untimed warm-up pass)
//   Verify, TasksAtTime, Rebuild   one pass each
//   OpenAndListAll            what a server holds once it has opened the ledger and listed it
//   RawIterateEvents/after    the raw iteration again
#include <rocksdb/db.h>
#include <rocksdb/perf_level.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench/ledger_bench_support.h"

namespace taskledger::bench {
namespace {

// TASKLEDGER_BENCH_BIG if it matches this mode's spec, else one made now (kept for the
// rest of the run).
const std::string& BigLedgerPath() {
  static std::unique_ptr<ScratchDir> scratch;
  static std::string path;
  if (!path.empty()) return path;
  const char* given = std::getenv("TASKLEDGER_BENCH_BIG");
  if (given != nullptr && *given != '\0') {
    if (!BigLedgerMatches(given, BigSpec())) {
      std::fprintf(stderr, "bench: TASKLEDGER_BENCH_BIG=%s was not filled with this mode's sizes (run ledger_fill)\n",
                   given);
      std::exit(2);
    }
    path = given;
    return path;
  }
  scratch = std::make_unique<ScratchDir>("big");
  path = scratch->Sub("ledger");
  const int64_t t0 = MonotonicNs();
  const uint64_t events = FillBigLedger(path, BigSpec());
  const double elapsed = (MonotonicNs() - t0) / 1e9;
  RunFigures().Set("fill.events", static_cast<double>(events));
  RunFigures().Set("fill.events_per_s", static_cast<double>(events) / elapsed);
  return path;
}

// Sweeps once per prepared batch: each time exactly 100 leases have lapsed, among all the
// big ledger's live ones.
void BM_Sweep(benchmark::State& state) {
  const BigLedgerSpec spec = BigSpec();
  for (auto _ : state) {
    (void)_;
    const std::string& path = BigLedgerPath();
    ManualClock clock(0);
    std::unique_ptr<Ledger> ledger = OpenOrDie(path, &clock);
    Latencies sweeps, raw_batches;
    SkipCounts skipped_total;
    RawProbe raw;
    const int64_t start = MonotonicNs();
    for (size_t batch = 0; batch < spec.sweep_batches; ++batch) {
      Result<std::optional<TaskRecord>> victim = ledger->GetTask(SweepTaskId(batch, 0));
      if (!victim.ok() || !victim->has_value() || !(*victim)->attempt_open) {
        return state.SkipWithError("the big ledger was swept already: fill it again");
      }
      clock.Set((*victim)->deadline_ns + kNanosPerMilli);
      Command sweep;
      sweep.kind = CommandKind::kSweep;
      raw_batches.Add(raw.Batch100SyncNs());  // the baseline, interleaved
      ResetRocksCounters();
      const int64_t t0 = MonotonicNs();
      const Outcome o = ledger->Submit(sweep);
      sweeps.Add(MonotonicNs() - t0);
      const SkipCounts skipped = ReadRocksCounters();
      rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
      skipped_total.deletes += skipped.deletes;
      skipped_total.keys += skipped.keys;
      if (!o.status.ok()) return state.SkipWithError(o.status.message().c_str());
      if (o.reply.events.size() != kSweepBatchTasks) {
        return state.SkipWithError(("sweep found " + std::to_string(o.reply.events.size()) + " lapses").c_str());
      }
    }
    state.SetIterationTime((MonotonicNs() - start) / 1e9);
    const std::string prefix = "sweep.live_" + SizeName(spec.tasks);
    Report(state, prefix + ".p50_ms", sweeps.PercentileUs(0.5) / 1e3);
    Report(state, prefix + ".max_ms", sweeps.PercentileUs(1.0) / 1e3);
    Report(state, prefix + ".raw_batch100_p50_ms", raw_batches.PercentileUs(0.5) / 1e3);
    Report(state, prefix + ".deletes_skipped_per_sweep",
           static_cast<double>(skipped_total.deletes) / static_cast<double>(spec.sweep_batches));
  }
}

// Raw forward iteration over the `events` column family of the big ledger, opened
// read-only by a plain rocksdb::DB: the ceiling of any replay. `iterate_seconds` gets the
// time of the iteration alone (opening is not counted, as the ledger phases open first).
Result<uint64_t> RawIterateEvents(const std::string& path, double* iterate_seconds = nullptr) {
  std::vector<std::string> names;
  rocksdb::Options options;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(options, path, &names);
  if (!s.ok()) return Status::IOError(s.ToString());
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const std::string& name : names) families.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  s = rocksdb::DB::OpenForReadOnly(options, path, families, &handles, &raw);
  if (!s.ok()) return Status::IOError(s.ToString());
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::ColumnFamilyHandle* events = nullptr;
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == "events") events = handles[i];
  }
  uint64_t count = 0, bytes = 0;
  const int64_t t0 = MonotonicNs();
  if (events != nullptr) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), events));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      ++count;
      bytes += it->key().size() + it->value().size();
    }
    s = it->status();
  }
  if (iterate_seconds != nullptr) *iterate_seconds = (MonotonicNs() - t0) / 1e9;
  benchmark::DoNotOptimize(bytes);
  for (rocksdb::ColumnFamilyHandle* h : handles) (void)db->DestroyColumnFamilyHandle(h);
  if (!s.ok()) return Status::IOError(s.ToString());
  return count;
}

// Runs `phase`, returning its seconds and recording the peak RSS above the start.
template <typename Fn>
double TimedPhase(benchmark::State& state, const std::string& prefix, Fn&& phase) {
  const bool peak_resettable = ResetPeakMemory();
  const Memory before = ReadMemory();
  const int64_t t0 = MonotonicNs();
  phase();
  const double seconds = (MonotonicNs() - t0) / 1e9;
  const Memory after = ReadMemory();
  if (peak_resettable) Report(state, prefix + ".peak_above_start_mib", after.peak_mib - before.rss_mib);
  Report(state, prefix + ".rss_after_mib", after.rss_mib);
  return seconds;
}

// The raw iteration, one warm-up pass untimed (so that every phase reads a warm page
// cache), then timed. Run before and after the ledger's phases to bracket them.
void BM_RawIterate(benchmark::State& state, const std::string& label) {
  for (auto _ : state) {
    (void)_;
    const std::string& path = BigLedgerPath();
    if (label == "before" && !RawIterateEvents(path).ok()) return state.SkipWithError("raw iteration failed");
    uint64_t events = 0;
    const std::string prefix = "replay.raw_iterate_" + label;
    double seconds = 0;
    (void)TimedPhase(state, prefix, [&] {
      Result<uint64_t> n = RawIterateEvents(path, &seconds);
      events = n.ok() ? *n : 0;
    });
    if (events == 0) return state.SkipWithError("raw iteration failed");
    state.SetIterationTime(seconds);
    Report(state, prefix + ".events", static_cast<double>(events));
    Report(state, prefix + ".events_per_s", static_cast<double>(events) / seconds);
    Report(state, prefix + ".seconds", seconds);
  }
}

enum class ReplayKind { kVerify, kTasksAt, kRebuild, kOpen };

// One pass of a ledger replay over the big ledger.
void BM_Replay(benchmark::State& state, ReplayKind kind) {
  for (auto _ : state) {
    (void)_;
    const std::string& path = BigLedgerPath();
    SystemClock clock;
    uint64_t events = 0;
    std::string error;
    std::string prefix;
    double seconds = 0;
    if (kind == ReplayKind::kOpen) {
      // What a server holds once it has opened the ledger and listed every task (ls).
      prefix = "memory.open_and_list";
      std::unique_ptr<Ledger> ledger;
      seconds = TimedPhase(state, prefix, [&] {
        ledger = OpenOrDie(path, &clock);
        Result<TasksSnapshot> now = ledger->TasksAt(PointInTime::Now());
        if (!now.ok()) error = now.status().message();
        else events = now->tasks.size();
      });
      Report(state, prefix + ".tasks", static_cast<double>(events));
      state.SetIterationTime(seconds);
      if (!error.empty()) state.SkipWithError(error.c_str());
      continue;
    }
    std::unique_ptr<Ledger> ledger = OpenOrDie(path, &clock);
    const uint64_t last_seq = ledger->last_seq();
    switch (kind) {
      case ReplayKind::kVerify:
        prefix = "replay.verify";
        seconds = TimedPhase(state, prefix, [&] {
          Result<VerifyReport> report = ledger->Verify();
          if (!report.ok()) error = report.status().message();
          else if (!report->problems.empty()) error = "verify found: " + report->problems.front();
          else events = report->events;
        });
        break;
      case ReplayKind::kTasksAt: {
        prefix = "replay.tasks_at";
        int64_t last_ns = 0;
        (void)ledger->ForEachEvent(last_seq, [&](const Event& e) {
          last_ns = e.time_ns;
          return false;
        });
        seconds = TimedPhase(state, prefix, [&] {
          Result<TasksSnapshot> snapshot = ledger->TasksAt(PointInTime::AtTime(last_ns));
          if (!snapshot.ok()) error = snapshot.status().message();
          else events = snapshot->seq;
        });
        break;
      }
      case ReplayKind::kRebuild:
        prefix = "replay.rebuild";
        seconds = TimedPhase(state, prefix, [&] {
          Result<RebuildReport> report = ledger->Rebuild();
          if (!report.ok()) error = report.status().message();
          else events = report->events;
        });
        break;
      case ReplayKind::kOpen:
        break;
    }
    if (!error.empty()) return state.SkipWithError(error.c_str());
    state.SetIterationTime(seconds);
    Report(state, prefix + ".events_per_s", static_cast<double>(events) / seconds);
    Report(state, prefix + ".seconds", seconds);
  }
}

}  // namespace

void RegisterBigLedgerBenchmarks() {
  RegisterOnce("Sweep/live:" + SizeName(BigSpec().tasks), BM_Sweep);
  RegisterOnce("RawIterateEvents/before", [](benchmark::State& s) { BM_RawIterate(s, "before"); });
  RegisterOnce("Verify", [](benchmark::State& s) { BM_Replay(s, ReplayKind::kVerify); });
  RegisterOnce("TasksAtTime", [](benchmark::State& s) { BM_Replay(s, ReplayKind::kTasksAt); });
  // Full mode: `ledger_fill --via log` ran Rebuild over the same 10M events and reports it
  // (minutes on this machine); TASKLEDGER_BENCH_REBUILD=1 runs it here as well.
  const char* rebuild = std::getenv("TASKLEDGER_BENCH_REBUILD");
  if (RunMode() != Mode::kFull || (rebuild != nullptr && std::string(rebuild) == "1")) {
    RegisterOnce("Rebuild", [](benchmark::State& s) { BM_Replay(s, ReplayKind::kRebuild); });
  }
  RegisterOnce("OpenAndListAll", [](benchmark::State& s) { BM_Replay(s, ReplayKind::kOpen); });
  RegisterOnce("RawIterateEvents/after", [](benchmark::State& s) { BM_RawIterate(s, "after"); });
}

}  // namespace taskledger::bench
