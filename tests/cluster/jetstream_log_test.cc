// JetStreamLog against one NATS server: commit groups in order after the header, a stale
// writer fenced, an append's unknown outcome resolved, a stream reopened or misconfigured.
#include "ledger/jetstream_log.h"

#include <gtest/gtest.h>

#include "tests/cluster/nats_cluster.h"
#include "tests/support/status.h"
#include "tests/support/temp_dir.h"

namespace taskledger {
namespace {

using test::NatsCluster;
using test::TempDir;

class JetStreamLogTest : public ::testing::Test {
 protected:
  // A server that did not start failed the test in the fixture's constructor: stop here.
  void SetUp() override { ASSERT_FALSE(HasFatalFailure()); }
  JetStreamLogOptions Options() const {
    JetStreamLogOptions options;
    options.servers = nats_.Urls();
    options.stream = "TASKLEDGER_P0";
    options.subject = "taskledger.p0";
    return options;
  }
  std::unique_ptr<JetStreamLog> OpenLog(const JetStreamLogOptions& options) {
    Result<std::unique_ptr<JetStreamLog>> log = JetStreamLog::Open(options);
    EXPECT_TRUE(log.ok()) << log.status().ToString();
    return log.ok() ? std::move(log).value() : nullptr;
  }
  std::vector<std::pair<uint64_t, std::string>> ReadAll(JetStreamLog& log) {
    std::vector<std::pair<uint64_t, std::string>> groups;
    Status read = log.ReadFrom(kFirstGroupSeq, [&](uint64_t seq, std::string_view group) {
      groups.emplace_back(seq, std::string(group));
      return Status::Ok();
    });
    EXPECT_TRUE(read.ok()) << read.ToString();
    return groups;
  }

  TempDir root_{"taskledger-jetstream"};
  NatsCluster nats_{root_.path(), 1};
};

TEST_F(JetStreamLogTest, GroupsAreStoredInOrderAfterTheHeader) {
  std::unique_ptr<JetStreamLog> log = OpenLog(Options());
  ASSERT_NE(log, nullptr);
  ASSERT_EQ(*log->LastSeq(), 1u);  // the header
  std::vector<std::pair<uint64_t, std::string>> appended;
  uint64_t last = 1;
  for (int i = 0; i < 20; ++i) {
    std::string group = "group " + std::to_string(i);
    group.push_back('\0');  // commit groups are bytes, not text
    Result<uint64_t> seq = log->Append(group, last);
    ASSERT_TRUE(seq.ok()) << seq.status().ToString();
    ASSERT_EQ(*seq, last + 1);
    last = *seq;
    appended.emplace_back(last, group);
  }
  EXPECT_EQ(ReadAll(*log), appended);
  EXPECT_EQ(*log->LastSeq(), 21u);
}

TEST_F(JetStreamLogTest, AStaleWriterIsFencedAndNothingItSendsIsStored) {
  std::unique_ptr<JetStreamLog> old_writer = OpenLog(Options());
  std::unique_ptr<JetStreamLog> new_writer = OpenLog(Options());
  ASSERT_NE(old_writer, nullptr);
  ASSERT_NE(new_writer, nullptr);
  ASSERT_EQ(*old_writer->Append("old 1", 1), 2u);
  // The new writer caught up to 2 and appends; the old one still believes the log ends at 2.
  ASSERT_EQ(*new_writer->Append("new 1", 2), 3u);
  Result<uint64_t> late = old_writer->Append("old 2", 2);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.status().code(), Code::kRefused);
  EXPECT_NE(late.status().message().find("fenced: stream TASKLEDGER_P0 has moved past 2 to 3"), std::string::npos)
      << late.status().message();
  std::vector<std::pair<uint64_t, std::string>> expected = {{2, "old 1"}, {3, "new 1"}};
  EXPECT_EQ(ReadAll(*new_writer), expected);
}

TEST_F(JetStreamLogTest, AnAppendTriedAgainAfterItWasStoredSucceedsOnce) {
  std::unique_ptr<JetStreamLog> log = OpenLog(Options());
  ASSERT_NE(log, nullptr);
  ASSERT_EQ(*log->Append("first", 1), 2u);
  // What a writer does when an acknowledgement was lost: the same bytes after the same seq.
  Result<uint64_t> again = log->Append("first", 1);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(*again, 2u);
  EXPECT_EQ(*log->LastSeq(), 2u);
  // Other bytes at the same place are another writer's: refused.
  EXPECT_EQ(log->Append("second", 1).status().code(), Code::kRefused);
}

TEST_F(JetStreamLogTest, ReopeningKeepsTheLogAndAnotherConfigurationIsRefused) {
  {
    std::unique_ptr<JetStreamLog> log = OpenLog(Options());
    ASSERT_NE(log, nullptr);
    ASSERT_EQ(*log->Append("kept", 1), 2u);
  }
  std::unique_ptr<JetStreamLog> reopened = OpenLog(Options());
  ASSERT_NE(reopened, nullptr);
  EXPECT_EQ(*reopened->LastSeq(), 2u);  // one header, not two
  std::vector<std::pair<uint64_t, std::string>> expected = {{2, "kept"}};
  EXPECT_EQ(ReadAll(*reopened), expected);

  JetStreamLogOptions other = Options();
  other.subject = "taskledger.elsewhere";
  Result<std::unique_ptr<JetStreamLog>> misconfigured = JetStreamLog::Open(other);
  ASSERT_FALSE(misconfigured.ok());
  EXPECT_EQ(misconfigured.status().code(), Code::kInvalidArgument);
  EXPECT_NE(misconfigured.status().message().find("exists with another configuration"), std::string::npos)
      << misconfigured.status().message();
}

TEST_F(JetStreamLogTest, BadOptionsAreRefusedBeforeConnecting) {
  JetStreamLogOptions options = Options();
  options.replicas = 2;
  EXPECT_EQ(JetStreamLog::Open(options).status().code(), Code::kInvalidArgument);
  options = Options();
  options.servers.clear();
  EXPECT_EQ(JetStreamLog::Open(options).status().code(), Code::kInvalidArgument);
  std::unique_ptr<JetStreamLog> log = OpenLog(Options());
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->Append("before the header", 0).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(log->ReadFrom(1, [](uint64_t, std::string_view) { return Status::Ok(); }).code(),
            Code::kInvalidArgument);
}

TEST_F(JetStreamLogTest, NoServerIsBusyOnceThePatienceRunsOut) {
  JetStreamLogOptions options = Options();
  nats_.Kill(0);
  options.patience = std::chrono::milliseconds(300);
  Result<std::unique_ptr<JetStreamLog>> log = JetStreamLog::Open(options);
  ASSERT_FALSE(log.ok());
  EXPECT_EQ(log.status().code(), Code::kBusy);
  EXPECT_NE(log.status().message().find("cannot connect to NATS"), std::string::npos) << log.status().message();
}

}  // namespace
}  // namespace taskledger
