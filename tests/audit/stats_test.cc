// `stats` numbers (projections/stats.h) over the three stories of DESIGN §7 together,
// counted by hand: outcomes, lapses, zombies by worker and host, recovery times, top tasks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "projections/stats.h"
#include "tests/audit/story.h"

namespace taskledger::audit_test {
namespace {

StatsInput Stories(int64_t now_ns, int64_t since_ns = 0) {
  StatsInput input;
  input.now_ns = now_ns;
  input.since_ns = since_ns;
  for (const StoryLog& log : {SigtermStory(), SigstopStory(), SigkillStory()}) {
    const Replay replay = log.ReplayAt(now_ns);
    for (const TaskRecord* record : replay.Tasks()) {
      std::vector<Event> events;
      for (const Event& e : log.events()) {
        if (e.task_id == record->id) events.push_back(e);
      }
      input.histories.push_back(*BuildHistory(events, now_ns));
      input.statuses.push_back(replay.View(*record, now_ns).status);
    }
    for (const Event& e : log.events()) {
      if (e.time_ns >= since_ns) input.events_by_kind[e.kind]++;
    }
    input.last_seq += log.events().size();
  }
  return input;
}

TEST(Stats, CountsTheStoriesOutcomesLapsesAndZombies) {
  const LedgerStats s = ComputeStats(Stories(kT0 + 40 * kSec));
  EXPECT_EQ(s.tasks, 4u);
  EXPECT_EQ(s.by_status.at("done"), 3u);
  EXPECT_EQ(s.by_status.at("ready"), 1u);
  EXPECT_EQ(s.by_status.at("running"), 0u) << "every status is listed";
  EXPECT_EQ(s.attempts, 6u);
  EXPECT_EQ(s.attempts_by_outcome.at("completed"), 3u);
  EXPECT_EQ(s.attempts_by_outcome.at("interrupted"), 1u);
  EXPECT_EQ(s.attempts_by_outcome.at("expired"), 2u);
  EXPECT_EQ(s.attempts_by_outcome.at("running"), 0u);
  EXPECT_EQ(s.failures, 2u);
  EXPECT_EQ(s.expiries, 2u);
  EXPECT_EQ(s.interruptions, 1u);
  EXPECT_EQ(s.lapses, 3u);
  EXPECT_EQ(s.lapses_observed, 1u);
  EXPECT_EQ(s.rejections, 4u);
  EXPECT_EQ(s.rejections_by_worker, (std::map<std::string, uint64_t>{{"w1", 4}}));
  EXPECT_EQ(s.rejections_by_host, (std::map<std::string, uint64_t>{{"node-a", 4}}));
  EXPECT_EQ(s.events_by_kind.at("rejected"), 4u);
  EXPECT_EQ(s.events_by_kind.at("revived"), 0u);
}

TEST(Stats, RecoveryRunsFromEachLapseToTheNextClaim) {
  const LedgerStats s = ComputeStats(Stories(kT0 + 40 * kSec));
  // etl: lapsed at +4s, re-claimed at +4.5s; build: +17s to +20s; job: not re-claimed.
  EXPECT_EQ(s.recovery.count, 2u);
  EXPECT_EQ(s.recovery.p50_ns, 500 * kMs);
  EXPECT_EQ(s.recovery.p99_ns, 3 * kSec);
  EXPECT_EQ(s.recovery.max_ns, 3 * kSec);
  EXPECT_EQ(s.unrecovered, 1u);
}

TEST(Stats, NamesTheLongestRunningAndMostRetriedTasks) {
  const LedgerStats s = ComputeStats(Stories(kT0 + 40 * kSec));
  ASSERT_EQ(s.longest_running.size(), 4u);
  EXPECT_EQ(s.longest_running[0].task, "build");
  EXPECT_EQ(s.longest_running[0].held_ns, 26 * kSec);
  EXPECT_EQ(s.longest_running[1].task, "job");
  EXPECT_EQ(s.longest_running[1].held_ns, 13 * kSec);
  EXPECT_EQ(s.longest_running[2].task, "etl");
  EXPECT_EQ(s.longest_running[2].held_ns, 4500 * kMs);
  ASSERT_EQ(s.most_retried.size(), 2u) << "only tasks claimed more than once";
  EXPECT_EQ(s.most_retried[0].task, "etl");
  EXPECT_EQ(s.most_retried[1].task, "build");
  EXPECT_EQ(s.most_retried[1].failures, 1u);
  EXPECT_EQ(s.most_retried[1].status, TaskStatus::kDone);
}

TEST(Stats, AWindowCountsOnlyWhatHappenedInIt) {
  const LedgerStats s = ComputeStats(Stories(kT0 + 40 * kSec, kT0 + 20 * kSec));
  EXPECT_EQ(s.attempts, 1u) << "w2's claim of build at +20s";
  EXPECT_EQ(s.attempts_by_outcome.at("completed"), 1u);
  EXPECT_EQ(s.attempts_by_outcome.at("expired"), 0u);
  EXPECT_EQ(s.rejections, 3u) << "story 2's zombie, at +25s";
  EXPECT_EQ(s.lapses, 0u);
  EXPECT_EQ(s.recovery.count, 0u);
  EXPECT_EQ(s.by_status.at("done"), 3u) << "statuses are as of now, whatever the window";
  ASSERT_EQ(s.longest_running.size(), 1u);
  EXPECT_EQ(s.longest_running[0].held_ns, 10 * kSec);
}

TEST(Stats, TheFirstJsonKeysKeepTheirPlace) {
  const nlohmann::json j = StatsToJson(ComputeStats(Stories(kT0 + 40 * kSec)));
  for (const char* key : {"tasks", "events", "by_status", "events_by_kind", "attempts", "failures", "expiries",
                          "rejections", "interruptions"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["events"], 12 + 11 + 4);
  EXPECT_EQ(j["recovery"]["p50_ns"], 500 * kMs);
  EXPECT_EQ(j["rejections_by_host"]["node-a"], 4);
  EXPECT_EQ(j["most_retried"][0]["task"], "etl");
}

TEST(Stats, TheTextNamesTheZombiesAndTheRecovery) {
  const std::string text = RenderStats(ComputeStats(Stories(kT0 + 40 * kSec)));
  EXPECT_THAT(text, ::testing::HasSubstr("rejected commands by worker: w1 4; by host: node-a 4\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("recovery, from a lapse to the next claim: 2 lapses, p50 500ms, p99 3s, "
                                         "max 3s; 1 not claimed again yet\n"));
  EXPECT_THAT(text, ::testing::HasSubstr("most retried: build 2 attempts, 1 failures (done)\n"));
}

TEST(Stats, AnEmptyLedgerHasZeros) {
  StatsInput input;
  input.now_ns = kT0;
  const LedgerStats s = ComputeStats(input);
  EXPECT_EQ(s.tasks, 0u);
  EXPECT_EQ(s.recovery.count, 0u);
  EXPECT_TRUE(s.longest_running.empty());
  EXPECT_THAT(RenderStats(s), ::testing::HasSubstr("recovery, from a lapse to the next claim: none"));
}

}  // namespace
}  // namespace taskledger::audit_test
