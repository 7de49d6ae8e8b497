// whatif: recorded histories replayed under another lease policy, checked against figures
// computed by hand from the stories' event times (tests/audit/story.h).
#include "projections/whatif.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/audit/story.h"

namespace taskledger::audit_test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

WhatIfReport ReplayUnder(const StoryLog& log, int64_t at_ns, LeasePolicy policy, int64_t since_ns = 0, int64_t until_ns = 0) {
  std::map<std::string, std::vector<Event>> by_task;
  std::vector<std::string> order;
  for (const Event& e : log.events()) {
    if (e.kind == EventKind::kCreated) order.push_back(e.task_id);
    by_task[e.task_id].push_back(e);
  }
  WhatIfInput input;
  input.policy = policy;
  input.at_ns = at_ns;
  input.since_ns = since_ns;
  input.until_ns = until_ns;
  for (const std::string& id : order) {
    Result<TaskHistory> h = BuildHistory(by_task[id], at_ns);
    EXPECT_TRUE(h.ok()) << h.status().ToString();
    input.histories.push_back(*h);
  }
  return WhatIf(input);
}

LeasePolicy Ttl(int64_t ttl_ns) {
  LeasePolicy p;
  p.ttl_ns = ttl_ns;
  return p;
}

// Story 2 (a supervisor frozen past its 10 s lease), as recorded: w1's last heartbeat at
// T+7s, lapse at T+17s (10 s stalled), w2's claim at T+20s (recovery 13 s), and w1 talking
// until T+25.2s (a duplicate run: 8.2 s past its lapse). w2 heartbeats at T+27s and
// completes at T+30s by itself.
TEST(WhatIf, TheRecordedPolicyChangesNothing) {
  const WhatIfReport r = ReplayUnder(SigstopStory(), kT0 + 60 * kSec, Ttl(10 * kSec));
  EXPECT_EQ(r.tasks, 1u);
  EXPECT_EQ(r.attempts, 2u);
  for (const PolicyFigures* f : {&r.recorded, &r.whatif}) {
    EXPECT_EQ(f->stall_ns, 10 * kSec);
    EXPECT_EQ(f->stalls, 1u);
    EXPECT_EQ(f->lapses, 1u);
    EXPECT_EQ(f->duplicate_runs, 1u);
    EXPECT_EQ(f->duplicate_overlap_ns, 8200 * kMs);
    EXPECT_THAT(f->recovery_ns, ElementsAre(13 * kSec));
  }
  EXPECT_EQ(r.extra_retries, 0);
  EXPECT_TRUE(r.by_task.at(0).notes.empty());
}

// Under a 4 s ttl w1 lapses at T+11s (4 s after its T+7s heartbeat): recovery 7 s instead
// of 13. But w2's 7 s silence (T+20s to T+27s) now loses its lease at T+24s while it works
// on: a second duplicate run and one extra retry.
TEST(WhatIf, AShorterTtlRecoversSoonerAndCutsASlowHolder) {
  const WhatIfReport r = ReplayUnder(SigstopStory(), kT0 + 60 * kSec, Ttl(4 * kSec));
  EXPECT_EQ(r.whatif.stall_ns, 8 * kSec);  // 4 s each
  EXPECT_EQ(r.whatif.stalls, 2u);
  EXPECT_EQ(r.whatif.lapses, 2u);
  EXPECT_EQ(r.whatif.duplicate_runs, 2u);
  EXPECT_EQ(r.whatif.duplicate_overlap_ns, 14200 * kMs + 6 * kSec);  // to T+25.2s, and to T+30s
  EXPECT_THAT(r.whatif.recovery_ns, ElementsAre(7 * kSec));
  EXPECT_EQ(r.extra_retries, 1);
  const std::vector<std::string>& notes = r.by_task.at(0).notes;
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_THAT(notes[0], HasSubstr("attempt 1 (w1, token 2): would lapse at 2023-11-14T22:13:31.000Z, 4s after its last renewal"));
  EXPECT_THAT(notes[0], HasSubstr("recorded: held 10s after its last renewal"));
  EXPECT_THAT(notes[1], HasSubstr("attempt 2 (w2"));
  EXPECT_THAT(notes[1], HasSubstr("while its holder was still alive 6s later"));
}

// A longer ttl than w1's silence (T+7s to T+25s is 18 s): its late heartbeat would have
// been accepted, so no lapse, no duplicate, one retry fewer; the frozen holder keeps the
// task to the end of the record.
TEST(WhatIf, ALongTtlKeepsAFrozenHolder) {
  const WhatIfReport r = ReplayUnder(SigstopStory(), kT0 + 60 * kSec, Ttl(20 * kSec));
  EXPECT_EQ(r.whatif.lapses, 0u);
  EXPECT_EQ(r.whatif.duplicate_runs, 0u);
  EXPECT_EQ(r.extra_retries, -1);
}

// The reported bug, natively: a claim the dispatcher kept alive for hours (a 24 h lease)
// while the worker, a zombie after SIGTERM, never renewed it; an operator blocked it 5 h
// later. With a 60 s lease it lapses 60 s after the claim: 5 h of stall become 1 min.
TEST(WhatIf, TheReportedZombieStallsAMinuteInsteadOfHours) {
  StoryLog log;
  const StoryLog::Who w{"kanban-worker", 31337, "box"};
  log.Create(kT0, "t-42", "the stuck task", 24 * 3600 * kSec);
  log.Claim(kT0 + kSec, "t-42", w, 24 * 3600 * kSec);
  log.Operator(EventKind::kBlocked, kT0 + kSec + 5 * 3600 * kSec, "t-42", "stuck, the worker is a zombie");
  const WhatIfReport r = ReplayUnder(log, kT0 + 6 * 3600 * kSec, Ttl(60 * kSec));
  EXPECT_EQ(r.recorded.stall_ns, 5 * 3600 * kSec);
  EXPECT_EQ(r.recorded.lapses, 0u);
  EXPECT_EQ(r.whatif.stall_ns, 60 * kSec);
  EXPECT_EQ(r.whatif.lapses, 1u);
  EXPECT_EQ(r.whatif.duplicate_runs, 0u);  // it never spoke again: nobody ran beside it
  EXPECT_EQ(r.extra_retries, 1);
  EXPECT_THAT(RenderWhatIf(r), HasSubstr("recorded: stalled 5h in 1 attempts"));
  EXPECT_THAT(RenderWhatIf(r), HasSubstr("what if:  stalled 1m in 1 attempts"));
}

// A signal's grace: story 1's w1 got SIGTERM at T+3s with 1 s of grace and hung. A 0.5 s
// grace frees the task 0.5 s sooner; its late heartbeat (T+5s) was a duplicate either way.
TEST(WhatIf, GraceAfterASignal) {
  LeasePolicy p = Ttl(3 * kSec);
  p.grace_ns = 500 * kMs;
  const WhatIfReport r = ReplayUnder(SigtermStory(), kT0 + 60 * kSec, p, 0, 0);
  ASSERT_EQ(r.by_task.size(), 2u);
  const TaskWhatIf& etl = r.by_task[0];
  EXPECT_EQ(etl.task, "etl");
  EXPECT_EQ(etl.recorded.stall_ns, 2 * kSec);     // last heartbeat T+2s, lapse T+4s
  EXPECT_EQ(etl.whatif.stall_ns, 1500 * kMs);     // ... T+3.5s
  EXPECT_EQ(etl.recorded.duplicate_runs, 1u);
  EXPECT_EQ(etl.whatif.duplicate_runs, 1u);
  EXPECT_EQ(etl.extra_retries, 0);
}

TEST(WhatIf, HeartbeatCadenceIsCheckedNotInvented) {
  LeasePolicy p = Ttl(10 * kSec);
  p.heartbeat_every_ns = 2 * kSec;
  const WhatIfReport r = ReplayUnder(SigstopStory(), kT0 + 60 * kSec, p);
  // Recorded renewal gaps over 2 s: w1 T+1s to T+4s, T+4s to T+7s; w2 T+20s to T+27s.
  EXPECT_EQ(r.recorded_gaps_over_heartbeat, 3u);
  EXPECT_TRUE(r.warnings.empty());
  // Same figures as the recorded policy: a shorter cadence adds no heartbeat.
  EXPECT_EQ(r.whatif.stall_ns, r.recorded.stall_ns);
  p.heartbeat_every_ns = 6 * kSec;
  EXPECT_THAT(ReplayUnder(SigstopStory(), kT0 + 60 * kSec, p).warnings,
              ElementsAre(HasSubstr("less than two renewals of --heartbeat-every 6s")));
}

TEST(WhatIf, AWindowSelectsAttemptsByClaimTime) {
  const WhatIfReport r = ReplayUnder(SigstopStory(), kT0 + 60 * kSec, Ttl(4 * kSec), kT0 + 10 * kSec, 0);
  EXPECT_EQ(r.attempts, 1u);  // w2's only
  EXPECT_EQ(r.whatif.duplicate_runs, 1u);
  EXPECT_EQ(ReplayUnder(SigstopStory(), kT0 + 60 * kSec, Ttl(4 * kSec), 0, kT0 + 10 * kSec).attempts, 1u);  // w1's
}

TEST(WhatIf, JsonHasBothSidesAndTheAssumptions) {
  const nlohmann::json j = WhatIfToJson(ReplayUnder(SigstopStory(), kT0 + 60 * kSec, Ttl(4 * kSec)));
  EXPECT_EQ(j.at("policy").at("ttl_ns"), 4 * kSec);
  EXPECT_EQ(j.at("recorded").at("stall_ns"), 10 * kSec);
  EXPECT_EQ(j.at("whatif").at("stall_ns"), 8 * kSec);
  EXPECT_EQ(j.at("whatif").at("recovery_p50_ns"), 7 * kSec);
  EXPECT_EQ(j.at("extra_retries"), 1);
  EXPECT_GE(j.at("assumptions").size(), 4u);
  EXPECT_EQ(j.at("by_task").at(0).at("task"), "build");
  EXPECT_EQ(j.at("by_task").at(0).at("notes").size(), 2u);
}

}  // namespace
}  // namespace taskledger::audit_test
