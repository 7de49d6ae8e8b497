// ledger_load, the report: the clients' results summed, then the figures as one JSON object
// (--json; bench/compare.sh and scripts/bench.sh read its keys) or as a table.
#include <algorithm>
#include <cstdio>
#include <vector>

#include "bench/ledger_load.h"

namespace taskledger::bench {
namespace {

nlohmann::json Percentiles(Latencies& l) {
  return {{"count", l.count()},
          {"p50_us", l.PercentileUs(0.5)},
          {"p99_us", l.PercentileUs(0.99)},
          {"p999_us", l.PercentileUs(0.999)},
          {"max_us", l.PercentileUs(1.0)},
          {"mean_us", l.MeanUs()}};
}

}  // namespace

ClientResult SumResults(std::vector<ClientResult>& results) {
  ClientResult total;
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
    total.ping_end_ns = std::max(total.ping_end_ns, r.ping_end_ns);
    total.load_end_ns = std::max(total.load_end_ns, r.load_end_ns);
  }
  return total;
}

nlohmann::json ReportJson(const Config& config, ClientResult& total, Latencies& all, double seconds,
                          double ping_seconds) {
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
    out["lanes"] = std::min(config.lanes, config.inflight);
    out["call_latency"] = Percentiles(total.calls_latency);
    out["completed"] = total.completed;
    out["claims_empty"] = total.claims_empty;
  }
  return out;
}

void PrintTable(const Config& config, ClientResult& total, Latencies& all, double seconds, const nlohmann::json& out) {
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

}  // namespace taskledger::bench
