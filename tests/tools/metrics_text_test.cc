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

  const std::string text = metrics.Render(ScrapeGauges{42});
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

}  // namespace
}  // namespace taskledger::server
