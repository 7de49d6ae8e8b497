// The timeline page (projections/timeline.h) as text: self-contained, a lane per task,
// bars coloured by how attempts ended, marks with their details, dependency arrows, and a
// scale that stays readable from 1 to 500 lanes. (The browser's view of it is
// tests/audit/cli_audit_test.cc.)
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>

#include "projections/timeline.h"
#include "tests/audit/story.h"

namespace taskledger::audit_test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

std::vector<TimelineLane> Lanes(const StoryLog& log, int64_t at_ns) {
  const Replay replay = log.ReplayAt(at_ns);
  std::vector<TimelineLane> lanes;
  for (const TaskRecord* record : replay.Tasks()) {
    std::vector<Event> events;
    for (const Event& e : log.events()) {
      if (e.task_id == record->id && e.time_ns <= at_ns) events.push_back(e);
    }
    Result<TaskHistory> history = BuildHistory(events, at_ns);
    EXPECT_TRUE(history.ok()) << history.status().ToString();
    lanes.push_back({*history, replay.View(*record, at_ns).status});
  }
  return lanes;
}

std::string Render(const StoryLog& log, int64_t from, int64_t to) {
  return RenderTimelineHtml(Lanes(log, to), {from, to, "test"});
}

TEST(Timeline, IsOneSelfContainedPage) {
  const std::string html = Render(SigtermStory(), kT0, kT0 + 10 * kSec);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_THAT(html, HasSubstr("<svg class=\"timeline\""));
  // One inline script (zoom and pan), nothing it or the page would fetch.
  EXPECT_EQ(Count(html, "<script"), 1u);
  EXPECT_THAT(html, HasSubstr("<script>"));
  EXPECT_THAT(html, Not(HasSubstr("http")));
  EXPECT_THAT(html, Not(HasSubstr("fetch(")));
  EXPECT_THAT(html, Not(HasSubstr("src=")));
  EXPECT_THAT(html, Not(HasSubstr("@import")));
  EXPECT_EQ(Count(html, "href"), 0u);
}

TEST(Timeline, DrawsALanePerTaskWithItsAttemptsColouredByHowTheyEnded) {
  const std::string html = Render(SigtermStory(), kT0, kT0 + 10 * kSec);
  EXPECT_EQ(Count(html, "<g class=\"lane\""), 2u);
  EXPECT_THAT(html, HasSubstr("data-task=\"etl\" data-status=\"done\""));
  EXPECT_THAT(html, HasSubstr("data-task=\"report\" data-status=\"done\""));
  EXPECT_EQ(Count(html, "<rect class=\"attempt interrupted\""), 1u);
  EXPECT_EQ(Count(html, "<rect class=\"attempt completed\""), 2u);
}

TEST(Timeline, MarksSignalsExitsLapsesAndRefusedCommandsWithTheirDetails) {
  const std::string html = Render(SigtermStory(), kT0, kT0 + 10 * kSec);
  EXPECT_EQ(Count(html, "class=\"mark signal\""), 1u);
  EXPECT_EQ(Count(html, "class=\"mark exit\""), 2u);
  EXPECT_EQ(Count(html, "class=\"mark lapse\""), 1u);
  EXPECT_EQ(Count(html, "class=\"mark rejected\""), 1u);
  EXPECT_THAT(html, HasSubstr("zombie: worker w1 (pid 4242 on node-a) token 3 sent a heartbeat 1s after its lease "
                              "expired"));
  EXPECT_THAT(html, HasSubstr("<title>attempt 1, token 3: w1 pid 4242 on node-a\nclaimed 2023-11-14T22:13:21.000Z"));
  EXPECT_EQ(Count(html, "class=\"heartbeat\""), 1u);
}

TEST(Timeline, DrawsAnArrowFromEachDependencyToItsDependent) {
  const std::string html = Render(SigtermStory(), kT0, kT0 + 10 * kSec);
  EXPECT_EQ(Count(html, "<path class=\"dep\""), 1u);
  EXPECT_THAT(html, HasSubstr("<title>report runs after etl</title>"));
}

TEST(Timeline, ARunningAttemptRunsToTheRightEdge) {
  const std::string html = Render(SigkillStory(), kT0, kT0 + 12 * kSec);
  EXPECT_EQ(Count(html, "<rect class=\"attempt running\""), 1u);
  EXPECT_THAT(html, HasSubstr("running; the lease runs until 2023-11-14T22:13:34.000Z"));
}

TEST(Timeline, EscapesWhatTasksAreNamedAndSay) {
  StoryLog log;
  log.Create(kT0, "<b>&\"x'", "<script>alert(1)</script>");
  const std::string html = Render(log, kT0, kT0 + kSec);
  EXPECT_THAT(html, Not(HasSubstr("<script>alert")));
  EXPECT_EQ(Count(html, "<script"), 1u);  // the page's own, not the task's
  EXPECT_THAT(html, Not(HasSubstr("<b>")));
  EXPECT_THAT(html, HasSubstr("data-task=\"&lt;b&gt;&amp;&quot;x&#39;\""));
}

TEST(Timeline, OnlyWhatFallsInTheWindowIsDrawn) {
  // From T0+20s on, story 2 shows w2's attempt and the zombie's refusals, not w1's attempt.
  const std::string html = Render(SigstopStory(), kT0 + 20 * kSec, kT0 + 40 * kSec);
  EXPECT_EQ(Count(html, "<rect class=\"attempt expired\""), 0u);
  EXPECT_EQ(Count(html, "<rect class=\"attempt completed\""), 1u);
  EXPECT_EQ(Count(html, "class=\"mark rejected\""), 3u);
}

double Attribute(const std::string& html, const std::string& pattern) {
  std::smatch match;
  EXPECT_TRUE(std::regex_search(html, match, std::regex(pattern))) << pattern;
  return match.empty() ? 0 : std::stod(match[1]);
}

TEST(Timeline, LanesAndLettersShrinkForManyTasksButStayReadable) {
  StoryLog one, many;
  one.Create(kT0, "t0", "t");
  for (int i = 0; i < 500; ++i) many.Create(kT0, "t" + std::to_string(i), "t");
  const std::string small = Render(one, kT0, kT0 + kSec), big = Render(many, kT0, kT0 + kSec);
  EXPECT_EQ(Count(big, "<g class=\"lane\""), 500u);
  const double font_one = Attribute(small, "font-size=\"([0-9.]+)\""), font_many = Attribute(big, "font-size=\"([0-9.]+)\"");
  EXPECT_GE(font_one, 12);
  EXPECT_GE(font_many, 8) << "still readable";
  EXPECT_LT(font_many, font_one);
  const double height_many = Attribute(big, "<svg class=\"timeline\" width=\"[0-9.]+\" height=\"([0-9.]+)\"");
  EXPECT_LE(height_many, 7000) << "500 lanes scroll, but not forever";
  EXPECT_GE(height_many / 500, 12) << "each lane keeps room for its label";
}

TEST(Timeline, TheAxisLabelsFitTheSpan) {
  EXPECT_THAT(Render(SigtermStory(), kT0, kT0 + 10 * kSec), HasSubstr(">22:13:25<"));
  EXPECT_THAT(Render(SigtermStory(), kT0, kT0 + 500 * kMs), HasSubstr(">22:13:20.100<"));
}

}  // namespace
}  // namespace taskledger::audit_test
