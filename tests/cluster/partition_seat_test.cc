// PartitionSeat (ledger/partition_seat.h) on one NATS server, on an injected clock: one
// seat writes while the others follow; renewals keep it; a frozen seat is replaced after
// the ttl and steps down when it wakes; a released seat is replaced at once.
#include "ledger/partition_seat.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "ledger/jetstream_log.h"
#include "test_util.h"
#include "tests/cluster/nats_cluster.h"
#include "tests/support/commands.h"
#include "tests/support/ledgers.h"
#include "tests/support/temp_dir.h"

namespace taskledger {
namespace {

using test::CreateCmd;
using test::ExportLines;
using test::NatsCluster;
using test::TempDir;

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kTtl = 2000 * kMs;

struct Server {
  std::unique_ptr<JetStreamLog> log;
  std::unique_ptr<WriterLeases> leases;
  std::unique_ptr<PartitionWriter> writer;
  std::unique_ptr<PartitionSeat> seat;
  Status Create(const std::string& id) { return writer->Submit({CreateCmd(id)}).front().status; }
};

class PartitionSeatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(HasFatalFailure());  // a NATS server that did not start
    for (const char* name : {"a", "b", "c"}) {
      Server& server = servers_.emplace_back();
      JetStreamLogOptions log_options;
      log_options.servers = nats_.Urls();
      log_options.stream = "TASKLEDGER_P0";
      log_options.subject = "taskledger.p0";
      Result<std::unique_ptr<JetStreamLog>> log = JetStreamLog::Open(log_options);
      ASSERT_TRUE(log.ok()) << log.status().ToString();
      server.log = std::move(*log);
      WriterLeaseOptions lease_options;
      lease_options.servers = nats_.Urls();
      Result<std::unique_ptr<WriterLeases>> leases = WriterLeases::Open(lease_options, clock_);
      ASSERT_TRUE(leases.ok()) << leases.status().ToString();
      server.leases = std::move(*leases);
      LedgerOptions local;
      local.path = root_.path() + "/" + name;
      local.sync = false;
      Result<std::unique_ptr<PartitionWriter>> writer =
          PartitionWriter::Open(local, &wall_, server.log.get(), &clock_, PartitionWriterOptions{0, name});
      ASSERT_TRUE(writer.ok()) << writer.status().ToString();
      server.writer = std::move(*writer);
      server.seat = std::make_unique<PartitionSeat>(server.leases.get(), server.writer.get(), &clock_, 0, name, kTtl);
    }
  }
  // Steps each seat in `stepping` once, then moves the clock a tenth of the ttl on.
  void Round(const std::vector<int>& stepping) {
    for (int i : stepping) {
      Result<int64_t> next = servers_[i].seat->Step();
      EXPECT_TRUE(next.ok()) << "seat " << i << ": " << next.status().ToString();
      if (next.ok()) {
        EXPECT_GT(*next, clock_.NowNs());
      }
    }
    clock_.Advance(kTtl / 10);
  }
  // The seats whose writers write now.
  std::vector<int> Writing() {
    std::vector<int> writing;
    for (int i = 0; i < 3; ++i) {
      if (servers_[i].writer->writing()) writing.push_back(i);
    }
    return writing;
  }

  TempDir root_{"taskledger-seats"};
  NatsCluster nats_{root_.path(), 1};
  ManualClock clock_{1'000 * kMs};
  ManualClock wall_{test::kT0};
  std::vector<Server> servers_;
};

TEST_F(PartitionSeatTest, OneSeatWritesAndRenewalsKeepItWhileTheOthersFollow) {
  Round({0, 1, 2});
  ASSERT_EQ(Writing(), std::vector<int>{0});
  for (int round = 0; round < 50; ++round) {  // five ttls
    TL_ASSERT_OK(servers_[0].Create("t" + std::to_string(round)));
    Round({0, 1, 2});
    ASSERT_EQ(Writing(), std::vector<int>{0}) << "round " << round;
  }
  EXPECT_EQ(servers_[0].seat->grant()->record.term, 1u);
  // The standbys followed the log as they stood by.
  EXPECT_EQ(ExportLines(servers_[1].writer->ledger()), ExportLines(servers_[0].writer->ledger()));
  EXPECT_EQ(servers_[2].writer->ledger().last_seq(), 50u);
}

TEST_F(PartitionSeatTest, SeatsSteppedOnlyWhenTheySayKeepOneWriter) {
  std::vector<int64_t> next(3, clock_.NowNs());
  const int64_t end = clock_.NowNs() + 20 * kTtl;
  int steps = 0;
  while (clock_.NowNs() < end) {
    for (int i = 0; i < 3; ++i) {
      if (next[i] > clock_.NowNs()) continue;
      Result<int64_t> stepped = servers_[i].seat->Step();
      ASSERT_TRUE(stepped.ok()) << "seat " << i << ": " << stepped.status().ToString();
      ASSERT_GT(*stepped, clock_.NowNs());
      next[i] = *stepped;
      steps++;
    }
    ASSERT_EQ(Writing(), std::vector<int>{0}) << "at " << clock_.NowNs();
    clock_.Set(*std::min_element(next.begin(), next.end()));
  }
  EXPECT_EQ(servers_[0].seat->grant()->record.term, 1u);
  EXPECT_GT(steps, 20 * 2 * 10);  // the standbys looked every tenth of the ttl
}

TEST_F(PartitionSeatTest, AFrozenSeatIsReplacedAfterTheTtlAndStepsDownWhenItWakes) {
  Round({0, 1, 2});
  TL_ASSERT_OK(servers_[0].Create("before"));
  // Seat 0's thread freezes. Its writer stops at the end of its lease by itself; a
  // standby takes over once it has watched the record stand for the ttl.
  int rounds = 0;
  while (Writing() != std::vector<int>{1} && Writing() != std::vector<int>{2}) {
    ASSERT_LE(Writing().size(), 1u) << "two writers at once, round " << rounds;
    Round({1, 2});
    ASSERT_LT(++rounds, 40) << "nobody took over";
  }
  const int next = Writing().front();
  EXPECT_EQ(servers_[next].seat->grant()->record.term, 2u);
  EXPECT_GE(rounds * (kTtl / 10), kTtl) << "taken over before the lease could have ended";
  TL_ASSERT_OK(servers_[next].Create("after"));
  EXPECT_TRUE(servers_[0].Create("late").IsBusy());

  // Seat 0 wakes: its renewal is refused, it steps down and follows.
  Round({0, 1, 2});
  EXPECT_FALSE(servers_[0].seat->holding());
  EXPECT_EQ(Writing(), std::vector<int>{next});
  EXPECT_EQ(ExportLines(servers_[0].writer->ledger()), ExportLines(servers_[next].writer->ledger()));
}

TEST_F(PartitionSeatTest, AReleasedSeatIsReplacedAtTheNextStep) {
  Round({0, 1, 2});
  TL_ASSERT_OK(servers_[0].Create("t1"));
  TL_ASSERT_OK(servers_[0].seat->Release());
  EXPECT_TRUE(Writing().empty());
  EXPECT_TRUE(servers_[0].Create("t2").IsBusy());
  Result<int64_t> step = servers_[1].seat->Step();
  TL_ASSERT_OK(step.status());
  EXPECT_EQ(Writing(), std::vector<int>{1});
  TL_ASSERT_OK(servers_[1].Create("t2"));
  EXPECT_EQ(servers_[1].writer->ledger().last_seq(), 2u);
}

}  // namespace
}  // namespace taskledger
