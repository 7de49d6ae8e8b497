// The derivation rules of DESIGN §4, one test per rule, on hand-built events at explicit
// times. Nothing here reads a clock.
#include "projections/task.h"

#include <gtest/gtest.h>

#include <vector>

#include "test_util.h"

namespace taskledger {
namespace {

using test::Deps;
using test::Fold;
using test::kMin;
using test::kMs;
using test::kSec;
using test::kT0;
using test::TestSpec;

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

// ---- how an attempt ends ----

TEST(DerivationTest, ExitAfterSignalIsInterruptedNotAFailureAndClaimableAtOnce) {
  for (bool by_signal : {false, true}) {
    SCOPED_TRACE(by_signal ? "killed by SIGTERM" : "exit code 143");
    Fold f;
    TL_ASSERT_OK(f.Claim(kT0, 30 * kSec));
    TL_ASSERT_OK(f.Signal(kT0 + 5 * kSec, f.token(), 10 * kSec));
    const int64_t exit_at = kT0 + 6 * kSec;
    TL_ASSERT_OK(by_signal ? f.ExitSignal(exit_at, f.token(), "SIGTERM") : f.ExitCode(exit_at, f.token(), 143));
    const TaskRecord& r = f.record();
    EXPECT_FALSE(r.attempt_open);
    EXPECT_EQ(r.last_end, AttemptEnd::kInterrupted);
    EXPECT_EQ(r.last_end_ns, exit_at);
    EXPECT_EQ(r.failures, 0u);
    EXPECT_EQ(r.interruptions, 1u);
    EXPECT_LE(r.backoff_until_ns, exit_at);
    const TaskView v = f.View(exit_at);
    EXPECT_EQ(v.status, TaskStatus::kReady);
    TL_EXPECT_OK(f.Claim(exit_at, 10 * kSec, "w2"));
  }
}

TEST(DerivationTest, ExpiryAfterSignalIsInterrupted) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0, 30 * kSec));
  TL_ASSERT_OK(f.Signal(kT0 + kSec, f.token(), 5 * kSec));
  const TaskView v = f.View(kT0 + 6 * kSec);  // the grace ran out; nobody reported an exit
  EXPECT_EQ(v.status, TaskStatus::kReady);
  EXPECT_EQ(v.settled.last_end, AttemptEnd::kInterrupted);
  EXPECT_EQ(v.settled.last_end_ns, kT0 + 6 * kSec);
  EXPECT_EQ(v.settled.failures, 0u);
  EXPECT_EQ(v.settled.expiries, 0u);
  EXPECT_EQ(v.settled.interruptions, 1u);
  TL_EXPECT_OK(f.Claim(kT0 + 6 * kSec));
}

TEST(DerivationTest, ExitWithoutSignalIsAFailureWhateverTheCode) {
  for (int32_t code : {0, 1, 2, 137, 255, -1}) {
    SCOPED_TRACE("exit code " + std::to_string(code));
    Fold f;
    TL_ASSERT_OK(f.Claim(kT0));
    TL_ASSERT_OK(f.ExitCode(kT0 + 2 * kSec, f.token(), code));
    const TaskRecord& r = f.record();
    EXPECT_EQ(r.last_end, AttemptEnd::kExited);
    EXPECT_EQ(r.failures, 1u);
    EXPECT_FALSE(r.done);
    EXPECT_EQ(r.last_error, "exited with code " + std::to_string(code));
    const TaskView v = f.View(kT0 + 2 * kSec);
    EXPECT_EQ(v.status, TaskStatus::kWaiting);
    EXPECT_EQ(v.wait, WaitReason::kBackoff);
    EXPECT_EQ(v.until_ns, kT0 + 3 * kSec);
  }
}

TEST(DerivationTest, DeathBySignalWithoutPriorSignaledIsAFailure) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0));
  TL_ASSERT_OK(f.ExitSignal(kT0 + 2 * kSec, f.token(), "SIGKILL"));
  const TaskRecord& r = f.record();
  EXPECT_EQ(r.last_end, AttemptEnd::kExited);
  EXPECT_EQ(r.failures, 1u);
  EXPECT_EQ(r.interruptions, 0u);
  EXPECT_EQ(r.last_error, "killed by SIGKILL");
  EXPECT_EQ(f.View(kT0 + 2 * kSec).wait, WaitReason::kBackoff);
}

TEST(DerivationTest, FailedAfterASignalIsStillAFailure) {
  // Only `exited` and expiry after a signal are interruptions; an explicit `failed` is not.
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0, 30 * kSec));
  TL_ASSERT_OK(f.Signal(kT0 + kSec, f.token(), 10 * kSec));
  TL_ASSERT_OK(f.Fail(kT0 + 2 * kSec, f.token()));
  EXPECT_EQ(f.record().last_end, AttemptEnd::kFailed);
  EXPECT_EQ(f.record().failures, 1u);
  EXPECT_EQ(f.View(kT0 + 2 * kSec).until_ns, kT0 + 3 * kSec);
}

TEST(DerivationTest, BackoffIsOneSecondDoublingCappedAtFiveMinutes) {
  const TaskSpec spec = TestSpec();  // 1 s, 300 s: the defaults of limits.h
  EXPECT_EQ(spec.backoff_initial_ns, kDefaultBackoffInitialNs);
  EXPECT_EQ(spec.backoff_max_ns, kDefaultBackoffMaxNs);
  EXPECT_EQ(BackoffNs(spec, 0), 0);
  const int64_t want_s[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300};
  for (uint32_t n = 1; n <= 12; ++n) EXPECT_EQ(BackoffNs(spec, n), want_s[n - 1] * kSec) << n << " failures";
  // No overflow however many failures.
  EXPECT_EQ(BackoffNs(spec, 64), 300 * kSec);
  EXPECT_EQ(BackoffNs(spec, 1'000'000), 300 * kSec);
  EXPECT_EQ(BackoffNs(spec, UINT32_MAX), 300 * kSec);
}

TEST(DerivationTest, BackoffIsConfigurablePerTask) {
  TaskSpec spec = TestSpec();
  spec.backoff_initial_ns = 100 * kMs;
  spec.backoff_max_ns = kSec;
  const int64_t want_ms[] = {100, 200, 400, 800, 1000, 1000};
  for (uint32_t n = 1; n <= 6; ++n) EXPECT_EQ(BackoffNs(spec, n), want_ms[n - 1] * kMs) << n << " failures";
  spec.backoff_initial_ns = 3 * kSec;
  spec.backoff_max_ns = 10 * kSec;
  EXPECT_EQ(BackoffNs(spec, 1), 3 * kSec);
  EXPECT_EQ(BackoffNs(spec, 2), 6 * kSec);
  EXPECT_EQ(BackoffNs(spec, 3), 10 * kSec);
}

TEST(DerivationTest, WaitingUntilTimesFollowTheBackoffSequence) {
  TaskSpec spec = TestSpec();
  spec.max_attempts = 12;
  Fold f(spec);
  int64_t t = kT0;
  const int64_t want_s[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300};
  for (uint32_t n = 1; n <= 11; ++n) {
    SCOPED_TRACE("failure " + std::to_string(n));
    TL_ASSERT_OK(f.Claim(t));
    const int64_t failed_at = t + 3 * kSec;
    if (n % 2 == 0) {
      TL_ASSERT_OK(f.Fail(failed_at, f.token()));
    } else {
      TL_ASSERT_OK(f.ExitCode(failed_at, f.token(), 1));
    }
    const TaskView v = f.View(failed_at);
    ASSERT_EQ(v.status, TaskStatus::kWaiting);
    EXPECT_EQ(v.wait, WaitReason::kBackoff);
    EXPECT_EQ(v.until_ns, failed_at + want_s[n - 1] * kSec);
    EXPECT_EQ(f.record().backoff_until_ns, failed_at + want_s[n - 1] * kSec);
    // Claiming one nanosecond early is refused; at the until time it is accepted.
    TL_EXPECT_DATALOSS(f.Claim(v.until_ns - 1));
    t = v.until_ns;
  }
  EXPECT_EQ(f.record().failures, 11u);
  EXPECT_EQ(f.Own(t), TaskStatus::kReady);
}

TEST(DerivationTest, MaxAttemptsFailuresMakeTheTaskDead) {
  TaskSpec spec = TestSpec();
  spec.max_attempts = 3;
  Fold f(spec);
  TL_ASSERT_OK(f.Claim(kT0));
  TL_ASSERT_OK(f.Fail(kT0 + kSec, f.token()));           // 1: backoff 1 s
  TL_ASSERT_OK(f.Claim(kT0 + 2 * kSec));
  TL_ASSERT_OK(f.ExitCode(kT0 + 3 * kSec, f.token(), 1));  // 2: backoff 2 s
  EXPECT_EQ(f.Own(kT0 + 3 * kSec), TaskStatus::kWaiting);
  TL_ASSERT_OK(f.Claim(kT0 + 5 * kSec, 10 * kSec));
  // 3: an expiry at kT0 + 15 s.
  for (int64_t t : {kT0 + 15 * kSec, kT0 + 15 * kSec + 1, kT0 + 1000 * kSec}) {
    const TaskView v = f.View(t);
    EXPECT_EQ(v.status, TaskStatus::kDead);
    EXPECT_EQ(v.settled.failures, 3u);
    EXPECT_TRUE(v.settled.dead());
    EXPECT_TRUE(v.settled.terminal());
    EXPECT_EQ(f.Own(t), TaskStatus::kDead);
  }
  TL_EXPECT_DATALOSS(f.Claim(kT0 + 1000 * kSec));
}

TEST(DerivationTest, ReleasedIsReadyAtOnceAndNotAFailure) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0));
  TL_ASSERT_OK(f.Release(kT0 + 2 * kSec, f.token()));
  const TaskRecord& r = f.record();
  EXPECT_FALSE(r.attempt_open);
  EXPECT_EQ(r.last_end, AttemptEnd::kReleased);
  EXPECT_EQ(r.failures, 0u);
  EXPECT_EQ(f.View(kT0 + 2 * kSec).status, TaskStatus::kReady);
  TL_EXPECT_OK(f.Claim(kT0 + 2 * kSec, 10 * kSec, "w2"));
}

TEST(DerivationTest, BlockedEndsTheAttemptAndIsNotClaimableUntilUnblocked) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0));
  const uint64_t held = f.token();
  TL_ASSERT_OK(f.Block(kT0 + 2 * kSec, "investigating"));
  EXPECT_FALSE(f.record().attempt_open);
  EXPECT_EQ(f.record().last_end, AttemptEnd::kBlocked);
  EXPECT_EQ(f.record().failures, 0u);
  EXPECT_EQ(f.record().block_reason, "investigating");
  EXPECT_EQ(f.View(kT0 + 2 * kSec).status, TaskStatus::kBlocked);
  EXPECT_EQ(f.View(kT0 + kMin).status, TaskStatus::kBlocked);  // blocked does not lapse
  EXPECT_EQ(f.Own(kT0 + kMin), TaskStatus::kBlocked);
  // Not claimable, and the holder's token is no longer current.
  TL_EXPECT_DATALOSS(f.Claim(kT0 + 3 * kSec));
  TL_EXPECT_DATALOSS(f.Heartbeat(kT0 + 3 * kSec, held));
  TL_EXPECT_DATALOSS(f.Complete(kT0 + 3 * kSec, held));
  TL_EXPECT_DATALOSS(f.Block(kT0 + 3 * kSec));  // already blocked
  TL_ASSERT_OK(f.Unblock(kT0 + 4 * kSec));
  EXPECT_EQ(f.View(kT0 + 4 * kSec).status, TaskStatus::kReady);
  EXPECT_TRUE(f.record().block_reason.empty());
  TL_EXPECT_OK(f.Claim(kT0 + 4 * kSec));
  EXPECT_GT(f.token(), held);
}

TEST(DerivationTest, BlockingAWaitingTaskHoldsItPastItsWait) {
  TaskSpec spec = TestSpec();
  spec.not_before_ns = kT0 + kMin;
  Fold f(spec);
  TL_ASSERT_OK(f.Block(kT0 + kSec));
  EXPECT_EQ(f.View(kT0 + 2 * kMin).status, TaskStatus::kBlocked);
  TL_ASSERT_OK(f.Unblock(kT0 + 2 * kMin));
  EXPECT_EQ(f.View(kT0 + 2 * kMin).status, TaskStatus::kReady);
}

TEST(DerivationTest, CancelledIsTerminal) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0));
  const uint64_t held = f.token();
  TL_ASSERT_OK(f.Cancel(kT0 + kSec));
  EXPECT_FALSE(f.record().attempt_open);
  EXPECT_EQ(f.record().last_end, AttemptEnd::kCancelled);
  EXPECT_EQ(f.record().failures, 0u);
  EXPECT_TRUE(f.record().terminal());
  for (int64_t t : {kT0 + kSec, kT0 + 11 * kSec, kT0 + 1000 * kMin}) {
    EXPECT_EQ(f.View(t).status, TaskStatus::kCancelled);
    EXPECT_EQ(f.Own(t), TaskStatus::kCancelled);
  }
  TL_EXPECT_DATALOSS(f.Claim(kT0 + 2 * kSec));
  TL_EXPECT_DATALOSS(f.Heartbeat(kT0 + 2 * kSec, held));
  TL_EXPECT_DATALOSS(f.Complete(kT0 + 2 * kSec, held));
  TL_EXPECT_DATALOSS(f.ExitCode(kT0 + 2 * kSec, held, 0));
  TL_EXPECT_DATALOSS(f.Block(kT0 + 2 * kSec));
  TL_EXPECT_DATALOSS(f.Cancel(kT0 + 2 * kSec));
  TL_EXPECT_DATALOSS(f.Unblock(kT0 + 2 * kSec));
}

TEST(DerivationTest, CancellingABlockedTaskClearsTheBlock) {
  Fold f;
  TL_ASSERT_OK(f.Block(kT0));
  TL_ASSERT_OK(f.Cancel(kT0 + kSec));
  EXPECT_EQ(f.View(kT0 + kSec).status, TaskStatus::kCancelled);
  TL_ASSERT_OK(f.Revive(kT0 + 2 * kSec));
  EXPECT_EQ(f.View(kT0 + 2 * kSec).status, TaskStatus::kReady);
}

TEST(DerivationTest, RevivedGivesAFreshAttemptBudget) {
  TaskSpec spec = TestSpec();
  spec.max_attempts = 2;
  Fold f(spec);
  TL_ASSERT_OK(f.Claim(kT0));
  TL_ASSERT_OK(f.Fail(kT0 + kSec, f.token()));
  TL_ASSERT_OK(f.Claim(kT0 + 2 * kSec));
  TL_ASSERT_OK(f.Fail(kT0 + 3 * kSec, f.token()));
  ASSERT_EQ(f.View(kT0 + 3 * kSec).status, TaskStatus::kDead);
  TL_EXPECT_DATALOSS(f.Claim(kT0 + kMin));

  TL_ASSERT_OK(f.Revive(kT0 + 4 * kSec));
  EXPECT_EQ(f.record().failures, 0u);
  // Claimable at once: the last failure's backoff does not survive the revive.
  EXPECT_EQ(f.View(kT0 + 4 * kSec).status, TaskStatus::kReady);
  // Two more failures before it is dead again.
  TL_ASSERT_OK(f.Claim(kT0 + 4 * kSec));
  TL_ASSERT_OK(f.Fail(kT0 + 5 * kSec, f.token()));
  EXPECT_EQ(f.View(kT0 + 5 * kSec).status, TaskStatus::kWaiting);
  TL_ASSERT_OK(f.Claim(kT0 + 6 * kSec));
  TL_ASSERT_OK(f.Fail(kT0 + 7 * kSec, f.token()));
  EXPECT_EQ(f.View(kT0 + 7 * kSec).status, TaskStatus::kDead);
  EXPECT_EQ(f.record().attempts, 4u);  // attempts keep counting; the budget is failures
}

TEST(DerivationTest, RevivedCancelledTaskIsClaimableAgain) {
  Fold f;
  TL_ASSERT_OK(f.Cancel(kT0));
  TL_ASSERT_OK(f.Revive(kT0 + kSec));
  EXPECT_FALSE(f.record().cancelled);
  EXPECT_EQ(f.View(kT0 + kSec).status, TaskStatus::kReady);
  TL_EXPECT_OK(f.Claim(kT0 + kSec));
}

TEST(DerivationTest, CompletedMeansDone) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0));
  TL_ASSERT_OK(f.Complete(kT0 + 3 * kSec, f.token(), "42"));
  const TaskRecord& r = f.record();
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.result, "42");
  EXPECT_EQ(r.last_end, AttemptEnd::kCompleted);
  EXPECT_EQ(r.completed_token, f.token());
  EXPECT_FALSE(r.attempt_open);
  for (int64_t t : {kT0 + 3 * kSec, kT0 + 10 * kSec, kT0 + 1000 * kMin}) {
    EXPECT_EQ(f.View(t).status, TaskStatus::kDone);
    EXPECT_EQ(f.Own(t), TaskStatus::kDone);
  }
  TL_EXPECT_DATALOSS(f.Claim(kT0 + kMin));
  TL_EXPECT_DATALOSS(f.Cancel(kT0 + kMin));
  TL_EXPECT_DATALOSS(f.Block(kT0 + kMin));
  TL_EXPECT_DATALOSS(f.Revive(kT0 + kMin));
}

TEST(DerivationTest, ExitedAfterCompletedForTheSameTokenIsAcceptedAndChangesNoState) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0, 10 * kSec));
  const uint64_t token = f.token();
  TL_ASSERT_OK(f.Complete(kT0 + 3 * kSec, token));
  const TaskRecord before = f.record();
  // Even after the lease's deadline: the supervisor reaps the child after completion.
  TL_ASSERT_OK(f.ExitCode(kT0 + 20 * kSec, token, 0));
  TaskRecord after = f.record();
  EXPECT_TRUE(after.completed_exit_recorded);
  EXPECT_EQ(f.View(kT0 + 20 * kSec).status, TaskStatus::kDone);
  // Nothing else moved.
  after.completed_exit_recorded = before.completed_exit_recorded;
  after.last_seq = before.last_seq;
  after.last_ns = before.last_ns;
  EXPECT_EQ(after, before);
  // Only once, and only for that token.
  TL_EXPECT_DATALOSS(f.ExitCode(kT0 + 21 * kSec, token, 0));
}

TEST(DerivationTest, ExitedAfterCompletedWithAnotherTokenIsRefused) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0, 10 * kSec));
  const uint64_t token = f.token();
  TL_ASSERT_OK(f.Complete(kT0 + kSec, token));
  TL_EXPECT_DATALOSS(f.ExitCode(kT0 + 2 * kSec, token + 1, 0));
  TL_EXPECT_DATALOSS(f.ExitCode(kT0 + 2 * kSec, 0, 0));
  TL_EXPECT_OK(f.ExitSignal(kT0 + 2 * kSec, token, "SIGKILL"));  // any exit record of that attempt
  EXPECT_TRUE(f.record().done);
}

TEST(DerivationTest, ADeadOrCancelledDependencyBlocks) {
  TaskSpec spec = TestSpec();
  spec.after = {"a", "b"};
  Fold f(spec, kT0, "c");
  for (TaskStatus dead : {TaskStatus::kDead, TaskStatus::kCancelled}) {
    const TaskView v = f.View(kT0, Deps({{"a", TaskStatus::kRunning}, {"b", dead}}));
    EXPECT_EQ(v.status, TaskStatus::kBlocked) << TaskStatusName(dead);
    EXPECT_EQ(v.dependency, "b");
    EXPECT_EQ(v.dependency_status, dead);
    // The task's own status is not blocked: nobody blocked it.
    EXPECT_EQ(f.Own(kT0), TaskStatus::kReady);
  }
  // When the dependency is revived and completes, the dependent proceeds.
  EXPECT_EQ(f.View(kT0, Deps({{"a", TaskStatus::kDone}, {"b", TaskStatus::kReady}})).status, TaskStatus::kWaiting);
  EXPECT_EQ(f.View(kT0, Deps({{"a", TaskStatus::kDone}, {"b", TaskStatus::kDone}})).status, TaskStatus::kReady);
}

TEST(DerivationTest, LeaseExpiredMarkerChangesNothingTheDerivationHadNotDerived) {
  Fold marked;
  Fold unmarked;
  TL_ASSERT_OK(marked.Claim(kT0));
  TL_ASSERT_OK(unmarked.Claim(kT0));
  const int64_t deadline = kT0 + 10 * kSec;
  TL_ASSERT_OK(marked.LeaseExpired(deadline + 5 * kSec, marked.token(), deadline));
  for (int64_t t : {deadline + 5 * kSec, deadline + 11 * kSec, deadline + kMin}) {
    TaskView a = marked.View(t);
    TaskView b = unmarked.View(t);
    EXPECT_EQ(a.status, b.status);
    EXPECT_EQ(a.until_ns, b.until_ns);
    a.settled.last_seq = b.settled.last_seq;
    a.settled.last_ns = b.settled.last_ns;
    EXPECT_EQ(a.settled, b.settled);
  }
}

TEST(DerivationTest, RejectedCountsTheZombieAndChangesNoState) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0));
  const uint64_t stale = f.token();
  TL_ASSERT_OK(f.Claim(kT0 + 12 * kSec, 10 * kSec, "w2"));  // after the expiry + 1 s backoff
  const TaskRecord before = f.record();
  TL_ASSERT_OK(f.Rejected(kT0 + 13 * kSec, stale));
  TaskRecord after = f.record();
  EXPECT_EQ(after.rejections, 1u);
  EXPECT_EQ(f.View(kT0 + 13 * kSec).status, TaskStatus::kRunning);
  after.rejections = before.rejections;
  after.last_seq = before.last_seq;
  after.last_ns = before.last_ns;
  EXPECT_EQ(after, before);
}

// ---- ApplyEvent refuses what the rules could not have accepted ----

TEST(ApplyEventTest, RefusesAHeartbeatWithAStaleToken) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0));
  const uint64_t stale = f.token();
  TL_ASSERT_OK(f.Release(kT0 + kSec, stale));
  TL_ASSERT_OK(f.Claim(kT0 + kSec, 10 * kSec, "w2"));
  const Status s = f.Heartbeat(kT0 + 2 * kSec, stale);
  EXPECT_EQ(s.code(), Code::kDataLoss);
  EXPECT_NE(s.message().find("seq " + std::to_string(f.next_seq())), std::string::npos) << s.message();
  TL_EXPECT_DATALOSS(f.Heartbeat(kT0 + 2 * kSec, f.token() + 7));  // a token never issued
  TL_EXPECT_DATALOSS(f.Heartbeat(kT0 + 2 * kSec, 0));
  TL_EXPECT_OK(f.Heartbeat(kT0 + 2 * kSec, f.token()));
}

TEST(ApplyEventTest, RefusesHolderCommandsAtOrAfterTheDeadline) {
  const int64_t deadline = kT0 + 10 * kSec;
  for (int64_t t : {deadline, deadline + 1, deadline + kMin}) {
    SCOPED_TRACE(t - deadline);
    Fold f;
    TL_ASSERT_OK(f.Claim(kT0, 10 * kSec));
    const uint64_t token = f.token();
    // Nobody else claimed it; still a late holder cannot resurrect the lease.
    TL_EXPECT_DATALOSS(f.Heartbeat(t, token));
    TL_EXPECT_DATALOSS(f.Complete(t, token));
    TL_EXPECT_DATALOSS(f.Fail(t, token));
    TL_EXPECT_DATALOSS(f.Release(t, token));
    TL_EXPECT_DATALOSS(f.Signal(t, token, kSec));
    TL_EXPECT_DATALOSS(f.ExitCode(t, token, 0));
  }
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0, 10 * kSec));
  TL_EXPECT_OK(f.Heartbeat(deadline - 1, f.token()));
}

// Replay folds in place and relies on this: a refused event changes nothing, also when
// the lease had lapsed before it (settling happens only if the event is accepted).
TEST(ApplyEventTest, ARefusedEventLeavesTheRecordUnchanged) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0, 10 * kSec));
  const uint64_t token = f.token();
  TL_ASSERT_OK(f.Heartbeat(kT0 + kSec, token));
  const TaskRecord live = f.record();
  TL_EXPECT_DATALOSS(f.Heartbeat(kT0 + 2 * kSec, token + 1));  // lease live, wrong token
  EXPECT_EQ(f.record(), live);
  TL_EXPECT_DATALOSS(f.Complete(kT0 + kMin, token));  // lease lapsed at kT0 + 11 s
  EXPECT_EQ(f.record(), live);
  EXPECT_TRUE(f.record().attempt_open);
  TL_EXPECT_DATALOSS(f.Claim(kT0 + 2 * kSec, 10 * kSec, "w2"));  // not claimable: running
  EXPECT_EQ(f.record(), live);
  // An accepted event after the lapse still settles the expiry first.
  TL_ASSERT_OK(f.Claim(kT0 + kMin, 10 * kSec, "w2"));
  EXPECT_EQ(f.record().expiries, 1u);
  EXPECT_EQ(f.record().attempts, 2u);
}

TEST(ApplyEventTest, RefusesAClaimOfATaskThatWasNotClaimable) {
  {
    Fold f;  // running
    TL_ASSERT_OK(f.Claim(kT0));
    TL_EXPECT_DATALOSS(f.Claim(kT0 + kSec, 10 * kSec, "w2"));
  }
  {
    Fold f;  // waiting: backoff
    TL_ASSERT_OK(f.Claim(kT0));
    TL_ASSERT_OK(f.Fail(kT0 + kSec, f.token()));
    TL_EXPECT_DATALOSS(f.Claim(kT0 + 2 * kSec - 1));
  }
  {
    Fold f;  // blocked
    TL_ASSERT_OK(f.Block(kT0));
    TL_EXPECT_DATALOSS(f.Claim(kT0 + kSec));
  }
  {
    Fold f;  // done
    TL_ASSERT_OK(f.Claim(kT0));
    TL_ASSERT_OK(f.Complete(kT0 + kSec, f.token()));
    TL_EXPECT_DATALOSS(f.Claim(kT0 + 2 * kSec));
  }
}

TEST(ApplyEventTest, RefusesAClaimWhoseTokenIsNotItsSeqOrWithoutTtl) {
  Fold f;
  Event e = test::MakeEvent(EventKind::kClaimed, f.next_seq(), kT0, "a", f.next_seq() + 1);
  e.ttl_ns = 10 * kSec;
  TL_EXPECT_DATALOSS(f.Apply(e));
  e.token = f.next_seq();
  e.ttl_ns = 0;
  TL_EXPECT_DATALOSS(f.Apply(e));
  e.ttl_ns = -kSec;
  TL_EXPECT_DATALOSS(f.Apply(e));
  e.ttl_ns = kSec;
  TL_EXPECT_OK(f.Apply(e));
}

TEST(ApplyEventTest, RefusesEventsAfterATerminalStateOtherThanTheAllowedOnes) {
  {
    Fold f;  // done: only the completing attempt's `exited` (and rejections) may follow
    TL_ASSERT_OK(f.Claim(kT0));
    const uint64_t token = f.token();
    TL_ASSERT_OK(f.Complete(kT0 + kSec, token));
    TL_EXPECT_DATALOSS(f.Heartbeat(kT0 + 2 * kSec, token));
    TL_EXPECT_DATALOSS(f.Complete(kT0 + 2 * kSec, token));
    TL_EXPECT_DATALOSS(f.Fail(kT0 + 2 * kSec, token));
    TL_EXPECT_DATALOSS(f.Release(kT0 + 2 * kSec, token));
    TL_EXPECT_DATALOSS(f.Signal(kT0 + 2 * kSec, token, kSec));
    TL_EXPECT_DATALOSS(f.Block(kT0 + 2 * kSec));
    TL_EXPECT_DATALOSS(f.Unblock(kT0 + 2 * kSec));
    TL_EXPECT_DATALOSS(f.Cancel(kT0 + 2 * kSec));
    TL_EXPECT_DATALOSS(f.Revive(kT0 + 2 * kSec));
    TL_EXPECT_DATALOSS(f.LeaseExpired(kT0 + 20 * kSec, token, kT0 + 10 * kSec));
    TL_EXPECT_OK(f.ExitCode(kT0 + 2 * kSec, token, 0));
  }
  {
    TaskSpec spec = TestSpec();  // dead: only revive (or cancel) by an operator
    spec.max_attempts = 1;
    Fold f(spec);
    TL_ASSERT_OK(f.Claim(kT0));
    TL_ASSERT_OK(f.Fail(kT0 + kSec, f.token()));
    ASSERT_TRUE(f.record().dead());
    TL_EXPECT_DATALOSS(f.Claim(kT0 + kMin));
    TL_EXPECT_DATALOSS(f.Block(kT0 + kMin));
    TL_EXPECT_DATALOSS(f.Unblock(kT0 + kMin));
    TL_EXPECT_OK(f.Revive(kT0 + kMin));
  }
}

TEST(ApplyEventTest, RefusesOperatorEventsTheStateDoesNotAllow) {
  Fold f;
  TL_EXPECT_DATALOSS(f.Unblock(kT0));  // not blocked
  TL_EXPECT_DATALOSS(f.Revive(kT0));   // neither dead nor cancelled
  TL_ASSERT_OK(f.Block(kT0));
  TL_EXPECT_DATALOSS(f.Block(kT0));    // already blocked
}

TEST(ApplyEventTest, RefusesALeaseExpiredMarkerForALeaseThatHadNotLapsed) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0, 10 * kSec));
  const uint64_t token = f.token();
  const int64_t deadline = kT0 + 10 * kSec;
  TL_EXPECT_DATALOSS(f.LeaseExpired(deadline - 1, token, deadline - 1));  // still live
  TL_EXPECT_DATALOSS(f.LeaseExpired(deadline, token, deadline + 1));      // a deadline in the future
  TL_EXPECT_DATALOSS(f.LeaseExpired(deadline, token, deadline - kSec));   // not the deadline
  TL_EXPECT_DATALOSS(f.LeaseExpired(deadline, token + 1, deadline));      // not the token
  TL_EXPECT_OK(f.LeaseExpired(deadline, token, deadline));
  // Observed once: the same lapse cannot be marked after a new claim ended it otherwise.
  TL_ASSERT_OK(f.Claim(deadline + kSec, 10 * kSec));
  TL_ASSERT_OK(f.Release(deadline + 2 * kSec, f.token()));
  TL_EXPECT_DATALOSS(f.LeaseExpired(deadline + 3 * kSec, token, deadline));
}

TEST(ApplyEventTest, RefusesACreateOfAnExistingTaskAndEventsOfNoTask) {
  Fold f;
  Event created = test::MakeEvent(EventKind::kCreated, f.next_seq(), kT0, "a");
  created.spec = TestSpec();
  TL_EXPECT_DATALOSS(f.Apply(created));
  TaskRecord empty;
  TL_EXPECT_DATALOSS(ApplyEvent(&empty, test::MakeEvent(EventKind::kHeartbeat, 2, kT0, "a", 1)));
  TL_EXPECT_DATALOSS(ApplyEvent(&empty, test::MakeEvent(EventKind::kUnblocked, 2, kT0, "a")));
}

TEST(ApplyEventTest, RefusesTimeGoingBackwardsAndSeqNotIncreasing) {
  Fold f(TestSpec(), kT0 + kMin);
  TL_EXPECT_DATALOSS(f.Claim(kT0));  // before the task's last event
  Event e = test::MakeEvent(EventKind::kClaimed, 1, kT0 + kMin, "a", 1);  // seq 1 again
  e.ttl_ns = kSec;
  TL_EXPECT_DATALOSS(f.Apply(e));
  TL_EXPECT_OK(f.Claim(kT0 + kMin));  // the same time is fine
}

// ---- Settle is idempotent in time; evaluation is a pure function ----

std::vector<TaskRecord> SampleRecords() {
  std::vector<TaskRecord> out;
  {
    Fold f;
    out.push_back(f.record());  // ready
    EXPECT_TRUE(f.Claim(kT0, 10 * kSec).ok());
    out.push_back(f.record());  // running
    EXPECT_TRUE(f.Heartbeat(kT0 + 5 * kSec, f.token()).ok());
    out.push_back(f.record());
    EXPECT_TRUE(f.Signal(kT0 + 6 * kSec, f.token(), 2 * kSec).ok());
    out.push_back(f.record());  // signaled
  }
  {
    TaskSpec spec = TestSpec();
    spec.max_attempts = 1;
    spec.max_runtime_ns = 7 * kSec;
    Fold f(spec);
    EXPECT_TRUE(f.Claim(kT0, 10 * kSec).ok());
    out.push_back(f.record());  // lapses into dead
    EXPECT_TRUE(f.Fail(kT0 + kSec, f.token()).ok());
    out.push_back(f.record());  // dead
  }
  return out;
}

TEST(SettleTest, SettleIsIdempotentInTime) {
  const std::vector<TaskRecord> records = SampleRecords();
  std::vector<int64_t> times;
  for (int64_t dt = -kSec; dt <= 20 * kSec; dt += 500 * kMs) times.push_back(kT0 + dt);
  for (size_t i = 0; i < records.size(); ++i) {
    for (int64_t t1 : times) {
      for (int64_t t2 : times) {
        if (t1 > t2) continue;
        TaskRecord twice = records[i];
        Settle(&twice, t1);
        Settle(&twice, t2);
        TaskRecord once = records[i];
        Settle(&once, t2);
        ASSERT_EQ(twice, once) << "record " << i << " t1=" << t1 - kT0 << " t2=" << t2 - kT0;
        // And settling again at the same time changes nothing.
        TaskRecord again = once;
        Settle(&again, t2);
        ASSERT_EQ(again, once);
      }
    }
  }
}

TEST(SettleTest, EvaluateIsAPureFunctionOfTheRecordAndTime) {
  const std::vector<TaskRecord> records = SampleRecords();
  for (const TaskRecord& r : records) {
    for (int64_t t = kT0; t <= kT0 + 20 * kSec; t += 250 * kMs) {
      const TaskView a = Evaluate(r, t, {});
      const TaskView b = Evaluate(r, t, {});
      EXPECT_EQ(a.status, b.status);
      EXPECT_EQ(a.until_ns, b.until_ns);
      EXPECT_EQ(a.settled, b.settled);
      EXPECT_EQ(OwnStatus(r, t), a.status);  // no dependencies: own status is the status
      if (a.status == TaskStatus::kRunning) {
        EXPECT_LT(t, a.until_ns);
      }
    }
  }
}

TEST(NamesTest, StatusAndEndNamesRoundTrip) {
  for (int i = 0; i < kTaskStatusCount; ++i) {
    const TaskStatus s = static_cast<TaskStatus>(i);
    EXPECT_EQ(TaskStatusFromName(TaskStatusName(s)), s);
  }
  EXPECT_FALSE(TaskStatusFromName("zombie").has_value());
  EXPECT_EQ(AttemptEndName(AttemptEnd::kInterrupted), "interrupted");
  EXPECT_EQ(WaitReasonName(WaitReason::kNotBefore), "not_before");
  for (int i = 0; i < kEventKindCount; ++i) {
    const EventKind k = static_cast<EventKind>(i);
    EXPECT_EQ(EventKindFromName(EventKindName(k)), k);
  }
}

}  // namespace
}  // namespace taskledger
