// FoldEvents (ledger/log_scan.h) against ScanEvents over a log of many hand-over batches:
// the same events in the same order, the same stop, the same error after the same events,
// whichever of its two threads decoded each batch (that choice follows the threads' pace,
// so every case runs with a folder that keeps up and with one that lags).
#include "ledger/log_scan.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <memory>
#include <string>
#include <vector>

#include "ledger/codec.h"
#include "ledger/keys.h"
#include "support/temp_dir.h"
#include "test_util.h"

namespace taskledger {
namespace {

using test::kSec;
using test::kT0;

// Many batches of the fold's hand-over (256 events each), with an odd count.
constexpr uint64_t kEvents = 3001;

class LogScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rocksdb::Options options;
    options.create_if_missing = true;
    options.create_missing_column_families = true;
    std::vector<rocksdb::ColumnFamilyDescriptor> families = {{rocksdb::kDefaultColumnFamilyName, {}},
                                                             {"events", {}}};
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(options, dir_ / "db", families, &handles, &db).ok());
    db_.reset(db);
    handles_.assign(handles.begin(), handles.end());
    for (uint64_t seq = 1; seq <= kEvents; ++seq) {
      // Texts of every length mod 8, so that the encoded events differ in size.
      Event e;
      e.seq = seq;
      e.time_ns = kT0 + static_cast<int64_t>(seq) * kSec;
      e.task_id = "task-" + std::to_string(seq % 97);
      e.actor = "worker";
      e.kind = seq % 10 == 1 ? EventKind::kCreated : EventKind::kHeartbeat;
      e.token = seq;
      e.text = std::string(seq % 41, 'x');
      Put(seq, EncodeEvent(e));
    }
  }

  void TearDown() override {
    for (rocksdb::ColumnFamilyHandle* handle : handles_) (void)db_->DestroyColumnFamilyHandle(handle);
  }

  void Put(uint64_t seq, const std::string& bytes) {
    ASSERT_TRUE(db_->Put(rocksdb::WriteOptions(), handles_[1], keys::Seq(seq), bytes).ok());
  }

  // What a scan passes to its fn (until `stop_after` events), and what it returns.
  struct Seen {
    std::vector<Event> events;
    Status status = Status::Ok();
  };
  // `lagging`: the fn does enough per event that the reader gets ahead of it.
  Seen Fold(size_t stop_after, bool lagging) {
    Seen seen;
    Replay replay;
    std::string work;
    seen.status = FoldEvents(db_.get(), handles_[1], LogScanOptions(), replay, [&](const Event& e) {
      seen.events.push_back(e);
      if (lagging) {
        for (int i = 0; i < 20; ++i) work = EncodeEvent(e);
      }
      return seen.events.size() < stop_after;
    });
    return seen;
  }
  Seen Scan(size_t stop_after) {
    Seen seen;
    seen.status = ScanEvents(db_.get(), handles_[1], LogScanOptions(), 1, [&](const Event& e) {
      seen.events.push_back(e);
      return seen.events.size() < stop_after;
    });
    return seen;
  }

  void ExpectSame(size_t stop_after) {
    const Seen scan = Scan(stop_after);
    for (const bool lagging : {false, true}) {
      const Seen fold = Fold(stop_after, lagging);
      EXPECT_EQ(fold.status.ToString(), scan.status.ToString()) << "lagging " << lagging;
      ASSERT_EQ(fold.events.size(), scan.events.size()) << "lagging " << lagging;
      for (size_t i = 0; i < scan.events.size(); ++i) {
        ASSERT_EQ(fold.events[i], scan.events[i]) << "event " << i << ", lagging " << lagging;
      }
    }
  }

  test::TempDir dir_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

TEST_F(LogScanTest, FoldPassesEveryEventAsTheScanDoes) {
  ASSERT_EQ(Scan(SIZE_MAX).events.size(), kEvents);
  ExpectSame(SIZE_MAX);
}

TEST_F(LogScanTest, FoldStopsWhereItsFnStops) {
  ExpectSame(1);
  ExpectSame(700);
  ExpectSame(kEvents - 1);
}

TEST_F(LogScanTest, AnUndecodableEventEndsTheFoldAfterEveryEventBeforeIt) {
  Put(1000, "garbage!");
  Put(2900, "garbage, of another length");
  const Seen scan = Scan(SIZE_MAX);
  ASSERT_EQ(scan.events.size(), 999u);
  EXPECT_EQ(scan.status.code(), Code::kDataLoss);
  EXPECT_EQ(scan.status.message().rfind("event at seq 1000: ", 0), 0u) << scan.status.ToString();
  ExpectSame(SIZE_MAX);
}

}  // namespace
}  // namespace taskledger
