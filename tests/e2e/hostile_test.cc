// The server against clients that misbehave: garbage bytes, half a message, a hang-up in
// the middle of a call, oversized payloads and messages, unknown enum values, many
// connections. Each gets an error or a closed connection; the server keeps serving and
// nothing is written.
#include <capnp/ez-rpc.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <random>

#include "ledger/wire.h"
#include "tests/support/server.h"

namespace taskledger {
namespace {

using namespace test;

class HostileClientTest : public ServerTest {
 protected:
  // A raw connection that must succeed.
  int Connect() {
    const int fd = RawConnect();
    EXPECT_GE(fd, 0) << "connect to " << socket_path_;
    return fd;
  }
  size_t EventCount() {
    const std::string out = Ok({"log"});
    return static_cast<size_t>(std::count(out.begin(), out.end(), '\n'));
  }
  // Submits one command over a fresh RPC connection; returns its outcome.
  Outcome SubmitRaw(const std::function<void(rpc::Command::Builder)>& fill) {
    capnp::EzRpcClient client(address_);
    auto ledger = client.getMain<rpc::Ledger>();
    auto request = ledger.submitRequest();
    fill(request.initCommands(1)[0]);
    auto response = request.send().wait(client.getWaitScope());
    Result<Outcome> outcome = wire::ReadOutcome(response.getOutcomes()[0]);
    EXPECT_TRUE(outcome.ok());
    return outcome.ok() ? *outcome : Outcome{};
  }
};

TEST_F(HostileClientTest, GarbageBytesCloseThatConnectionOnly) {
  std::mt19937 random(7);
  std::string garbage(4096, '\0');
  for (char& c : garbage) c = static_cast<char>(random());
  const int fd = Connect();
  ASSERT_EQ(::write(fd, garbage.data(), garbage.size()), static_cast<ssize_t>(garbage.size()));
  ::close(fd);
  ExpectStillServing();
  EXPECT_EQ(EventCount(), 1u);
}

TEST_F(HostileClientTest, HalfAMessageThenSilenceDoesNotStallOthers) {
  const int fd = Connect();
  // A segment table announcing one segment of 1000 words, then only 8 bytes of it.
  const uint32_t header[2] = {0, 1000};
  ASSERT_EQ(::write(fd, header, sizeof(header)), static_cast<ssize_t>(sizeof(header)));
  ASSERT_EQ(::write(fd, "12345678", 8), 8);
  ExpectStillServing();
  ExpectStillServing();
  ::close(fd);
  ExpectStillServing();
}

TEST_F(HostileClientTest, HangingUpInTheMiddleOfACallLeavesAConsistentLedger) {
  for (int i = 0; i < 20; ++i) {
    capnp::EzRpcClient client(address_);
    auto ledger = client.getMain<rpc::Ledger>();
    auto request = ledger.submitRequest();
    Command create;
    create.kind = CommandKind::kCreate;
    create.task_id = "t" + std::to_string(i);
    create.spec.title = "abandoned";
    wire::WriteCommand(create, request.initCommands(1)[0]);
    auto promise = request.send();
    // Drop the call and the connection without waiting for the reply.
  }
  ExpectStillServing();
  EXPECT_EQ(Json({"verify"})["ok"], true);
}

TEST_F(HostileClientTest, OversizedPayloadIsRefusedAndNothingIsWritten) {
  const Outcome outcome = SubmitRaw([](rpc::Command::Builder c) {
    Command create;
    create.kind = CommandKind::kCreate;
    create.task_id = "big";
    create.spec.title = "too big";
    create.spec.payload = "\"" + std::string(2 << 20, 'x') + "\"";
    wire::WriteCommand(create, c);
  });
  EXPECT_EQ(outcome.status.code(), Code::kInvalidArgument) << outcome.status.ToString();
  EXPECT_NE(outcome.status.message().find("payload"), std::string::npos);
  EXPECT_EQ(EventCount(), 0u);
  ExpectStillServing();
}

TEST_F(HostileClientTest, OversizedMessageDropsTheConnectionNotTheServer) {
  capnp::EzRpcClient client(address_);
  auto ledger = client.getMain<rpc::Ledger>();
  auto request = ledger.submitRequest();
  auto commands = request.initCommands(80);
  for (unsigned i = 0; i < 80; ++i) {
    Command create;
    create.kind = CommandKind::kCreate;
    create.task_id = "m" + std::to_string(i);
    create.spec.payload = "\"" + std::string(1 << 20, 'y') + "\"";
    wire::WriteCommand(create, commands[i]);
  }
  EXPECT_ANY_THROW(request.send().wait(client.getWaitScope()));
  EXPECT_EQ(EventCount(), 0u);
  ExpectStillServing();
}

TEST_F(HostileClientTest, UnknownEnumValuesAreBadRequests) {
  const Outcome unknown_kind = SubmitRaw([](rpc::Command::Builder c) { c.setKind(200); });
  EXPECT_EQ(unknown_kind.status.code(), Code::kInvalidArgument);
  capnp::EzRpcClient client(address_);
  auto ledger = client.getMain<rpc::Ledger>();
  auto request = ledger.tasksAtRequest();
  request.initAt().setKind(9);
  auto response = request.send().wait(client.getWaitScope());
  EXPECT_EQ(wire::ReadError(response.getError()).code(), Code::kInvalidArgument);
  EXPECT_EQ(EventCount(), 0u);
  ExpectStillServing();
}

TEST_F(HostileClientTest, ThousandsOfConnectionsAreServedOrRefusedWithoutHarm) {
  const uint64_t files = RaiseOpenFileLimit();
  if (files < 2100) GTEST_SKIP() << "needs 2100 open files; the limit is " << files;
  std::vector<int> fds;
  for (int i = 0; i < 2000; ++i) fds.push_back(Connect());
  ExpectStillServing();
  for (int fd : fds) ::close(fd);
  ExpectStillServing();
}

// A server that closes connections idle for 1 s (`serve --idle-timeout 1s`), and says so in
// its output (--log-level info): "closing a connection idle past --idle-timeout".
class IdleTimeoutTest : public HostileClientTest {
 protected:
  std::vector<std::string> ExtraServeArgs() const override { return {"--idle-timeout", "1s"}; }
  std::vector<std::string> ExtraGlobalArgs() const override { return {"--log-level", "info"}; }
  size_t IdleCloses() const { return CountOf(server_->output(), "closing a connection idle past --idle-timeout"); }
};

// True once the server has closed `fd` (end of file or reset); drops anything it sent.
bool ClosedByServer(int fd) {
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
    if (n == 0) return true;
    if (n < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  }
}

// A connection that sends nothing, or half a message and then nothing, is closed once it
// has been idle for the timeout. A follower waiting for events and a client that keeps
// calling are not, and the server keeps serving.
TEST_F(IdleTimeoutTest, IdleConnectionsAreClosedButFollowersAndActiveClientsAreNot) {
  Ok({"create", "a", "--title", "A"});
  Background follower({TaskledgerBinary(), "--connect", address_, "log", "--follow"}, {}, root_ + "/follow.out");
  ASSERT_TRUE(WaitUntil([&] { return follower.output().find(" a created ") != std::string::npos; }, 5s))
      << follower.output();
  capnp::EzRpcClient active(address_);
  auto ledger = active.getMain<rpc::Ledger>();
  ledger.nowRequest().send().wait(active.getWaitScope());

  // Opened after the follower and the active client: when these are closed, those two have
  // been connected (and the follower silent) for longer than the timeout.
  const int silent = Connect();
  const int half = Connect();
  const uint32_t header[2] = {0, 1000};  // one segment of 1000 words announced, 8 bytes sent
  ASSERT_EQ(::write(half, header, sizeof(header)), static_cast<ssize_t>(sizeof(header)));
  ASSERT_EQ(::write(half, "12345678", 8), 8);

  bool silent_closed = false, half_closed = false;
  // The active client calls every 200 ms, well inside the timeout.
  auto last_call = std::chrono::steady_clock::now();
  EXPECT_TRUE(WaitUntil(
      [&] {
        if (std::chrono::steady_clock::now() - last_call >= 200ms) {  // the active client calls
          ledger.nowRequest().send().wait(active.getWaitScope());
          last_call = std::chrono::steady_clock::now();
        }
        silent_closed = silent_closed || ClosedByServer(silent);
        half_closed = half_closed || ClosedByServer(half);
        return silent_closed && half_closed;
      },
      10s))
      << "silent closed: " << silent_closed << ", half closed: " << half_closed;
  ::close(silent);
  ::close(half);

  // The active client's connection still works, the follower still follows.
  EXPECT_NO_THROW(ledger.nowRequest().send().wait(active.getWaitScope()));
  // The server closed exactly those two, and by the idle timeout (not as a bad message or
  // at once): neither the follower nor the active client was closed.
  EXPECT_EQ(IdleCloses(), 2u) << server_->output();
  ExpectStillServing();
  EXPECT_TRUE(WaitUntil([&] { return follower.output().find(" probe0 created ") != std::string::npos; }, 5s))
      << follower.output();
  EXPECT_FALSE(follower.Poll()) << follower.output();
  follower.Signal(SIGINT);
  EXPECT_EQ(follower.WaitExit(5s), 0) << follower.output();
}

// A supervisor heartbeating less often than the timeout finds its connection closed
// between heartbeats; it reconnects before sending, so no heartbeat fails.
TEST_F(IdleTimeoutTest, ASupervisorIdleBetweenHeartbeatsReconnectsWithoutAFailure) {
  Ok({"create", "a", "--title", "A"});
  // ttl 4.5 s: a heartbeat every 1.5 s, so the connection is idle past 1 s between them.
  auto worker = Supervise("a", "w1", "4500ms", "1s", "sleep 4");
  EXPECT_EQ(worker->WaitExit(20s), 0) << worker->output();
  EXPECT_EQ(worker->output().find("failed"), std::string::npos) << worker->output();
  EXPECT_EQ(worker->output().find("cannot reach"), std::string::npos) << worker->output();
  const auto events = Events("a");
  EXPECT_GE(Count(events, "heartbeat"), 2);
  EXPECT_EQ(Count(events, "completed"), 1);
  EXPECT_EQ(Count(events, "rejected"), 0);
}

}  // namespace
}  // namespace taskledger
