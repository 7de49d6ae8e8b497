// The writer lease's rules (projections/writer_lease.h), on an injected clock.
#include "projections/writer_lease.h"

#include <gtest/gtest.h>

namespace taskledger {
namespace {

constexpr int64_t kMs = 1'000'000;

WriterLeaseRecord Held(std::string holder, uint64_t term) { return {std::move(holder), term, 2000 * kMs}; }

TEST(WriterLeaseTest, ARecordSurvivesItsStoredForm) {
  const WriterLeaseRecord record = Held("n1", 7);
  EXPECT_EQ(EncodeWriterLease(record), R"({"holder":"n1","term":7,"ttl_ms":2000})");
  Result<WriterLeaseRecord> back = DecodeWriterLease(EncodeWriterLease(record));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, record);
}

TEST(WriterLeaseTest, AnythingElseStoredIsDataLoss) {
  for (const char* bytes : {"", "[]", "{\"term\":1,\"ttl_ms\":5}", "{\"holder\":\"a\",\"ttl_ms\":5}",
                            "{\"holder\":\"a\",\"term\":-1,\"ttl_ms\":5}", "{\"holder\":\"a\",\"term\":1,\"ttl_ms\":0}",
                            "{\"holder\":\"a\",\"term\":1}", "{\"holder\":1,\"term\":1,\"ttl_ms\":5}"}) {
    Result<WriterLeaseRecord> record = DecodeWriterLease(bytes);
    EXPECT_EQ(record.status().code(), Code::kDataLoss) << bytes;
  }
}

TEST(WriterLeaseTest, AStandbyTakesOverOnlyAfterTheSameRevisionStoodForTheTtl) {
  LeaseWatch watch;
  EXPECT_FALSE(watch.Lapsed(0));  // nothing seen: nothing to take over
  watch.Observe(5, Held("n1", 1), 100 * kMs);
  watch.Observe(5, Held("n1", 1), 1500 * kMs);  // seeing it again does not restart the time
  EXPECT_FALSE(watch.Lapsed(2099 * kMs));
  EXPECT_TRUE(watch.Lapsed(2100 * kMs));
  EXPECT_EQ(watch.LapsesAtNs(), 2100 * kMs);
}

TEST(WriterLeaseTest, ARenewalRestartsTheStandbysTime) {
  LeaseWatch watch;
  watch.Observe(5, Held("n1", 1), 0);
  watch.Observe(6, Held("n1", 1), 1900 * kMs);  // renewed: a new revision
  EXPECT_FALSE(watch.Lapsed(2100 * kMs));
  EXPECT_TRUE(watch.Lapsed(3900 * kMs));
}

TEST(WriterLeaseTest, AReleasedLeaseIsFreeAtOnce) {
  LeaseWatch watch;
  watch.Observe(9, WriterLeaseRecord{"", 3, 2000 * kMs}, 0);
  EXPECT_TRUE(watch.Lapsed(0));
}

TEST(WriterLeaseTest, TheHolderStopsBeforeAnyStandbyCanStart) {
  // The holder asks at 0; the record is written, and a standby first sees it, later.
  const int64_t asked = 0, standby_first_sees = 3 * kMs;
  LeaseWatch watch;
  watch.Observe(2, Held("n1", 1), standby_first_sees);
  EXPECT_LT(HeldUntilNs(asked, 2000 * kMs), watch.LapsesAtNs());
  EXPECT_EQ(HeldUntilNs(asked, 2000 * kMs), 1800 * kMs);
}

TEST(WriterLeaseTest, ARenewalAfterALostAnswerCountsFromTheEarlierRequest) {
  EXPECT_EQ(RenewalStartNs(5000 * kMs, std::nullopt), 5000 * kMs);
  // The renewal asked at 4000 lost its answer; the one at 5000 may find 4000's record.
  EXPECT_EQ(RenewalStartNs(5000 * kMs, 4000 * kMs), 4000 * kMs);
}

TEST(WriterLeaseTest, ATakeoverWaitsForTheWatchAndTakesTheNextTerm) {
  LeaseWatch watch;
  TakeoverDecision never_held = DecideTakeover(watch, 0, WriterLeaseRecord{}, "b", 2000 * kMs, 0);
  EXPECT_TRUE(never_held.take);
  EXPECT_EQ(never_held.record, (WriterLeaseRecord{"b", 1, 2000 * kMs}));
  EXPECT_EQ(never_held.expected_revision, 0u);

  TakeoverDecision held = DecideTakeover(watch, 7, Held("a", 4), "b", 3000 * kMs, 100 * kMs);
  EXPECT_FALSE(held.take);
  EXPECT_EQ(held.lapses_at_ns, 2100 * kMs);  // the holder's ttl, not the taker's
  TakeoverDecision lapsed = DecideTakeover(watch, 7, Held("a", 4), "b", 3000 * kMs, 2100 * kMs);
  EXPECT_TRUE(lapsed.take);
  EXPECT_EQ(lapsed.record, (WriterLeaseRecord{"b", 5, 3000 * kMs}));
  EXPECT_EQ(lapsed.expected_revision, 7u);
  // Its own name in the record is no shortcut.
  LeaseWatch restarted;
  EXPECT_FALSE(DecideTakeover(restarted, 7, Held("b", 4), "b", 3000 * kMs, 0).take);
}

TEST(WriterLeaseTest, OnlyThisWritesRecordAtANewerRevisionMeansItLanded) {
  EXPECT_TRUE(WriteLanded(4, Held("a", 2), 5, Held("a", 2)));
  EXPECT_FALSE(WriteLanded(4, Held("a", 2), 4, Held("a", 2)));  // not newer: it did not land
  EXPECT_FALSE(WriteLanded(4, Held("a", 2), 5, Held("b", 3)));  // another server's
}

}  // namespace
}  // namespace taskledger
