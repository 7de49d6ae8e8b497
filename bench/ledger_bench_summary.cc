// taskledger_bench, the summary printed after the benchmarks: every figure beside its
// baseline measured in the same run, their ratio and the target docs/performance.md states,
// as a table on stdout (scripts/bench.sh keeps it from "== taskledger_bench summary") and as
// JSON in $TASKLEDGER_BENCH_SUMMARY.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/ledger_bench_support.h"

namespace taskledger::bench {
namespace {

struct Comparison {
  std::string figure;
  std::string baseline;
  std::string target;          // as docs/performance.md states it
  std::function<bool(double figure, double ratio)> met;  // null: no target
};

// Every figure the summary shows, beside its baseline and target, in the order shown; the
// names are those of this mode's sizes. A figure not measured in the run is left out.
std::vector<Comparison> Comparisons(Mode mode) {
  const size_t small = BySize<size_t>(mode, 100, 1000, 1000);
  const size_t large = BySize<size_t>(mode, 10'000, 100'000, 1'000'000);
  const size_t pair = BySize<size_t>(mode, 200, 10'000, 30'000);
  const size_t churn = BySize<size_t>(mode, 1000, 5000, 10'000);
  const std::string big = SizeName(BigSpec().tasks);
  const std::string gc = "group_commit.threads_";
  const std::string S = "claim.ready_" + SizeName(small), L = "claim.ready_" + SizeName(large);
  const std::string lapse = "claim.lapsed_" + SizeName(pair);
  const std::string lapse_target = mode == Mode::kFull ? "claim.lapsed_100k_live_100k" : lapse + "_live_" + SizeName(pair);
  const auto at_most = [](double limit) { return [limit](double, double r) { return r <= limit; }; };
  const auto replay_target = [](double f, double r) { return f >= 2e6 && r >= 0.5; };
  return {
      {gc + "1.commands_per_s", gc + "1.raw_batch100_values_per_s", "", nullptr},
      {gc + "8.commands_per_s", gc + "8.raw_batch100_values_per_s", "", nullptr},
      {gc + "64.commands_per_s", gc + "64.raw_batch100_values_per_s", ">= 150000/s and ratio >= 0.3",
       [](double f, double r) { return f >= 150'000 && r >= 0.3; }},
      {"cpu.command_us", "cpu.raw_8_values_us", "", nullptr},
      {"submit.all.p50_us", "submit.raw_put_sync.p50_us", "ratio <= 1.5", at_most(1.5)},
      {"submit.all.p99_us", "submit.raw_put_sync.p99_us", "", nullptr},
      {L + ".p50_us", S + ".p50_us", "ratio <= 1.5", at_most(1.5)},
      {L + ".p50_over_raw_put", S + ".p50_over_raw_put", "ratio <= 1.5 (fsync-normalized)", at_most(1.5)},
      {L + ".cpu_p50_us", S + ".cpu_p50_us", "ratio <= 1.5 (CPU only, sync=false)", at_most(1.5)},
      {L + ".p50_us", L + ".raw_put_p50_us", "", nullptr},
      {"claim.churn_after_" + SizeName(churn) + ".cpu_p50_us", "claim.churn_after_0.cpu_p50_us",
       "(claims accumulate; CPU only)", nullptr},
      {lapse + "_live_" + SizeName(pair) + ".first_us", lapse + "_live_0.first_us",
       "no scan of live leases (ratio ~1)", at_most(1.5)},
      {lapse_target + ".first_us", S + ".p50_us", "", nullptr},
      {lapse_target + ".p50_us", lapse_target + ".raw_put_p50_us", "", nullptr},
      {"sweep.live_" + big + ".p50_ms", "sweep.live_" + big + ".raw_batch100_p50_ms", "<= 10 ms",
       [](double f, double) { return f <= 10; }},
      {"sweep.live_" + big + ".max_ms", "sweep.live_" + big + ".raw_batch100_p50_ms", "<= 10 ms",
       [](double f, double) { return f <= 10; }},
      {"replay.verify.events_per_s", "replay.raw_iterate_before.events_per_s", ">= 2M/s and ratio >= 0.5",
       replay_target},
      {"replay.tasks_at.events_per_s", "replay.raw_iterate_before.events_per_s", ">= 2M/s and ratio >= 0.5",
       replay_target},
      {"replay.rebuild.events_per_s", "replay.raw_iterate_before.events_per_s", ">= 2M/s and ratio >= 0.5",
       replay_target},
      {"replay.tasks_at.seconds", "replay.raw_iterate_before.seconds", "<= 5 s at 10M events",
       [](double f, double) { return f <= 5; }},
      {"replay.verify.peak_above_start_mib", "replay.raw_iterate_before.peak_above_start_mib", "bounded", nullptr},
      {"replay.tasks_at.peak_above_start_mib", "replay.raw_iterate_before.peak_above_start_mib", "bounded", nullptr},
      {"replay.rebuild.peak_above_start_mib", "replay.raw_iterate_before.peak_above_start_mib", "bounded", nullptr},
      {"memory.open_and_list.peak_above_start_mib", "replay.raw_iterate_before.peak_above_start_mib", "", nullptr},
  };
}

}  // namespace

void PrintSummary() {
  const Mode mode = RunMode();
  const Figures& figures = RunFigures();
  std::printf("\n== taskledger_bench summary (mode %s) ==\n", ModeName(mode));
  std::printf("%-52s %14s  %-46s %14s %9s  %s\n", "figure", "value", "baseline", "baseline value", "ratio", "target");
  nlohmann::json out = {{"mode", ModeName(mode)}, {"figures", nlohmann::json::object()}, {"comparisons", nlohmann::json::array()}};
  for (const std::string& name : figures.order()) out["figures"][name] = figures.Get(name);
  for (const Comparison& c : Comparisons(mode)) {
    if (!figures.Has(c.figure)) continue;
    const double value = figures.Get(c.figure);
    const double base = c.baseline.empty() ? 0 : figures.Get(c.baseline);
    const double ratio = base > 0 ? value / base : 0;
    std::string verdict = c.target;
    if (c.met) verdict += c.met(value, ratio) ? "  MET" : "  NOT MET";
    std::printf("%-52s %14.2f  %-46s %14.2f %9.3f  %s\n", c.figure.c_str(), value,
                c.baseline.empty() ? "-" : c.baseline.c_str(), base, ratio, verdict.c_str());
    out["comparisons"].push_back({{"figure", c.figure}, {"value", value}, {"baseline", c.baseline},
                                  {"baseline_value", base}, {"ratio", ratio}, {"target", c.target},
                                  {"met", c.met ? nlohmann::json(c.met(value, ratio)) : nlohmann::json()}});
  }
  if (const char* file = std::getenv("TASKLEDGER_BENCH_SUMMARY"); file != nullptr && *file != '\0') {
    std::ofstream(file) << out.dump(2) << "\n";
  }
}

}  // namespace taskledger::bench
