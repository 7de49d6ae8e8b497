// FitTimelineRange: the default edges of `timeline` fit what the lanes show (issue 13,
// item 5: a page drawn long after the work squeezed every bar against the left edge).
#include <gtest/gtest.h>

#include "projections/timeline.h"

namespace taskledger {
namespace {

constexpr int64_t kT0 = 1'700'000'000 * kNanosPerSecond;
constexpr int64_t kSec = kNanosPerSecond;

TimelineLane Lane(int64_t created_ns, int64_t last_ns) {
  TimelineLane lane;
  lane.history.created_ns = created_ns;
  lane.history.record.last_ns = last_ns;
  return lane;
}

AttemptStory Attempt(int64_t claimed_ns, int64_t end_ns, bool open) {
  AttemptStory a;
  a.claimed_ns = claimed_ns;
  a.end_ns = end_ns;
  a.open = open;
  return a;
}

TEST(TimelineRangeTest, FinishedWorkFitsItsOwnSpanNotNow) {
  const std::vector<TimelineLane> lanes = {Lane(kT0, kT0 + 40 * kSec), Lane(kT0 + 10 * kSec, kT0 + 100 * kSec)};
  const TimelineRange r = FitTimelineRange(lanes, /*now_ns=*/kT0 + 3600 * kSec);
  // 100 s of work, 2% margin each side: the bars fill the page, an hour later or not.
  EXPECT_EQ(r.from_ns, kT0 - 2 * kSec);
  EXPECT_EQ(r.to_ns, kT0 + 102 * kSec);
}

TEST(TimelineRangeTest, ARunningAttemptReachesNow) {
  std::vector<TimelineLane> lanes = {Lane(kT0, kT0 + 10 * kSec)};
  lanes[0].history.attempts.push_back(Attempt(kT0 + 5 * kSec, 0, /*open=*/true));
  const TimelineRange r = FitTimelineRange(lanes, kT0 + 200 * kSec);
  EXPECT_EQ(r.to_ns, kT0 + 200 * kSec);
  EXPECT_EQ(r.from_ns, kT0 - 4 * kSec);  // 2% of the 200 s to now
}

TEST(TimelineRangeTest, ALapseDerivedAfterTheLastEventIsInside) {
  std::vector<TimelineLane> lanes = {Lane(kT0, kT0 + 10 * kSec)};
  // Claimed at +10 s with a 30 s lease and never renewed: it ended, unobserved, at +40 s.
  lanes[0].history.attempts.push_back(Attempt(kT0 + 10 * kSec, kT0 + 40 * kSec, /*open=*/false));
  const TimelineRange r = FitTimelineRange(lanes, kT0 + 3600 * kSec);
  EXPECT_GT(r.to_ns, kT0 + 40 * kSec);
  EXPECT_LT(r.to_ns, kT0 + 42 * kSec);
}

TEST(TimelineRangeTest, MarksCountAsMoments) {
  std::vector<TimelineLane> lanes = {Lane(kT0, kT0 + 10 * kSec)};
  ExplainMark late;
  late.time_ns = kT0 + 50 * kSec;  // a zombie's refused heartbeat
  lanes[0].history.marks.push_back(late);
  EXPECT_EQ(FitTimelineRange(lanes, kT0 + 3600 * kSec).to_ns, kT0 + 51 * kSec);
}

TEST(TimelineRangeTest, GivenEdgesAreKept) {
  const std::vector<TimelineLane> lanes = {Lane(kT0, kT0 + 100 * kSec)};
  const TimelineRange both = FitTimelineRange(lanes, kT0 + 3600 * kSec, kT0 + 20 * kSec, kT0 + 30 * kSec);
  EXPECT_EQ(both.from_ns, kT0 + 20 * kSec);
  EXPECT_EQ(both.to_ns, kT0 + 30 * kSec);
  const TimelineRange since = FitTimelineRange(lanes, kT0 + 3600 * kSec, kT0 + 20 * kSec, 0);
  EXPECT_EQ(since.from_ns, kT0 + 20 * kSec);
  EXPECT_EQ(since.to_ns, kT0 + 102 * kSec);
  const TimelineRange until = FitTimelineRange(lanes, kT0 + 3600 * kSec, 0, kT0 + 50 * kSec);
  EXPECT_EQ(until.to_ns, kT0 + 50 * kSec);
  EXPECT_EQ(until.from_ns, kT0 - 2 * kSec);
}

TEST(TimelineRangeTest, OneInstantGetsASecondAroundIt) {
  const TimelineRange r = FitTimelineRange({Lane(kT0, kT0)}, kT0 + 3600 * kSec);
  EXPECT_EQ(r.to_ns - r.from_ns, kSec);
  EXPECT_LT(r.from_ns, kT0);
  EXPECT_GT(r.to_ns, kT0);
}

TEST(TimelineRangeTest, NoLanesShowTheLastSecond) {
  const TimelineRange r = FitTimelineRange({}, kT0);
  EXPECT_EQ(r.from_ns, kT0 - kSec);
  EXPECT_EQ(r.to_ns, kT0);
}

TEST(TimelineRangeTest, TheRangeIsNeverEmpty) {
  // --since after everything shown: the right edge still lies after the left one.
  const TimelineRange r = FitTimelineRange({Lane(kT0, kT0 + 10 * kSec)}, kT0 + 3600 * kSec, kT0 + 60 * kSec, 0);
  EXPECT_EQ(r.from_ns, kT0 + 60 * kSec);
  EXPECT_EQ(r.to_ns, kT0 + 61 * kSec);
}

}  // namespace
}  // namespace taskledger
