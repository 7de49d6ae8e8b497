// Ledger::Backup: a RocksDB checkpoint that opens and verifies on its own, taken while the
// source keeps taking writes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "tests/audit/ledger_dir.h"

namespace taskledger::audit_test {
namespace {

using ::testing::HasSubstr;

class BackupTest : public ::testing::Test {
 protected:
  TempDir dir_;
  ManualClock clock_{kT0};
};

TEST_F(BackupTest, ACopyTakenWhileTheSourceTakesWritesOpensAndVerifies) {
  std::unique_ptr<Ledger> source = OpenLedger(dir_ / "source", &clock_);
  ASSERT_NE(source, nullptr);
  // Writes at least this many tasks before the backup starts, and goes on during it.
  constexpr int kTasksBefore = 50;
  std::atomic<int> written{0};
  std::atomic<bool> backed_up{false};
  std::thread writer([&] {
    for (int i = 0; !backed_up.load() || i < kTasksBefore; ++i) {
      const std::string id = "t" + std::to_string(i);
      MustSubmit(*source, Cmd(CommandKind::kCreate, id));
      const uint64_t token = MustSubmit(*source, Cmd(CommandKind::kClaim, id, "w1")).token;
      MustSubmit(*source, Cmd(CommandKind::kComplete, id, "w1", token));
      written.store(i + 1);
    }
  });
  while (written.load() < kTasksBefore) std::this_thread::yield();
  const Status backup = source->Backup(dir_ / "copy");
  const uint64_t seq_after_backup = source->last_seq();
  backed_up.store(true);
  writer.join();
  ASSERT_TRUE(backup.ok()) << backup.ToString();

  std::unique_ptr<Ledger> copy = OpenLedger(dir_ / "copy", &clock_, /*read_only=*/true);
  ASSERT_NE(copy, nullptr);
  Result<VerifyReport> report = copy->Verify();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_THAT(report->problems, ::testing::IsEmpty());
  EXPECT_GE(copy->last_seq(), 3u * kTasksBefore);
  EXPECT_LE(copy->last_seq(), seq_after_backup);
  EXPECT_GT(source->last_seq(), copy->last_seq()) << "the source went on writing after the backup";
  // The copy is a prefix of the source's log.
  std::string copied = ExportLines(*copy);
  EXPECT_EQ(ExportLines(*source).substr(0, copied.size()), copied);
}

TEST_F(BackupTest, TheCopyIsALedgerOfItsOwn) {
  std::unique_ptr<Ledger> source = OpenLedger(dir_ / "source", &clock_);
  WriteHistory(*source, clock_);
  ASSERT_TRUE(source->Backup(dir_ / "copy").ok());
  std::unique_ptr<Ledger> copy = OpenLedger(dir_ / "copy", &clock_);
  ASSERT_NE(copy, nullptr);
  MustSubmit(*copy, Cmd(CommandKind::kCreate, "only-in-the-copy"));
  EXPECT_EQ(copy->last_seq(), source->last_seq() + 1);
  EXPECT_FALSE((*source->GetTask("only-in-the-copy")).has_value());
  EXPECT_THAT(copy->Verify()->problems, ::testing::IsEmpty());
}

TEST_F(BackupTest, AnEmptyDirectoryIsUsed) {
  std::unique_ptr<Ledger> source = OpenLedger(dir_ / "source", &clock_);
  WriteHistory(*source, clock_);
  std::filesystem::create_directory(dir_ / "empty");
  ASSERT_TRUE(source->Backup(dir_ / "empty").ok());
  EXPECT_EQ(OpenLedger(dir_ / "empty", &clock_, true)->last_seq(), source->last_seq());
}

TEST_F(BackupTest, RefusesANonEmptyDirectoryAndLeavesItAlone) {
  std::unique_ptr<Ledger> source = OpenLedger(dir_ / "source", &clock_);
  std::filesystem::create_directory(dir_ / "full");
  std::ofstream(dir_ / "full/precious.txt") << "keep me";
  const Status s = source->Backup(dir_ / "full");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("exists and is not empty"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "full/precious.txt"));
}

TEST_F(BackupTest, AReadOnlyViewCannotBeBackedUp) {
  { OpenLedger(dir_ / "source", &clock_); }
  std::unique_ptr<Ledger> view = OpenLedger(dir_ / "source", &clock_, /*read_only=*/true);
  const Status s = view->Backup(dir_ / "copy");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(dir_ / "copy"));
}

}  // namespace
}  // namespace taskledger::audit_test
