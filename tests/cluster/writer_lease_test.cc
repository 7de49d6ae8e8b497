// WriterLeases against one NATS server, on an injected clock: who may take a partition
// over and when, a lapsed holder refused, a release, and a frozen writer fenced twice (by
// the lease and by the log).
#include "ledger/writer_lease.h"

#include <gtest/gtest.h>

#include "ledger/jetstream_log.h"
#include "tests/cluster/nats_cluster.h"
#include "tests/support/temp_dir.h"

namespace taskledger {
namespace {

using test::NatsCluster;
using test::TempDir;

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kTtl = 2000 * kMs;

class WriterLeasesOnNatsTest : public ::testing::Test {
 protected:
  // A server that did not start failed the test in the fixture's constructor: stop here.
  void SetUp() override { ASSERT_FALSE(HasFatalFailure()); }
  std::unique_ptr<WriterLeases> OpenLeases() {
    WriterLeaseOptions options;
    options.servers = nats_.Urls();
    Result<std::unique_ptr<WriterLeases>> leases = WriterLeases::Open(options, clock_);
    EXPECT_TRUE(leases.ok()) << leases.status().ToString();
    return leases.ok() ? std::move(leases).value() : nullptr;
  }

  TempDir root_{"taskledger-leases"};
  NatsCluster nats_{root_.path(), 1};
  ManualClock clock_{1'000 * kMs};
};

TEST_F(WriterLeasesOnNatsTest, TheFirstServerTakesAFreePartitionAndOthersWait) {
  std::unique_ptr<WriterLeases> a = OpenLeases(), b = OpenLeases();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  Result<WriterGrant> grant = a->TryAcquire(0, "a", kTtl);
  ASSERT_TRUE(grant.ok()) << grant.status().ToString();
  EXPECT_EQ(grant->record, (WriterLeaseRecord{"a", 1, kTtl}));
  EXPECT_EQ(grant->held_until_ns, clock_.NowNs() + kTtl - kTtl / 10);

  Result<WriterGrant> refused = b->TryAcquire(0, "b", kTtl);
  EXPECT_EQ(refused.status().code(), Code::kBusy);
  EXPECT_EQ(refused.status().message(), "partition 0 is held by a (term 1); it lapses in 2000 ms unless renewed");
  // Partitions are independent.
  EXPECT_TRUE(b->TryAcquire(1, "b", kTtl).ok());
}

TEST_F(WriterLeasesOnNatsTest, AStandbyTakesOverOnlyAfterWatchingTheRecordStandForItsTtl) {
  std::unique_ptr<WriterLeases> a = OpenLeases(), b = OpenLeases();
  Result<WriterGrant> held = a->TryAcquire(0, "a", kTtl);
  ASSERT_TRUE(held.ok());
  clock_.Advance(5000 * kMs);  // a stops renewing, but b has not looked yet
  EXPECT_EQ(b->TryAcquire(0, "b", kTtl).status().code(), Code::kBusy);  // b's watch starts now
  clock_.Advance(1999 * kMs);
  EXPECT_EQ(b->TryAcquire(0, "b", kTtl).status().code(), Code::kBusy);
  clock_.Advance(1 * kMs);
  Result<WriterGrant> taken = b->TryAcquire(0, "b", kTtl);
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  EXPECT_EQ(taken->record, (WriterLeaseRecord{"b", 2, kTtl}));

  // a wakes and tries to renew: refused, naming the new holder.
  Result<WriterGrant> late = a->Renew(*held);
  EXPECT_EQ(late.status().code(), Code::kRefused);
  EXPECT_EQ(late.status().message(), "lost the writer lease of partition 0 (term 1): the writer lease of partition 0 is "
                                     "now held by b (term 2)");
}

TEST_F(WriterLeasesOnNatsTest, RenewingKeepsStandbysWaiting) {
  std::unique_ptr<WriterLeases> a = OpenLeases(), b = OpenLeases();
  Result<WriterGrant> held = a->TryAcquire(0, "a", kTtl);
  ASSERT_TRUE(held.ok());
  EXPECT_EQ(b->TryAcquire(0, "b", kTtl).status().code(), Code::kBusy);
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(1500 * kMs);  // within each lease: renewed before it ends
    ASSERT_LT(clock_.NowNs(), held->held_until_ns);
    held = a->Renew(*held);
    ASSERT_TRUE(held.ok()) << held.status().ToString();
    EXPECT_EQ(held->held_until_ns, clock_.NowNs() + kTtl - kTtl / 10);
    EXPECT_EQ(b->TryAcquire(0, "b", kTtl).status().code(), Code::kBusy) << "after renewal " << i;
  }
}

TEST_F(WriterLeasesOnNatsTest, AReleasedLeaseIsTakenAtOnceWithTheNextTerm) {
  std::unique_ptr<WriterLeases> a = OpenLeases(), b = OpenLeases();
  Result<WriterGrant> held = a->TryAcquire(0, "a", kTtl);
  ASSERT_TRUE(held.ok());
  ASSERT_TRUE(a->Release(*held).ok());
  Result<WriterGrant> taken = b->TryAcquire(0, "b", kTtl);
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  EXPECT_EQ(taken->record.term, 2u);
  EXPECT_EQ(a->Renew(*held).status().code(), Code::kRefused);
}

TEST_F(WriterLeasesOnNatsTest, ARestartedHolderWaitsLikeAnyoneElse) {
  std::unique_ptr<WriterLeases> before = OpenLeases();
  ASSERT_TRUE(before->TryAcquire(0, "a", kTtl).ok());
  // The same name in a new process: its old self may only be paused, so it waits.
  std::unique_ptr<WriterLeases> after = OpenLeases();
  EXPECT_EQ(after->TryAcquire(0, "a", kTtl).status().code(), Code::kBusy);
  clock_.Advance(kTtl);
  Result<WriterGrant> again = after->TryAcquire(0, "a", kTtl);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->record.term, 2u);
}

TEST_F(WriterLeasesOnNatsTest, BadArgumentsAreRefused) {
  std::unique_ptr<WriterLeases> a = OpenLeases();
  EXPECT_EQ(a->TryAcquire(0, "", kTtl).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(a->TryAcquire(0, "a", 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(a->TryAcquire(0, "a", kMs + 1).status().code(), Code::kInvalidArgument);
  WriterLeaseOptions options;
  options.servers = nats_.Urls();
  options.replicas = 2;
  EXPECT_EQ(WriterLeases::Open(options, clock_).status().code(), Code::kInvalidArgument);
}

// The reported story, one level down: a writer paused past its lease wakes believing it
// still writes the partition. The lease refuses its renewal and the log refuses its
// append, and the log holds the new writer's groups after the old one's.
TEST_F(WriterLeasesOnNatsTest, AFrozenWriterIsRefusedByTheLeaseAndByTheLog) {
  JetStreamLogOptions log_options;
  log_options.servers = nats_.Urls();
  log_options.stream = "TASKLEDGER_P0";
  log_options.subject = "taskledger.p0";
  std::unique_ptr<WriterLeases> leases_a = OpenLeases(), leases_b = OpenLeases();
  Result<std::unique_ptr<JetStreamLog>> log_a = JetStreamLog::Open(log_options);
  Result<std::unique_ptr<JetStreamLog>> log_b = JetStreamLog::Open(log_options);
  ASSERT_TRUE(log_a.ok() && log_b.ok());

  Result<WriterGrant> a = leases_a->TryAcquire(0, "a", kTtl);
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(*(*log_a)->Append("a: group 1", 1), 2u);
  const uint64_t a_believes_last = 2;

  // a freezes (SIGSTOP); b watches the lease stand for its ttl and takes over.
  ASSERT_EQ(leases_b->TryAcquire(0, "b", kTtl).status().code(), Code::kBusy);
  clock_.Advance(kTtl);
  Result<WriterGrant> b = leases_b->TryAcquire(0, "b", kTtl);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  Result<uint64_t> caught_up = (*log_b)->LastSeq();
  ASSERT_EQ(*caught_up, 2u);
  ASSERT_EQ(*(*log_b)->Append("b: group 1", *caught_up), 3u);

  // a wakes (SIGCONT) and carries on as if nothing happened.
  EXPECT_EQ(leases_a->Renew(*a).status().code(), Code::kRefused);
  Result<uint64_t> late = (*log_a)->Append("a: group 2", a_believes_last);
  EXPECT_EQ(late.status().code(), Code::kRefused);

  std::vector<std::string> stored;
  ASSERT_TRUE((*log_b)->ReadFrom(kFirstGroupSeq, [&](uint64_t, std::string_view group) {
    stored.emplace_back(group);
    return Status::Ok();
  }).ok());
  EXPECT_EQ(stored, (std::vector<std::string>{"a: group 1", "b: group 1"}));
}

}  // namespace
}  // namespace taskledger
