// The Prometheus text rendering of tools/server/metrics: label escaping, number formats,
// histograms' cumulative buckets and +Inf, and what ServerMetrics makes of outcomes.
#include "tools/server/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace taskledger::server {
namespace {

TEST(MetricsText, EscapesBackslashQuoteAndNewlineInLabelValues) {
  EXPECT_EQ(EscapeLabelValue("plain"), "plain");
  EXPECT_EQ(EscapeLabelValue(R"(a\b)"), R"(a\\b)");
  EXPECT_EQ(EscapeLabelValue(R"(say "hi")"), R"(say \"hi\")");
  EXPECT_EQ(EscapeLabelValue("two\nlines"), R"(two\nlines)");
  MetricsText text;
  text.Sample("m", {{"a", "x\"y"}, {"b", "\\\n"}}, uint64_t{3});
  EXPECT_EQ(text.text(), "m{a=\"x\\\"y\",b=\"\\\\\\n\"} 3\n");
}

TEST(MetricsText, FormatsValuesAsTheFormatSpellsThem) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(0.0005), "0.0005");
  EXPECT_EQ(FormatValue(2.5), "2.5");
  EXPECT_EQ(FormatValue(4096), "4096");
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
}

TEST(MetricsText, WritesHelpAndTypeOncePerFamily) {
  MetricsText text;
  text.Family("x_total", "counter", "Things.");
  text.Sample("x_total", {}, uint64_t{0});
  EXPECT_EQ(text.text(), "# HELP x_total Things.\n# TYPE x_total counter\nx_total 0\n");
}

TEST(Histogram, BucketsAreCumulativeAndEndWithInf) {
  Histogram histogram({0.1, 1, 10});
  for (const double v : {0.05, 0.1, 0.5, 1.0, 5.0, 50.0, 500.0}) histogram.Observe(v);
  MetricsText text;
  text.HistogramSamples("h_seconds", {{"kind", "x"}}, histogram.Read());
  EXPECT_EQ(text.text(),
            "h_seconds_bucket{kind=\"x\",le=\"0.1\"} 2\n"   // 0.05 and 0.1: le is "less or equal"
            "h_seconds_bucket{kind=\"x\",le=\"1\"} 4\n"
            "h_seconds_bucket{kind=\"x\",le=\"10\"} 5\n"
            "h_seconds_bucket{kind=\"x\",le=\"+Inf\"} 7\n"
            "h_seconds_sum{kind=\"x\"} 556.65\n"
            "h_seconds_count{kind=\"x\"} 7\n");
}

TEST(Histogram, EmptyHasZeroCountsAndSum) {
  Histogram histogram({1});
  MetricsText text;
  text.HistogramSamples("h", {}, histogram.Read());
  EXPECT_EQ(text.text(), "h_bucket{le=\"1\"} 0\nh_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n");
}

Event OfKind(EventKind kind) {
  Event e;
  e.kind = kind;
  return e;
}

TEST(ServerMetrics, CountsOutcomesEventsRejectionsAndAttemptEnds) {
  ServerMetrics metrics(BuildInfo{"1.2.3", "abc\"def"});
  Outcome claimed;
  claimed.reply.events.push_back(OfKind(EventKind::kClaimed));
  metrics.CommandDone(CommandKind::kClaim, claimed, 0.001);
  Outcome rejected{Status::Refused("stale"), {}};
  Event rejection = OfKind(EventKind::kRejected);
  rejection.rejected_command = HolderCommand::kComplete;
  rejection.reason = "lease expired at 2026-01-01T00:00:00Z (3s ago)";
  rejected.reply.events.push_back(rejection);
  metrics.CommandDone(CommandKind::kComplete, rejected, 0.002);
  // complete --with-exit: completed then the completer's exited; one attempt ended.
  Outcome completed;
  completed.reply.status = TaskStatus::kDone;
  completed.reply.events = {OfKind(EventKind::kCompleted), OfKind(EventKind::kExited)};
  metrics.CommandDone(CommandKind::kComplete, completed, 0.003);
  metrics.CommandDone(std::nullopt, Outcome{Status::InvalidArgument("bad"), {}}, 0);
  metrics.HttpRequest(404);

  ScrapeGauges gauges;
  gauges.last_seq = 42;
  const std::string text = metrics.Render(gauges);
  const auto has = [&](const std::string& line) { return text.find("\n" + line + "\n") != std::string::npos; };
  EXPECT_TRUE(has(R"(taskledger_build_info{version="1.2.3",revision="abc\"def"} 1)")) << text;
  EXPECT_TRUE(has(R"(taskledger_commands_total{kind="claim",outcome="ok"} 1)")) << text;
  EXPECT_TRUE(has(R"(taskledger_commands_total{kind="complete",outcome="refused"} 1)")) << text;
  EXPECT_TRUE(has(R"(taskledger_commands_total{kind="complete",outcome="ok"} 1)")) << text;
  EXPECT_TRUE(has(R"(taskledger_commands_total{kind="unknown",outcome="invalid"} 1)")) << text;
  EXPECT_TRUE(has(R"(taskledger_rejections_total{command="complete",reason="lease_expired"} 1)")) << text;
  EXPECT_TRUE(has(R"(taskledger_attempts_ended_total{how="completed"} 1)")) << text;
  EXPECT_TRUE(has(R"(taskledger_attempts_ended_total{how="exited"} 0)")) << text;
  EXPECT_TRUE(has("taskledger_leases_granted_total 1")) << text;
  EXPECT_TRUE(has("taskledger_last_seq 42")) << text;
  EXPECT_TRUE(has("taskledger_command_duration_seconds_count 4")) << text;
  EXPECT_TRUE(has(R"(taskledger_http_requests_total{code="404"} 1)")) << text;
  EXPECT_EQ(text.back(), '\n');
}

constexpr int64_t kS = kNanosPerSecond;
// The tests' times are offsets from here: 0 means "unknown" to TaskTimings (ledger times
// are well after the epoch).
constexpr int64_t kT0 = 1'000'000 * kS;

Event TaskEvent(EventKind kind, const std::string& id, int64_t t) {
  Event e = OfKind(kind);
  e.task_id = id;
  e.time_ns = kT0 + t;
  return e;
}

Outcome Of(std::vector<Event> events, const std::string& task_id = "", TaskStatus status = TaskStatus::kWaiting,
           int64_t deadline_ns = 0) {
  Outcome outcome;
  outcome.reply.task_id = task_id;
  outcome.reply.status = status;
  outcome.reply.deadline_ns = deadline_ns > 0 ? kT0 + deadline_ns : 0;
  outcome.reply.events = std::move(events);
  return outcome;
}

// What a TaskTimings observed, as text: "wait 2", "attempt completed 7", "recovery 3".
class Recorder {
 public:
  TaskTimings::Observer observer() {
    return {[this](double s) { seen.push_back("wait " + FormatValue(s)); },
            [this](AttemptEnd how, double s) {
              seen.push_back("attempt " + std::string(AttemptEndName(how)) + " " + FormatValue(s));
            },
            [this](double s) { seen.push_back("recovery " + FormatValue(s)); }};
  }
  std::vector<std::string> seen;
};

Event Claimed(const std::string& id, int64_t t, int64_t ttl_ns) {
  Event e = TaskEvent(EventKind::kClaimed, id, t);
  e.ttl_ns = ttl_ns;
  return e;
}

TEST(TaskTimings, ObservesWaitAndAttemptAndForgetsDoneTasks) {
  Recorder r;
  TaskTimings timings(10, r.observer());
  timings.Observe(Of({TaskEvent(EventKind::kCreated, "t1", 1 * kS)}, "t1", TaskStatus::kReady));
  timings.Observe(Of({Claimed("t1", 3 * kS, 30 * kS)}, "t1", TaskStatus::kRunning, 33 * kS));
  timings.Observe(Of({TaskEvent(EventKind::kHeartbeat, "t1", 20 * kS)}, "t1", TaskStatus::kRunning, 50 * kS));
  // Past the claim's deadline, but the heartbeat's reply moved it: still the same attempt.
  timings.Observe(Of({TaskEvent(EventKind::kCompleted, "t1", 40 * kS), TaskEvent(EventKind::kExited, "t1", 40 * kS)},
                     "t1", TaskStatus::kDone));
  EXPECT_EQ(r.seen, (std::vector<std::string>{"wait 2", "attempt completed 37"}));
  EXPECT_EQ(timings.tracked(), 0u);
}

TEST(TaskTimings, WaitStartsAtNotBeforeAndAtThePreviousAttemptsEnd) {
  Recorder r;
  TaskTimings timings(10, r.observer());
  Event created = TaskEvent(EventKind::kCreated, "t1", 1 * kS);
  created.spec.not_before_ns = kT0 + 5 * kS;
  timings.Observe(Of({created}));
  timings.Observe(Of({Claimed("t1", 6 * kS, 30 * kS)}, "t1", TaskStatus::kRunning, 36 * kS));
  timings.Observe(Of({TaskEvent(EventKind::kReleased, "t1", 8 * kS)}, "t1", TaskStatus::kReady));
  timings.Observe(Of({Claimed("t1", 11 * kS, 30 * kS)}, "t1", TaskStatus::kRunning, 41 * kS));
  timings.Observe(Of({TaskEvent(EventKind::kFailed, "t1", 12 * kS)}, "t1", TaskStatus::kDead));
  EXPECT_EQ(r.seen, (std::vector<std::string>{"wait 1", "attempt released 2", "wait 3", "attempt failed 1"}));
  EXPECT_EQ(timings.tracked(), 0u) << "a dead task is forgotten";
}

TEST(TaskTimings, ALapseMarkedByASweepEndsTheAttemptAtItsDeadlineAndStartsARecovery) {
  Recorder r;
  TaskTimings timings(10, r.observer());
  timings.Observe(Of({TaskEvent(EventKind::kCreated, "t1", 0)}));
  timings.Observe(Of({Claimed("t1", 1 * kS, 2 * kS)}, "t1", TaskStatus::kRunning, 3 * kS));
  Event lapse = TaskEvent(EventKind::kLeaseExpired, "t1", 10 * kS);
  lapse.deadline_ns = kT0 + 3 * kS;
  timings.Observe(Of({lapse}));  // a sweep: no task in the reply
  timings.Observe(Of({Claimed("t1", 12 * kS, 2 * kS)}, "t1", TaskStatus::kRunning, 14 * kS));
  EXPECT_EQ(r.seen, (std::vector<std::string>{"wait 1", "attempt expired 2", "wait 9", "recovery 9"}));
}

TEST(TaskTimings, ALapseNoSweepMarkedEndsAtTheDeadlineWhenTheNextEventComes) {
  Recorder r;
  TaskTimings timings(10, r.observer());
  timings.Observe(Of({TaskEvent(EventKind::kCreated, "t1", 0)}));
  timings.Observe(Of({Claimed("t1", 0, 2 * kS)}, "t1", TaskStatus::kRunning, 2 * kS));
  timings.Observe(Of({Claimed("t1", 7 * kS, 2 * kS)}, "t1", TaskStatus::kRunning, 9 * kS));
  EXPECT_EQ(r.seen, (std::vector<std::string>{"wait 0", "attempt expired 2", "wait 5", "recovery 5"}));
}

TEST(TaskTimings, ASignalStartsTheRecoveryAndMakesTheEndAnInterruption) {
  Recorder r;
  TaskTimings timings(10, r.observer());
  timings.Observe(Of({TaskEvent(EventKind::kCreated, "t1", 0)}));
  timings.Observe(Of({Claimed("t1", 0, 60 * kS)}, "t1", TaskStatus::kRunning, 60 * kS));
  timings.Observe(Of({TaskEvent(EventKind::kSignaled, "t1", 4 * kS)}, "t1", TaskStatus::kRunning, 14 * kS));
  timings.Observe(Of({TaskEvent(EventKind::kExited, "t1", 6 * kS)}, "t1", TaskStatus::kReady));
  timings.Observe(Of({Claimed("t1", 10 * kS, 60 * kS)}, "t1", TaskStatus::kRunning, 70 * kS));
  EXPECT_EQ(r.seen, (std::vector<std::string>{"wait 0", "attempt interrupted 6", "wait 4", "recovery 6"}));
}

TEST(TaskTimings, ABlockEndsTheAttemptAndTheWaitRestartsAtTheUnblock) {
  Recorder r;
  TaskTimings timings(10, r.observer());
  timings.Observe(Of({TaskEvent(EventKind::kCreated, "t1", 0)}));
  timings.Observe(Of({Claimed("t1", 1 * kS, 60 * kS)}, "t1", TaskStatus::kRunning, 61 * kS));
  timings.Observe(Of({TaskEvent(EventKind::kBlocked, "t1", 2 * kS)}, "t1", TaskStatus::kBlocked));
  timings.Observe(Of({TaskEvent(EventKind::kUnblocked, "t1", 10 * kS)}, "t1", TaskStatus::kReady));
  timings.Observe(Of({Claimed("t1", 14 * kS, 60 * kS)}, "t1", TaskStatus::kRunning, 74 * kS));
  timings.Observe(Of({TaskEvent(EventKind::kCancelled, "t1", 15 * kS)}, "t1", TaskStatus::kCancelled));
  EXPECT_EQ(r.seen, (std::vector<std::string>{"wait 1", "attempt blocked 1", "wait 4", "attempt cancelled 1"}));
  EXPECT_EQ(timings.tracked(), 0u) << "a cancelled task is forgotten";
}

TEST(TaskTimings, SkipsWhatBeganBeforeTheServerStarted) {
  Recorder r;
  TaskTimings timings(10, r.observer());
  // t0 was created and claimed before: its end is not observed, and it is not tracked.
  timings.Observe(Of({TaskEvent(EventKind::kCompleted, "t0", 5 * kS)}, "t0", TaskStatus::kDone));
  // t1 was created before: its first wait is unknown, but the attempt claimed here is timed.
  timings.Observe(Of({Claimed("t1", 6 * kS, 60 * kS)}, "t1", TaskStatus::kRunning, 66 * kS));
  timings.Observe(Of({TaskEvent(EventKind::kCompleted, "t1", 8 * kS)}, "t1", TaskStatus::kDone));
  EXPECT_EQ(r.seen, (std::vector<std::string>{"attempt completed 2"}));
  EXPECT_EQ(timings.tracked(), 0u);
}

TEST(TaskTimings, TracksAtMostItsCapAndSkipsTheRest) {
  Recorder r;
  TaskTimings timings(1, r.observer());
  timings.Observe(Of({TaskEvent(EventKind::kCreated, "t1", 0), TaskEvent(EventKind::kCreated, "t2", 0)}));
  EXPECT_EQ(timings.tracked(), 1u);
  timings.Observe(Of({Claimed("t2", 1 * kS, 60 * kS)}, "t2", TaskStatus::kRunning, 61 * kS));
  timings.Observe(Of({Claimed("t1", 2 * kS, 60 * kS)}, "t1", TaskStatus::kRunning, 62 * kS));
  EXPECT_EQ(r.seen, (std::vector<std::string>{"wait 2"}));
}

TaskView View(const std::string& queue, TaskStatus status) {
  TaskView view;
  view.status = status;
  view.settled.spec.queue = queue;
  view.settled.attempt_open = status == TaskStatus::kRunning;
  return view;
}

TEST(TaskCounts, CountsByQueueAndStatusAndRendersEveryStatusWithEscapedQueues) {
  TaskCounts counts;
  counts.Add(View("default", TaskStatus::kDone));
  counts.Add(View("default", TaskStatus::kDone));
  counts.Add(View("default", TaskStatus::kRunning));
  counts.Add(View("a\"b", TaskStatus::kReady));
  ASSERT_EQ(counts.queues().size(), 2u);
  EXPECT_EQ(counts.queues().at("default").by_status[static_cast<size_t>(TaskStatus::kDone)], 2u);
  EXPECT_EQ(counts.queues().at("default").active_leases, 1u);

  ServerMetrics metrics(BuildInfo{"1", "r"});
  ScrapeGauges gauges;
  gauges.tasks = counts;
  const std::string text = metrics.Render(gauges);
  const auto has = [&](const std::string& line) { return text.find("\n" + line + "\n") != std::string::npos; };
  EXPECT_TRUE(has(R"(taskledger_tasks{queue="default",status="done"} 2)")) << text;
  EXPECT_TRUE(has(R"(taskledger_tasks{queue="default",status="waiting"} 0)")) << text;
  EXPECT_TRUE(has(R"(taskledger_tasks{queue="a\"b",status="ready"} 1)")) << text;
  EXPECT_TRUE(has(R"(taskledger_active_leases{queue="default"} 1)")) << text;
  EXPECT_TRUE(has(R"(taskledger_active_leases{queue="a\"b"} 0)")) << text;
  EXPECT_TRUE(has("# TYPE taskledger_tasks gauge")) << text;
}

TEST(TaskCounts, AFailedScanLeavesTheFamiliesWithoutSamples) {
  ServerMetrics metrics(BuildInfo{"1", "r"});
  const std::string text = metrics.Render(ScrapeGauges{});
  EXPECT_NE(text.find("# TYPE taskledger_tasks gauge\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("taskledger_tasks{"), std::string::npos) << text;
}

TEST(ServerMetrics, RendersTheTaskTimingHistograms) {
  ServerMetrics metrics(BuildInfo{"1", "r"});
  metrics.CommandDone(CommandKind::kCreate, Of({TaskEvent(EventKind::kCreated, "t1", 0)}, "t1", TaskStatus::kReady), 0);
  metrics.CommandDone(CommandKind::kClaim, Of({Claimed("t1", 1 * kS, 60 * kS)}, "t1", TaskStatus::kRunning, 61 * kS),
                      0);
  metrics.CommandDone(CommandKind::kFail, Of({TaskEvent(EventKind::kFailed, "t1", 3 * kS)}, "t1", TaskStatus::kReady),
                      0);
  const std::string text = metrics.Render(ScrapeGauges{});
  const auto has = [&](const std::string& line) { return text.find("\n" + line + "\n") != std::string::npos; };
  EXPECT_TRUE(has("taskledger_queue_wait_seconds_count 1")) << text;
  EXPECT_TRUE(has("taskledger_queue_wait_seconds_sum 1")) << text;
  EXPECT_TRUE(has(R"(taskledger_attempt_duration_seconds_count{how="failed"} 1)")) << text;
  EXPECT_TRUE(has(R"(taskledger_attempt_duration_seconds_sum{how="failed"} 2)")) << text;
  EXPECT_TRUE(has(R"(taskledger_attempt_duration_seconds_count{how="completed"} 0)")) << text;
  EXPECT_TRUE(has("taskledger_recovery_seconds_count 0")) << text;
  EXPECT_TRUE(has("# TYPE taskledger_attempt_duration_seconds histogram")) << text;
}

}  // namespace
}  // namespace taskledger::server
