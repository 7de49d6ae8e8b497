// What `explain` must say, whatever the wording: every way an attempt ends, every refused
// command, what the task waits for and what comes next, and the same story as JSON.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "projections/explain.h"
#include "tests/audit/story.h"

namespace taskledger::audit_test {
namespace {

using ::testing::HasSubstr;

#define TL_ASSERT_OK_IN_TEST(expr)                              \
  do {                                                          \
    const ::taskledger::Status tl_s_ = (expr);                  \
    ASSERT_TRUE(tl_s_.ok()) << #expr << ": " << tl_s_.ToString(); \
  } while (0)

const StoryLog::Who kW1{"w1", 11, "h1"};

// One task through every ending: failed, exited, released, blocked, killed by a signal
// (dead), revived, interrupted by a zero grace and by an exit after a signal, cancelled.
StoryLog EveryEndingStory() {
  StoryLog log;
  log.Create(kT0, "x", "all endings", 10 * kSec);
  uint64_t t = log.Claim(kT0 + 1 * kSec, "x", kW1, 10 * kSec);
  log.Fail(kT0 + 2 * kSec, "x", t, kW1, "disk full");  // failure 1, backoff to +3s
  t = log.Claim(kT0 + 4 * kSec, "x", kW1, 10 * kSec);
  log.ExitCode(kT0 + 5 * kSec, "x", t, kW1, 3);  // failure 2, backoff 2s to +7s
  t = log.Claim(kT0 + 8 * kSec, "x", kW1, 10 * kSec);
  log.Release(kT0 + 9 * kSec, "x", t, kW1, "shutting down");
  t = log.Claim(kT0 + 10 * kSec, "x", kW1, 10 * kSec);
  log.Operator(EventKind::kBlocked, kT0 + 11 * kSec, "x", "bad input");
  log.Operator(EventKind::kUnblocked, kT0 + 12 * kSec, "x");
  t = log.Claim(kT0 + 13 * kSec, "x", kW1, 10 * kSec);
  log.ExitSignal(kT0 + 14 * kSec, "x", t, kW1, "SIGSEGV");  // failure 3: dead
  log.Operator(EventKind::kRevived, kT0 + 15 * kSec, "x");
  t = log.Claim(kT0 + 16 * kSec, "x", kW1, 10 * kSec);
  log.Signal(kT0 + 17 * kSec, "x", t, kW1, "SIGKILL", 0);
  t = log.Claim(kT0 + 18 * kSec, "x", kW1, 10 * kSec);
  log.Signal(kT0 + 19 * kSec, "x", t, kW1, "SIGINT", 5 * kSec);
  log.ExitSignal(kT0 + 20 * kSec, "x", t, kW1, "SIGINT");
  t = log.Claim(kT0 + 21 * kSec, "x", kW1, 10 * kSec);
  log.Operator(EventKind::kCancelled, kT0 + 22 * kSec, "x", "obsolete");
  log.Rejected(kT0 + 23 * kSec, "x", 999, {"w9", 0, ""}, HolderCommand::kFail, t, "unknown token");
  return log;
}

TEST(Explain, TellsEveryWayAnAttemptEnds) {
  const std::string text = EveryEndingStory().ExplainText("x", kT0 + 30 * kSec);
  EXPECT_THAT(text, HasSubstr("ended 2023-11-14T22:13:22.000Z: failed: \"disk full\"; failure 1 of 3 allowed: "
                              "claimable again after a 1s backoff"));
  EXPECT_THAT(text, HasSubstr("exited: exited with code 3 before completing; failure 2 of 3 allowed: claimable "
                              "again after a 2s backoff"));
  EXPECT_THAT(text, HasSubstr("released by w1: \"shutting down\"; not a failure, claimable at once"));
  EXPECT_THAT(text, HasSubstr("blocked by operator: \"bad input\"; not claimable until unblocked"));
  EXPECT_THAT(text, HasSubstr("2023-11-14T22:13:32.000Z  unblocked by operator"));
  EXPECT_THAT(text, HasSubstr("killed by SIGSEGV before completing; failure 3 of 3 allowed: the task is dead"));
  EXPECT_THAT(text, HasSubstr("revived by operator; a fresh budget of 3 attempts"));
  EXPECT_THAT(text, HasSubstr("interrupted: SIGKILL was recorded with no grace; not a failure"));
  EXPECT_THAT(text, HasSubstr("interrupted: killed by SIGINT after SIGINT; not a failure"));
  EXPECT_THAT(text, HasSubstr("cancelled by operator: \"obsolete\""));
  EXPECT_THAT(text, HasSubstr("zombie: worker w9 token 999 sent a failure report with a token that never held this "
                              "task (unknown token)"));
  EXPECT_THAT(text, HasSubstr("now: cancelled\nnext: nothing, until an operator runs `taskledger revive x`\n"));
}

TEST(Explain, TheAttemptsAreNumberedInClaimOrderWithTheirTokens) {
  Result<Explanation> x = Explain(EveryEndingStory().Input("x", kT0 + 30 * kSec));
  ASSERT_TRUE(x.ok()) << x.status().ToString();
  const std::vector<AttemptStory>& attempts = x->history.attempts;
  ASSERT_EQ(attempts.size(), 8u);
  const AttemptEnd ends[] = {AttemptEnd::kFailed,      AttemptEnd::kExited,      AttemptEnd::kReleased,
                             AttemptEnd::kBlocked,     AttemptEnd::kExited,      AttemptEnd::kInterrupted,
                             AttemptEnd::kInterrupted, AttemptEnd::kCancelled};
  for (size_t i = 0; i < attempts.size(); ++i) {
    EXPECT_EQ(attempts[i].number, i + 1);
    EXPECT_EQ(attempts[i].end, ends[i]) << i;
    EXPECT_FALSE(attempts[i].open);
    EXPECT_FALSE(attempts[i].lapsed) << "every one ended by an event";
  }
  EXPECT_EQ(attempts[0].detail, "disk full");
  EXPECT_EQ(attempts[1].detail, "code 3");
  EXPECT_EQ(attempts[4].detail, "SIGSEGV");
}

TEST(Explain, ADeadTaskWaitsForAnOperator) {
  StoryLog log;
  log.Create(kT0, "d", "dies", 10 * kSec, {}, 1);
  const uint64_t t = log.Claim(kT0 + 1 * kSec, "d", kW1, 10 * kSec);
  log.Fail(kT0 + 2 * kSec, "d", t, kW1, "bad");
  const std::string text = log.ExplainText("d", kT0 + 3 * kSec);
  EXPECT_THAT(text, HasSubstr("failure 1 of 1 allowed: the task is dead"));
  EXPECT_THAT(text, HasSubstr("now: dead: 1 failure of 1 allowed; the last: \"bad\""));
  EXPECT_THAT(text, HasSubstr("next: nothing, until an operator runs `taskledger revive d`"));
}

TEST(Explain, ADeadDependencyBlocksTheDependent) {
  StoryLog log;
  log.Create(kT0, "a", "dies", 10 * kSec, {}, 1);
  log.Create(kT0, "b", "after a", 10 * kSec, {"a"});
  const uint64_t t = log.Claim(kT0 + 1 * kSec, "a", kW1, 10 * kSec);
  log.Fail(kT0 + 2 * kSec, "a", t, kW1, "bad");
  const std::string text = log.ExplainText("b", kT0 + 3 * kSec);
  EXPECT_THAT(text, HasSubstr("now: blocked: dependency a (dead) will never be done"));
  EXPECT_THAT(text, HasSubstr("next: nothing, until a is revived and done"));
}

TEST(Explain, NotBeforeAndBlockedByAnOperatorAreTheWaits) {
  StoryLog log;
  log.Create(kT0, "later", "not yet");
  log.last().spec.not_before_ns = kT0 + 60 * kSec;
  log.Create(kT0, "held", "held back");
  log.Operator(EventKind::kBlocked, kT0 + 1 * kSec, "held", "wait for review");
  const std::string held = log.ExplainText("held", kT0 + 2 * kSec);
  EXPECT_THAT(held, HasSubstr("2023-11-14T22:13:21.000Z  blocked by operator: \"wait for review\""));
  EXPECT_THAT(held, HasSubstr("now: blocked by an operator: \"wait for review\""));
  EXPECT_THAT(held, HasSubstr("next: nothing, until an operator runs `taskledger unblock held`"));
  const std::string later = log.ExplainText("later", kT0 + 2 * kSec);
  EXPECT_THAT(later, HasSubstr("not before 2023-11-14T22:14:20.000Z"));
  EXPECT_THAT(later, HasSubstr("now: waiting: not before 2023-11-14T22:14:20.000Z (in 58s)"));
  EXPECT_THAT(later, HasSubstr("next: it becomes claimable at 2023-11-14T22:14:20.000Z"));
}

TEST(Explain, AHeartbeatAfterALongSilenceIsNoted) {
  StoryLog log;
  log.Create(kT0, "s", "slow", 10 * kSec);
  const uint64_t t = log.Claim(kT0, "s", kW1, 10 * kSec);
  log.Heartbeat(kT0 + 3 * kSec, "s", t, kW1);  // a third of the ttl: the normal beat
  log.Heartbeat(kT0 + 12 * kSec, "s", t, kW1);  // 9s of silence: 1s before the lapse
  const std::string text = log.ExplainText("s", kT0 + 13 * kSec);
  EXPECT_THAT(text, HasSubstr("2023-11-14T22:13:32.000Z  heartbeat after 9s of silence (ttl 10s), with 1s of the "
                              "lease left"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("heartbeat after 3s")));
  EXPECT_THAT(text, HasSubstr("2 heartbeats, the last at 2023-11-14T22:13:32.000Z; the longest silence 9s"));
}

TEST(Explain, AnAttemptCappedByMaxRuntimeSaysSo) {
  StoryLog log;
  log.Create(kT0, "r", "runs long", 10 * kSec);
  log.last().spec.max_runtime_ns = 15 * kSec;
  const uint64_t t = log.Claim(kT0, "r", kW1, 10 * kSec);
  log.Heartbeat(kT0 + 8 * kSec, "r", t, kW1);  // would run to +18s; the cap is +15s
  const std::string text = log.ExplainText("r", kT0 + 20 * kSec);
  EXPECT_THAT(text, HasSubstr("expired: the lease lapsed at its deadline, 7s after the last heartbeat; the deadline "
                              "was the max-runtime cap (15s)"));
}

TEST(Explain, JsonCarriesTheSameStory) {
  Result<Explanation> x = Explain(SigstopStory().Input("build", kT0 + 40 * kSec));
  ASSERT_TRUE(x.ok()) << x.status().ToString();
  const nlohmann::json j = ExplanationToJson(*x);
  EXPECT_EQ(j["task"], "build");
  EXPECT_EQ(j["status"], "done");
  EXPECT_EQ(j["at_ns"], kT0 + 40 * kSec);
  EXPECT_EQ(j["state"], x->state);
  EXPECT_EQ(j["next"], x->next);
  ASSERT_EQ(j["attempts"].size(), 2u);
  const nlohmann::json& first = j["attempts"][0];
  EXPECT_EQ(first["worker"], "w1");
  EXPECT_EQ(first["pid"], 100);
  EXPECT_EQ(first["host"], "node-a");
  EXPECT_EQ(first["end"], "expired");
  EXPECT_EQ(first["lapsed"], true);
  EXPECT_EQ(first["ended_ns"], kT0 + 17 * kSec);
  EXPECT_EQ(first["heartbeats"], 2);
  ASSERT_EQ(first["marks"].size(), 3u);
  for (const nlohmann::json& mark : first["marks"]) EXPECT_EQ(mark["kind"], "rejected");
  EXPECT_EQ(first["marks"][1]["text"],
            "zombie: worker w1 (pid 100 on node-a) token 2 sent a completion 8.1s after its lease expired; refused, "
            "the current token is 5");
  EXPECT_EQ(j["attempts"][1]["end"], "completed");
  EXPECT_EQ(j["attempts"][1]["detail"], "built");
}

TEST(Explain, ARunningTaskNamesItsDeadlineInJson) {
  Result<Explanation> x = Explain(SigkillStory().Input("job", kT0 + 12 * kSec));
  ASSERT_TRUE(x.ok());
  const nlohmann::json j = ExplanationToJson(*x);
  EXPECT_EQ(j["status"], "running");
  EXPECT_EQ(j["deadline_ns"], kT0 + 14 * kSec);
  EXPECT_EQ(j["attempts"][0]["open"], true);
  EXPECT_FALSE(j["attempts"][0].contains("end"));
}

TEST(Explain, AWaitingTaskNamesWhatItWaitsForInJson) {
  Result<Explanation> x = Explain(SigtermStory().Input("report", kT0 + 5 * kSec));
  ASSERT_TRUE(x.ok());
  const nlohmann::json j = ExplanationToJson(*x);
  EXPECT_EQ(j["waiting_for"], "dependency");
  EXPECT_EQ(j["dependency"], "etl");
  EXPECT_EQ(j["dependency_status"], "running");
  EXPECT_TRUE(j["attempts"].empty());
}

TEST(Explain, AHistoryThatBreaksTheRulesIsRefused) {
  StoryLog log;
  log.Create(kT0, "a", "a");
  log.Heartbeat(kT0 + 1 * kSec, "a", 7, kW1);  // no claim: no lease to renew
  Result<TaskHistory> history = BuildHistory(log.events(), kT0 + 2 * kSec);
  ASSERT_FALSE(history.ok());
  EXPECT_EQ(history.status().code(), Code::kDataLoss);
  EXPECT_THAT(history.status().message(), HasSubstr("seq 2"));
  EXPECT_FALSE(BuildHistory({}, kT0).ok());
}

TEST(Explain, TheBuilderStreamsTheSameHistoryAsBuildHistoryAtEveryStep) {
  const StoryLog log = SigstopStory();
  TaskHistoryBuilder builder;
  std::vector<Event> so_far;
  for (const Event& e : log.events()) {
    TL_ASSERT_OK_IN_TEST(builder.Add(e));
    so_far.push_back(e);
    const int64_t at = e.time_ns + 500 * kMs;
    const TaskHistory streamed = builder.Finish(at);
    const TaskHistory whole = *BuildHistory(so_far, at);
    EXPECT_EQ(streamed.attempts.size(), whole.attempts.size()) << e.seq;
    EXPECT_TRUE(streamed.record == whole.record) << e.seq;
    if (whole.attempts.empty()) continue;  // only the created event so far
    EXPECT_EQ(streamed.attempts.back().ending, whole.attempts.back().ending) << e.seq;
  }
  TaskHistoryBuilder fresh;
  EXPECT_EQ(fresh.Add(log.events()[1]).code(), Code::kDataLoss) << "a history starts with its created event";
}

TEST(Explain, TheSameInputAlwaysTellsTheSameStory) {
  const StoryLog log = SigstopStory();
  EXPECT_EQ(log.ExplainText("build", kT0 + 40 * kSec), log.ExplainText("build", kT0 + 40 * kSec));
}

}  // namespace
}  // namespace taskledger::audit_test
