// Verify after a workload, rebuild, import and backup.
#include "ledger/ledger.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "ledger/clock.h"
#include "ledger_fixture.h"
#include "ledger_test_fixture.h"
#include "test_util.h"

namespace taskledger {
namespace {

using namespace test;

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

}  // namespace
}  // namespace taskledger
