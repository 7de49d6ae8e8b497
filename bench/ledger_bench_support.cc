#include "bench/ledger_bench_support.h"

#include <rocksdb/perf_context.h>
#include <rocksdb/perf_level.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "ledger/keys.h"

namespace taskledger::bench {
namespace {

[[noreturn]] void RawWriteFailed() {
  std::fprintf(stderr, "bench: raw rocksdb write failed\n");
  std::exit(1);
}

}  // namespace

Mode RunMode() {
  static const Mode mode = ModeFromEnvironment();
  return mode;
}

Figures& RunFigures() {
  static Figures figures;
  return figures;
}

void Report(benchmark::State& state, const std::string& name, double value) {
  RunFigures().Set(name, value);
  state.counters[name.substr(name.rfind('.') + 1)] = value;
}

std::string SizeName(size_t n) {
  if (n >= 1'000'000 && n % 1'000'000 == 0) return std::to_string(n / 1'000'000) + "M";
  if (n >= 1000 && n % 1000 == 0) return std::to_string(n / 1000) + "k";
  return std::to_string(n);
}

void RegisterOnce(const std::string& name, std::function<void(benchmark::State&)> fn) {
  benchmark::RegisterBenchmark(name.c_str(), std::move(fn))
      ->Iterations(1)
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
}

// ---- Raw RocksDB ----

std::unique_ptr<rocksdb::DB> OpenRaw(const std::string& path) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* db = nullptr;
  const rocksdb::Status s = rocksdb::DB::Open(options, path, &db);
  if (!s.ok()) {
    std::fprintf(stderr, "bench: raw rocksdb open %s: %s\n", path.c_str(), s.ToString().c_str());
    std::exit(1);
  }
  return std::unique_ptr<rocksdb::DB>(db);
}

RawProbe::RawProbe() : dir_("raw"), db_(OpenRaw(dir_.Sub("db"))), value_(kRawValueBytes, 'v') { sync_.sync = true; }

int64_t RawProbe::PutSyncNs() {
  const int64_t t0 = MonotonicNs();
  if (!db_->Put(sync_, keys::Seq(++seq_), value_).ok()) RawWriteFailed();
  return MonotonicNs() - t0;
}

int64_t RawProbe::Batch100SyncNs() {
  rocksdb::WriteBatch batch;
  for (size_t i = 0; i < kRawBatchValues; ++i) batch.Put(keys::Seq(++seq_), value_);
  const int64_t t0 = MonotonicNs();
  if (!db_->Write(sync_, &batch).ok()) RawWriteFailed();
  return MonotonicNs() - t0;
}

double RawProbe::Batch100ValuesPerSecond(double seconds, Latencies* batches) {
  const int64_t start = MonotonicNs();
  const int64_t end = start + static_cast<int64_t>(seconds * 1e9);
  uint64_t values = 0;
  while (MonotonicNs() < end) {
    const int64_t ns = Batch100SyncNs();
    if (batches != nullptr) batches->Add(ns);
    values += kRawBatchValues;
  }
  return static_cast<double>(values) / ((MonotonicNs() - start) / 1e9);
}

// ---- RocksDB's skip counters ----

void ResetRocksCounters() {
  rocksdb::SetPerfLevel(rocksdb::PerfLevel::kEnableCount);
  rocksdb::get_perf_context()->Reset();
}

SkipCounts ReadRocksCounters() {
  const rocksdb::PerfContext* perf = rocksdb::get_perf_context();
  return {perf->internal_delete_skipped_count, perf->internal_key_skipped_count};
}

BigLedgerSpec BigSpec() { return BigSpecFor(RunMode()); }

}  // namespace taskledger::bench
