// claim --next (timer promotion, priorities, dependencies), sweep, and workers racing for
// tasks; on an in-memory Env with a ManualClock.
#include "ledger/ledger.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ledger/clock.h"
#include "ledger_fixture.h"
#include "ledger_test_fixture.h"
#include "test_util.h"

namespace taskledger {
namespace {

using namespace test;

TEST_F(LedgerTest, ClaimNextPicksByQueueThenHighestPriorityThenOldest) {
  Create("low", 0);
  Create("high-old", 5);
  Create("other-queue", 100, "gpu");
  Create("high-new", 5);
  Create("negative", -3);
  Create("mid", 1);
  std::vector<std::string> order;
  for (int i = 0; i < 5; ++i) {
    const Outcome out = L().Submit(ClaimNextCmd("w" + std::to_string(i)));
    ASSERT_TRUE(out.status.ok()) << out.status.ToString();
    order.push_back(out.reply.task_id);
    EXPECT_EQ(out.reply.status, TaskStatus::kRunning);
    EXPECT_EQ(out.reply.token, out.reply.events.at(0).seq);
  }
  EXPECT_EQ(order, (std::vector<std::string>{"high-old", "high-new", "mid", "low", "negative"}));
  EXPECT_EQ(L().Submit(ClaimNextCmd("w9")).status.code(), Code::kNotFound);
  const Outcome gpu = L().Submit(ClaimNextCmd("w9", "gpu"));
  ASSERT_TRUE(gpu.status.ok()) << gpu.status.ToString();
  EXPECT_EQ(gpu.reply.task_id, "other-queue");
  EXPECT_EQ(L().Submit(ClaimNextCmd("w9", "nothing-here")).status.code(), Code::kNotFound);
  ExpectVerifyClean();
}

TEST_F(LedgerTest, ClaimNextReturnsTheLeaseDeadline) {
  Create("a");
  const Outcome out = L().Submit(ClaimNextCmd("w1", "", 4 * kSec));
  ASSERT_TRUE(out.status.ok());
  EXPECT_EQ(out.reply.deadline_ns, kT0 + 4 * kSec);
  EXPECT_EQ(out.reply.events.at(0).ttl_ns, 4 * kSec);
  EXPECT_EQ(m_.Task("a")->holder, "w1");
}

TEST_F(LedgerTest, ClaimNextWithNothingReadyIsNotFoundAndAppendsNothing) {
  Outcome out = L().Submit(ClaimNextCmd());
  EXPECT_EQ(out.status.code(), Code::kNotFound);
  EXPECT_EQ(out.status.ExitCode(), 4);
  Create("a");
  Ok(ClaimNextCmd());
  const uint64_t seq = L().last_seq();
  out = L().Submit(ClaimNextCmd("w2"));
  EXPECT_EQ(out.status.code(), Code::kNotFound);
  EXPECT_TRUE(out.reply.events.empty());
  EXPECT_EQ(L().last_seq(), seq);
}

TEST_F(LedgerTest, ClaimNextConsidersATaskWhoseLeaseLapsed) {
  Create("a");  // ttl 10 s, backoff 1 s
  const CommandReply first = Ok(ClaimNextCmd("w1"));
  ASSERT_EQ(first.task_id, "a");
  clock().Advance(10 * kSec - 1);
  EXPECT_EQ(L().Submit(ClaimNextCmd("w2")).status.code(), Code::kNotFound);  // still held
  clock().Advance(1);
  EXPECT_EQ(L().Submit(ClaimNextCmd("w2")).status.code(), Code::kNotFound);  // lapsed: 1 s backoff
  clock().Advance(kSec);
  const Outcome second = L().Submit(ClaimNextCmd("w2"));
  ASSERT_TRUE(second.status.ok()) << second.status.ToString();
  EXPECT_EQ(second.reply.task_id, "a");
  EXPECT_GT(second.reply.token, first.token);
  const std::optional<TaskRecord> r = m_.Task("a");
  EXPECT_EQ(r->holder, "w2");
  EXPECT_EQ(r->expiries, 1u);
  EXPECT_EQ(r->failures, 1u);
  ExpectVerifyClean();
}

TEST_F(LedgerTest, ClaimNextConsidersAnInterruptedLeaseAtOnce) {
  Create("a");
  const CommandReply first = Ok(ClaimNextCmd("w1"));
  Command signal = HolderCmd(CommandKind::kSignal, "a", first.token);
  signal.grace_ns = 2 * kSec;
  Ok(signal);
  clock().Advance(2 * kSec);  // the grace ran out: interrupted, no backoff
  const Outcome second = L().Submit(ClaimNextCmd("w2"));
  ASSERT_TRUE(second.status.ok()) << second.status.ToString();
  EXPECT_EQ(second.reply.task_id, "a");
  EXPECT_EQ(m_.Task("a")->interruptions, 1u);
  EXPECT_EQ(m_.Task("a")->failures, 0u);
}

TEST_F(LedgerTest, ClaimNextConsidersATaskWhoseBackoffPassed) {
  Create("a");
  const CommandReply claim = Ok(ClaimNextCmd());
  clock().Advance(kSec);
  Ok(HolderCmd(CommandKind::kFail, "a", claim.token));
  EXPECT_EQ(At("a").status, TaskStatus::kWaiting);
  EXPECT_EQ(At("a").until_ns, kT0 + 2 * kSec);
  clock().Advance(kSec - 1);
  EXPECT_EQ(L().Submit(ClaimNextCmd()).status.code(), Code::kNotFound);
  clock().Advance(1);
  const Outcome out = L().Submit(ClaimNextCmd());
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  EXPECT_EQ(out.reply.task_id, "a");
}

TEST_F(LedgerTest, ClaimNextConsidersATaskWhoseNotBeforePassed) {
  Command c = CreateCmd("later");
  c.spec.not_before_ns = kT0 + kMin;
  Ok(c);
  EXPECT_EQ(At("later").wait, WaitReason::kNotBefore);
  EXPECT_EQ(L().Submit(ClaimNextCmd()).status.code(), Code::kNotFound);
  EXPECT_EQ(L().Submit(ClaimCmd("later")).status.code(), Code::kRefused);
  clock().Set(kT0 + kMin);
  const Outcome out = L().Submit(ClaimNextCmd());
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  EXPECT_EQ(out.reply.task_id, "later");
  ExpectVerifyClean();
}

TEST_F(LedgerTest, ADependentBecomesClaimableWhenItsDependencyCompletes) {
  Create("a");
  Create("b", 100, "", {"a"});
  EXPECT_EQ(At("b").status, TaskStatus::kWaiting);
  EXPECT_EQ(At("b").wait, WaitReason::kDependency);
  const CommandReply claim = Ok(ClaimNextCmd());
  EXPECT_EQ(claim.task_id, "a");  // b has the higher priority but waits for a
  EXPECT_EQ(L().Submit(ClaimNextCmd()).status.code(), Code::kNotFound);
  EXPECT_EQ(L().Submit(ClaimCmd("b")).status.code(), Code::kRefused);
  clock().Advance(kSec);
  Ok(HolderCmd(CommandKind::kComplete, "a", claim.token));
  EXPECT_EQ(At("b").status, TaskStatus::kReady);
  const Outcome out = L().Submit(ClaimNextCmd());
  ASSERT_TRUE(out.status.ok()) << out.status.ToString();
  EXPECT_EQ(out.reply.task_id, "b");
  ExpectVerifyClean();
}

TEST_F(LedgerTest, ADependencyThatDiesBlocksItsDependent) {
  Command c = CreateCmd("a");
  c.spec.max_attempts = 1;
  Ok(c);
  Create("b", 0, "", {"a"});
  const CommandReply claim = Ok(ClaimNextCmd());
  Ok(HolderCmd(CommandKind::kFail, "a", claim.token));
  EXPECT_EQ(At("a").status, TaskStatus::kDead);
  const TaskView b = At("b");
  EXPECT_EQ(b.status, TaskStatus::kBlocked);
  EXPECT_EQ(b.dependency, "a");
  EXPECT_EQ(L().Submit(ClaimNextCmd()).status.code(), Code::kNotFound);
  // Reviving and completing the dependency frees the dependent.
  Ok(OperatorCmd(CommandKind::kRevive, "a"));
  const CommandReply again = Ok(ClaimNextCmd());
  EXPECT_EQ(again.task_id, "a");
  Ok(HolderCmd(CommandKind::kComplete, "a", again.token));
  EXPECT_EQ(Ok(ClaimNextCmd()).task_id, "b");
  ExpectVerifyClean();
}

TEST_F(LedgerTest, SweepAppendsLeaseExpiredOnlyForLapsedLeasesAndOnlyOnce) {
  Create("short");
  Create("long");
  Create("idle");
  const CommandReply s = Ok(ClaimCmd("short", "w1", 5 * kSec));
  const CommandReply l = Ok(ClaimCmd("long", "w2", 20 * kSec));
  const uint64_t seq = L().last_seq();
  clock().Advance(5 * kSec - 1);
  CommandReply sweep = Ok(SweepCmd());
  EXPECT_TRUE(sweep.events.empty());
  EXPECT_EQ(L().last_seq(), seq);
  clock().Advance(5 * kSec);
  sweep = Ok(SweepCmd());
  ASSERT_EQ(sweep.events.size(), 1u);
  EXPECT_EQ(sweep.events[0].kind, EventKind::kLeaseExpired);
  EXPECT_EQ(sweep.events[0].task_id, "short");
  EXPECT_EQ(sweep.events[0].token, s.token);
  EXPECT_EQ(sweep.events[0].deadline_ns, kT0 + 5 * kSec);
  EXPECT_EQ(sweep.events[0].time_ns, kT0 + 10 * kSec - 1);
  EXPECT_EQ(sweep.events[0].actor, "sweeper");
  EXPECT_EQ(L().last_seq(), seq + 1);
  EXPECT_EQ(m_.Events(seq + 1).at(0), sweep.events[0]);
  // Observed once: a second sweep finds nothing new.
  sweep = Ok(SweepCmd());
  EXPECT_TRUE(sweep.events.empty());
  EXPECT_EQ(L().last_seq(), seq + 1);
  clock().Advance(kMin);
  sweep = Ok(SweepCmd());
  ASSERT_EQ(sweep.events.size(), 1u);
  EXPECT_EQ(sweep.events[0].task_id, "long");
  EXPECT_EQ(sweep.events[0].token, l.token);
  EXPECT_TRUE(Ok(SweepCmd()).events.empty());
  EXPECT_EQ(L().last_seq(), seq + 2);
  // The marker changed nothing the derivation had not: same status as without it.
  EXPECT_EQ(m_.Task("short")->last_end, AttemptEnd::kExpired);
  EXPECT_EQ(m_.Task("short")->failures, 1u);
  ExpectVerifyClean();
}

TEST_F(LedgerTest, SweepSkipsLapsesAlreadyObservedByAnotherEvent) {
  Create("a");
  const CommandReply claim = Ok(ClaimCmd("a", "w1", 5 * kSec));
  clock().Advance(6 * kSec);
  // The zombie's heartbeat is refused; its rejection already settles the lapse.
  EXPECT_EQ(L().Submit(HolderCmd(CommandKind::kHeartbeat, "a", claim.token)).status.code(), Code::kRefused);
  const uint64_t seq = L().last_seq();
  Ok(SweepCmd());
  EXPECT_EQ(L().last_seq(), seq);
  ExpectVerifyClean();
}

TEST_F(LedgerTest, ExtremePrioritiesOrderCorrectly) {
  Create("min", INT32_MIN);
  Create("zero", 0);
  Create("max", INT32_MAX);
  Create("minus-one", -1);
  Create("one", 1);
  std::vector<std::string> order;
  for (int i = 0; i < 5; ++i) order.push_back(Ok(ClaimNextCmd()).task_id);
  EXPECT_EQ(order, (std::vector<std::string>{"max", "one", "zero", "minus-one", "min"}));
}

TEST_F(LedgerTest, ConcurrentWorkersNeverShareATask) {
  constexpr int kTasks = 60;
  constexpr int kThreads = 4;
  for (int i = 0; i < kTasks; ++i) Create("job-" + std::to_string(i), i % 4);
  std::vector<std::vector<std::string>> done(kThreads);
  std::vector<std::thread> threads;
  for (int w = 0; w < kThreads; ++w) {
    threads.emplace_back([this, w, &done] {
      const std::string worker = "w" + std::to_string(w);
      for (;;) {
        const Outcome claim = L().Submit(ClaimNextCmd(worker));
        if (claim.status.IsNotFound()) return;
        if (!claim.status.ok()) {
          ADD_FAILURE() << claim.status.ToString();
          return;
        }
        Command hb = HolderCmd(CommandKind::kHeartbeat, claim.reply.task_id, claim.reply.token, worker);
        if (!L().Submit(hb).status.ok()) ADD_FAILURE() << "heartbeat refused";
        Command complete = HolderCmd(CommandKind::kComplete, claim.reply.task_id, claim.reply.token, worker);
        complete.with_exit = true;
        if (!L().Submit(complete).status.ok()) ADD_FAILURE() << "complete refused";
        done[w].push_back(claim.reply.task_id);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::multiset<std::string> all;
  for (const auto& d : done) all.insert(d.begin(), d.end());
  EXPECT_EQ(all.size(), static_cast<size_t>(kTasks));
  for (int i = 0; i < kTasks; ++i) EXPECT_EQ(all.count("job-" + std::to_string(i)), 1u) << i;
  EXPECT_EQ(L().last_seq(), static_cast<uint64_t>(kTasks * 5));
  ExpectVerifyClean();
}

}  // namespace
}  // namespace taskledger
