// What `serve --http` reports at GET /metrics, in the Prometheus text format (0.0.4).
//
// ServerMetrics is updated from the event loop (commands refused before they reach the
// committer, connections, HTTP requests) and from the GroupCommitter's writer and syncer
// threads (outcomes, group and fsync timings): every counter is an atomic, every histogram
// has its own mutex. Rendering reads them at scrape time.
//
// The text helpers (EscapeLabelValue, MetricsText, Histogram) are separate so that the
// format can be tested without a server.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ledger/thread_safety.h"
#include "projections/decide.h"
#include "projections/event.h"
#include "projections/task.h"

namespace taskledger::server {

// A label value as the text format wants it: backslash, double quote and newline escaped.
std::string EscapeLabelValue(std::string_view value);

using Labels = std::vector<std::pair<std::string, std::string>>;

// A histogram over fixed upper bounds (ascending; +Inf is implicit).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value) EXCLUDES(mutex_);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (= count)
    double sum = 0;
  };
  Snapshot Read() const EXCLUDES(mutex_);

 private:
  const std::vector<double> bounds_;
  mutable Mutex mutex_;
  std::vector<uint64_t> counts_ GUARDED_BY(mutex_);  // per bound, then the overflow; not cumulative
  double sum_ GUARDED_BY(mutex_) = 0;
};

// Builds an exposition: each family's HELP and TYPE once, then its samples.
class MetricsText {
 public:
  void Family(std::string_view name, std::string_view type, std::string_view help);
  void Sample(std::string_view name, const Labels& labels, double value);
  void Sample(std::string_view name, const Labels& labels, uint64_t value);
  // name_bucket{...,le="..."} cumulative, name_sum, name_count.
  void HistogramSamples(std::string_view name, const Labels& labels, const Histogram::Snapshot& snapshot);
  const std::string& text() const { return text_; }

 private:
  void Name(std::string_view name, const Labels& labels);
  std::string text_;
};

// The shortest text that reads back as `value`; +Inf, -Inf, NaN as the format spells them.
std::string FormatValue(double value);

struct BuildInfo {
  std::string version;
  std::string revision;
};

// Tasks counted by queue and status, and the live leases by queue: what a scrape reads
// from the ledger's current tasks (one Add per view, in any order).
class TaskCounts {
 public:
  void Add(const TaskView& view);

  struct Queue {
    std::array<uint64_t, kTaskStatusCount> by_status{};
    uint64_t active_leases = 0;  // running: an open attempt whose deadline is ahead
  };
  // By queue name (as users wrote it: Render escapes it), in name order.
  const std::map<std::string, Queue>& queues() const { return queues_; }

 private:
  std::map<std::string, Queue> queues_;
};

// The values computed at scrape time, from the server's own state.
struct ScrapeGauges {
  uint64_t last_seq = 0;
  // The current tasks; nullopt when they could not be read (the families are then left
  // without samples, and the scan's error is logged by whoever scanned).
  std::optional<TaskCounts> tasks;
  double tasks_scan_seconds = 0;  // how long the scan took (it runs on the event loop)
};

// Per-task timings from the events the server appends: when a task became claimable,
// when its attempt began, when its holder was lost. It keeps state only for tasks in
// flight (erased when a task is done, cancelled or dead), at most `max_tasks` of them: a
// task first seen when the map is full is not tracked, so its timings are not observed.
// Tasks created before the server started have no known start: their first wait and the
// attempt running at startup are not observed.
//
// Observe() is called with each command's outcome, in commit order (the GroupCommitter's
// syncer thread, or the event loop); the state is guarded by a mutex.
class TaskTimings {
 public:
  // Queue wait, attempt duration by how it ended (AttemptEnd), recovery; seconds.
  struct Observer {
    std::function<void(double)> queue_wait;
    std::function<void(AttemptEnd, double)> attempt;
    std::function<void(double)> recovery;
  };
  TaskTimings(size_t max_tasks, Observer observer);
  void Observe(const Outcome& outcome) EXCLUDES(mutex_);
  size_t tracked() const EXCLUDES(mutex_);

 private:
  struct InFlight {
    int64_t claimable_ns = 0;      // when it became claimable; 0: unknown, or running
    int64_t claimed_ns = 0;        // the open attempt's claim; 0: none known
    int64_t deadline_ns = 0;       // the open attempt's deadline; 0: unknown
    int64_t recovery_from_ns = 0;  // a lapse or signal not yet followed by a claim; 0: none
    bool signaled = false;         // the open attempt was signaled
  };
  void OnEvent(const Event& e) REQUIRES(mutex_);
  InFlight* Find(const std::string& id, bool create) REQUIRES(mutex_);
  void EndAttempt(InFlight& task, AttemptEnd how, int64_t end_ns) REQUIRES(mutex_);

  const size_t max_tasks_;
  const Observer observer_;
  mutable Mutex mutex_;
  std::unordered_map<std::string, InFlight> tasks_ GUARDED_BY(mutex_);
};

class ServerMetrics {
 public:
  explicit ServerMetrics(BuildInfo build);

  // One command's outcome (`kind` empty: a command that could not be read), and the
  // events it appended. `seconds`: from submit to the outcome.
  void CommandDone(std::optional<CommandKind> kind, const Outcome& outcome, double seconds);
  // The GroupCommitter's timings: one group validated and written; one fsync.
  void GroupWritten(size_t commands, double seconds);
  void Synced(double seconds);

  void SetConnections(size_t open) { connections_.store(open, std::memory_order_relaxed); }
  void SetStartupSeconds(double seconds);
  void HttpRequest(unsigned code) EXCLUDES(http_mutex_);

  std::string Render(const ScrapeGauges& gauges) const EXCLUDES(http_mutex_);

 private:
  static constexpr size_t kCommandKinds = static_cast<size_t>(CommandKind::kSweep) + 2;  // then "unknown"
  static constexpr size_t kOutcomes = 7;       // ok refused not_found invalid busy error unknown_outcome
  static constexpr size_t kHolderCommands = 6;
  static constexpr size_t kRejectionReasons = 5;
  static constexpr size_t kAttemptEnds = 5;  // completed failed released expired exited

  using Counter = std::atomic<uint64_t>;
  void CountEvents(const Outcome& outcome);
  // AttemptEnd values that end an attempt (all but kNone), as the `how` label of
  // attempt_duration_seconds.
  static constexpr size_t kAttemptHows = kAttemptEndCount - 1;

  const BuildInfo build_;
  std::array<std::array<Counter, kOutcomes>, kCommandKinds> commands_{};
  std::array<Counter, kEventKindCount> events_{};
  std::array<std::array<Counter, kRejectionReasons>, kHolderCommands> rejections_{};
  std::array<Counter, kAttemptEnds> attempts_ended_{};
  std::atomic<size_t> connections_{0};
  std::atomic<int64_t> startup_ns_{0};
  mutable Mutex http_mutex_;
  std::map<unsigned, uint64_t> http_requests_ GUARDED_BY(http_mutex_);  // by status code
  Histogram command_seconds_;
  Histogram group_seconds_;
  Histogram fsync_seconds_;
  Histogram group_size_;
  Histogram queue_wait_seconds_;
  std::array<Histogram, kAttemptHows> attempt_seconds_;
  Histogram recovery_seconds_;
  TaskTimings timings_;  // observes into the three above
};

// Tasks in flight TaskTimings tracks at most: about 100 bytes each plus the id.
inline constexpr size_t kMaxTimedTasks = size_t{1} << 20;

}  // namespace taskledger::server
