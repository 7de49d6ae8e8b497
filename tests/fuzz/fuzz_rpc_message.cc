// Fuzz target: arbitrary bytes read as the server reads an RPC request: a Cap'n Proto
// message with bounded ReaderOptions, its root taken as `submit`'s parameters (and, for
// the client side, as an Outcome, a TaskView and a PointInTime). Malformed messages
// throw kj::Exception (the RPC layer turns that into an error for the call); every
// command that reads cleanly is then submitted to an in-memory ledger, which must answer
// each with an Outcome and keep its log verifiable.
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <rocksdb/env.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "ledger/clock.h"
#include "ledger/ledger.h"
#include "ledger/wire.h"
#include "schemas/rpc.capnp.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace taskledger;
using fuzz::Check;

// The server's limit on one request is 64 MiB; a fuzz input is far smaller, so bound the
// traversal by its own size, as the codec does for stored values.
constexpr uint64_t kTraversalWordsPerWord = 64;
// Commands per call, as tools/server/server.cc.
constexpr unsigned kMaxCommandsPerCall = 1024;
// A fresh ledger every this many inputs keeps the state (and memory) small; it is
// verified before it is thrown away.
constexpr int kInputsPerLedger = 1024;
// Commands of one input that reach the ledger (all of them are decoded): keeps an
// execution fast; the rules do not care how many commands share a group.
constexpr size_t kMaxSubmittedCommands = 64;

struct World {
  World() : env(rocksdb::NewMemEnv(rocksdb::Env::Default())), clock(1'700'000'000LL * kNanosPerSecond) {}
  void Reset() {
    ledger.reset();
    LedgerOptions options;
    options.path = "/fuzz-" + std::to_string(generation++);
    options.env = env.get();
    options.sync = false;
    Result<std::unique_ptr<Ledger>> opened = Ledger::Open(options, &clock);
    Check(opened.ok());
    ledger = std::move(*opened);
    inputs = 0;
  }
  std::unique_ptr<rocksdb::Env> env;
  ManualClock clock;
  std::unique_ptr<Ledger> ledger;
  int generation = 0;
  int inputs = 0;
};

World& TheWorld() {
  static World* world = new World();
  return *world;
}

template <typename Fn>
void Guarded(Fn fn) {
  try {
    fn();
  } catch (const kj::Exception&) {
    // A malformed message: the RPC layer reports it to the caller.
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const size_t words = size / sizeof(capnp::word);
  if (words == 0) return 0;
  kj::Array<capnp::word> buffer = kj::heapArray<capnp::word>(words);
  std::memcpy(buffer.begin(), data, words * sizeof(capnp::word));
  capnp::ReaderOptions options;
  options.traversalLimitInWords = words * kTraversalWordsPerWord + 1024;

  std::vector<Command> commands;
  Guarded([&] {
    capnp::FlatArrayMessageReader message(buffer, options);
    auto params = message.getRoot<rpc::Ledger::SubmitParams>();
    auto list = params.getCommands();
    if (list.size() > kMaxCommandsPerCall) return;
    for (auto c : list) {
      Result<Command> command = wire::ReadCommand(c);
      if (command.ok()) commands.push_back(std::move(*command));
    }
  });
  Guarded([&] {
    capnp::FlatArrayMessageReader message(buffer, options);
    (void)wire::ReadOutcome(message.getRoot<rpc::Outcome>());
  });
  Guarded([&] {
    capnp::FlatArrayMessageReader message(buffer, options);
    (void)wire::ReadTaskView(message.getRoot<rpc::TaskView>());
  });
  Guarded([&] {
    capnp::FlatArrayMessageReader message(buffer, options);
    (void)wire::ReadPointInTime(message.getRoot<rpc::PointInTime>());
  });
  if (commands.empty()) return 0;

  if (commands.size() > kMaxSubmittedCommands) commands.resize(kMaxSubmittedCommands);
  World& world = TheWorld();
  if (world.ledger && ++world.inputs > kInputsPerLedger) {
    Result<VerifyReport> report = world.ledger->Verify();
    Check(report.ok() && report->problems.empty());
    world.Reset();
  }
  if (!world.ledger) world.Reset();
  world.clock.Advance(kNanosPerSecond);
  const uint64_t before = world.ledger->last_seq();
  const std::vector<Outcome> outcomes = world.ledger->SubmitGroup(commands);
  Check(outcomes.size() == commands.size());
  uint64_t appended = 0;
  for (const Outcome& o : outcomes) {
    appended += o.reply.events.size();
    // A command refused for bad input writes nothing.
    if (o.status.code() == Code::kInvalidArgument) Check(o.reply.events.empty());
    Check(o.status.code() != Code::kInternal && o.status.code() != Code::kDataLoss);
  }
  Check(world.ledger->last_seq() == before + appended);
  return 0;
}
