// The partition writer (ledger/partition_writer.h) on real NATS JetStream: local ledgers
// on disk, the log a JetStream stream, the writer lease in JetStream too, driven on an
// injected clock. A frozen writer is fenced; a standby takes over after the lease and
// catches up; a restarted server resumes from the position its ledger stored; killing the
// stream's leader under writes loses no acknowledged event. Each ends with every server
// holding the same history, verified.
#include "ledger/partition_writer.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ledger/jetstream_log.h"
#include "ledger/writer_lease.h"
#include "test_util.h"
#include "tests/cluster/nats_cluster.h"
#include "tests/support/commands.h"
#include "tests/support/ledgers.h"
#include "tests/support/temp_dir.h"

namespace taskledger {
namespace {

using test::ClaimNextCmd;
using test::CreateCmd;
using test::EventsOf;
using test::ExportLines;
using test::HolderCmd;
using test::NatsCluster;
using test::TempDir;

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kTtl = 2000 * kMs;

// One taskledger server's part in partition 0: its log client, its lease client and its
// partition writer over a ledger in its own directory.
struct Server {
  std::string name;
  std::unique_ptr<JetStreamLog> log;
  std::unique_ptr<WriterLeases> leases;
  std::unique_ptr<PartitionWriter> writer;
  std::optional<WriterGrant> grant;
  Outcome Submit(const Command& command) { return std::move(writer->Submit({command}).front()); }
};

class PartitionWriterOnNatsTest : public ::testing::TestWithParam<int> {
 protected:
  // A server that did not start failed the test in the fixture's constructor: stop here.
  void SetUp() override { ASSERT_FALSE(HasFatalFailure()); }

  int replicas() const { return GetParam(); }

  // Opens (or reopens, after Close) server `name`'s parts, through NATS server `via`.
  Status Open(Server& server, const std::string& name, int via) {
    server.name = name;
    JetStreamLogOptions log_options;
    log_options.servers = {nats_.Url(via)};
    log_options.stream = "TASKLEDGER_P0";
    log_options.subject = "taskledger.p0";
    log_options.replicas = replicas();
    // Longer than a Raft election after a lost leader (NATS waits 4 to 9 s to call one).
    log_options.patience = std::chrono::seconds(30);
    Result<std::unique_ptr<JetStreamLog>> log = JetStreamLog::Open(log_options);
    if (!log.ok()) return log.status();
    server.log = std::move(*log);
    WriterLeaseOptions lease_options;
    lease_options.servers = {nats_.Url(via)};
    lease_options.replicas = replicas();
    lease_options.patience = std::chrono::seconds(30);
    Result<std::unique_ptr<WriterLeases>> leases = WriterLeases::Open(lease_options, lease_clock_);
    if (!leases.ok()) return leases.status();
    server.leases = std::move(*leases);
    LedgerOptions local;
    local.path = root_.path() + "/" + name;
    local.sync = false;  // the log is the durable copy here; the tests measure nothing of the disk
    Result<std::unique_ptr<PartitionWriter>> writer =
        PartitionWriter::Open(local, &wall_, server.log.get(), &lease_clock_, PartitionWriterOptions{0, name});
    if (!writer.ok()) return writer.status();
    server.writer = std::move(*writer);
    return Status::Ok();
  }
  static void Close(Server& server) {
    server.writer.reset();
    server.leases.reset();
    server.log.reset();
    server.grant.reset();
  }
  // Takes the lease if it may (TryAcquire) and leads under it.
  static Status TakeOver(Server& server) {
    Result<WriterGrant> grant = server.leases->TryAcquire(0, server.name, kTtl);
    if (!grant.ok()) return grant.status();
    server.grant = *grant;
    return server.writer->Lead(grant->record.term, grant->held_until_ns);
  }

  TempDir root_{"taskledger-partition"};
  NatsCluster nats_{root_.path(), GetParam()};
  ManualClock wall_{test::kT0};
  ManualClock lease_clock_{1'000 * kMs};
};

TEST_P(PartitionWriterOnNatsTest, AFrozenWriterIsFencedAndEveryServerEndsWithTheSameHistory) {
  Server a, b;
  TL_ASSERT_OK(Open(a, "a", 0));
  TL_ASSERT_OK(Open(b, "b", nats_.size() - 1));
  TL_ASSERT_OK(TakeOver(a));
  TL_ASSERT_OK(a.Submit(CreateCmd("parent")).status);
  Command child = CreateCmd("child");
  child.spec.after = {"parent"};
  TL_ASSERT_OK(a.Submit(child).status);
  const Outcome claim = a.Submit(ClaimNextCmd("w1", "", 60 * test::kSec));
  TL_ASSERT_OK(claim.status);
  // b is a standby: it answers Busy, and may not take the lease yet.
  EXPECT_TRUE(b.Submit(CreateCmd("x")).status.IsBusy());
  EXPECT_TRUE(TakeOver(b).IsBusy());

  // a freezes (SIGSTOP, a stall) past its lease; b watches the lease stand for its ttl.
  lease_clock_.Advance(kTtl);
  TL_ASSERT_OK(TakeOver(b));
  EXPECT_EQ(ExportLines(b.writer->ledger()), ExportLines(a.writer->ledger()));  // caught up at Lead
  wall_.Advance(test::kSec);
  TL_ASSERT_OK(b.Submit(HolderCmd(CommandKind::kComplete, "parent", claim.reply.token)).status);

  // a wakes believing it still writes, and even that its lease holds (a clock that ran
  // slow): the stream refuses its append, and nothing of it is written.
  const uint64_t a_seq = a.writer->ledger().last_seq();
  a.writer->Hold(lease_clock_.NowNs() + kTtl);
  const Outcome late = a.Submit(CreateCmd("late"));
  EXPECT_TRUE(late.status.IsBusy()) << late.status.ToString();
  EXPECT_NE(late.status.message().find("another writer appended"), std::string::npos) << late.status.message();
  EXPECT_EQ(a.writer->ledger().last_seq(), a_seq);
  EXPECT_FALSE(a.writer->writing());
  // Even told its stale grant still holds, it catches up and finds the later term.
  TL_EXPECT_CODE(a.writer->Lead(a.grant->record.term, lease_clock_.NowNs() + kTtl), Code::kRefused);
  EXPECT_TRUE(a.Submit(CreateCmd("late")).status.IsBusy());
  EXPECT_EQ(a.leases->Renew(*a.grant).status().code(), Code::kRefused);

  // a restarts from its own directory: it resumes from the position it stored.
  Close(a);
  TL_ASSERT_OK(Open(a, "a", 0));
  EXPECT_EQ(a.writer->position(), b.writer->position());
  EXPECT_EQ(ExportLines(a.writer->ledger()), ExportLines(b.writer->ledger()));
  Result<std::optional<TaskRecord>> parent = a.writer->ledger().GetTask("parent");
  ASSERT_TRUE(parent.ok() && parent->has_value());
  EXPECT_TRUE((*parent)->done);
  test::ExpectVerifyClean(a.writer->ledger());
  test::ExpectVerifyClean(b.writer->ledger());
}

// Three NATS servers only: with one, its loss stops the log (nothing to fail over to).
class PartitionWriterOnNatsR3Test : public PartitionWriterOnNatsTest {};

TEST_P(PartitionWriterOnNatsR3Test, KillingTheStreamLeaderUnderWritesLosesNothingAcknowledged) {
  Server a, b;
  TL_ASSERT_OK(Open(a, "a", 0));
  TL_ASSERT_OK(Open(b, "b", 1));
  TL_ASSERT_OK(TakeOver(a));
  std::map<uint64_t, Event> acknowledged;
  int tasks = 0, unknown = 0;
  const auto write = [&](int count) {
    for (int i = 0; i < count; ++i) {
      const Outcome out = a.Submit(CreateCmd("t" + std::to_string(++tasks)));
      // The log did not answer in time (settled next), or a later create was not sent
      // while it was unsettled.
      if (out.status.IsUnknownOutcome() || out.status.IsBusy()) unknown++;
      for (const Event& e : out.reply.events) {
        const auto [it, added] = acknowledged.emplace(e.seq, e);
        ASSERT_TRUE(added || it->second == e) << "two different events acknowledged at seq " << e.seq;
      }
    }
  };
  write(20);
  Result<std::string> leader = a.log->Leader();
  ASSERT_TRUE(leader.ok()) << leader.status().ToString();
  const int killed = nats_.IndexOf(*leader);
  ASSERT_NE(killed, -1);
  nats_.Kill(killed);
  // a's and b's clients may have been talking to the killed server: they reconnect to the
  // others (their server lists name one each; the client learns the rest from it).
  write(20);
  nats_.Restart(killed);
  write(10);
  EXPECT_EQ(acknowledged.size() + unknown, 50u);  // one event per create

  TL_ASSERT_OK(b.writer->CatchUp());
  TL_ASSERT_OK(a.writer->CatchUp());
  const std::vector<Event> log = EventsOf(b.writer->ledger());
  for (const auto& [seq, event] : acknowledged) {
    ASSERT_LE(seq, log.size()) << "acknowledged event " << seq << " lost";
    EXPECT_EQ(log[seq - 1], event);
  }
  EXPECT_EQ(ExportLines(a.writer->ledger()), ExportLines(b.writer->ledger()));
  test::ExpectVerifyClean(b.writer->ledger());
  std::printf("leader %s killed: %zu events acknowledged, %d answers unknown\n", leader->c_str(),
              acknowledged.size(), unknown);
}

std::string ReplicasName(const ::testing::TestParamInfo<int>& info) { return "R" + std::to_string(info.param); }
INSTANTIATE_TEST_SUITE_P(Replicas, PartitionWriterOnNatsTest, ::testing::Values(1, 3), ReplicasName);
INSTANTIATE_TEST_SUITE_P(Replicas, PartitionWriterOnNatsR3Test, ::testing::Values(3), ReplicasName);

}  // namespace
}  // namespace taskledger
