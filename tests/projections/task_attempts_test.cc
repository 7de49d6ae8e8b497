// The derivation rules of DESIGN §4 for how an attempt ends (completed, failed, exited,
// expired, interrupted, released, blocked, cancelled), backoff, dead and revived tasks,
// and the markers that change no state. One test per rule, on hand-built events at
// explicit times; nothing here reads a clock.
#include "projections/task.h"

#include <gtest/gtest.h>

#include <cstdint>

#include "test_util.h"

namespace taskledger {
namespace {

using namespace test;

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

}  // namespace
}  // namespace taskledger
