// `verify` (Ledger::Verify) on damaged ledgers: it must catch a tampered projection entry
// and a missing seq, and lead its report with the first seq and task where the log and
// what was derived from it part.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ledger/codec.h"
#include "ledger/keys.h"
#include "tests/audit/ledger_dir.h"

namespace taskledger::audit_test {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::unique_ptr<Ledger> ledger = OpenLedger(path_, &clock_);
    ASSERT_NE(ledger, nullptr);
    WriteHistory(*ledger, clock_);
    last_seq_ = ledger->last_seq();
    for (const std::string id : {"a", "b"}) last_seq_of_[id] = (*ledger->GetTask(id))->last_seq;
  }

  VerifyReport Verify() {
    std::unique_ptr<Ledger> ledger = OpenLedger(path_, &clock_, /*read_only=*/true);
    Result<VerifyReport> report = ledger->Verify();
    EXPECT_TRUE(report.ok()) << report.status().ToString();
    return report.ok() ? *report : VerifyReport{};
  }

  // Rewrites a task's stored record with `change` applied.
  void Tamper(const std::string& id, const std::function<void(TaskRecord&)>& change) {
    WithRawDb(path_, [&](rocksdb::DB& db, auto& families) {
      std::string bytes;
      ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), families.at("tasks"), id, &bytes).ok());
      Result<TaskRecord> record = DecodeTask(bytes);
      ASSERT_TRUE(record.ok());
      change(*record);
      ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), families.at("tasks"), id, EncodeTask(*record)).ok());
    });
  }

  void DeleteEvent(uint64_t seq) {
    WithRawDb(path_, [&](rocksdb::DB& db, auto& families) {
      ASSERT_TRUE(db.Delete(rocksdb::WriteOptions(), families.at("events"), keys::Seq(seq)).ok());
    });
  }

  TempDir dir_;
  std::string path_ = dir_ / "ledger";
  ManualClock clock_{kT0};
  uint64_t last_seq_ = 0;
  std::map<std::string, uint64_t> last_seq_of_;
};

TEST_F(VerifyTest, ALedgerWrittenByCommandsIsClean) {
  const VerifyReport report = Verify();
  EXPECT_THAT(report.problems, ::testing::IsEmpty());
  EXPECT_EQ(report.events, last_seq_);
  EXPECT_EQ(report.tasks, 2u);
}

TEST_F(VerifyTest, CatchesATamperedProjectionEntryAndNamesItsSeqAndTask) {
  Tamper("a", [](TaskRecord& r) { r.failures = 0; });  // the log says w1's lapse was a failure
  const VerifyReport report = Verify();
  ASSERT_FALSE(report.problems.empty());
  EXPECT_THAT(report.problems.front(), StartsWith("seq " + std::to_string(last_seq_of_["a"]) + ", task a: "));
  EXPECT_THAT(report.problems.front(), HasSubstr("in field failures (projection 0, log 1)"));
}

TEST_F(VerifyTest, LeadsWithTheEarliestDivergence) {
  Tamper("b", [](TaskRecord& r) { r.result = "forged"; });
  Tamper("a", [](TaskRecord& r) { r.holder = "mallory"; });
  const VerifyReport report = Verify();
  ASSERT_EQ(report.problems.size(), 2u);
  ASSERT_LT(last_seq_of_["a"], last_seq_of_["b"]);
  EXPECT_THAT(report.problems[0], StartsWith("seq " + std::to_string(last_seq_of_["a"]) + ", task a: "));
  EXPECT_THAT(report.problems[0], HasSubstr("holder (projection \"mallory\", log \"w2\")"));
  EXPECT_THAT(report.problems[1], StartsWith("seq " + std::to_string(last_seq_of_["b"]) + ", task b: "));
}

TEST_F(VerifyTest, CatchesAMissingSeqAndNamesTheTaskThatLostIt) {
  DeleteEvent(3);  // w1's claim of a
  const VerifyReport report = Verify();
  ASSERT_EQ(report.problems.size(), 1u) << "a broken log ends verify: nothing after it can be judged";
  EXPECT_EQ(report.problems.front(),
            "seq 3 is missing (found seq 4 after seq 2) (the task_events index lists seq 3 under task a)");
}

TEST_F(VerifyTest, CatchesAMissingLastEvent) {
  DeleteEvent(last_seq_);  // b's completion: no gap left behind
  const VerifyReport report = Verify();
  ASSERT_FALSE(report.problems.empty());
  EXPECT_EQ(report.problems.front(), "seq " + std::to_string(last_seq_) +
                                         ", task b: listed in the task_events index but not in the log");
}

TEST_F(VerifyTest, CatchesAnUndecodableEvent) {
  WithRawDb(path_, [&](rocksdb::DB& db, auto& families) {
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), families.at("events"), keys::Seq(4), "garbage!").ok());
  });
  const VerifyReport report = Verify();
  ASSERT_FALSE(report.problems.empty());
  EXPECT_THAT(report.problems.front(), StartsWith("event at seq 4: "));
  EXPECT_THAT(report.problems.front(), HasSubstr("under task a"));
}

// A writable open drops a marker no live task needs; a verify beside a live server (read
// only, as here) still finds one.
TEST_F(VerifyTest, CatchesADoneTaskStillScheduled) {
  WithRawDb(path_, [&](rocksdb::DB& db, auto& families) {
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), families.at("schedule"), keys::ScheduleOf("b"), "").ok());
  });
  const VerifyReport report = Verify();
  ASSERT_EQ(report.problems.size(), 1u);
  EXPECT_EQ(report.problems.front(),
            "seq " + std::to_string(last_seq_of_.at("b")) + ", task b: done but still scheduled");
}

TEST_F(VerifyTest, CatchesAProjectionEntryWithoutATask) {
  Tamper("a", [](TaskRecord&) {});
  WithRawDb(path_, [&](rocksdb::DB& db, auto& families) {
    std::string bytes;
    ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), families.at("tasks"), "a", &bytes).ok());
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), families.at("tasks"), "ghost", bytes).ok());
  });
  const VerifyReport report = Verify();
  ASSERT_FALSE(report.problems.empty());
  EXPECT_EQ(report.problems.back(), "task ghost: in the projection but never created in the log");
}

}  // namespace
}  // namespace taskledger::audit_test
