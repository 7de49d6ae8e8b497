// taskledger_bench: the in-process benchmarks of docs/performance.md, each beside a raw
// RocksDB baseline measured in the same run (the machine is shared and noisy: compare
// ratios, not absolute figures).
//
//   durable throughput   N submitters through a GroupCommitter  vs  WriteBatch x100 sync
//   durable latency      Ledger::Submit, one submitter           vs  Put sync
//   claim vs backlog     claim --next at 1k / 100k / 1M ready, as claims accumulate, and
//                        after mass lapses
//   sweep                100 lapsed among many live leases       vs  WriteBatch x100 sync
//   replay               Verify, TasksAt (ls --at), Rebuild      vs  raw iteration of `events`
//   memory               peak RSS of each replay phase           vs  the raw iteration's
//
// Sizes: TASKLEDGER_BENCH_MODE=smoke|quick|full (TASKLEDGER_BENCH_SMOKE=1 = smoke).
// TASKLEDGER_BENCH_BIG=DIR reuses a ledger made by `ledger_fill` for sweep and replay (it
// must hold the same sizes); TASKLEDGER_BENCH_SUMMARY=FILE writes the figures as JSON.
// Everything is durable (sync=true) except the benchmarks named *Cpu*, which measure CPU
// cost and say so.
//
// The benchmarks live by what they measure: bench/ledger_bench_command_path.cc (RawSync,
// GroupCommitCycles, CommandCpu, SubmitLatency), bench/ledger_bench_claims.cc (ClaimBacklog,
// ClaimChurnCpu, ClaimLapsed), bench/ledger_bench_big_ledger.cc (Sweep, RawIterateEvents,
// Verify, TasksAtTime, Rebuild, OpenAndListAll); bench/ledger_bench_summary.cc prints the
// summary; bench/ledger_bench_support.h holds what they share.
#include <benchmark/benchmark.h>

#include "bench/ledger_bench_support.h"

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  // In the order of the run.
  taskledger::bench::RegisterCommandPathBenchmarks();
  taskledger::bench::RegisterClaimBenchmarks();
  taskledger::bench::RegisterBigLedgerBenchmarks();
  benchmark::RunSpecifiedBenchmarks();
  taskledger::bench::PrintSummary();
  benchmark::Shutdown();
  return 0;
}
