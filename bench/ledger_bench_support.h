// What the in-process benchmarks of taskledger_bench (bench/ledger_bench*.cc) share: the
// run's mode, the figures of the run and how a benchmark reports one, the registration of a
// benchmark, the raw RocksDB baseline measured beside each benchmark, RocksDB's per-thread
// skip counters, and the size of the big ledger.
//
// Each file registers its own benchmarks; bench/ledger_bench.cc calls them in the order of
// the run (the command path, claims, the big ledger), then prints the summary.
//
// Not thread-safe unless a function says so. Benchmark code only.
#pragma once

#include <benchmark/benchmark.h>
#include <rocksdb/db.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_util.h"

namespace taskledger::bench {

// The mode of this run (bench_util.h ModeFromEnvironment), read once.
Mode RunMode();

// Figures of this run, in the order they were set, for the summary printed at the end.
class Figures {
 public:
  void Set(const std::string& name, double value) {
    if (values_.count(name) == 0) order_.push_back(name);
    values_[name] = value;
  }
  bool Has(const std::string& name) const { return values_.count(name) != 0; }
  double Get(const std::string& name) const { return Has(name) ? values_.at(name) : 0; }
  const std::vector<std::string>& order() const { return order_; }

 private:
  std::map<std::string, double> values_;
  std::vector<std::string> order_;
};
// The figures of this run (one per process).
Figures& RunFigures();

// Sets a figure and shows it as a counter of the benchmark (named by the figure's last part).
void Report(benchmark::State& state, const std::string& name, double value);

// 1000 -> "1k", 2000000 -> "2M", 1500 -> "1500".
std::string SizeName(size_t n);

// Registers a benchmark as every one of the suite runs: one iteration, its own timing
// (SetIterationTime), reported in milliseconds.
void RegisterOnce(const std::string& name, std::function<void(benchmark::State&)> fn);

// ---- Raw RocksDB ----

// Raw baselines write values of this size: about an encoded event.
inline constexpr size_t kRawValueBytes = 200;
inline constexpr size_t kRawBatchValues = 100;

// A plain rocksdb::DB at `path` (created if missing), or exits with the error on stderr.
std::unique_ptr<rocksdb::DB> OpenRaw(const std::string& path);

// A raw RocksDB database beside a benchmark, so that its baseline is measured on the same
// disk at the same moment (interleaved or bracketing): fsync latency on this shared
// machine moves by 10x within minutes as other jobs write.
class RawProbe {
 public:
  RawProbe();

  // One Put of a 200-byte value, sync=true: one fsync, the floor of a durable command.
  int64_t PutSyncNs();
  // A WriteBatch of 100 x 200-byte values, sync=true: the fsync-amortized write.
  int64_t Batch100SyncNs();
  // Batches for `seconds`; values per second.
  double Batch100ValuesPerSecond(double seconds, Latencies* batches = nullptr);

 private:
  ScratchDir dir_;
  std::unique_ptr<rocksdb::DB> db_;
  const std::string value_;
  rocksdb::WriteOptions sync_;
  uint64_t seq_ = 0;
};

// ---- RocksDB's per-thread counters of what the reads of one operation skipped ----

struct SkipCounts {
  uint64_t deletes = 0;
  uint64_t keys = 0;
};
// Turns the counters on (for this thread) and zeroes them.
void ResetRocksCounters();
SkipCounts ReadRocksCounters();

// ---- The big ledger ----

// The big ledger of this run's mode.
BigLedgerSpec BigSpec();

// ---- Each file's benchmarks, and the summary ----

// bench/ledger_bench_command_path.cc: RawSync, GroupCommitCycles, CommandCpu, SubmitLatency.
void RegisterCommandPathBenchmarks();
// bench/ledger_bench_claims.cc: ClaimBacklog, ClaimChurnCpu, ClaimLapsed.
void RegisterClaimBenchmarks();
// bench/ledger_bench_big_ledger.cc: Sweep, RawIterateEvents, Verify, TasksAtTime, Rebuild,
// OpenAndListAll.
void RegisterBigLedgerBenchmarks();
// bench/ledger_bench_summary.cc: every figure beside its baseline, as a table on stdout and
// as JSON in $TASKLEDGER_BENCH_SUMMARY.
void PrintSummary();

}  // namespace taskledger::bench
