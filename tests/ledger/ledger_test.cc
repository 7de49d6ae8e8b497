// The ledger through its command path (Ledger::Submit / SubmitGroup), on an in-memory Env
// with a ManualClock; the durability tests use a real temporary directory.
#include "ledger/ledger.h"

#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ledger/clock.h"
#include "ledger_fixture.h"
#include "projections/limits.h"
#include "test_util.h"

namespace taskledger {
namespace {

using test::ClaimCmd;
using test::ClaimNextCmd;
using test::CreateCmd;
using test::HolderCmd;
using test::kMin;
using test::kMs;
using test::kSec;
using test::kT0;
using test::MemLedger;
using test::OperatorCmd;
using test::SweepCmd;

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override { TL_ASSERT_OK(m_.Open()); }

  Ledger& L() { return m_.ledger(); }
  ManualClock& clock() { return m_.clock(); }

  // Submits and expects success; returns the reply.
  CommandReply Ok(const Command& c) {
    Outcome out = L().Submit(c);
    EXPECT_TRUE(out.status.ok()) << out.status.ToString();
    return out.reply;
  }
  std::string Create(const std::string& id, int32_t priority = 0, const std::string& queue = "",
                     std::vector<std::string> after = {}) {
    Command c = CreateCmd(id);
    c.spec.priority = priority;
    c.spec.queue = queue;
    c.spec.after = std::move(after);
    c.spec.lease_ttl_ns = 10 * kSec;
    return Ok(c).task_id;
  }
  TaskView At(const std::string& id) {
    Result<TaskView> v = L().TaskAt(id, PointInTime::Now());
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? *v : TaskView{};
  }
  void ExpectVerifyClean() {
    Result<VerifyReport> report = L().Verify();
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    for (const std::string& p : report->problems) ADD_FAILURE() << "verify: " << p;
    EXPECT_EQ(report->events, L().last_seq());
  }

  MemLedger m_;
};

TEST_F(LedgerTest, CreateWithAnId) {
  Command c = CreateCmd("build-1", "Build it");
  c.spec.payload = R"({"target": "all"})";
  const CommandReply reply = Ok(c);
  EXPECT_EQ(reply.task_id, "build-1");
  EXPECT_FALSE(reply.existing);
  EXPECT_EQ(reply.status, TaskStatus::kReady);
  ASSERT_EQ(reply.events.size(), 1u);
  EXPECT_EQ(reply.events[0].kind, EventKind::kCreated);
  EXPECT_EQ(reply.events[0].seq, 1u);
  EXPECT_EQ(reply.events[0].time_ns, kT0);
  EXPECT_EQ(reply.events[0].actor, "dispatcher");
  EXPECT_EQ(L().last_seq(), 1u);
  const std::optional<TaskRecord> r = m_.Task("build-1");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->spec.title, "Build it");
  EXPECT_EQ(r->spec.queue, kDefaultQueue);        // defaults filled in
  EXPECT_EQ(r->spec.lease_ttl_ns, kDefaultLeaseTtlNs);
  EXPECT_EQ(r->created_seq, 1u);
  const std::vector<Event> log = m_.Events();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0], reply.events[0]);
}

TEST_F(LedgerTest, CreateWithoutAnIdNamesTheTask) {
  const CommandReply a = Ok(CreateCmd(""));
  const CommandReply b = Ok(CreateCmd(""));
  EXPECT_FALSE(a.task_id.empty());
  EXPECT_FALSE(b.task_id.empty());
  EXPECT_NE(a.task_id, b.task_id);
  TL_EXPECT_OK(ValidateName("task id", a.task_id));
  EXPECT_TRUE(m_.Task(a.task_id).has_value());
  EXPECT_TRUE(m_.Task(b.task_id).has_value());
  // A user id that looks like a generated one does not collide with the next generated id.
  Ok(CreateCmd("t-4"));
  const CommandReply d = Ok(CreateCmd(""));
  EXPECT_NE(d.task_id, "t-4");
  EXPECT_EQ(L().last_seq(), 4u);
}

TEST_F(LedgerTest, CreateOfAnExistingIdOrABadSpecIsRefusedAndAppendsNothing) {
  Ok(CreateCmd("a"));
  Outcome out = L().Submit(CreateCmd("a"));
  EXPECT_EQ(out.status.code(), Code::kRefused) << out.status.ToString();
  EXPECT_TRUE(out.reply.events.empty());
  Command bad = CreateCmd("has space");
  EXPECT_EQ(L().Submit(bad).status.code(), Code::kInvalidArgument);
  bad = CreateCmd("b");
  bad.spec.payload = "{not json";
  EXPECT_EQ(L().Submit(bad).status.code(), Code::kInvalidArgument);
  bad = CreateCmd("b");
  bad.spec.lease_ttl_ns = -kSec;
  EXPECT_EQ(L().Submit(bad).status.code(), Code::kInvalidArgument);
  EXPECT_EQ(L().last_seq(), 1u);
  EXPECT_FALSE(m_.Task("b").has_value());
}

TEST_F(LedgerTest, IdempotencyKeyReturnsTheExistingTaskAndAppendsNothing) {
  Command c = CreateCmd("", "first");
  c.spec.idempotency_key = "request-42";
  const CommandReply first = Ok(c);
  EXPECT_FALSE(first.existing);
  const uint64_t seq = L().last_seq();
  c.spec.title = "a retry with another title";
  const CommandReply again = Ok(c);
  EXPECT_TRUE(again.existing);
  EXPECT_EQ(again.task_id, first.task_id);
  EXPECT_TRUE(again.events.empty());
  EXPECT_EQ(L().last_seq(), seq);
  EXPECT_EQ(m_.Task(first.task_id)->spec.title, "first");
  // Even with an explicit id that differs: the key names the request.
  c.task_id = "other";
  const CommandReply third = Ok(c);
  EXPECT_TRUE(third.existing);
  EXPECT_EQ(third.task_id, first.task_id);
  EXPECT_EQ(L().last_seq(), seq);
  EXPECT_FALSE(m_.Task("other").has_value());
}

TEST_F(LedgerTest, AfterNamingAMissingTaskIsNotFoundAndWritesNothing) {
  Ok(CreateCmd("a"));
  Command c = CreateCmd("b");
  c.spec.after = {"a", "ghost"};
  const Outcome out = L().Submit(c);
  EXPECT_EQ(out.status.code(), Code::kNotFound) << out.status.ToString();
  EXPECT_NE(out.status.message().find("ghost"), std::string::npos) << out.status.message();
  EXPECT_TRUE(out.reply.events.empty());
  EXPECT_EQ(L().last_seq(), 1u);
  EXPECT_FALSE(m_.Task("b").has_value());
  ExpectVerifyClean();
}

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

void ExpectOneRejectedAppended(MemLedger& m, const Outcome& out, uint64_t seq_before, uint64_t token,
                               uint64_t current_token, HolderCommand command) {
  EXPECT_EQ(out.status.code(), Code::kRefused) << out.status.ToString();
  EXPECT_EQ(out.status.ExitCode(), 3);
  EXPECT_EQ(m.ledger().last_seq(), seq_before + 1);
  ASSERT_EQ(out.reply.events.size(), 1u);
  const std::vector<Event> appended = m.Events(seq_before + 1);
  ASSERT_EQ(appended.size(), 1u);
  const Event& e = appended[0];
  EXPECT_EQ(e, out.reply.events[0]);
  EXPECT_EQ(e.kind, EventKind::kRejected);
  EXPECT_EQ(e.seq, seq_before + 1);
  EXPECT_EQ(e.token, token);
  EXPECT_EQ(e.current_token, current_token);
  EXPECT_EQ(e.rejected_command, command);
}

TEST_F(LedgerTest, HeartbeatWithAStaleTokenIsRefusedWithExactlyOneRejectedEvent) {
  Create("a");
  const CommandReply first = Ok(ClaimCmd("a", "zombie"));
  clock().Advance(11 * kSec);  // lapsed at 10 s, backoff to 11 s
  const CommandReply second = Ok(ClaimCmd("a", "w2"));
  ASSERT_GT(second.token, first.token);
  const uint64_t seq = L().last_seq();
  const Outcome out = L().Submit(HolderCmd(CommandKind::kHeartbeat, "a", first.token, "zombie"));
  ExpectOneRejectedAppended(m_, out, seq, first.token, second.token, HolderCommand::kHeartbeat);
  EXPECT_EQ(m_.Task("a")->rejections, 1u);
  EXPECT_EQ(m_.Task("a")->holder, "w2");
  EXPECT_EQ(At("a").status, TaskStatus::kRunning);
  // The zombie's completion too; the real holder is unaffected.
  const Outcome complete = L().Submit(HolderCmd(CommandKind::kComplete, "a", first.token, "zombie"));
  ExpectOneRejectedAppended(m_, complete, seq + 1, first.token, second.token, HolderCommand::kComplete);
  EXPECT_FALSE(m_.Task("a")->done);
  Ok(HolderCmd(CommandKind::kHeartbeat, "a", second.token, "w2"));
  ExpectVerifyClean();
}

TEST_F(LedgerTest, HeartbeatWithTheCurrentTokenAfterTheDeadlineIsRefused) {
  Create("a");
  const CommandReply claim = Ok(ClaimCmd("a", "w1", 5 * kSec));
  clock().Advance(5 * kSec);  // exactly the deadline; nobody else claimed
  const uint64_t seq = L().last_seq();
  const Outcome out = L().Submit(HolderCmd(CommandKind::kHeartbeat, "a", claim.token));
  ExpectOneRejectedAppended(m_, out, seq, claim.token, claim.token, HolderCommand::kHeartbeat);
  EXPECT_NE(out.status.message().find("lease expired"), std::string::npos) << out.status.message();
  EXPECT_NE(At("a").status, TaskStatus::kRunning);
  clock().Advance(kMin);
  const Outcome complete = L().Submit(HolderCmd(CommandKind::kComplete, "a", claim.token));
  ExpectOneRejectedAppended(m_, complete, seq + 1, claim.token, claim.token, HolderCommand::kComplete);
  EXPECT_FALSE(m_.Task("a")->done);
  ExpectVerifyClean();
}

TEST_F(LedgerTest, HeartbeatRenewsAndReportsTheNewDeadline) {
  Create("a");
  const CommandReply claim = Ok(ClaimCmd("a", "w1", 5 * kSec));
  clock().Advance(4 * kSec);
  Command hb = HolderCmd(CommandKind::kHeartbeat, "a", claim.token);
  hb.text = "halfway";
  const CommandReply reply = Ok(hb);
  EXPECT_EQ(reply.deadline_ns, kT0 + 9 * kSec);
  EXPECT_EQ(reply.status, TaskStatus::kRunning);
  clock().Advance(4 * kSec);
  EXPECT_EQ(At("a").status, TaskStatus::kRunning);
  EXPECT_EQ(m_.Events().back().text, "halfway");
}

TEST_F(LedgerTest, RefusedCommandsAppendNothingElse) {
  Create("a");
  const CommandReply claim = Ok(ClaimCmd("a"));
  const uint64_t seq = L().last_seq();
  const auto refused = [&](const Command& c, Code code) {
    const Outcome out = L().Submit(c);
    EXPECT_EQ(out.status.code(), code) << out.status.ToString();
    EXPECT_TRUE(out.reply.events.empty());
    EXPECT_EQ(L().last_seq(), seq);
    EXPECT_EQ(out.status.message().find('\n'), std::string::npos) << out.status.message();
  };
  refused(ClaimCmd("a", "w2"), Code::kRefused);                        // running
  refused(ClaimCmd("ghost"), Code::kNotFound);                         // unknown task
  refused(HolderCmd(CommandKind::kHeartbeat, "ghost", 1), Code::kNotFound);
  refused(OperatorCmd(CommandKind::kUnblock, "a"), Code::kRefused);    // not blocked
  refused(OperatorCmd(CommandKind::kRevive, "a"), Code::kRefused);     // not dead
  refused(CreateCmd("a"), Code::kRefused);                             // exists
  refused(ClaimCmd("a", "bad worker"), Code::kInvalidArgument);
  refused(ClaimCmd("a", "w2", -kSec), Code::kInvalidArgument);
  Command no_exit = HolderCmd(CommandKind::kExit, "a", claim.token);
  no_exit.exit_code.reset();
  refused(no_exit, Code::kInvalidArgument);
  Command long_note = HolderCmd(CommandKind::kHeartbeat, "a", claim.token);
  long_note.text = std::string(kMaxTextBytes + 1, 'x');
  refused(long_note, Code::kInvalidArgument);
  EXPECT_EQ(m_.Task("a")->rejections, 0u);
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

TEST_F(LedgerTest, SubmitGroupValidatesInOrderAndCommitsAtomically) {
  Create("a");
  Create("b");
  const uint64_t seq = L().last_seq();
  const std::vector<Outcome> outs =
      L().SubmitGroup({ClaimNextCmd("w1"), ClaimNextCmd("w2"), ClaimNextCmd("w3")});
  ASSERT_EQ(outs.size(), 3u);
  TL_ASSERT_OK(outs[0].status);
  TL_ASSERT_OK(outs[1].status);
  EXPECT_NE(outs[0].reply.task_id, outs[1].reply.task_id);
  EXPECT_EQ(outs[0].reply.task_id, "a");  // in order: the first command took the oldest
  EXPECT_EQ(outs[0].reply.token, seq + 1);
  EXPECT_EQ(outs[1].reply.token, seq + 2);
  EXPECT_EQ(outs[2].status.code(), Code::kNotFound);
  EXPECT_EQ(L().last_seq(), seq + 2);
  const std::vector<Event> log = m_.Events(seq + 1);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0], outs[0].reply.events[0]);
  EXPECT_EQ(log[1], outs[1].reply.events[0]);
  ExpectVerifyClean();
}

TEST_F(LedgerTest, SubmitGroupSeesItsOwnWrites) {
  Command create = CreateCmd("x");
  Command dependent = CreateCmd("y");
  dependent.spec.after = {"x"};
  const std::vector<Outcome> outs =
      L().SubmitGroup({create, dependent, ClaimCmd("x", "w1"), ClaimCmd("y", "w2"), CreateCmd("x")});
  ASSERT_EQ(outs.size(), 5u);
  TL_EXPECT_OK(outs[0].status);
  TL_EXPECT_OK(outs[1].status);  // x exists already within the group
  TL_EXPECT_OK(outs[2].status);
  EXPECT_EQ(outs[3].status.code(), Code::kRefused);  // y waits for x
  EXPECT_EQ(outs[4].status.code(), Code::kRefused);  // x exists
  EXPECT_EQ(L().last_seq(), 3u);
  // The rejected event of a refused holder command commits with its group.
  const std::vector<Outcome> zombie =
      L().SubmitGroup({HolderCmd(CommandKind::kHeartbeat, "x", 999), HolderCmd(CommandKind::kHeartbeat, "x", 3)});
  EXPECT_EQ(zombie[0].status.code(), Code::kRefused);
  TL_EXPECT_OK(zombie[1].status);
  EXPECT_EQ(L().last_seq(), 5u);
  ExpectVerifyClean();
}

TEST_F(LedgerTest, LedgerTimeNeverDecreasesWhenTheClockStepsBackwards) {
  Create("a");
  clock().Set(kT0 + 10 * kSec);
  Create("b");
  clock().Set(kT0 - kMin);  // NTP stepped the clock back a minute
  EXPECT_EQ(L().Now(), kT0 + 10 * kSec);
  const CommandReply claim = Ok(ClaimCmd("a", "w1", 5 * kSec));
  EXPECT_EQ(claim.events.at(0).time_ns, kT0 + 10 * kSec);
  // The lease is measured in ledger time: it runs from the last event, not the clock.
  EXPECT_EQ(claim.deadline_ns, kT0 + 15 * kSec);
  clock().Set(kT0 - 2 * kMin);
  Create("c");
  int64_t last = 0;
  for (const Event& e : m_.Events()) {
    EXPECT_GE(e.time_ns, last) << "seq " << e.seq;
    last = e.time_ns;
  }
  EXPECT_EQ(last, kT0 + 10 * kSec);
  EXPECT_GE(L().Now(), last);
  ExpectVerifyClean();
}

TEST_F(LedgerTest, CompleteWithExitRecordsBothAndExitAfterCompleteIsAccepted) {
  Create("a");
  Create("b");
  CommandReply claim = Ok(ClaimCmd("a"));
  Command complete = HolderCmd(CommandKind::kComplete, "a", claim.token);
  complete.with_exit = true;
  complete.text = "42";
  const CommandReply done = Ok(complete);
  ASSERT_EQ(done.events.size(), 2u);
  EXPECT_EQ(done.events[0].kind, EventKind::kCompleted);
  EXPECT_EQ(done.events[1].kind, EventKind::kExited);
  EXPECT_EQ(done.status, TaskStatus::kDone);
  EXPECT_EQ(m_.Task("a")->result, "42");
  // A worker that completed itself, then its supervisor's exit record, after the deadline.
  claim = Ok(ClaimCmd("b"));
  Ok(HolderCmd(CommandKind::kComplete, "b", claim.token));
  clock().Advance(kMin);
  Command exit = HolderCmd(CommandKind::kExit, "b", claim.token);
  exit.exit_code = 0;
  const CommandReply exited = Ok(exit);
  EXPECT_EQ(exited.status, TaskStatus::kDone);
  ExpectVerifyClean();
}

TEST_F(LedgerTest, BlockEndsTheAttemptAndRefusesTheHolder) {
  Create("a");
  const CommandReply claim = Ok(ClaimCmd("a"));
  Ok(OperatorCmd(CommandKind::kBlock, "a", "bad input"));
  EXPECT_EQ(At("a").status, TaskStatus::kBlocked);
  EXPECT_EQ(L().Submit(ClaimNextCmd()).status.code(), Code::kNotFound);
  const uint64_t seq = L().last_seq();
  ExpectOneRejectedAppended(m_, L().Submit(HolderCmd(CommandKind::kHeartbeat, "a", claim.token)), seq, claim.token,
                            claim.token, HolderCommand::kHeartbeat);
  Ok(OperatorCmd(CommandKind::kUnblock, "a"));
  EXPECT_EQ(Ok(ClaimNextCmd()).task_id, "a");
  ExpectVerifyClean();
}

TEST_F(LedgerTest, CancelIsTerminalAndReviveRestores) {
  Create("a");
  Ok(OperatorCmd(CommandKind::kCancel, "a", "obsolete"));
  EXPECT_EQ(At("a").status, TaskStatus::kCancelled);
  EXPECT_EQ(L().Submit(ClaimNextCmd()).status.code(), Code::kNotFound);
  EXPECT_EQ(L().Submit(OperatorCmd(CommandKind::kCancel, "a")).status.code(), Code::kRefused);
  EXPECT_EQ(L().Submit(OperatorCmd(CommandKind::kBlock, "a")).status.code(), Code::kRefused);
  Ok(OperatorCmd(CommandKind::kRevive, "a"));
  EXPECT_EQ(Ok(ClaimNextCmd()).task_id, "a");
  ExpectVerifyClean();
}

TEST_F(LedgerTest, ReplyEventsAreExactlyTheEventsAppended) {
  // What a command says it appended is what the log holds, for every kind of command,
  // whatever optional text the caller attached.
  Create("a");
  Create("b");
  const auto run = [&](Command c) {
    c.meta.pid = 77;
    c.meta.host = "box";
    c.meta.wall_time_ns = kT0 - 3;
    const uint64_t seq = L().last_seq();
    const Outcome out = L().Submit(c);
    EXPECT_TRUE(out.status.ok() || out.status.IsRefused()) << out.status.ToString();
    const std::vector<Event> appended = m_.Events(seq + 1);
    EXPECT_EQ(appended, out.reply.events) << "command kind " << static_cast<int>(c.kind);
    return out.reply;
  };
  Command claim = ClaimCmd("a");
  claim.text = "ignored";
  const CommandReply c = run(claim);
  Command hb = HolderCmd(CommandKind::kHeartbeat, "a", c.token);
  hb.text = "note";
  run(hb);
  Command sig = HolderCmd(CommandKind::kSignal, "a", c.token);
  sig.text = "why";
  run(sig);
  Command exit = HolderCmd(CommandKind::kExit, "a", c.token);
  exit.text = "bye";
  run(exit);
  Command stale = HolderCmd(CommandKind::kFail, "a", c.token);
  stale.text = "late error";
  run(stale);  // rejected
  for (CommandKind kind : {CommandKind::kBlock, CommandKind::kUnblock, CommandKind::kCancel, CommandKind::kRevive}) {
    run(OperatorCmd(kind, "b", "operator says so"));
  }
  Command create = CreateCmd("c");
  create.text = "ignored";
  run(create);
}

TEST_F(LedgerTest, VerifyIsCleanAfterAWorkload) {
  for (int i = 0; i < 8; ++i) {
    Command c = CreateCmd("task-" + std::to_string(i));
    c.spec.priority = i % 3;
    c.spec.queue = i % 2 == 0 ? "" : "odd";
    if (i >= 2) c.spec.after = {"task-" + std::to_string(i - 2)};
    c.spec.lease_ttl_ns = 5 * kSec;
    c.spec.max_attempts = 2;
    Ok(c);
  }
  for (int round = 0; round < 12; ++round) {
    for (const char* queue : {"", "odd"}) {
      const Outcome claim = L().Submit(ClaimNextCmd("w" + std::to_string(round), queue));
      if (!claim.status.ok()) continue;
      const std::string& id = claim.reply.task_id;
      switch (round % 4) {
        case 0: Ok(HolderCmd(CommandKind::kComplete, id, claim.reply.token)); break;
        case 1: Ok(HolderCmd(CommandKind::kFail, id, claim.reply.token)); break;
        case 2: Ok(HolderCmd(CommandKind::kHeartbeat, id, claim.reply.token)); break;  // then lapses
        case 3: Ok(HolderCmd(CommandKind::kRelease, id, claim.reply.token)); break;
      }
    }
    clock().Advance(3 * kSec);
    if (round % 3 == 0) Ok(SweepCmd());
    ExpectVerifyClean();
  }
  Result<VerifyReport> report = L().Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->tasks, 8u);
  EXPECT_TRUE(report->problems.empty());
}

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

TEST_F(LedgerTest, RebuildThenVerifyIsClean) {
  Create("a");
  Create("b", 1, "", {"a"});
  Command later = CreateCmd("later");
  later.spec.not_before_ns = kT0 + kMin;
  later.spec.idempotency_key = "k1";
  Ok(later);
  const CommandReply claim = Ok(ClaimCmd("a"));
  clock().Advance(20 * kSec);  // a lapsed, unobserved
  Create("c");
  Ok(OperatorCmd(CommandKind::kBlock, "c"));
  std::vector<TaskRecord> before;
  for (const char* id : {"a", "b", "later", "c"}) before.push_back(*m_.Task(id));
  const uint64_t seq = L().last_seq();

  Result<RebuildReport> rebuilt = L().Rebuild();
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().ToString();
  EXPECT_EQ(rebuilt->events, seq);
  EXPECT_EQ(rebuilt->tasks, 4u);
  EXPECT_EQ(L().last_seq(), seq);
  ExpectVerifyClean();
  std::vector<TaskRecord> after;
  for (const char* id : {"a", "b", "later", "c"}) after.push_back(*m_.Task(id));
  EXPECT_EQ(after, before);
  // The indexes work after the rebuild: the lapsed lease is claimable, the key is known.
  EXPECT_EQ(Ok(ClaimNextCmd("w1", "", 5 * kMin)).task_id, "a");
  Command again = CreateCmd("");
  again.spec.idempotency_key = "k1";
  EXPECT_EQ(Ok(again).task_id, "later");
  clock().Advance(kMin);
  EXPECT_EQ(Ok(ClaimNextCmd()).task_id, "later");
  ExpectVerifyClean();
  (void)claim;
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

TEST_F(LedgerTest, ClientMetaIsBoundedAndValidatedLikeEveryOtherInput) {
  // limits.h: "Everything that enters the ledger is bounded"; decide.cc: text must be valid
  // UTF-8 "so every report and JSON line can carry it". The client's host name is copied
  // into every event it causes, so it must obey the same rules as the text it travels with.
  const std::vector<std::string> bad_hosts = {std::string(kMaxTextBytes + 1, 'h'), "bad\xff\xfehost",
                                              "two\nlines"};
  for (size_t i = 0; i < bad_hosts.size(); ++i) {
    SCOPED_TRACE("bad host #" + std::to_string(i));
    Command c = CreateCmd("t" + std::to_string(i));
    c.meta.host = bad_hosts[i];
    const uint64_t seq = L().last_seq();
    const Outcome out = L().Submit(c);
    EXPECT_EQ(out.status.code(), Code::kInvalidArgument) << out.status.ToString();
    EXPECT_EQ(L().last_seq(), seq);
  }
  Command fine = CreateCmd("ok");
  fine.meta.host = "build-07.example.com";
  fine.meta.pid = 4321;
  fine.meta.wall_time_ns = kT0 - 5 * kSec;
  Ok(fine);
  EXPECT_EQ(m_.Events().back().meta, fine.meta);
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

// A small history with every kind of ending, for the copy tests.
void Workload(Ledger& L, ManualClock& clock) {
  ASSERT_TRUE(L.Submit(CreateCmd("a")).status.ok());
  Command b = CreateCmd("b");
  b.spec.after = {"a"};
  b.spec.idempotency_key = "key-b";
  ASSERT_TRUE(L.Submit(b).status.ok());
  const Outcome claim = L.Submit(ClaimCmd("a", "w1", 5 * kSec));
  ASSERT_TRUE(claim.status.ok());
  clock.Advance(6 * kSec);
  ASSERT_EQ(L.Submit(HolderCmd(CommandKind::kHeartbeat, "a", claim.reply.token)).status.code(), Code::kRefused);
  clock.Advance(2 * kSec);
  const Outcome again = L.Submit(ClaimNextCmd("w2"));
  ASSERT_TRUE(again.status.ok());
  Command done = HolderCmd(CommandKind::kComplete, "a", again.reply.token, "w2");
  done.with_exit = true;
  ASSERT_TRUE(L.Submit(done).status.ok());
  ASSERT_TRUE(L.Submit(OperatorCmd(CommandKind::kBlock, "b", "later")).status.ok());
}

TEST_F(LedgerTest, ImportLoadsAnExportedLogIntoAnEmptyLedger) {
  Workload(L(), clock());
  const std::vector<Event> log = m_.Events();
  ASSERT_EQ(log.size(), L().last_seq());
  const EventSource source = [&log](const EventSink& sink) -> Status {
    for (const Event& e : log) TL_RETURN_IF_ERROR(sink(e));
    return Status::Ok();
  };
  // Not into a ledger that has a history.
  EXPECT_EQ(L().Import(source).status().code(), Code::kRefused);
  EXPECT_EQ(L().last_seq(), log.size());

  MemLedger copy;
  copy.clock().Set(clock().NowNs());
  TL_ASSERT_OK(copy.Open("/copy"));
  Result<ImportReport> imported = copy.ledger().Import(source);
  ASSERT_TRUE(imported.ok()) << imported.status().ToString();
  EXPECT_EQ(imported->events, log.size());
  EXPECT_EQ(imported->tasks, 2u);
  EXPECT_EQ(copy.ledger().last_seq(), log.size());
  EXPECT_EQ(copy.Events(), log);
  for (const char* id : {"a", "b"}) EXPECT_EQ(copy.Task(id), m_.Task(id)) << id;
  Result<VerifyReport> report = copy.ledger().Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->problems.empty()) << report->problems.front();
  // The copy works as a ledger: idempotency, and the next seq.
  Command b = CreateCmd("");
  b.spec.idempotency_key = "key-b";
  const Outcome existing = copy.ledger().Submit(b);
  EXPECT_TRUE(existing.reply.existing);
  EXPECT_EQ(existing.reply.task_id, "b");
  const Outcome next = copy.ledger().Submit(CreateCmd("c"));
  ASSERT_TRUE(next.status.ok());
  EXPECT_EQ(next.reply.events.at(0).seq, log.size() + 1);
}

TEST_F(LedgerTest, ImportOfALogThatBreaksTheRulesWritesNothing) {
  Workload(L(), clock());
  const std::vector<Event> log = m_.Events();
  const auto source_of = [](std::vector<Event> events) -> EventSource {
    return [events](const EventSink& sink) -> Status {
      for (const Event& e : events) TL_RETURN_IF_ERROR(sink(e));
      return Status::Ok();
    };
  };
  std::vector<std::vector<Event>> broken;
  broken.push_back(log);
  broken.back().erase(broken.back().begin() + 2);  // a seq gap
  broken.push_back(log);
  broken.back()[3].time_ns = kT0 - 1;  // time goes backwards
  broken.push_back(log);
  for (Event& e : broken.back()) {
    if (e.kind == EventKind::kHeartbeat) e.token = 999;  // no such heartbeat was accepted
  }
  broken.back().push_back(log.back());  // and a duplicate
  broken.push_back(log);
  broken.back()[1].spec.after = {"ghost"};
  for (size_t i = 0; i < broken.size(); ++i) {
    SCOPED_TRACE("broken log #" + std::to_string(i));
    MemLedger copy;
    TL_ASSERT_OK(copy.Open("/copy"));
    const Result<ImportReport> imported = copy.ledger().Import(source_of(broken[i]));
    EXPECT_FALSE(imported.ok());
    EXPECT_EQ(imported.status().code(), Code::kInvalidArgument) << imported.status().ToString();
    EXPECT_EQ(copy.ledger().last_seq(), 0u);
    EXPECT_TRUE(copy.Events().empty());
    EXPECT_FALSE(copy.Task("a").has_value());
  }
}

TEST_F(LedgerTest, BackupIsAConsistentCopyThatOpensOnItsOwn) {
  Workload(L(), clock());
  TL_ASSERT_OK(L().Backup("/backup"));
  EXPECT_EQ(L().Backup("/backup").code(), Code::kInvalidArgument);  // not into a used directory
  Ok(CreateCmd("after-backup"));
  LedgerOptions options;
  options.path = "/backup";
  options.env = m_.env();
  options.sync = false;
  Result<std::unique_ptr<Ledger>> copy = Ledger::Open(options, &clock());
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  EXPECT_EQ((*copy)->last_seq(), L().last_seq() - 1);
  for (const char* id : {"a", "b"}) {
    Result<std::optional<TaskRecord>> r = (*copy)->GetTask(id);
    ASSERT_TRUE(r.ok() && r->has_value());
    EXPECT_EQ(**r, *m_.Task(id));
  }
  EXPECT_FALSE((*copy)->GetTask("after-backup")->has_value());
  Result<VerifyReport> report = (*copy)->Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->problems.empty());
}

TEST(LedgerOpenTest, AnEmptyPathIsRefused) {
  ManualClock clock(kT0);
  LedgerOptions options;
  EXPECT_EQ(Ledger::Open(options, &clock).status().code(), Code::kInvalidArgument);
}

TEST(LedgerOpenTest, AMissingLedgerIsNotCreatedWhenNotAllowed) {
  MemLedger m;
  ManualClock clock(kT0);
  LedgerOptions options;
  options.path = "/nothing-here";
  options.env = m.env();
  options.create_if_missing = false;
  const Result<std::unique_ptr<Ledger>> opened = Ledger::Open(options, &clock);
  EXPECT_FALSE(opened.ok());
  EXPECT_EQ(opened.status().message().find('\n'), std::string::npos);
}

// A real directory under the system temp dir, removed at the end.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "taskledger-test-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data()) != nullptr ? pattern : "";
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

Result<std::unique_ptr<Ledger>> OpenReal(const std::string& path, Clock* clock, bool read_only = false) {
  LedgerOptions options;
  options.path = path;
  options.sync = false;
  options.read_only = read_only;
  return Ledger::Open(options, clock);
}

TEST(LedgerDurabilityTest, StateAndLastSeqSurviveAReopen) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/db";
  ManualClock clock(kT0);
  TaskRecord a_before;
  {
    Result<std::unique_ptr<Ledger>> opened = OpenReal(path, &clock);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    Ledger& ledger = **opened;
    ASSERT_TRUE(ledger.Submit(CreateCmd("a")).status.ok());
    ASSERT_TRUE(ledger.Submit(CreateCmd("b")).status.ok());
    const Outcome claim = ledger.Submit(ClaimCmd("a"));
    ASSERT_TRUE(claim.status.ok());
    clock.Advance(kSec);
    ASSERT_TRUE(ledger.Submit(HolderCmd(CommandKind::kHeartbeat, "a", claim.reply.token)).status.ok());
    EXPECT_EQ(ledger.last_seq(), 4u);
    a_before = **ledger.GetTask("a");
  }
  clock.Set(kT0 - kMin);  // and the clock went back while it was closed
  Result<std::unique_ptr<Ledger>> reopened = OpenReal(path, &clock);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  Ledger& ledger = **reopened;
  EXPECT_EQ(ledger.last_seq(), 4u);
  EXPECT_EQ(ledger.Now(), kT0 + kSec);  // ledger time resumes from the log
  Result<std::optional<TaskRecord>> a = ledger.GetTask("a");
  ASSERT_TRUE(a.ok() && a->has_value());
  EXPECT_EQ(**a, a_before);
  const Outcome next = ledger.Submit(ClaimNextCmd("w2"));
  ASSERT_TRUE(next.status.ok()) << next.status.ToString();
  EXPECT_EQ(next.reply.task_id, "b");
  EXPECT_EQ(next.reply.events.at(0).seq, 5u);
  EXPECT_EQ(next.reply.events.at(0).time_ns, kT0 + kSec);
  Result<VerifyReport> report = ledger.Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->problems.empty()) << report->problems.front();
}

int CountFiles(const std::string& dir, const std::string& extension) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) count += entry.path().extension() == extension;
  return count;
}

// An embedded CLI opens the ledger once per command: opening must not leave files behind
// each time (it used to flush the recovered WAL into a new SST per family), and the WAL
// files that accumulate instead are bounded by a flush every few closes.
TEST(LedgerDurabilityTest, ManyShortOpensLeaveABoundedNumberOfFiles) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/db";
  ManualClock clock(kT0);
  constexpr int kOpens = 40;
  for (int i = 0; i < kOpens; ++i) {
    Result<std::unique_ptr<Ledger>> opened = OpenReal(path, &clock);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    ASSERT_TRUE((*opened)->Submit(CreateCmd("t" + std::to_string(i))).status.ok());
    clock.Advance(kMs);
  }
  const int wal_files = CountFiles(path, ".log"), table_files = CountFiles(path, ".sst");
  EXPECT_LE(wal_files, 9);
  // Without the bound: about 6 families x 40 opens. RocksDB's compactions keep level 0
  // small once flushes happen only every eighth close.
  EXPECT_LE(table_files, 40) << "SSTs after " << kOpens << " opens";
  Result<std::unique_ptr<Ledger>> reopened = OpenReal(path, &clock);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ((*reopened)->last_seq(), static_cast<uint64_t>(kOpens));
  Result<VerifyReport> report = (*reopened)->Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->problems.empty()) << report->problems.front();
}

// One life of the test below, in a fresh process (this binary run again: a fork of a
// process with RocksDB's threads running could deadlock in the child). Does nothing
// unless TASKLEDGER_TEST_LIFE_DB is set.
TEST(LedgerDurabilityTest, LifeThatEndsWithoutAClose) {
  const char* path = std::getenv("TASKLEDGER_TEST_LIFE_DB");
  if (path == nullptr) GTEST_SKIP() << "a helper of OpensWithoutACloseLeaveABoundedNumberOfWalFiles";
  const char* id = std::getenv("TASKLEDGER_TEST_LIFE_ID");
  ManualClock clock(kT0 + std::atoll(id) * kMs);
  Result<std::unique_ptr<Ledger>> opened = OpenReal(path, &clock);
  const bool ok = opened.ok() && (*opened)->Submit(CreateCmd(std::string("t") + id)).status.ok();
  std::fflush(nullptr);
  ::_exit(ok ? 0 : 1);  // no destructor, no close: as if killed
}

// A server killed with -9 never closes its ledger: the bound on WAL files must hold at
// open too, or each restart replays every WAL file of every earlier life (the crash loop
// once stopped restarting after 138 kills).
TEST(LedgerDurabilityTest, OpensWithoutACloseLeaveABoundedNumberOfWalFiles) {
  if (std::getenv("TASKLEDGER_TEST_LIFE_DB") != nullptr) GTEST_SKIP();
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/db";
  constexpr int kLives = 30;
  for (int i = 0; i < kLives; ++i) {
    const std::string db_env = "TASKLEDGER_TEST_LIFE_DB=" + path;
    const std::string id_env = "TASKLEDGER_TEST_LIFE_ID=" + std::to_string(i);
    std::string self = "/proc/self/exe";
    std::string filter = "--gtest_filter=LedgerDurabilityTest.LifeThatEndsWithoutAClose";
    char* argv[] = {self.data(), filter.data(), nullptr};
    char* envp[] = {const_cast<char*>(db_env.c_str()), const_cast<char*>(id_env.c_str()), nullptr};
    pid_t child = 0;
    ASSERT_EQ(::posix_spawn(&child, "/proc/self/exe", nullptr, nullptr, argv, envp), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "life " << i;
  }
  EXPECT_LE(CountFiles(path, ".log"), 9);
  ManualClock clock(kT0 + kMin);
  Result<std::unique_ptr<Ledger>> reopened = OpenReal(path, &clock);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  EXPECT_EQ((*reopened)->last_seq(), static_cast<uint64_t>(kLives));
  Result<VerifyReport> report = (*reopened)->Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->problems.empty()) << report->problems.front();
}

TEST(LedgerDurabilityTest, ASecondWriterOnTheSamePathIsRefusedInOneLine) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/db";
  ManualClock clock(kT0);
  Result<std::unique_ptr<Ledger>> first = OpenReal(path, &clock);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE((*first)->Submit(CreateCmd("a")).status.ok());
  const Result<std::unique_ptr<Ledger>> second = OpenReal(path, &clock);
  ASSERT_FALSE(second.ok());
  const std::string& message = second.status().message();
  EXPECT_FALSE(message.empty());
  EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_EQ(second.status().code(), Code::kBusy) << second.status().ToString();
  RecordProperty("second_open_error", second.status().ToString());
  // The first writer is undisturbed.
  EXPECT_TRUE((*first)->Submit(CreateCmd("b")).status.ok());
  EXPECT_EQ((*first)->last_seq(), 2u);
}

TEST(LedgerDurabilityTest, AReadOnlyLedgerServesReadsAndRefusesWrites) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir.path() + "/db";
  ManualClock clock(kT0);
  {
    Result<std::unique_ptr<Ledger>> opened = OpenReal(path, &clock);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    ASSERT_TRUE((*opened)->Submit(CreateCmd("a")).status.ok());
  }
  Result<std::unique_ptr<Ledger>> ro = OpenReal(path, &clock, /*read_only=*/true);
  ASSERT_TRUE(ro.ok()) << ro.status().ToString();
  EXPECT_EQ((*ro)->last_seq(), 1u);
  EXPECT_TRUE((*ro)->GetTask("a").ok());
  const Outcome out = (*ro)->Submit(CreateCmd("b"));
  EXPECT_FALSE(out.status.ok());
  EXPECT_EQ((*ro)->last_seq(), 1u);
}

}  // namespace
}  // namespace taskledger
