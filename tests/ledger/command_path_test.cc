// The command path (Ledger::Submit / SubmitGroup): create, holder commands, commit groups,
// ledger time, replies; on an in-memory Env with a ManualClock.
#include "ledger/ledger.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ledger/clock.h"
#include "ledger_fixture.h"
#include "ledger_test_fixture.h"
#include "projections/limits.h"
#include "test_util.h"

namespace taskledger {
namespace {

using namespace test;

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

}  // namespace
}  // namespace taskledger
