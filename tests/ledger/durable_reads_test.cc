// Reads see only what is durable (ledger_impl.h, DurableView): a group the server's
// committer wrote without sync is visible to later groups at once, but to reads only once
// a sync covers it, so no reader is ever shown what a power cut could take back.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "ledger/clock.h"
#include "ledger/ledger.h"
#include "tests/support/commands.h"
#include "tests/support/temp_dir.h"
#include "tests/support/time.h"
#include "test_util.h"

namespace taskledger::test {
namespace {

class DurableReadsTest : public ::testing::Test {
 protected:
  void Open(bool sync) {
    LedgerOptions options;
    options.path = dir_ / "ledger";  // a real file system: an in-memory Env has no SyncWAL
    options.sync = sync;
    Result<std::unique_ptr<Ledger>> opened = Ledger::Open(options, &clock_);
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    ledger_ = std::move(*opened);
  }
  void TearDown() override { ledger_.reset(); }

  void Unsynced(const Command& command) {
    const std::vector<Outcome> outcomes = ledger_->SubmitGroupUnsynced({command});
    ASSERT_TRUE(outcomes.at(0).status.ok()) << outcomes.at(0).status.ToString();
  }
  bool Visible(const std::string& id) {
    Result<std::optional<TaskRecord>> record = ledger_->GetTask(id);
    EXPECT_TRUE(record.ok()) << record.status().ToString();
    return record.ok() && record->has_value();
  }
  size_t EventsRead() {
    size_t n = 0;
    EXPECT_TRUE(ledger_->ForEachEvent(1, [&](const Event&) { return ++n, true; }).ok());
    return n;
  }
  size_t TasksListed() {
    Result<TasksSnapshot> now = ledger_->TasksAt(PointInTime::Now());
    EXPECT_TRUE(now.ok()) << now.status().ToString();
    return now.ok() ? now->tasks.size() : 0;
  }

  TempDir dir_{"durable-reads"};
  ManualClock clock_{kT0};
  std::unique_ptr<Ledger> ledger_;
};

TEST_F(DurableReadsTest, AnUnsyncedGroupIsHiddenFromReadsUntilASyncCoversIt) {
  Open(/*sync=*/true);
  ASSERT_TRUE(ledger_->Submit(CreateCmd("a")).status.ok());  // synced: seq 1
  Unsynced(CreateCmd("b"));                                   // seq 2, not synced

  // Every read path keeps the state of seq 1.
  EXPECT_FALSE(Visible("b"));
  EXPECT_EQ(ledger_->TaskAt("b", PointInTime::Now()).status().code(), Code::kNotFound);
  EXPECT_EQ(ledger_->TaskAt("b", PointInTime::AtSeq(2)).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(ledger_->last_seq(), 1u);
  EXPECT_EQ(EventsRead(), 1u);
  EXPECT_EQ(TasksListed(), 1u);
  Result<std::unique_ptr<TaskPages>> pages = ledger_->TaskPagesNow();
  ASSERT_TRUE(pages.ok());
  EXPECT_EQ((*pages)->seq(), 1u);
  pages->reset();
  Result<uint64_t> end = ledger_->FirstSeqAtOrAfter(kT0 + 3600 * kSec);
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(*end, 2u);

  // The command path sees it: a later group claims b.
  Unsynced(ClaimCmd("b"));  // seq 3
  EXPECT_FALSE(Visible("b"));

  TL_ASSERT_OK(ledger_->SyncWrites());
  EXPECT_TRUE(Visible("b"));
  EXPECT_EQ(ledger_->last_seq(), 3u);
  EXPECT_EQ(EventsRead(), 3u);
  EXPECT_EQ(TasksListed(), 2u);
  EXPECT_EQ(ledger_->TaskAt("b", PointInTime::Now())->status, TaskStatus::kRunning);
}

TEST_F(DurableReadsTest, ASyncedWriteShowsEveryWriteBeforeIt) {
  Open(/*sync=*/true);
  Unsynced(CreateCmd("a"));
  EXPECT_FALSE(Visible("a"));
  // Its fsync covers the log up to it, the unsynced group included.
  ASSERT_TRUE(ledger_->Submit(CreateCmd("b")).status.ok());
  EXPECT_TRUE(Visible("a"));
  EXPECT_TRUE(Visible("b"));
  EXPECT_EQ(ledger_->last_seq(), 2u);
}

TEST_F(DurableReadsTest, ARefusedCommandAloneStillWaitsForItsSync) {
  Open(/*sync=*/true);
  ASSERT_TRUE(ledger_->Submit(CreateCmd("a")).status.ok());
  const CommandReply claim = ledger_->Submit(ClaimCmd("a")).reply;
  // A stale token: refused, and its `rejected` event is written (unsynced) all the same.
  const std::vector<Outcome> stale =
      ledger_->SubmitGroupUnsynced({HolderCmd(CommandKind::kHeartbeat, "a", claim.token + 100)});
  EXPECT_TRUE(stale.at(0).status.IsRefused());
  EXPECT_EQ(ledger_->last_seq(), 2u);
  TL_ASSERT_OK(ledger_->SyncWrites());
  EXPECT_EQ(ledger_->last_seq(), 3u);
}

TEST_F(DurableReadsTest, WithoutSyncReadsSeeEveryWriteAtOnce) {
  Open(/*sync=*/false);  // --no-sync: nothing is waited for, so nothing is hidden
  Unsynced(CreateCmd("a"));
  EXPECT_TRUE(Visible("a"));
  EXPECT_EQ(ledger_->last_seq(), 1u);
}

}  // namespace
}  // namespace taskledger::test
