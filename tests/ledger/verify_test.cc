// Verify must find what is wrong (a verify that always says "clean" would pass every other
// test): the ledger is tampered with underneath, through RocksDB itself, then checked.
#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ledger/codec.h"
#include "ledger/keys.h"
#include "ledger/ledger.h"
#include "ledger_fixture.h"
#include "test_util.h"

namespace taskledger {
namespace {

using namespace test;

// docs/format.md "Keys": the column families, in handle order.
const std::vector<std::string> kFamilies = {"default",  "events",     "task_events", "tasks",
                                            "schedule", "deadlines", "dependents",  "idempotency"};
enum Family { kDefault, kEvents, kTaskEvents, kTasks, kSchedule, kDeadlines, kDependents, kIdempotency };

class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TL_ASSERT_OK(m_.Open());
    Ledger& L = m_.ledger();
    ASSERT_TRUE(L.Submit(CreateCmd("a")).status.ok());
    Command b = CreateCmd("b");
    b.spec.after = {"a"};
    b.spec.idempotency_key = "key-b";
    ASSERT_TRUE(L.Submit(b).status.ok());
    ASSERT_TRUE(L.Submit(CreateCmd("c")).status.ok());
    const Outcome claim = L.Submit(ClaimCmd("a", "w1", 30 * kSec));
    ASSERT_TRUE(claim.status.ok());
    token_ = claim.reply.token;
    m_.clock().Advance(kSec);
    ASSERT_TRUE(L.Submit(HolderCmd(CommandKind::kHeartbeat, "a", token_)).status.ok());
    ExpectClean("before tampering");
  }

  void ExpectClean(const std::string& when) { ExpectVerifyClean(m_.ledger(), when); }

  // Verify's problems (or its error, as one problem).
  std::vector<std::string> Problems() {
    Result<VerifyReport> report = m_.ledger().Verify();
    if (!report.ok()) return {"error: " + report.status().ToString()};
    return report->problems;
  }

  // Closes the ledger, changes its RocksDB directly, and opens it again.
  void Tamper(const std::function<void(rocksdb::DB*, const std::vector<rocksdb::ColumnFamilyHandle*>&)>& change) {
    m_.Close();
    rocksdb::Options options;
    options.env = m_.env();
    std::vector<rocksdb::ColumnFamilyDescriptor> families;
    for (const std::string& name : kFamilies) families.emplace_back(name, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    const rocksdb::Status s = rocksdb::DB::Open(options, "/ledger", families, &handles, &raw);
    ASSERT_TRUE(s.ok()) << s.ToString();
    std::unique_ptr<rocksdb::DB> db(raw);
    change(db.get(), handles);
    for (rocksdb::ColumnFamilyHandle* h : handles) ASSERT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
    db.reset();
    TL_ASSERT_OK(m_.Open());
  }

  TaskRecord Stored(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* tasks, const std::string& id) {
    std::string bytes;
    EXPECT_TRUE(db->Get(rocksdb::ReadOptions(), tasks, id, &bytes).ok());
    Result<TaskRecord> r = DecodeTask(bytes);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : TaskRecord{};
  }

  MemLedger m_;
  uint64_t token_ = 0;
};

bool Mentions(const std::vector<std::string>& problems, const std::string& what) {
  for (const std::string& p : problems) {
    if (p.find(what) != std::string::npos) return true;
  }
  return false;
}

std::string Joined(const std::vector<std::string>& problems) {
  std::string out;
  for (const std::string& p : problems) out += "\n  " + p;
  return out;
}

TEST_F(VerifyTest, FindsAProjectionThatDiffersFromTheLogAndRebuildRepairsIt) {
  Tamper([&](rocksdb::DB* db, const auto& cf) {
    TaskRecord a = Stored(db, cf[kTasks], "a");
    a.failures = 2;  // as if two failures had been recorded
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf[kTasks], "a", EncodeTask(a)).ok());
  });
  const std::vector<std::string> problems = Problems();
  ASSERT_FALSE(problems.empty());
  EXPECT_TRUE(Mentions(problems, "task a")) << Joined(problems);
  EXPECT_TRUE(Mentions(problems, "failures")) << Joined(problems);
  Result<RebuildReport> rebuilt = m_.ledger().Rebuild();
  ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().ToString();
  ExpectClean("after rebuild");
  EXPECT_EQ(m_.Task("a")->failures, 0u);
}

TEST_F(VerifyTest, FindsATaskMissingFromTheProjection) {
  Tamper([&](rocksdb::DB* db, const auto& cf) { ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), cf[kTasks], "c").ok()); });
  const std::vector<std::string> problems = Problems();
  ASSERT_FALSE(problems.empty());
  EXPECT_TRUE(Mentions(problems, "task c: missing from the projection")) << Joined(problems);
  ASSERT_TRUE(m_.ledger().Rebuild().ok());
  ExpectClean("after rebuild");
}

TEST_F(VerifyTest, FindsAReadyTaskMissingFromTheSchedule) {
  Tamper([&](rocksdb::DB* db, const auto& cf) {
    std::string where;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), cf[kSchedule], keys::ScheduleOf("c"), &where).ok());
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), cf[kSchedule], where).ok());
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), cf[kSchedule], keys::ScheduleOf("c")).ok());
  });
  const std::vector<std::string> problems = Problems();
  ASSERT_FALSE(problems.empty());
  EXPECT_TRUE(Mentions(problems, "task c: ready but not in the schedule")) << Joined(problems);
  ASSERT_TRUE(m_.ledger().Rebuild().ok());
  ExpectClean("after rebuild");
  // And the repaired schedule offers it again.
  const Outcome claim = m_.ledger().Submit(test::ClaimNextCmd());
  ASSERT_TRUE(claim.status.ok()) << claim.status.ToString();
  EXPECT_EQ(claim.reply.task_id, "c");
}

TEST_F(VerifyTest, FindsARunningTaskMissingFromTheScheduleAndAStrayIndexEntry) {
  Tamper([&](rocksdb::DB* db, const auto& cf) {
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), cf[kSchedule], keys::ScheduleOf("a")).ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf[kIdempotency], "key-ghost", "c").ok());
  });
  const std::vector<std::string> problems = Problems();
  EXPECT_TRUE(Mentions(problems, "task a: running but not in the schedule")) << Joined(problems);
  EXPECT_TRUE(Mentions(problems, "idempotency")) << Joined(problems);
  ASSERT_TRUE(m_.ledger().Rebuild().ok());
  ExpectClean("after rebuild");
  // The repaired schedule knows a's deadline again: a sweep after it ends the lease.
  m_.clock().Advance(31 * kSec);
  const Outcome sweep = m_.ledger().Submit(test::SweepCmd());
  ASSERT_TRUE(sweep.status.ok()) << sweep.status.ToString();
  ASSERT_EQ(sweep.reply.events.size(), 1u);
  EXPECT_EQ(sweep.reply.events[0].task_id, "a");
}

TEST_F(VerifyTest, NamesTheLeastMarkerOfNoTask) {
  Tamper([&](rocksdb::DB* db, const auto& cf) {
    for (const char* ghost : {"ghost-2", "ghost-1", "ghost-3"}) {
      ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf[kSchedule], keys::ScheduleOf(ghost), "").ok());
    }
  });
  const std::vector<std::string> problems = Problems();
  ASSERT_EQ(problems.size(), 1u) << Joined(problems);
  EXPECT_EQ(problems[0], "a schedule entry belongs to no task (ghost-1)");
}

TEST_F(VerifyTest, FindsAMarkerOfNoTaskAndEntriesOfTheOldFormat) {
  Tamper([&](rocksdb::DB* db, const auto& cf) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf[kSchedule], keys::ScheduleOf("ghost"), "").ok());
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf[kDeadlines], keys::Deadline(5 * kSec, "a"), "x").ok());
  });
  const std::vector<std::string> problems = Problems();
  EXPECT_TRUE(Mentions(problems, "a schedule entry belongs to no task (ghost)")) << Joined(problems);
  EXPECT_TRUE(Mentions(problems, "the deadlines family holds 1 entries")) << Joined(problems);
  ASSERT_TRUE(m_.ledger().Rebuild().ok());
  ExpectClean("after rebuild");
}

// Format 1 stored the schedule's places and every open attempt's deadline; a format-1
// ledger is converted at its first writable open and then behaves as if made by format 2.
TEST_F(VerifyTest, AFormat1LedgerIsConvertedAtItsFirstWritableOpen) {
  Tamper([&](rocksdb::DB* db, const auto& cf) {
    const rocksdb::WriteOptions w;
    ASSERT_TRUE(db->Put(w, cf[kDefault], "format_version", "1").ok());
    // What format 1 wrote for c (ready) and a (running, deadline 31 s after the start).
    const std::string ready = keys::Ready("default", 0, 3);
    ASSERT_TRUE(db->Put(w, cf[kSchedule], ready, "c").ok());
    ASSERT_TRUE(db->Put(w, cf[kSchedule], keys::ScheduleOf("c"), ready).ok());
    const std::string timer = keys::Timer("default", 31 * kSec, "a");
    ASSERT_TRUE(db->Put(w, cf[kSchedule], timer, "").ok());
    ASSERT_TRUE(db->Put(w, cf[kSchedule], keys::ScheduleOf("a"), timer).ok());
    ASSERT_TRUE(db->Put(w, cf[kDeadlines], keys::Deadline(31 * kSec, "a"), keys::Seq(token_)).ok());
  });
  ExpectClean("after the conversion");
  Tamper([&](rocksdb::DB* db, const auto& cf) {
    std::string version;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), cf[kDefault], "format_version", &version).ok());
    EXPECT_EQ(version, "2");
    std::vector<std::string> schedule;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf[kSchedule]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) schedule.push_back(it->key().ToString() + "=" + it->value().ToString());
    EXPECT_EQ(schedule, (std::vector<std::string>{"Sa=", "Sc="}));
    it.reset(db->NewIterator(rocksdb::ReadOptions(), cf[kDeadlines]));
    it->SeekToFirst();
    EXPECT_FALSE(it->Valid()) << "deadlines left behind";
  });
  const Outcome claim = m_.ledger().Submit(test::ClaimNextCmd());
  ASSERT_TRUE(claim.status.ok()) << claim.status.ToString();
  EXPECT_EQ(claim.reply.task_id, "c");
  m_.clock().Advance(31 * kSec);
  const Outcome sweep = m_.ledger().Submit(test::SweepCmd());
  ASSERT_TRUE(sweep.status.ok()) << sweep.status.ToString();
  std::vector<std::string> lapsed;
  for (const Event& e : sweep.reply.events) lapsed.push_back(e.task_id);
  std::sort(lapsed.begin(), lapsed.end());
  EXPECT_EQ(lapsed, (std::vector<std::string>{"a", "c"}));  // c: the claim above, default ttl
}

// docs/format.md "The schedule": only which tasks are live is stored, one empty `S` marker
// each; places and deadlines are in memory. From SetUp: a running (open attempt), b waiting
// on a (not live), c ready.
TEST_F(VerifyTest, StoresOnlyWhichTasksAreLive) {
  const auto stored = [&]() {
    std::vector<std::string> entries;
    Tamper([&](rocksdb::DB* db, const auto& cf) {
      for (Family family : {kSchedule, kDeadlines}) {
        std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), cf[family]));
        for (it->SeekToFirst(); it->Valid(); it->Next()) {
          entries.push_back(kFamilies[family] + " " + it->key().ToString() + "=" + it->value().ToString());
        }
      }
    });
    return entries;
  };
  EXPECT_EQ(stored(), (std::vector<std::string>{"schedule Sa=", "schedule Sc="}));
  // (stored() reopens the ledger: m_.ledger() each time.)
  ASSERT_TRUE(m_.ledger().Submit(HolderCmd(CommandKind::kComplete, "a", token_)).status.ok());
  // a is done; b, waiting on it, becomes ready and live.
  EXPECT_EQ(stored(), (std::vector<std::string>{"schedule Sb=", "schedule Sc="}));
  Command cancel;
  cancel.kind = CommandKind::kCancel;
  cancel.task_id = "c";
  ASSERT_TRUE(m_.ledger().Submit(cancel).status.ok());
  EXPECT_EQ(stored(), (std::vector<std::string>{"schedule Sb="}));
  ExpectClean("after the changes");

  // A dependency that cannot be read at open says nothing about b: b keeps its marker
  // (verify names the damage, rebuild repairs it) instead of silently leaving the schedule.
  Tamper([&](rocksdb::DB* db, const auto& cf) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf[kTasks], "a", "not a record").ok());
  });
  EXPECT_EQ(stored(), (std::vector<std::string>{"schedule Sb="}));
  EXPECT_FALSE(Problems().empty());
  ASSERT_TRUE(m_.ledger().Rebuild().ok());
  ExpectClean("after rebuild");
  const Outcome claim = m_.ledger().Submit(test::ClaimNextCmd());
  ASSERT_TRUE(claim.status.ok()) << claim.status.ToString();
  EXPECT_EQ(claim.reply.task_id, "b");
}

// Format 1 kept an `S` key only while a task had a place: a lease that lapsed into `dead`
// and was promoted by a claim --next before any sweep left only its deadline entry. The
// conversion must keep that attempt's lease, so that a sweep still marks its lapse.
TEST_F(VerifyTest, AFormat1AttemptWithADeadlineButNoPlaceKeepsItsLease) {
  Tamper([&](rocksdb::DB* db, const auto& cf) {
    const rocksdb::WriteOptions w;
    ASSERT_TRUE(db->Put(w, cf[kDefault], "format_version", "1").ok());
    ASSERT_TRUE(db->Delete(w, cf[kSchedule], keys::ScheduleOf("a")).ok());
    ASSERT_TRUE(db->Put(w, cf[kDeadlines], keys::Deadline(31 * kSec, "a"), keys::Seq(token_)).ok());
  });
  ExpectClean("after the conversion");
  m_.clock().Advance(31 * kSec);
  const Outcome sweep = m_.ledger().Submit(test::SweepCmd());
  ASSERT_TRUE(sweep.status.ok()) << sweep.status.ToString();
  ASSERT_EQ(sweep.reply.events.size(), 1u);
  EXPECT_EQ(sweep.reply.events[0].task_id, "a");
  ExpectClean("after the sweep");
}

TEST_F(VerifyTest, FindsAGapInTheLog) {
  Tamper([&](rocksdb::DB* db, const auto& cf) {
    ASSERT_TRUE(db->Delete(rocksdb::WriteOptions(), cf[kEvents], keys::Seq(2)).ok());
  });
  const std::vector<std::string> problems = Problems();
  ASSERT_FALSE(problems.empty());
  EXPECT_TRUE(Mentions(problems, "seq 2")) << Joined(problems);
}

TEST_F(VerifyTest, FindsAnEventTheRulesCouldNotHaveAccepted) {
  // The heartbeat (seq 5) rewritten to carry a token that never held the lease.
  Tamper([&](rocksdb::DB* db, const auto& cf) {
    std::string bytes;
    ASSERT_TRUE(db->Get(rocksdb::ReadOptions(), cf[kEvents], keys::Seq(5), &bytes).ok());
    Result<Event> e = DecodeEvent(bytes);
    ASSERT_TRUE(e.ok());
    ASSERT_EQ(e->kind, EventKind::kHeartbeat);
    e->token = token_ + 100;
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf[kEvents], keys::Seq(5), EncodeEvent(*e)).ok());
  });
  const std::vector<std::string> problems = Problems();
  ASSERT_FALSE(problems.empty());
  EXPECT_TRUE(Mentions(problems, "seq 5")) << Joined(problems);
  // Rebuild refuses to derive a projection from a log that breaks the rules.
  EXPECT_FALSE(m_.ledger().Rebuild().ok());
}

TEST_F(VerifyTest, FindsCorruptBytesInTheLogWithoutCrashing) {
  Tamper([&](rocksdb::DB* db, const auto& cf) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), cf[kEvents], keys::Seq(3), std::string(24, '\x5a')).ok());
  });
  const std::vector<std::string> problems = Problems();
  ASSERT_FALSE(problems.empty());
  EXPECT_TRUE(Mentions(problems, "seq 3")) << Joined(problems);
  std::vector<uint64_t> seen;
  const Status s = m_.ledger().ForEachEvent(1, [&](const Event& e) {
    seen.push_back(e.seq);
    return true;
  });
  EXPECT_EQ(s.code(), Code::kDataLoss) << s.ToString();
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2}));
}

}  // namespace
}  // namespace taskledger
