// Pauses and clock skew (issue 15 item 4): a heartbeat after more than half the ttl of
// silence is a pause of the holder; a writer whose clock (the client time its commands
// carry) is off the ledger's by more than kClockSkewBoundNs is flagged once, not at every
// beat. explain tells both, stats counts them, the timeline draws them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "projections/stats.h"
#include "projections/timeline.h"
#include "tests/audit/story.h"

namespace taskledger::audit_test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// w1 runs with its clock 37 s ahead of the ledger's and freezes 8 s between two beats of a
// 10 s lease; the operator's and w2's clocks are right (within the bound).
StoryLog SkewedStory() {
  StoryLog log;
  const StoryLog::Who w1{"w1", 100, "node-a"}, w2{"w2", 200, "node-b"};
  log.Create(kT0, "job", "a job", 10 * kSec);
  const uint64_t t1 = log.Claim(kT0 + 1 * kSec, "job", w1, 10 * kSec);
  log.last().meta.wall_time_ns = kT0 + 38 * kSec;
  log.Heartbeat(kT0 + 4 * kSec, "job", t1, w1);
  log.last().meta.wall_time_ns = kT0 + 41 * kSec;
  log.Heartbeat(kT0 + 12 * kSec, "job", t1, w1);  // 8 s of silence: a pause
  log.last().meta.wall_time_ns = kT0 + 49 * kSec;
  log.Heartbeat(kT0 + 14 * kSec, "job", t1, w1);  // its clock jumped back by 60 s: flagged again
  log.last().meta.wall_time_ns = kT0 - 9 * kSec;
  log.Release(kT0 + 15 * kSec, "job", t1, w1, "shutting down");
  log.last().meta.wall_time_ns = kT0 - 8 * kSec;
  const uint64_t t2 = log.Claim(kT0 + 16 * kSec, "job", w2, 10 * kSec);
  log.last().meta.wall_time_ns = kT0 + 16 * kSec + 300 * kMs;  // a round trip: not skew
  log.Complete(kT0 + 17 * kSec, "job", t2, w2, "done");
  log.last().meta.wall_time_ns = kT0 + 17 * kSec - 1500 * kMs;
  return log;
}

TaskHistory History(const StoryLog& log, int64_t at_ns) {
  Result<TaskHistory> h = BuildHistory(log.events(), at_ns);
  EXPECT_TRUE(h.ok()) << h.status().ToString();
  return *h;
}

TEST(PausesAndSkew, ExplainFlagsAWritersClockOnceAndAgainWhenItMoves) {
  const StoryLog log = SkewedStory();
  const std::string text = log.ExplainText("job", kT0 + 30 * kSec);
  EXPECT_THAT(text, HasSubstr("2023-11-14T22:13:21.000Z  the clock of w1 (pid 100 on node-a) is 37s ahead of the "
                              "ledger's: its own times are not to be trusted (the ledger's decide)"));
  EXPECT_THAT(text, HasSubstr("2023-11-14T22:13:34.000Z  the clock of w1 (pid 100 on node-a) is 23s behind the "
                              "ledger's"));
  EXPECT_THAT(text, HasSubstr("heartbeat after 8s of silence (ttl 10s)"));
  EXPECT_THAT(text, Not(HasSubstr("the clock of w2")));
  const TaskHistory h = History(log, kT0 + 30 * kSec);
  size_t skews = 0;
  for (const ExplainMark& m : h.attempts.at(0).marks) skews += m.kind == "clock_skew";
  EXPECT_EQ(skews, 2u);  // not one per beat
  EXPECT_EQ(h.attempts.at(0).marks.front().value_ns, 37 * kSec);
}

TEST(PausesAndSkew, ExplainJsonCarriesTheFigures) {
  const StoryLog log = SkewedStory();
  Result<Explanation> x = Explain(log.Input("job", kT0 + 30 * kSec));
  ASSERT_TRUE(x.ok());
  const nlohmann::json marks = ExplanationToJson(*x).at("attempts").at(0).at("marks");
  EXPECT_EQ(marks.at(0).at("kind"), "clock_skew");
  EXPECT_EQ(marks.at(0).at("skew_ns"), 37 * kSec);
  bool gap = false;
  for (const nlohmann::json& m : marks) gap |= m.at("kind") == "heartbeat_gap" && m.at("gap_ns") == 8 * kSec;
  EXPECT_TRUE(gap) << marks.dump(1);
}

TEST(PausesAndSkew, StatsCountPausesAndSkewedWriters) {
  const StoryLog log = SkewedStory();
  StatsInput input;
  input.now_ns = kT0 + 30 * kSec;
  input.histories.push_back(History(log, input.now_ns));
  input.statuses.push_back(TaskStatus::kDone);
  const LedgerStats s = ComputeStats(input);
  EXPECT_EQ(s.pauses, 1u);
  EXPECT_EQ(s.longest_pause_ns, 8 * kSec);
  EXPECT_EQ(s.pauses_by_worker.at("w1"), 1u);
  ASSERT_EQ(s.clock_skew_by_writer.size(), 1u);
  EXPECT_EQ(s.clock_skew_by_writer.at("w1"), 37 * kSec);
  const nlohmann::json j = StatsToJson(s);
  EXPECT_EQ(j.at("pauses").at("count"), 1);
  EXPECT_EQ(j.at("clock_skew").at("by_writer").at("w1"), 37 * kSec);
  EXPECT_EQ(j.at("clock_skew").at("bound_ns"), kClockSkewBoundNs);
  const std::string text = RenderStats(s);
  EXPECT_THAT(text, HasSubstr("pauses (a heartbeat after over half the ttl of silence): 1, longest 8s; by worker: w1 1"));
  EXPECT_THAT(text, HasSubstr("clocks off the ledger's by more than 2s: w1 +37s"));
}

TEST(PausesAndSkew, TheTimelineDrawsBoth) {
  const StoryLog log = SkewedStory();
  TimelineOptions options;
  options.from_ns = kT0;
  options.to_ns = kT0 + 30 * kSec;
  const std::string page = RenderTimelineHtml({{History(log, kT0 + 30 * kSec), TaskStatus::kDone}}, options);
  EXPECT_THAT(page, HasSubstr("class=\"mark skew\""));
  EXPECT_THAT(page, HasSubstr("class=\"mark gap\""));
  EXPECT_THAT(page, HasSubstr("is 37s ahead of the ledger"));
}

}  // namespace
}  // namespace taskledger::audit_test
