// ApplyEvent refuses every event the rules of DESIGN §4 could not have accepted, and
// changes nothing when it does; Settle is idempotent in time, Evaluate a pure function;
// the status, end and kind names round-trip. On hand-built events at explicit times.
#include "projections/task.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "test_util.h"

namespace taskledger {
namespace {

using namespace test;

// ---- ApplyEvent refuses what the rules could not have accepted ----

TEST(ApplyEventTest, RefusesAHeartbeatWithAStaleToken) {
  Fold f;
  const uint64_t stale = f.ClaimReleaseAndReclaim(kT0);
  ASSERT_NE(stale, 0u);
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
    Fold f = DeadAfterOneFailure();  // dead: only revive (or cancel) by an operator
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

// An imported fact (import-board) changes no state, whatever the task's status: ready,
// running (the lease keeps its deadline), blocked, done.
TEST(ApplyEventTest, AnAnnotationIsAcceptedInAnyStatusAndChangesNothingButTheLastSeq) {
  Fold fold;
  const auto annotate = [&](int64_t t) {
    Event e = MakeEvent(EventKind::kAnnotated, 0, t, fold.id());
    e.actor = "board";
    e.source_kind = "claim_extended";
    e.source_id = "task_events:1";
    e.text = "{}";
    TaskRecord before = fold.record();
    ASSERT_TRUE(fold.Apply(e).ok());
    before.last_seq = fold.record().last_seq;
    before.last_ns = t;
    EXPECT_EQ(fold.record(), before);
  };
  annotate(kT0 + 1 * kSec);
  ASSERT_TRUE(fold.Claim(kT0 + 2 * kSec).ok());
  const int64_t deadline = fold.record().deadline_ns;
  annotate(kT0 + 3 * kSec);
  EXPECT_EQ(fold.record().deadline_ns, deadline) << "an annotation renews nothing";
  EXPECT_EQ(fold.Own(kT0 + 3 * kSec), TaskStatus::kRunning);
  ASSERT_TRUE(fold.Block(kT0 + 4 * kSec).ok());
  annotate(kT0 + 5 * kSec);
  ASSERT_TRUE(fold.Unblock(kT0 + 6 * kSec).ok());
  ASSERT_TRUE(fold.Claim(kT0 + 7 * kSec).ok());
  ASSERT_TRUE(fold.Complete(kT0 + 8 * kSec, fold.token()).ok());
  annotate(kT0 + 9 * kSec);
  EXPECT_EQ(fold.Own(kT0 + 9 * kSec), TaskStatus::kDone);
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
