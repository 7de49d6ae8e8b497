// Golden tests of `explain`: the stories of DESIGN §7, built by hand with explicit times
// (tests/audit/story.h), told at chosen moments. A change of wording shows up here as a
// diff to read; the other tests check what the story must say, whatever the wording.
#include <gtest/gtest.h>

#include "projections/explain.h"
#include "tests/audit/story.h"

namespace taskledger::audit_test {
namespace {

// ---- Story 1: SIGTERM, the worker hangs; the dependent proceeds ----

TEST(ExplainGolden, Story1TheSignaledAttemptIsInterruptedAtTheGraceAndTheZombieRefused) {
  EXPECT_EQ(SigtermStory().ExplainText("etl", kT0 + 10 * kSec), R"(task etl "nightly ETL": done, as of 2023-11-14T22:13:30.000Z
created 2023-11-14T22:13:20.000Z by dispatcher: queue default, priority 0, lease ttl 3s, max attempts 3
attempt 1, token 3: claimed by w1 (pid 4242 on node-a) at 2023-11-14T22:13:21.000Z with a 3s lease
  1 heartbeat, the last at 2023-11-14T22:13:22.000Z
  2023-11-14T22:13:23.000Z  SIGTERM recorded by w1 (pid 4242 on node-a) with 1s grace: the lease ends by 2023-11-14T22:13:24.000Z at the latest
  ended 2023-11-14T22:13:24.000Z: interrupted: the lease lapsed at its deadline, 1s after SIGTERM (grace 1s), 2s after the last heartbeat; not a failure, claimable at once
  2023-11-14T22:13:25.000Z  zombie: worker w1 (pid 4242 on node-a) token 3 sent a heartbeat 1s after its lease expired; refused, the current token is 6
attempt 2, token 6: claimed by w2 (pid 5151 on node-b) at 2023-11-14T22:13:24.500Z with a 3s lease
  no heartbeats
  ended 2023-11-14T22:13:26.000Z: completed, result "42 rows"
  2023-11-14T22:13:26.000Z  exited with code 0 recorded by w2 (pid 5151 on node-b) after the completion (no effect)
now: done at 2023-11-14T22:13:26.000Z, result "42 rows"
next: nothing: the task is finished
)");
}

TEST(ExplainGolden, Story1WhileTheGraceRunsTheNextStepIsAnInterruption) {
  EXPECT_EQ(SigtermStory().ExplainText("etl", kT0 + 3500 * kMs), R"(task etl "nightly ETL": running, as of 2023-11-14T22:13:23.500Z
created 2023-11-14T22:13:20.000Z by dispatcher: queue default, priority 0, lease ttl 3s, max attempts 3
attempt 1, token 3: claimed by w1 (pid 4242 on node-a) at 2023-11-14T22:13:21.000Z with a 3s lease
  1 heartbeat, the last at 2023-11-14T22:13:22.000Z
  2023-11-14T22:13:23.000Z  SIGTERM recorded by w1 (pid 4242 on node-a) with 1s grace: the lease ends by 2023-11-14T22:13:24.000Z at the latest
  still open: the lease runs until 2023-11-14T22:13:24.000Z
now: running: held by w1 (token 3) until 2023-11-14T22:13:24.000Z (in 500ms); SIGTERM recorded, so no heartbeat moves the deadline past it
next: w1 has until 2023-11-14T22:13:24.000Z to exit or complete (SIGTERM was recorded: no heartbeat moves the deadline past it); otherwise the lease lapses at 2023-11-14T22:13:24.000Z and the attempt ends as interrupted (not a failure): the task is claimable at once. Commands with any other token are refused
)");
}

TEST(ExplainGolden, Story1TheDependentWaitsForTheRerunThenRuns) {
  EXPECT_EQ(SigtermStory().ExplainText("report", kT0 + 5 * kSec), R"(task report "daily report": waiting, as of 2023-11-14T22:13:25.000Z
created 2023-11-14T22:13:20.000Z by dispatcher: queue default, priority 0, lease ttl 30s, max attempts 3, after etl
now: waiting for dependency etl (running, held by w2 until 2023-11-14T22:13:27.500Z) to be done
next: it becomes claimable once etl is done
)");
  EXPECT_EQ(SigtermStory().ExplainText("report", kT0 + 10 * kSec), R"(task report "daily report": done, as of 2023-11-14T22:13:30.000Z
created 2023-11-14T22:13:20.000Z by dispatcher: queue default, priority 0, lease ttl 30s, max attempts 3, after etl
attempt 1, token 10: claimed by w2 (pid 5151 on node-b) at 2023-11-14T22:13:26.500Z with a 30s lease
  no heartbeats
  ended 2023-11-14T22:13:27.000Z: completed, result "sent"
  2023-11-14T22:13:27.000Z  exited with code 0 recorded by w2 (pid 5151 on node-b) after the completion (no effect)
now: done at 2023-11-14T22:13:27.000Z, result "sent"
next: nothing: the task is finished
)");
}

// ---- Story 2: the holder is frozen past its ttl; its late commands are refused ----

TEST(ExplainGolden, Story2TheFrozenHoldersLeaseExpiresAndItsLateCommandsAreZombieEvidence) {
  EXPECT_EQ(SigstopStory().ExplainText("build", kT0 + 40 * kSec), R"(task build "build the site": done, as of 2023-11-14T22:14:00.000Z
created 2023-11-14T22:13:20.000Z by dispatcher: queue default, priority 0, lease ttl 10s, max attempts 3
attempt 1, token 2: claimed by w1 (pid 100 on node-a) at 2023-11-14T22:13:21.000Z with a 10s lease
  2 heartbeats, the last at 2023-11-14T22:13:27.000Z; the longest silence 10s
  ended 2023-11-14T22:13:37.000Z: expired: the lease lapsed at its deadline, 10s after the last heartbeat; failure 1 of 3 allowed: claimable again after a 1s backoff, at 2023-11-14T22:13:38.000Z
  2023-11-14T22:13:45.000Z  zombie: worker w1 (pid 100 on node-a) token 2 sent a heartbeat 8s after its lease expired; refused, the current token is 5
  2023-11-14T22:13:45.100Z  zombie: worker w1 (pid 100 on node-a) token 2 sent a completion 8.1s after its lease expired; refused, the current token is 5
  2023-11-14T22:13:45.200Z  zombie: worker w1 (pid 100 on node-a) token 2 sent an exit record 8.2s after its lease expired; refused, the current token is 5
attempt 2, token 5: claimed by w2 (pid 200 on node-b) at 2023-11-14T22:13:40.000Z with a 10s lease
  1 heartbeat, the last at 2023-11-14T22:13:47.000Z
  2023-11-14T22:13:47.000Z  heartbeat after 7s of silence (ttl 10s), with 3s of the lease left
  ended 2023-11-14T22:13:50.000Z: completed, result "built"
  2023-11-14T22:13:50.000Z  exited with code 0 recorded by w2 (pid 200 on node-b) after the completion (no effect)
now: done at 2023-11-14T22:13:50.000Z, result "built"
next: nothing: the task is finished
)");
}

TEST(ExplainGolden, Story2RightAfterTheLapseTheTaskWaitsItsBackoff) {
  EXPECT_EQ(SigstopStory().ExplainText("build", kT0 + 17500 * kMs), R"(task build "build the site": waiting, as of 2023-11-14T22:13:37.500Z
created 2023-11-14T22:13:20.000Z by dispatcher: queue default, priority 0, lease ttl 10s, max attempts 3
attempt 1, token 2: claimed by w1 (pid 100 on node-a) at 2023-11-14T22:13:21.000Z with a 10s lease
  2 heartbeats, the last at 2023-11-14T22:13:27.000Z; the longest silence 10s
  ended 2023-11-14T22:13:37.000Z: expired: the lease lapsed at its deadline, 10s after the last heartbeat; failure 1 of 3 allowed: claimable again after a 1s backoff, at 2023-11-14T22:13:38.000Z
now: waiting: retry backoff until 2023-11-14T22:13:38.000Z (in 500ms), after failure 1 of 3 allowed
next: it becomes claimable at 2023-11-14T22:13:38.000Z
)");
}

// ---- Story 3: SIGKILL, nothing more is heard; the lease lapses at its deadline ----

TEST(ExplainGolden, Story3BeforeTheDeadlineTheLeaseStillRuns) {
  EXPECT_EQ(SigkillStory().ExplainText("job", kT0 + 12 * kSec), R"(task job "resize images": running, as of 2023-11-14T22:13:32.000Z
created 2023-11-14T22:13:20.000Z by dispatcher: queue default, priority 0, lease ttl 10s, max attempts 3
attempt 1, token 2: claimed by w1 (pid 300 on node-c) at 2023-11-14T22:13:21.000Z with a 10s lease
  1 heartbeat, the last at 2023-11-14T22:13:24.000Z
  still open: the lease runs until 2023-11-14T22:13:34.000Z
now: running: held by w1 (token 2) until 2023-11-14T22:13:34.000Z (in 2s)
next: w1 keeps the lease by heartbeating before 2023-11-14T22:13:34.000Z (each heartbeat renews it for 10s); otherwise the lease lapses at 2023-11-14T22:13:34.000Z, failure 1 of 3 allowed: the task is claimable again after a 1s backoff, at 2023-11-14T22:13:35.000Z. Commands with any other token are refused
)");
}

TEST(ExplainGolden, Story3AtTheDeadlineTheAttemptExpiresWithoutAnyEvent) {
  EXPECT_EQ(SigkillStory().ExplainText("job", kT0 + 14500 * kMs), R"(task job "resize images": waiting, as of 2023-11-14T22:13:34.500Z
created 2023-11-14T22:13:20.000Z by dispatcher: queue default, priority 0, lease ttl 10s, max attempts 3
attempt 1, token 2: claimed by w1 (pid 300 on node-c) at 2023-11-14T22:13:21.000Z with a 10s lease
  1 heartbeat, the last at 2023-11-14T22:13:24.000Z
  ended 2023-11-14T22:13:34.000Z: expired: the lease lapsed at its deadline, 10s after the last heartbeat; failure 1 of 3 allowed: claimable again after a 1s backoff, at 2023-11-14T22:13:35.000Z
now: waiting: retry backoff until 2023-11-14T22:13:35.000Z (in 500ms), after failure 1 of 3 allowed
next: it becomes claimable at 2023-11-14T22:13:35.000Z
)");
}

TEST(ExplainGolden, Story3AfterTheBackoffTheTaskIsReadyAndTheSweepIsNoted) {
  EXPECT_EQ(SigkillStory().ExplainText("job", kT0 + 20 * kSec), R"(task job "resize images": ready, as of 2023-11-14T22:13:40.000Z
created 2023-11-14T22:13:20.000Z by dispatcher: queue default, priority 0, lease ttl 10s, max attempts 3
attempt 1, token 2: claimed by w1 (pid 300 on node-c) at 2023-11-14T22:13:21.000Z with a 10s lease
  1 heartbeat, the last at 2023-11-14T22:13:24.000Z
  ended 2023-11-14T22:13:34.000Z: expired: the lease lapsed at its deadline, 10s after the last heartbeat; failure 1 of 3 allowed: claimable again after a 1s backoff, at 2023-11-14T22:13:35.000Z
  2023-11-14T22:13:36.000Z  the lapse was observed by sweeper, 2s after the deadline 2023-11-14T22:13:34.000Z
now: ready: claimable now
next: the next `claim job` (or `claim --next --queue default`) starts attempt 2 with a 10s lease
)");
}

}  // namespace
}  // namespace taskledger::audit_test
