#include "tests/support/rpc_server.h"

#include "ledger/wire.h"

namespace taskledger::test {

void RpcServerTest::SetUp() {
  ServerTest::SetUp();
  if (HasFatalFailure()) return;
  Ok({"create", task_, "--title", "a task to aim at", "--ttl", "1h"});
  token_ = Json({"claim", task_, "--worker", "w1"})["token"].get<uint64_t>();
  client_ = std::make_unique<capnp::EzRpcClient>(address_);
}

void RpcServerTest::TearDown() {
  client_.reset();
  ServerTest::TearDown();
}

uint64_t RpcServerTest::LastSeq() { return Ledger().nowRequest().send().wait(Wait()).getLastSeq(); }

Status RpcServerTest::SubmitOne(const Command& command) {
  auto request = Ledger().submitRequest();
  wire::WriteCommand(command, request.initCommands(1)[0]);
  auto response = request.send().wait(Wait());
  EXPECT_EQ(response.getOutcomes().size(), 1u);
  Result<Outcome> outcome = wire::ReadOutcome(response.getOutcomes()[0]);
  EXPECT_TRUE(outcome.ok());
  return outcome.ok() ? outcome->status : Status::Internal("unreadable outcome");
}

}  // namespace taskledger::test
