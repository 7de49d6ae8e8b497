// Shared pieces of the benchmarks (taskledger_bench: bench/ledger_bench*.cc; ledger_fill:
// bench/ledger_fill.cc; ledger_load: bench/ledger_load*.cc): run sizes, scratch directories,
// percentiles, memory readings, and the fast population of big ledgers (SubmitGroup with
// large groups).
//
// Not thread-safe unless a function says so. Benchmark code only: nothing here is part of
// the library.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ledger/clock.h"
#include "ledger/ledger.h"

namespace taskledger::bench {

// How big a run is. smoke: seconds, for ctest; quick: about three minutes; full: the sizes
// the targets of docs/performance.md are stated at.
enum class Mode { kSmoke, kQuick, kFull };

// TASKLEDGER_BENCH_SMOKE=1 wins; else TASKLEDGER_BENCH_MODE=smoke|quick|full; default quick.
Mode ModeFromEnvironment();
const char* ModeName(Mode mode);

// Picks the size of the current mode.
template <typename T>
T BySize(Mode mode, T smoke, T quick, T full) {
  return mode == Mode::kSmoke ? smoke : mode == Mode::kQuick ? quick : full;
}

// A directory removed (with its contents) when the value dies. Under $TASKLEDGER_BENCH_DIR
// if set (put it on the disk whose fsync you want to measure), else /tmp.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name);
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Latencies in ns; Percentile sorts on first use.
class Latencies {
 public:
  void Reserve(size_t n) { samples_ns_.reserve(n); }
  void Add(int64_t ns) {
    samples_ns_.push_back(ns);
    sorted_ = false;
  }
  void Append(const Latencies& other);
  size_t count() const { return samples_ns_.size(); }
  // q in [0, 1]; 0 when empty.
  double PercentileUs(double q);
  double MeanUs() const;

 private:
  std::vector<int64_t> samples_ns_;
  bool sorted_ = true;
};

int64_t MonotonicNs();

// VmRSS and VmHWM of this process (or of `pid`), in MiB; 0 if unreadable.
struct Memory {
  double rss_mib = 0;
  double peak_mib = 0;
};
Memory ReadMemory(int pid = 0);
// Resets VmHWM to the current RSS (Linux: "5" into /proc/self/clear_refs), so the next
// ReadMemory().peak_mib is the peak of what follows. False if the kernel refused.
bool ResetPeakMemory();

// Bytes of the files under a directory.
uint64_t DirectoryBytes(const std::string& path);

// ---- Population ----

// Commands per SubmitGroup while populating: the server's own group limit.
inline constexpr size_t kPopulateGroupCommands = 4096;

// Opens a ledger, or aborts the benchmark with the error on stderr.
std::unique_ptr<Ledger> OpenOrDie(const std::string& path, Clock* clock, bool sync = true);

// Submits commands in groups of kPopulateGroupCommands; aborts on any refusal. Advances a
// ManualClock (if given) by 1 µs per group so that ledger time moves. Returns the outcomes.
std::vector<Outcome> SubmitAll(Ledger* ledger, const std::vector<Command>& commands, ManualClock* clock);

// Creates `count` tasks in `queue`, named `prefix` + index (or by the ledger if prefix is
// empty), with a lease ttl and max runtime suited to long benchmarks. Returns their ids.
std::vector<std::string> CreateTasks(Ledger* ledger, size_t count, const std::string& queue, const std::string& prefix,
                                     ManualClock* clock);
// Claims each task by id for `worker` with `ttl_ns`. Returns the tokens, in the same order.
std::vector<uint64_t> ClaimTasks(Ledger* ledger, const std::vector<std::string>& ids, const std::string& worker,
                                 int64_t ttl_ns, ManualClock* clock);
// `rounds` heartbeats for each claimed task (one round over all tasks at a time).
void HeartbeatTasks(Ledger* ledger, const std::vector<std::string>& ids, const std::vector<uint64_t>& tokens,
                    const std::string& worker, int rounds, ManualClock* clock);

// The "big ledger": `tasks` tasks, each created, claimed with a one-hour lease and renewed
// by `heartbeats` heartbeats, so it holds tasks × (2 + heartbeats) events and `tasks` live
// leases; plus `sweep_batches` batches of kSweepBatchTasks tasks whose leases (ttl of
// (batch+1) minutes) lapse long before the others, for the sweep benchmark. Task ids of
// batch b are SweepTaskId(b, i).
inline constexpr size_t kSweepBatchTasks = 100;
struct BigLedgerSpec {
  size_t tasks = 0;
  int heartbeats = 8;
  size_t sweep_batches = 5;
};
// The big ledger of each mode: 200 / 100k / 1M tasks (2k / 1M / 10M events).
BigLedgerSpec BigSpecFor(Mode mode);
std::string SweepTaskId(size_t batch, size_t index);
// Fills an empty ledger at `path` (sync=true, groups of kPopulateGroupCommands). Prints
// progress to stderr. Writes `path`/../<name>.spec with the spec, so that a later run can
// reuse the ledger. Returns the events appended.
uint64_t FillBigLedger(const std::string& path, const BigLedgerSpec& spec);
// The same ledger, made faster: the events are decided by the pure projections code
// (DecideCreate, DecideOnTask, ApplyEvent: what the ledger itself runs), encoded by the
// ledger's codec, written straight into the `events` column family, and the projection
// and indexes are then derived by Ledger::Rebuild. Verify finds it identical in kind to a
// ledger filled through commands. Used for the 10M-event full mode, where filling through
// SubmitGroup would take most of the suite's time budget. `rebuild_seconds` gets the time
// of the Rebuild.
uint64_t FillBigLedgerViaLog(const std::string& path, const BigLedgerSpec& spec, double* rebuild_seconds);
// True if `path` holds a ledger filled with exactly this spec.
bool BigLedgerMatches(const std::string& path, const BigLedgerSpec& spec);

}  // namespace taskledger::bench
