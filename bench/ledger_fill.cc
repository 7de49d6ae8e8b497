// ledger_fill: makes the "big ledger" of the benchmarks (bench/bench_util.h FillBigLedger)
// at a path, so that taskledger_bench (TASKLEDGER_BENCH_BIG), the CLI (`ls --at`) and a
// server (RSS) can all be measured on the same ledger.
//
//   ledger_fill --db DIR [--tasks N] [--heartbeats K] [--sweep-batches B] [--via submit|log] [--json]
//
// Defaults are the sizes of TASKLEDGER_BENCH_MODE (quick: 100k tasks, 1M events; full: 1M
// tasks, 10M events). DIR must not exist yet. --via submit (default) fills through
// Ledger::SubmitGroup in groups of 4096; --via log decides the same events with the pure
// projections code, writes the log directly and derives the rest with Ledger::Rebuild
// (several times faster; see FillBigLedgerViaLog).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "bench/bench_util.h"

int main(int argc, char** argv) {
  using namespace taskledger::bench;
  BigLedgerSpec spec = BigSpecFor(ModeFromEnvironment());
  std::string db;
  bool json = false;
  std::string via = "submit";
  CLI::App app("Fill a ledger with the benchmarks' big-ledger workload", "ledger_fill");
  app.add_option("--db", db, "ledger directory to create (must not exist)")->required();
  app.add_option("--tasks", spec.tasks, "tasks, each created, claimed and renewed");
  app.add_option("--heartbeats", spec.heartbeats, "heartbeats per task")->check(CLI::Range(0, 1000));
  app.add_option("--sweep-batches", spec.sweep_batches, "batches of 100 leases that lapse early, for sweep");
  app.add_option("--via", via, "submit (SubmitGroup) or log (decided events + Rebuild)")
      ->check(CLI::IsMember({"submit", "log"}));
  app.add_flag("--json", json, "one JSON object");
  CLI11_PARSE(app, argc, argv);
  if (std::filesystem::exists(db)) {
    std::fprintf(stderr, "ledger_fill: %s exists; give a new path\n", db.c_str());
    return 2;
  }
  const int64_t start = MonotonicNs();
  double rebuild_seconds = 0;
  const uint64_t events = via == "log" ? FillBigLedgerViaLog(db, spec, &rebuild_seconds) : FillBigLedger(db, spec);
  const double seconds = (MonotonicNs() - start) / 1e9;
  const double disk_mib = static_cast<double>(DirectoryBytes(db)) / (1 << 20);
  if (json) {
    nlohmann::json out = {{"db", db},         {"tasks", spec.tasks}, {"events", events},
                          {"seconds", seconds}, {"events_per_s", static_cast<double>(events) / seconds},
                          {"disk_mib", disk_mib}, {"via", via}};
    if (via == "log") {
      out["rebuild_seconds"] = rebuild_seconds;
      out["rebuild_events_per_s"] = static_cast<double>(events) / rebuild_seconds;
    }
    std::printf("%s\n", out.dump().c_str());
  } else {
    std::printf("filled %s: %zu tasks, %llu events in %.1f s (%.0f events/s), %.0f MiB on disk\n", db.c_str(),
                spec.tasks, static_cast<unsigned long long>(events), seconds, static_cast<double>(events) / seconds,
                disk_mib);
  }
  return 0;
}
