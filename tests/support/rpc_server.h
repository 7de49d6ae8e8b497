// RpcServerTest: ServerTest with a Cap'n Proto client of the server, and one task claimed
// by w1 with a 1 h lease for commands to aim at. For the tests that speak the RPC directly,
// as a client other than the CLI would.
#pragma once

#include <capnp/ez-rpc.h>

#include <cstdint>
#include <memory>
#include <string>

#include "ledger/ledger.h"
#include "schemas/rpc.capnp.h"
#include "tests/support/server.h"

namespace taskledger::test {

class RpcServerTest : public ServerTest {
 protected:
  // `task`: the id of the claimed task.
  explicit RpcServerTest(std::string task) : task_(std::move(task)) {}

  // Creates and claims task_ through the CLI (token_), then connects client_.
  void SetUp() override;
  void TearDown() override;

  rpc::Ledger::Client Ledger() { return client_->getMain<rpc::Ledger>(); }
  kj::WaitScope& Wait() { return client_->getWaitScope(); }
  // The log's last seq, as the server reports it.
  uint64_t LastSeq();
  // One command over RPC; its outcome's status.
  Status SubmitOne(const Command& command);

  const std::string task_;
  uint64_t token_ = 0;  // w1's token for task_
  std::unique_ptr<capnp::EzRpcClient> client_;
};

}  // namespace taskledger::test
