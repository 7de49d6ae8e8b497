// The derivation rules of DESIGN §4 for a task that has not ended: waiting (dependency,
// not-before, backoff), ready, and running under the lease rule (deadlines, heartbeats,
// the max-runtime cap, signals and their grace). One test per rule, on hand-built events at
// explicit times; nothing here reads a clock. (How an attempt ends: task_attempts_test.cc.)
#include "projections/task.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "test_util.h"

namespace taskledger {
namespace {

using namespace test;

// ---- waiting / ready ----

TEST(DerivationTest, WaitingOnADependencyThatIsNotDone) {
  TaskSpec spec = TestSpec();
  spec.after = {"dep1", "dep2"};
  Fold f(spec);
  TL_ASSERT_OK(f.created());
  for (TaskStatus dep : {TaskStatus::kWaiting, TaskStatus::kReady, TaskStatus::kRunning, TaskStatus::kBlocked}) {
    const TaskView v = f.View(kT0 + kSec, Deps({{"dep1", TaskStatus::kDone}, {"dep2", dep}}));
    EXPECT_EQ(v.status, TaskStatus::kWaiting) << TaskStatusName(dep);
    EXPECT_EQ(v.wait, WaitReason::kDependency);
    EXPECT_EQ(v.dependency, "dep2");
    EXPECT_EQ(v.dependency_status, dep);
  }
  // The first pending dependency is the one named.
  const TaskView both = f.View(kT0, Deps({{"dep1", TaskStatus::kRunning}, {"dep2", TaskStatus::kReady}}));
  EXPECT_EQ(both.dependency, "dep1");
  // An unknown dependency is never taken for done.
  EXPECT_EQ(f.View(kT0, Deps({{"dep1", TaskStatus::kDone}})).status, TaskStatus::kWaiting);
  EXPECT_EQ(f.View(kT0, {}).status, TaskStatus::kWaiting);
  // Once every dependency is done the task is ready.
  EXPECT_EQ(f.View(kT0, Deps({{"dep1", TaskStatus::kDone}, {"dep2", TaskStatus::kDone}})).status,
            TaskStatus::kReady);
  // OwnStatus ignores dependencies: that is what the dependents of this task need.
  EXPECT_EQ(f.Own(kT0), TaskStatus::kReady);
}

TEST(DerivationTest, WaitingForNotBeforeUntilItsTime) {
  TaskSpec spec = TestSpec();
  spec.not_before_ns = kT0 + kMin;
  Fold f(spec);
  TL_ASSERT_OK(f.created());
  const TaskView v = f.View(kT0 + kMin - 1);
  EXPECT_EQ(v.status, TaskStatus::kWaiting);
  EXPECT_EQ(v.wait, WaitReason::kNotBefore);
  EXPECT_EQ(v.until_ns, kT0 + kMin);
  EXPECT_EQ(f.Own(kT0 + kMin - 1), TaskStatus::kWaiting);
  EXPECT_EQ(f.View(kT0 + kMin).status, TaskStatus::kReady);
  EXPECT_EQ(f.Own(kT0 + kMin), TaskStatus::kReady);
  // A claim before the not-before is not a claim the rules accept.
  TL_EXPECT_DATALOSS(f.Claim(kT0 + kMin - 1));
  TL_EXPECT_OK(f.Claim(kT0 + kMin));
}

TEST(DerivationTest, WaitingForBackoffAfterAFailureUntilItEnds) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0));
  TL_ASSERT_OK(f.Fail(kT0 + 2 * kSec, f.token()));
  const TaskView v = f.View(kT0 + 2 * kSec);
  EXPECT_EQ(v.status, TaskStatus::kWaiting);
  EXPECT_EQ(v.wait, WaitReason::kBackoff);
  EXPECT_EQ(v.until_ns, kT0 + 3 * kSec);  // 1 s from the moment the attempt ended
  EXPECT_EQ(f.Own(kT0 + 3 * kSec - 1), TaskStatus::kWaiting);
  EXPECT_EQ(f.View(kT0 + 3 * kSec).status, TaskStatus::kReady);
  EXPECT_EQ(f.record().last_end, AttemptEnd::kFailed);
  EXPECT_EQ(f.record().last_error, "boom");
}

TEST(DerivationTest, ReadyWhenNothingHoldsItBack) {
  Fold f;
  TL_ASSERT_OK(f.created());
  const TaskView v = f.View(kT0);
  EXPECT_EQ(v.status, TaskStatus::kReady);
  EXPECT_EQ(v.wait, WaitReason::kNone);
  EXPECT_EQ(v.until_ns, 0);
  EXPECT_TRUE(v.dependency.empty());
  EXPECT_EQ(f.Own(kT0), TaskStatus::kReady);
  // Ready stays ready as time passes.
  EXPECT_EQ(f.View(kT0 + 365LL * 24 * 3600 * kSec).status, TaskStatus::kReady);
}

// ---- running and the lease rule ----

TEST(DerivationTest, RunningUntilTheDeadline) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0, 10 * kSec, "worker-7"));
  EXPECT_EQ(f.token(), 2u);  // the claim's seq
  const TaskRecord& r = f.record();
  EXPECT_TRUE(r.attempt_open);
  EXPECT_EQ(r.holder, "worker-7");
  EXPECT_EQ(r.attempts, 1u);
  EXPECT_EQ(r.deadline_ns, kT0 + 10 * kSec);
  for (int64_t t : {kT0, kT0 + 5 * kSec, kT0 + 10 * kSec - 1}) {
    const TaskView v = f.View(t);
    EXPECT_EQ(v.status, TaskStatus::kRunning);
    EXPECT_EQ(v.until_ns, kT0 + 10 * kSec);
    EXPECT_EQ(f.Own(t), TaskStatus::kRunning);
  }
}

TEST(DerivationTest, LeaseRuleDeadlineReachedMeansNotRunningAndClaimableAgain) {
  TaskSpec spec = TestSpec();
  spec.backoff_initial_ns = 0;  // no backoff: the lapse alone decides
  spec.max_attempts = 5;
  Fold f(spec);
  TL_ASSERT_OK(f.Claim(kT0, 10 * kSec));
  const int64_t deadline = kT0 + 10 * kSec;
  EXPECT_EQ(f.View(deadline - 1).status, TaskStatus::kRunning);
  // deadline <= T: not running, whatever the holder thinks.
  for (int64_t t : {deadline, deadline + 1, deadline + kMin}) {
    const TaskView v = f.View(t);
    EXPECT_EQ(v.status, TaskStatus::kReady) << t - deadline;
    EXPECT_FALSE(v.settled.attempt_open);
    EXPECT_EQ(v.settled.last_end, AttemptEnd::kExpired);
    EXPECT_EQ(v.settled.last_end_ns, deadline);  // it ended at the deadline, not when noticed
    EXPECT_EQ(f.Own(t), TaskStatus::kReady);
  }
  // Another worker may claim at the deadline itself; the new token supersedes the old one.
  const uint64_t old_token = f.token();
  TL_ASSERT_OK(f.Claim(deadline, 10 * kSec, "w2"));
  EXPECT_GT(f.token(), old_token);
  EXPECT_EQ(f.record().holder, "w2");
  EXPECT_EQ(f.record().expiries, 1u);
  EXPECT_EQ(f.record().failures, 1u);
}

TEST(DerivationTest, LeaseExpiryIsAFailureWithBackoffFromTheDeadline) {
  Fold f;  // backoff 1 s, max attempts 3
  TL_ASSERT_OK(f.Claim(kT0, 10 * kSec));
  const int64_t deadline = kT0 + 10 * kSec;
  // Noticed late, the backoff still runs from the deadline.
  const TaskView v = f.View(deadline + 500 * kMs);
  EXPECT_EQ(v.status, TaskStatus::kWaiting);
  EXPECT_EQ(v.wait, WaitReason::kBackoff);
  EXPECT_EQ(v.until_ns, deadline + kSec);
  EXPECT_EQ(v.settled.failures, 1u);
  EXPECT_EQ(v.settled.expiries, 1u);
  EXPECT_EQ(v.settled.last_error, "lease expired");
  EXPECT_EQ(f.View(deadline + kSec).status, TaskStatus::kReady);
  // Noticed much later: ready (the backoff is long over), same derived record.
  const TaskView late = f.View(deadline + kMin);
  EXPECT_EQ(late.status, TaskStatus::kReady);
  EXPECT_EQ(late.settled, v.settled);
}

TEST(DerivationTest, HeartbeatRenewsTheDeadlineToNowPlusTtl) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0, 10 * kSec));
  TL_ASSERT_OK(f.Heartbeat(kT0 + 8 * kSec, f.token(), "50%"));
  EXPECT_EQ(f.record().deadline_ns, kT0 + 18 * kSec);
  EXPECT_EQ(f.record().heartbeats, 1u);
  EXPECT_EQ(f.record().last_heartbeat_ns, kT0 + 8 * kSec);
  EXPECT_EQ(f.View(kT0 + 18 * kSec - 1).status, TaskStatus::kRunning);
  EXPECT_EQ(f.View(kT0 + 18 * kSec - 1).until_ns, kT0 + 18 * kSec);
  // The last instant before the deadline still renews.
  TL_ASSERT_OK(f.Heartbeat(kT0 + 18 * kSec - 1, f.token()));
  EXPECT_EQ(f.record().deadline_ns, kT0 + 28 * kSec - 1);
  EXPECT_EQ(f.record().heartbeats, 2u);
}

TEST(DerivationTest, HeartbeatNeverRenewsPastTheMaxRuntimeCap) {
  TaskSpec spec = TestSpec();
  spec.max_runtime_ns = 25 * kSec;
  Fold f(spec);
  TL_ASSERT_OK(f.Claim(kT0, 10 * kSec));
  EXPECT_EQ(f.record().deadline_ns, kT0 + 10 * kSec);
  TL_ASSERT_OK(f.Heartbeat(kT0 + 8 * kSec, f.token()));
  EXPECT_EQ(f.record().deadline_ns, kT0 + 18 * kSec);
  TL_ASSERT_OK(f.Heartbeat(kT0 + 16 * kSec, f.token()));
  EXPECT_EQ(f.record().deadline_ns, kT0 + 25 * kSec);  // not 26 s
  TL_ASSERT_OK(f.Heartbeat(kT0 + 24 * kSec, f.token()));
  EXPECT_EQ(f.record().deadline_ns, kT0 + 25 * kSec);
  EXPECT_EQ(f.Own(kT0 + 25 * kSec), TaskStatus::kWaiting);  // expired: a failure, backoff
  TL_EXPECT_DATALOSS(f.Heartbeat(kT0 + 25 * kSec, f.token()));
}

TEST(DerivationTest, ClaimDeadlineIsCappedByMaxRuntime) {
  TaskSpec spec = TestSpec();
  spec.max_runtime_ns = 5 * kSec;
  Fold f(spec);
  TL_ASSERT_OK(f.Claim(kT0 + kSec, 10 * kSec));
  EXPECT_EQ(f.record().deadline_ns, kT0 + 6 * kSec);
  EXPECT_EQ(f.record().runtime_cap_ns, kT0 + 6 * kSec);
  EXPECT_EQ(f.View(kT0 + 6 * kSec - 1).status, TaskStatus::kRunning);
  EXPECT_NE(f.View(kT0 + 6 * kSec).status, TaskStatus::kRunning);
}

TEST(DerivationTest, SignaledCapsTheDeadlineAtSignalTimePlusGrace) {
  {
    Fold f;
    TL_ASSERT_OK(f.Claim(kT0, 30 * kSec));
    TL_ASSERT_OK(f.Signal(kT0 + 5 * kSec, f.token(), 3 * kSec));
    EXPECT_EQ(f.record().deadline_ns, kT0 + 8 * kSec);
    EXPECT_EQ(f.record().signal, "SIGTERM");
    EXPECT_EQ(f.View(kT0 + 8 * kSec - 1).status, TaskStatus::kRunning);
    EXPECT_EQ(f.View(kT0 + 8 * kSec - 1).until_ns, kT0 + 8 * kSec);
    EXPECT_EQ(f.View(kT0 + 8 * kSec).status, TaskStatus::kReady);
  }
  {
    // A grace longer than the lease left does not extend it: min(deadline, now + grace).
    Fold f;
    TL_ASSERT_OK(f.Claim(kT0, 10 * kSec));
    TL_ASSERT_OK(f.Signal(kT0 + 5 * kSec, f.token(), kMin));
    EXPECT_EQ(f.record().deadline_ns, kT0 + 10 * kSec);
  }
}

TEST(DerivationTest, HeartbeatsAfterASignalCannotMoveTheDeadlinePastTheGrace) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0, 30 * kSec));
  TL_ASSERT_OK(f.Signal(kT0 + 5 * kSec, f.token(), 10 * kSec));
  EXPECT_EQ(f.record().deadline_ns, kT0 + 15 * kSec);
  TL_ASSERT_OK(f.Heartbeat(kT0 + 6 * kSec, f.token()));
  EXPECT_EQ(f.record().deadline_ns, kT0 + 15 * kSec);
  TL_ASSERT_OK(f.Heartbeat(kT0 + 14 * kSec, f.token()));
  EXPECT_EQ(f.record().deadline_ns, kT0 + 15 * kSec);
  // A later signal with a longer grace cannot extend the first one's cap either.
  TL_ASSERT_OK(f.Signal(kT0 + 14 * kSec + 500 * kMs, f.token(), kMin));
  EXPECT_EQ(f.record().deadline_ns, kT0 + 15 * kSec);
  TL_ASSERT_OK(f.Heartbeat(kT0 + 15 * kSec - 1, f.token()));
  EXPECT_EQ(f.record().deadline_ns, kT0 + 15 * kSec);
  EXPECT_EQ(f.View(kT0 + 15 * kSec).status, TaskStatus::kReady);
  TL_EXPECT_DATALOSS(f.Heartbeat(kT0 + 15 * kSec, f.token()));
}

TEST(DerivationTest, SignalWithZeroGraceEndsTheLeaseAtOnceAsInterrupted) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0));
  TL_ASSERT_OK(f.Signal(kT0 + kSec, f.token(), 0));
  EXPECT_FALSE(f.record().attempt_open);
  EXPECT_EQ(f.record().last_end, AttemptEnd::kInterrupted);
  EXPECT_EQ(f.View(kT0 + kSec).status, TaskStatus::kReady);
}

}  // namespace
}  // namespace taskledger
