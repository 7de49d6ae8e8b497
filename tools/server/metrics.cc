#include "tools/server/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "projections/task.h"

namespace taskledger::server {
namespace {

// By CommandKind, then "unknown" (a command that could not be read).
constexpr std::array<std::string_view, 14> kCommandKindNames = {
    "create", "claim",   "heartbeat", "complete", "fail",  "release", "signal",
    "exit",   "block",   "unblock",   "cancel",   "revive", "sweep",  "unknown"};
static_assert(kCommandKindNames.size() == static_cast<size_t>(CommandKind::kSweep) + 2);
constexpr std::array<std::string_view, 7> kOutcomeNames = {"ok",   "refused", "not_found",      "invalid",
                                                           "busy", "error",   "unknown_outcome"};
// Why a holder's token was refused, in classes (the event's reason carries numbers and
// times, too many distinct values for a label).
constexpr std::array<std::string_view, 5> kRejectionReasonNames = {"unknown_token", "stale_token", "lease_expired",
                                                                   "attempt_ended", "other"};
constexpr std::array<std::string_view, 5> kAttemptEndNames = {"completed", "failed", "released", "expired", "exited"};

size_t OutcomeIndex(Code code) {
  switch (code) {
    case Code::kOk: return 0;
    case Code::kRefused: return 1;
    case Code::kNotFound: return 2;
    case Code::kInvalidArgument: return 3;
    case Code::kBusy: return 4;
    case Code::kUnknownOutcome: return 6;
    default: return 5;
  }
}

size_t RejectionReasonIndex(std::string_view reason) {
  if (reason.starts_with("unknown token")) return 0;
  if (reason.starts_with("stale token")) return 1;
  if (reason.starts_with("lease expired")) return 2;
  if (reason.starts_with("attempt already ended")) return 3;
  return 4;
}

// Seconds, for timings and buckets: 0.5 ms to 10 s.
std::vector<double> LatencyBounds() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

// Task timings in seconds, for waits, attempts and recoveries: 10 ms to a day.
std::vector<double> TaskTimeBounds() {
  return {0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400};
}

double SecondsBetween(int64_t from_ns, int64_t to_ns) {
  return static_cast<double>(std::max<int64_t>(to_ns - from_ns, 0)) / 1e9;
}

// Commands in one group: powers of two up to the committer's default group limit (4096).
std::vector<double> GroupSizeBounds() {
  std::vector<double> bounds;
  for (double b = 1; b <= 4096; b *= 2) bounds.push_back(b);
  return bounds;
}

}  // namespace

std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof(buffer), value, std::chars_format::general);
  (void)error;  // 64 bytes hold any double's shortest form
  return std::string(buffer, end);
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) { counts_.assign(bounds_.size() + 1, 0); }

void Histogram::Observe(double value) {
  // The first bound >= value: buckets are "less than or equal".
  const size_t bucket = static_cast<size_t>(std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
  MutexLock lock(&mutex_);
  counts_[bucket]++;
  sum_ += value;
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot snapshot;
  snapshot.bounds = bounds_;
  MutexLock lock(&mutex_);
  uint64_t running = 0;
  for (const uint64_t count : counts_) {
    running += count;
    snapshot.cumulative.push_back(running);
  }
  snapshot.sum = sum_;
  return snapshot;
}

void MetricsText::Family(std::string_view name, std::string_view type, std::string_view help) {
  text_.append("# HELP ").append(name).append(" ").append(help).append("\n");
  text_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
}

void MetricsText::Name(std::string_view name, const Labels& labels) {
  text_.append(name);
  if (labels.empty()) return;
  text_ += '{';
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) text_ += ',';
    text_.append(labels[i].first).append("=\"").append(EscapeLabelValue(labels[i].second)).append("\"");
  }
  text_ += '}';
}

void MetricsText::Sample(std::string_view name, const Labels& labels, double value) {
  Name(name, labels);
  text_.append(" ").append(FormatValue(value)).append("\n");
}

void MetricsText::Sample(std::string_view name, const Labels& labels, uint64_t value) {
  Name(name, labels);
  text_.append(" ").append(std::to_string(value)).append("\n");
}

void MetricsText::HistogramSamples(std::string_view name, const Labels& labels, const Histogram::Snapshot& snapshot) {
  const std::string bucket = std::string(name) + "_bucket";
  for (size_t i = 0; i < snapshot.cumulative.size(); ++i) {
    Labels with_le = labels;
    with_le.emplace_back("le", i < snapshot.bounds.size() ? FormatValue(snapshot.bounds[i]) : "+Inf");
    Sample(bucket, with_le, snapshot.cumulative[i]);
  }
  Sample(std::string(name) + "_sum", labels, snapshot.sum);
  Sample(std::string(name) + "_count", labels, snapshot.cumulative.empty() ? 0 : snapshot.cumulative.back());
}

void TaskCounts::Add(const TaskView& view) {
  Queue& queue = queues_[view.settled.spec.queue];
  queue.by_status[static_cast<size_t>(view.status)]++;
  // Evaluate() settles a lapsed lease, so a running view's deadline is ahead: a live lease.
  if (view.status == TaskStatus::kRunning && view.settled.attempt_open) queue.active_leases++;
}

TaskTimings::TaskTimings(size_t max_tasks, Observer observer) : max_tasks_(max_tasks), observer_(std::move(observer)) {}

size_t TaskTimings::tracked() const {
  MutexLock lock(&mutex_);
  return tasks_.size();
}

TaskTimings::InFlight* TaskTimings::Find(const std::string& id, bool create) {
  if (const auto it = tasks_.find(id); it != tasks_.end()) return &it->second;
  // Bounded: beyond max_tasks_ a new task is not tracked and its timings go unobserved.
  if (!create || tasks_.size() >= max_tasks_) return nullptr;
  return &tasks_[id];
}

void TaskTimings::EndAttempt(InFlight& task, AttemptEnd how, int64_t end_ns) {
  if (task.claimed_ns > 0) observer_.attempt(how, SecondsBetween(task.claimed_ns, end_ns));
  task.claimed_ns = 0;
  task.deadline_ns = 0;
  task.signaled = false;
  task.claimable_ns = how == AttemptEnd::kBlocked ? 0 : end_ns;
  // A lost holder (lease lapse) costs time until the next claim: from the signal if one
  // came first.
  if ((how == AttemptEnd::kExpired || how == AttemptEnd::kInterrupted) && task.recovery_from_ns == 0) {
    task.recovery_from_ns = end_ns;
  }
}

void TaskTimings::Observe(const Outcome& outcome) {
  if (outcome.reply.events.empty()) return;
  MutexLock lock(&mutex_);
  for (const Event& e : outcome.reply.events) OnEvent(e);
  // The command's own task as it stands after the command: finished tasks are forgotten,
  // and a running one's deadline is the reply's (heartbeats and signals move it).
  if (!outcome.status.ok() || outcome.reply.task_id.empty()) return;
  const auto it = tasks_.find(outcome.reply.task_id);
  if (it == tasks_.end()) return;
  switch (outcome.reply.status) {
    case TaskStatus::kDone:
    case TaskStatus::kCancelled:
    case TaskStatus::kDead: tasks_.erase(it); break;
    case TaskStatus::kRunning:
      if (it->second.claimed_ns > 0) it->second.deadline_ns = outcome.reply.deadline_ns;
      break;
    default: break;
  }
}

void TaskTimings::OnEvent(const Event& e) {
  const bool starts = e.kind == EventKind::kCreated || e.kind == EventKind::kClaimed ||
                      e.kind == EventKind::kUnblocked || e.kind == EventKind::kRevived ||
                      e.kind == EventKind::kSignaled || e.kind == EventKind::kLeaseExpired;
  InFlight* task = Find(e.task_id, starts);
  if (task == nullptr) return;
  // A lease that lapsed before this event ended its attempt at the deadline, whether or
  // not a sweep marked it (the ledger settles it the same way).
  if (task->claimed_ns > 0 && task->deadline_ns > 0 && task->deadline_ns <= e.time_ns) {
    EndAttempt(*task, task->signaled ? AttemptEnd::kInterrupted : AttemptEnd::kExpired, task->deadline_ns);
  }
  const int64_t t = e.time_ns;
  switch (e.kind) {
    case EventKind::kCreated: *task = InFlight{std::max(t, e.spec.not_before_ns)}; break;
    case EventKind::kClaimed:
      if (task->claimable_ns > 0) observer_.queue_wait(SecondsBetween(task->claimable_ns, t));
      if (task->recovery_from_ns > 0) observer_.recovery(SecondsBetween(task->recovery_from_ns, t));
      *task = InFlight{};
      task->claimed_ns = t;
      task->deadline_ns = e.ttl_ns > 0 ? t + e.ttl_ns : 0;  // refined by the claim's reply
      break;
    case EventKind::kSignaled:
      if (task->claimed_ns > 0) task->signaled = true;
      if (task->recovery_from_ns == 0) task->recovery_from_ns = t;
      break;
    case EventKind::kCompleted: EndAttempt(*task, AttemptEnd::kCompleted, t); break;
    case EventKind::kFailed: EndAttempt(*task, AttemptEnd::kFailed, t); break;
    case EventKind::kReleased: EndAttempt(*task, AttemptEnd::kReleased, t); break;
    case EventKind::kExited:
      // After `completed` (complete --with-exit) the attempt has already ended.
      if (task->claimed_ns > 0) EndAttempt(*task, task->signaled ? AttemptEnd::kInterrupted : AttemptEnd::kExited, t);
      break;
    case EventKind::kBlocked:
      if (task->claimed_ns > 0) EndAttempt(*task, AttemptEnd::kBlocked, t);
      task->claimable_ns = 0;
      break;
    case EventKind::kCancelled:
      if (task->claimed_ns > 0) EndAttempt(*task, AttemptEnd::kCancelled, t);
      task->claimable_ns = 0;
      break;
    case EventKind::kUnblocked:
    case EventKind::kRevived: task->claimable_ns = t; break;
    case EventKind::kLeaseExpired:
      // The marker of a lapse: the attempt ended at the deadline it names.
      if (task->claimed_ns > 0) {
        EndAttempt(*task, task->signaled ? AttemptEnd::kInterrupted : AttemptEnd::kExpired, e.deadline_ns);
      } else {
        if (task->recovery_from_ns == 0) task->recovery_from_ns = e.deadline_ns;
        if (task->claimable_ns == 0) task->claimable_ns = e.deadline_ns;
      }
      break;
    case EventKind::kHeartbeat:
    case EventKind::kRejected:
    case EventKind::kAnnotated: break;  // an imported fact: it changes no attempt
  }
}

ServerMetrics::ServerMetrics(BuildInfo build)
    : build_(std::move(build)),
      command_seconds_(LatencyBounds()),
      group_seconds_(LatencyBounds()),
      fsync_seconds_(LatencyBounds()),
      group_size_(GroupSizeBounds()),
      queue_wait_seconds_(TaskTimeBounds()),
      attempt_seconds_{Histogram(TaskTimeBounds()), Histogram(TaskTimeBounds()), Histogram(TaskTimeBounds()),
                       Histogram(TaskTimeBounds()), Histogram(TaskTimeBounds()), Histogram(TaskTimeBounds()),
                       Histogram(TaskTimeBounds()), Histogram(TaskTimeBounds())},
      recovery_seconds_(TaskTimeBounds()),
      timings_(kMaxTimedTasks,
               TaskTimings::Observer{
                   [this](double s) { queue_wait_seconds_.Observe(s); },
                   [this](AttemptEnd how, double s) { attempt_seconds_[static_cast<size_t>(how) - 1].Observe(s); },
                   [this](double s) { recovery_seconds_.Observe(s); }}) {}

void ServerMetrics::CommandDone(std::optional<CommandKind> kind, const Outcome& outcome, double seconds) {
  const size_t kind_index = kind ? static_cast<size_t>(*kind) : kCommandKinds - 1;
  commands_[std::min(kind_index, kCommandKinds - 1)][OutcomeIndex(outcome.status.code())].fetch_add(
      1, std::memory_order_relaxed);
  command_seconds_.Observe(seconds);
  CountEvents(outcome);
  timings_.Observe(outcome);
}

void ServerMetrics::CountEvents(const Outcome& outcome) {
  for (const Event& e : outcome.reply.events) {
    events_[static_cast<size_t>(e.kind)].fetch_add(1, std::memory_order_relaxed);
    std::optional<size_t> ended;
    switch (e.kind) {
      case EventKind::kCompleted: ended = 0; break;
      case EventKind::kFailed: ended = 1; break;
      case EventKind::kReleased: ended = 2; break;
      case EventKind::kLeaseExpired: ended = 3; break;
      // An `exited` that leaves the task done is the completer's record after `completed`
      // (projections/decide.cc): that attempt ended with the completion.
      case EventKind::kExited:
        if (outcome.reply.status != TaskStatus::kDone) ended = 4;
        break;
      case EventKind::kRejected:
        rejections_[static_cast<size_t>(e.rejected_command)][RejectionReasonIndex(e.reason)].fetch_add(
            1, std::memory_order_relaxed);
        break;
      default: break;
    }
    if (ended) attempts_ended_[*ended].fetch_add(1, std::memory_order_relaxed);
  }
}

void ServerMetrics::GroupWritten(size_t commands, double seconds) {
  group_seconds_.Observe(seconds);
  group_size_.Observe(static_cast<double>(commands));
}

void ServerMetrics::Synced(double seconds) { fsync_seconds_.Observe(seconds); }

void ServerMetrics::SetStartupSeconds(double seconds) {
  startup_ns_.store(static_cast<int64_t>(seconds * 1e9), std::memory_order_relaxed);
}

void ServerMetrics::HttpRequest(unsigned code) {
  MutexLock lock(&http_mutex_);
  http_requests_[code]++;
}

std::string ServerMetrics::Render(const ScrapeGauges& gauges) const {
  const auto load = [](const Counter& c) { return c.load(std::memory_order_relaxed); };
  MetricsText out;
  out.Family("taskledger_build_info", "gauge", "The version and revision of this server; always 1.");
  out.Sample("taskledger_build_info", {{"version", build_.version}, {"revision", build_.revision}}, uint64_t{1});

  out.Family("taskledger_commands_total", "counter", "Commands answered, by kind and outcome.");
  for (size_t k = 0; k < kCommandKinds; ++k) {
    for (size_t o = 0; o < kOutcomes; ++o) {
      if (const uint64_t n = load(commands_[k][o]); n > 0) {
        out.Sample("taskledger_commands_total",
                   {{"kind", std::string(kCommandKindNames[k])}, {"outcome", std::string(kOutcomeNames[o])}}, n);
      }
    }
  }
  out.Family("taskledger_command_duration_seconds", "histogram",
             "Time from a command's submission to its durable outcome.");
  out.HistogramSamples("taskledger_command_duration_seconds", {}, command_seconds_.Read());
  out.Family("taskledger_commit_group_duration_seconds", "histogram",
             "Time to validate and write one commit group (before its fsync).");
  out.HistogramSamples("taskledger_commit_group_duration_seconds", {}, group_seconds_.Read());
  out.Family("taskledger_fsync_duration_seconds", "histogram", "Time of one fsync of the write-ahead log.");
  out.HistogramSamples("taskledger_fsync_duration_seconds", {}, fsync_seconds_.Read());
  out.Family("taskledger_commit_group_size", "histogram", "Commands per commit group.");
  out.HistogramSamples("taskledger_commit_group_size", {}, group_size_.Read());

  out.Family("taskledger_events_appended_total", "counter", "Events appended to the log, by kind.");
  for (size_t k = 0; k < events_.size(); ++k) {
    out.Sample("taskledger_events_appended_total",
               {{"kind", std::string(EventKindName(static_cast<EventKind>(k)))}}, load(events_[k]));
  }
  out.Family("taskledger_last_seq", "gauge", "The seq of the last event in the log.");
  out.Sample("taskledger_last_seq", {}, gauges.last_seq);
  out.Family("taskledger_leases_granted_total", "counter", "Leases granted (claimed events).");
  out.Sample("taskledger_leases_granted_total", {}, load(events_[static_cast<size_t>(EventKind::kClaimed)]));
  out.Family("taskledger_leases_renewed_total", "counter", "Leases renewed (heartbeat events).");
  out.Sample("taskledger_leases_renewed_total", {}, load(events_[static_cast<size_t>(EventKind::kHeartbeat)]));
  out.Family("taskledger_leases_expired_total", "counter", "Leases recorded as expired (lease_expired events).");
  out.Sample("taskledger_leases_expired_total", {}, load(events_[static_cast<size_t>(EventKind::kLeaseExpired)]));
  out.Family("taskledger_rejections_total", "counter",
             "Holder commands refused for a token that no longer holds the lease (rejected events), by command and "
             "reason.");
  for (size_t c = 0; c < kHolderCommands; ++c) {
    for (size_t r = 0; r < kRejectionReasons; ++r) {
      if (const uint64_t n = load(rejections_[c][r]); n > 0) {
        out.Sample("taskledger_rejections_total",
                   {{"command", std::string(HolderCommandName(static_cast<HolderCommand>(c)))},
                    {"reason", std::string(kRejectionReasonNames[r])}},
                   n);
      }
    }
  }
  out.Family("taskledger_attempts_ended_total", "counter",
             "Attempts ended by their holder or by lease expiry, by how (blocks and cancels of running tasks are not "
             "counted).");
  for (size_t h = 0; h < kAttemptEnds; ++h) {
    out.Sample("taskledger_attempts_ended_total", {{"how", std::string(kAttemptEndNames[h])}}, load(attempts_ended_[h]));
  }

  out.Family("taskledger_queue_wait_seconds", "histogram",
             "Time from when a task became claimable (created, or its not_before; or the end of its previous "
             "attempt, or its unblock or revive) to its next claimed event; includes dependency and backoff waits. "
             "Tasks created before this server started are not observed until their first attempt here ends.");
  out.HistogramSamples("taskledger_queue_wait_seconds", {}, queue_wait_seconds_.Read());
  out.Family("taskledger_attempt_duration_seconds", "histogram",
             "Time from a claimed event to the end of that attempt, by how it ended (a lapse ends at its deadline). "
             "Attempts claimed before this server started are not observed.");
  for (size_t h = 0; h < kAttemptHows; ++h) {
    out.HistogramSamples("taskledger_attempt_duration_seconds",
                         {{"how", std::string(AttemptEndName(static_cast<AttemptEnd>(h + 1)))}},
                         attempt_seconds_[h].Read());
  }
  out.Family("taskledger_recovery_seconds", "histogram",
             "Time a lost holder cost: from a lease lapse (its deadline) or a signaled event to the task's next "
             "claimed event. Lapses and signals before this server started are not observed.");
  out.HistogramSamples("taskledger_recovery_seconds", {}, recovery_seconds_.Read());

  // Computed at scrape time by a scan of every task, which blocks the event loop.
  const char* const scan_note = " Counted at scrape time by a scan of every task, which blocks the server's event "
                                "loop for its duration (taskledger_tasks_scan_seconds).";
  out.Family("taskledger_tasks", "gauge", std::string("Tasks by queue and status.") + scan_note);
  if (gauges.tasks) {
    for (const auto& [queue, counts] : gauges.tasks->queues()) {
      for (size_t s = 0; s < counts.by_status.size(); ++s) {
        out.Sample("taskledger_tasks",
                   {{"queue", queue}, {"status", std::string(TaskStatusName(static_cast<TaskStatus>(s)))}},
                   counts.by_status[s]);
      }
    }
  }
  out.Family("taskledger_active_leases", "gauge",
             std::string("Tasks running with a live lease (deadline ahead), by queue.") + scan_note);
  if (gauges.tasks) {
    for (const auto& [queue, counts] : gauges.tasks->queues()) {
      out.Sample("taskledger_active_leases", {{"queue", queue}}, counts.active_leases);
    }
  }
  out.Family("taskledger_tasks_scan_seconds", "gauge",
             "How long this scrape's scan of every task (for taskledger_tasks and taskledger_active_leases) blocked "
             "the server's event loop.");
  out.Sample("taskledger_tasks_scan_seconds", {}, gauges.tasks_scan_seconds);

  out.Family("taskledger_connections", "gauge", "Open RPC connections.");
  out.Sample("taskledger_connections", {}, static_cast<uint64_t>(connections_.load(std::memory_order_relaxed)));
  out.Family("taskledger_startup_seconds", "gauge", "Time this server took to open the ledger.");
  out.Sample("taskledger_startup_seconds", {}, static_cast<double>(startup_ns_.load(std::memory_order_relaxed)) / 1e9);
  out.Family("taskledger_http_requests_total", "counter", "HTTP requests answered, by status code.");
  {
    MutexLock lock(&http_mutex_);
    for (const auto& [code, n] : http_requests_) out.Sample("taskledger_http_requests_total", {{"code", std::to_string(code)}}, n);
  }
  return out.text();
}

}  // namespace taskledger::server
