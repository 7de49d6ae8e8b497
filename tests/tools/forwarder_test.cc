// Forwarder (tools/server/forwarder.h): a standby passing its clients' commands to the
// partition's writer. Against a fake writer on a unix socket in the same event loop: what
// the writer answers comes back as is, sent as forwarded; a writer that cannot be reached
// is Busy (nothing was sent: retry); a writer that was sent the commands and then did not
// answer, hung up, or answered a different count is UnknownOutcome (look first), and the
// next forward opens a new connection.
#include "tools/server/forwarder.h"

#include <capnp/rpc-twoparty.h>
#include <gtest/gtest.h>
#include <kj/async-io.h>

#include <list>
#include <string>
#include <vector>

#include "ledger/wire.h"
#include "tests/support/commands.h"
#include "tests/support/temp_dir.h"

namespace taskledger {
namespace {

using server::Forwarder;
using test::CreateCmd;

// A partition's writer as far as a forward sees it: submit only, answering as `mode` says.
class FakeWriter final : public rpc::Ledger::Server {
 public:
  enum class Mode { kAnswer, kNeverAnswer, kWrongCount, kHangUp };

  explicit FakeWriter(kj::Function<void()> hang_up) : hang_up_(kj::mv(hang_up)) {}

  Mode mode = Mode::kAnswer;
  int calls = 0;
  std::vector<bool> forwarded;  // each call's flag

  kj::Promise<void> submit(SubmitContext context) override {
    ++calls;
    auto params = context.getParams();
    forwarded.push_back(params.getForwarded());
    const auto commands = params.getCommands();
    switch (mode) {
      case Mode::kAnswer: {
        auto outcomes = context.getResults().initOutcomes(commands.size());
        for (unsigned i = 0; i < commands.size(); ++i) {
          Outcome outcome{Status::Ok(), {}};
          outcome.reply.task_id = "answered-" + std::string(commands[i].getTaskId().cStr());
          wire::WriteOutcome(outcome, outcomes[i]);
        }
        return kj::READY_NOW;
      }
      case Mode::kWrongCount:
        context.getResults().initOutcomes(commands.size() + 1);
        return kj::READY_NOW;
      case Mode::kNeverAnswer:
        return kj::NEVER_DONE;
      case Mode::kHangUp:
        hang_up_();
        return kj::NEVER_DONE;
    }
    return kj::READY_NOW;
  }

 private:
  kj::Function<void()> hang_up_;
};

class ForwarderTest : public ::testing::Test {
 protected:
  // How long a forward may wait for its answer: long where one is expected (a loaded
  // machine may be slow to connect and answer), short where none will come.
  static constexpr kj::Duration kPatient = 20 * kj::SECONDS;
  static constexpr kj::Duration kShort = 300 * kj::MILLISECONDS;

  // kj's members may throw from their destructors (noexcept(false)); gtest's may not.
  ~ForwarderTest() noexcept override {}

  void SetUp() override {
    auto writer = kj::heap<FakeWriter>([this] {
      // Later, from outside the call: the connections own the call that asks for this.
      tasks_.add(kj::evalLater([this] { connections_.clear(); }));
    });
    writer_ = writer.get();
    bootstrap_ = kj::mv(writer);
    listener_ = io_.provider->getNetwork().parseAddress("unix:" + socket_).wait(io_.waitScope)->listen();
    tasks_.add(Accept());
  }

  kj::Promise<void> Accept() {
    return listener_->accept().then([this](kj::Own<kj::AsyncIoStream> stream) {
      ++accepted_;
      connections_.emplace_back(kj::mv(stream), bootstrap_);
      return Accept();
    });
  }

  std::vector<Outcome> Forward(Forwarder& forwarder, const std::string& address, std::vector<Command> commands) {
    return forwarder.Submit(address, commands).wait(io_.waitScope);
  }

  // One accepted client: its socket and the RPC system serving the fake writer on it.
  struct Connection {
    Connection(kj::Own<kj::AsyncIoStream> accepted, capnp::Capability::Client bootstrap)
        : stream(kj::mv(accepted)),
          network(*stream, capnp::rpc::twoparty::Side::SERVER),
          rpc(capnp::makeRpcServer(network, kj::mv(bootstrap))) {}
    kj::Own<kj::AsyncIoStream> stream;
    capnp::TwoPartyVatNetwork network;
    capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc;
  };

  struct FailOnError : public kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&& e) override { ADD_FAILURE() << e.getDescription().cStr(); }
  };

  kj::AsyncIoContext io_ = kj::setupAsyncIo();
  test::TempDir dir_{"taskledger-forwarder"};
  const std::string socket_ = dir_ / "writer.sock";
  const std::string address_ = "unix:" + socket_;
  FakeWriter* writer_ = nullptr;
  capnp::Capability::Client bootstrap_{nullptr};
  kj::Own<kj::ConnectionReceiver> listener_;
  std::list<Connection> connections_;
  int accepted_ = 0;
  FailOnError errors_;
  kj::TaskSet tasks_{errors_};
};

TEST_F(ForwarderTest, TheWritersOutcomesComeBackInOrderSentAsForwarded) {
  Forwarder forwarder(*io_.provider, kPatient);
  const std::vector<Outcome> outcomes = Forward(forwarder, address_, {CreateCmd("a"), CreateCmd("b")});
  ASSERT_EQ(outcomes.size(), 2u);
  EXPECT_TRUE(outcomes[0].status.ok()) << outcomes[0].status.ToString();
  EXPECT_EQ(outcomes[0].reply.task_id, "answered-a");
  EXPECT_EQ(outcomes[1].reply.task_id, "answered-b");
  EXPECT_EQ(writer_->forwarded, std::vector<bool>{true});  // the writer does not pass them on again

  // The connection is kept for the next forward.
  EXPECT_EQ(Forward(forwarder, address_, {CreateCmd("c")}).at(0).reply.task_id, "answered-c");
  EXPECT_EQ(accepted_, 1);
}

TEST_F(ForwarderTest, AWriterThatCannotBeReachedIsBusyForEveryCommand) {
  Forwarder forwarder(*io_.provider, kPatient);
  const std::string nobody = "unix:" + (dir_ / "nobody.sock");
  const std::vector<Outcome> outcomes = Forward(forwarder, nobody, {CreateCmd("a"), CreateCmd("b")});
  ASSERT_EQ(outcomes.size(), 2u);
  for (const Outcome& o : outcomes) {
    EXPECT_TRUE(o.status.IsBusy()) << o.status.ToString();
    EXPECT_NE(o.status.message().find("cannot be reached"), std::string::npos) << o.status.ToString();
  }
  EXPECT_EQ(writer_->calls, 0);

  const std::vector<Outcome> garbled = Forward(forwarder, "tcp:", {CreateCmd("a")});
  ASSERT_EQ(garbled.size(), 1u);
  EXPECT_TRUE(garbled[0].status.IsBusy()) << garbled[0].status.ToString();
}

TEST_F(ForwarderTest, AWriterThatDoesNotAnswerInTimeIsUnknownOutcomeAndTheNextForwardReconnects) {
  Forwarder forwarder(*io_.provider, kShort);
  writer_->mode = FakeWriter::Mode::kNeverAnswer;
  const std::vector<Outcome> outcomes = Forward(forwarder, address_, {CreateCmd("a")});
  ASSERT_EQ(outcomes.size(), 1u);
  EXPECT_TRUE(outcomes[0].status.IsUnknownOutcome()) << outcomes[0].status.ToString();
  EXPECT_FALSE(outcomes[0].status.IsBusy());  // it may have taken effect: not to be retried blindly
  EXPECT_NE(outcomes[0].status.message().find("did not answer in time"), std::string::npos);
  EXPECT_EQ(writer_->calls, 1);

  // The silent connection was dropped: the next forward opens another, and is answered.
  writer_->mode = FakeWriter::Mode::kAnswer;
  const std::vector<Outcome> next = Forward(forwarder, address_, {CreateCmd("b")});
  ASSERT_EQ(next.size(), 1u);
  EXPECT_TRUE(next[0].status.ok()) << next[0].status.ToString();
  EXPECT_EQ(accepted_, 2);
}

TEST_F(ForwarderTest, AWriterThatHangsUpAfterTheCommandsIsUnknownOutcome) {
  Forwarder forwarder(*io_.provider, kPatient);
  writer_->mode = FakeWriter::Mode::kHangUp;
  const std::vector<Outcome> outcomes = Forward(forwarder, address_, {CreateCmd("a"), CreateCmd("b")});
  ASSERT_EQ(outcomes.size(), 2u);
  for (const Outcome& o : outcomes) {
    EXPECT_TRUE(o.status.IsUnknownOutcome()) << o.status.ToString();
    // The broken connection, not the timeout, ended it.
    EXPECT_NE(o.status.message().find("did not answer ("), std::string::npos) << o.status.ToString();
  }

  writer_->mode = FakeWriter::Mode::kAnswer;
  EXPECT_TRUE(Forward(forwarder, address_, {CreateCmd("c")}).at(0).status.ok());
  EXPECT_EQ(accepted_, 2);
}

TEST_F(ForwarderTest, AnAnswerWithADifferentCountIsUnknownOutcomeForEveryCommand) {
  Forwarder forwarder(*io_.provider, kPatient);
  writer_->mode = FakeWriter::Mode::kWrongCount;
  const std::vector<Outcome> outcomes = Forward(forwarder, address_, {CreateCmd("a"), CreateCmd("b")});
  ASSERT_EQ(outcomes.size(), 2u);
  for (const Outcome& o : outcomes) {
    EXPECT_TRUE(o.status.IsUnknownOutcome()) << o.status.ToString();
    EXPECT_NE(o.status.message().find("different count"), std::string::npos) << o.status.ToString();
  }
}

}  // namespace
}  // namespace taskledger
