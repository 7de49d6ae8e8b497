// Reads: time travel (TaskAt, TasksAt), FirstSeqAtOrAfter, ForEachTaskEvent.
#include "ledger/ledger.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ledger/clock.h"
#include "ledger_fixture.h"
#include "ledger_test_fixture.h"
#include "test_util.h"

namespace taskledger {
namespace {

using namespace test;

TEST_F(LedgerTest, TimeTravelReturnsTheStateAsItWas) {
  Create("a");                                   // seq 1 at T0
  clock().Advance(kSec);
  const CommandReply claim = Ok(ClaimCmd("a"));  // seq 2 at T0+1s
  clock().Advance(kSec);
  Create("b", 0, "", {"a"});                     // seq 3 at T0+2s
  clock().Advance(kSec);
  Ok(HolderCmd(CommandKind::kComplete, "a", claim.token));  // seq 4 at T0+3s
  clock().Advance(kMin);

  Result<TasksSnapshot> at1 = L().TasksAt(PointInTime::AtSeq(1));
  ASSERT_TRUE(at1.ok()) << at1.status().ToString();
  EXPECT_EQ(at1->seq, 1u);
  EXPECT_EQ(at1->at_ns, kT0);
  ASSERT_EQ(at1->tasks.size(), 1u);
  EXPECT_EQ(at1->tasks[0].status, TaskStatus::kReady);

  Result<TasksSnapshot> at3 = L().TasksAt(PointInTime::AtSeq(3));
  ASSERT_TRUE(at3.ok());
  ASSERT_EQ(at3->tasks.size(), 2u);
  EXPECT_EQ(at3->at_ns, kT0 + 2 * kSec);
  EXPECT_EQ(at3->tasks[0].settled.id, "a");
  EXPECT_EQ(at3->tasks[0].status, TaskStatus::kRunning);
  EXPECT_EQ(at3->tasks[0].settled.holder, "w1");
  EXPECT_EQ(at3->tasks[1].status, TaskStatus::kWaiting);
  EXPECT_EQ(at3->tasks[1].wait, WaitReason::kDependency);

  Result<TasksSnapshot> now = L().TasksAt(PointInTime::Now());
  ASSERT_TRUE(now.ok());
  ASSERT_EQ(now->tasks.size(), 2u);
  EXPECT_EQ(now->tasks[0].status, TaskStatus::kDone);
  EXPECT_EQ(now->tasks[1].status, TaskStatus::kReady);

  // Single-task time travel by time, between events.
  Result<TaskView> a = L().TaskAt("a", PointInTime::AtTime(kT0 + 1500 * kMs));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->status, TaskStatus::kRunning);
  EXPECT_EQ(a->until_ns, kT0 + kSec + 10 * kSec);
  // Before its creation the task did not exist.
  EXPECT_EQ(L().TaskAt("b", PointInTime::AtTime(kT0 + kSec)).status().code(), Code::kNotFound);
  Result<TaskView> b = L().TaskAt("b", PointInTime::AtTime(kT0 + 2 * kSec));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->status, TaskStatus::kWaiting);
  b = L().TaskAt("b", PointInTime::AtTime(kT0 + 3 * kSec));
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->status, TaskStatus::kReady);
  // At seq 3 (the dependency still running) the dependent waited.
  Result<TaskView> b_seq = L().TaskAt("b", PointInTime::AtSeq(3));
  ASSERT_TRUE(b_seq.ok());
  EXPECT_EQ(b_seq->status, TaskStatus::kWaiting);
  // Past the end of the log.
  EXPECT_FALSE(L().TasksAt(PointInTime::AtSeq(99)).ok());
  EXPECT_FALSE(L().TaskAt("a", PointInTime::AtSeq(99)).ok());
}

TEST_F(LedgerTest, TimeTravelAgreesBetweenSnapshotAndSingleTask) {
  Create("a");
  const CommandReply claim = Ok(ClaimCmd("a", "w1", 4 * kSec));
  clock().Advance(2 * kSec);
  Ok(HolderCmd(CommandKind::kHeartbeat, "a", claim.token));
  clock().Advance(10 * kSec);
  Create("z");
  for (int64_t t = kT0; t <= kT0 + 12 * kSec; t += 500 * kMs) {
    Result<TasksSnapshot> all = L().TasksAt(PointInTime::AtTime(t));
    Result<TaskView> one = L().TaskAt("a", PointInTime::AtTime(t));
    ASSERT_TRUE(all.ok() && one.ok());
    ASSERT_FALSE(all->tasks.empty());
    EXPECT_EQ(all->tasks[0].status, one->status) << t - kT0;
    EXPECT_EQ(all->tasks[0].settled, one->settled) << t - kT0;
  }
  // Lapsed at T0+6s (heartbeat at 2 s + 4 s ttl).
  EXPECT_EQ(L().TaskAt("a", PointInTime::AtTime(kT0 + 6 * kSec - 1))->status, TaskStatus::kRunning);
  EXPECT_EQ(L().TaskAt("a", PointInTime::AtTime(kT0 + 6 * kSec))->status, TaskStatus::kWaiting);
}

TEST_F(LedgerTest, FirstSeqAtOrAfterFindsTheFirstEventOfATime) {
  Create("a");
  Create("b");
  clock().Advance(kSec);
  Create("c");
  EXPECT_EQ(*L().FirstSeqAtOrAfter(0), 1u);
  EXPECT_EQ(*L().FirstSeqAtOrAfter(kT0), 1u);
  EXPECT_EQ(*L().FirstSeqAtOrAfter(kT0 + 1), 3u);
  EXPECT_EQ(*L().FirstSeqAtOrAfter(kT0 + kSec), 3u);
  EXPECT_EQ(*L().FirstSeqAtOrAfter(kT0 + 2 * kSec), 4u);
}

TEST_F(LedgerTest, ForEachTaskEventListsOnlyThatTask) {
  Create("a");
  Create("ab");
  Create("a-b");
  const CommandReply claim = Ok(ClaimCmd("a"));
  Ok(HolderCmd(CommandKind::kHeartbeat, "a", claim.token));
  std::vector<uint64_t> seqs;
  TL_ASSERT_OK(L().ForEachTaskEvent("a", 0, [&](const Event& e) {
    EXPECT_EQ(e.task_id, "a");
    seqs.push_back(e.seq);
    return true;
  }));
  EXPECT_EQ(seqs, (std::vector<uint64_t>{1, 4, 5}));
}

}  // namespace
}  // namespace taskledger
