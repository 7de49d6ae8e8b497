// ledger_load, a client: its connection, the pre-create of --no-create, the `now` calls of
// the baseline, then the pattern of the load (bench/ledger_load.cc describes them).
#include <capnp/ez-rpc.h>
#include <kj/async-io.h>
#include <kj/vector.h>

#include <algorithm>
#include <climits>
#include <string>
#include <thread>

#include "bench/ledger_load.h"

namespace taskledger::bench {

void Client::Run(Gate& connected, Gate& pinged, size_t tasks) {
  capnp::ReaderOptions options;
  options.traversalLimitInWords = kTraversalWords;
  capnp::EzRpcClient client(config_.endpoint, 0, options);
  rpc::Ledger::Client ledger = client.getMain<rpc::Ledger>();
  kj::WaitScope& wait = client.getWaitScope();
  timer_ = &client.getIoProvider().getTimer();
  (void)ledger.nowRequest().send().wait(wait);  // connected
  if (config_.no_create && !Precreate(ledger, wait, tasks)) {
    connected.Break();
    pinged.Break();
    return;
  }
  if (!connected.ArriveAndWait()) return;
  for (size_t i = 0; i < config_.ping_calls; ++i) {
    const int64_t t0 = MonotonicNs();
    (void)ledger.nowRequest().send().wait(wait);
    result_->ping.Add(MonotonicNs() - t0);
  }
  result_->ping_end_ns = MonotonicNs();
  if (!pinged.ArriveAndWait()) return;
  deadline_ns_ = config_.max_seconds > 0 ? pinged.opened_ns() + static_cast<int64_t>(config_.max_seconds * 1e9)
                                         : INT64_MAX;
  remaining_ = tasks;
  result_->cycles.Reserve(tasks);
  if (config_.worker) {
    RunWorker(ledger, wait);
    result_->load_end_ns = MonotonicNs();
    return;
  }
  kj::Vector<kj::Promise<void>> lanes;
  for (int l = 0; l < config_.inflight && static_cast<size_t>(l) < tasks; ++l) lanes.add(Lane(ledger));
  kj::joinPromises(lanes.releaseAsArray()).wait(wait);
  result_->load_end_ns = MonotonicNs();
}

bool Client::Precreate(rpc::Ledger::Client& ledger, kj::WaitScope& wait, size_t tasks) {
  const int64_t t0 = MonotonicNs();
  Command create = CreateCommand();
  for (size_t done = 0; done < tasks;) {
    const size_t n = std::min(kPrecreateBatch, tasks - done);
    auto request = ledger.submitRequest();
    auto commands = request.initCommands(static_cast<unsigned>(n));
    for (size_t i = 0; i < n; ++i) wire::WriteCommand(create, commands[static_cast<unsigned>(i)]);
    auto response = request.send().wait(wait);
    if (response.getOutcomes().size() != n) {
      Fail("pre-create: the server answered a different count");
      return false;
    }
    size_t busy = 0;
    for (auto o : response.getOutcomes()) {
      Result<Outcome> outcome = wire::ReadOutcome(o);
      if (!outcome.ok()) {
        Fail(outcome.status().message());
        return false;
      }
      if (outcome->status.code() == Code::kBusy) {
        ++busy;
      } else if (!outcome->status.ok()) {
        Fail("pre-create: " + outcome->status.message());
        return false;
      }
    }
    if (busy > 0) {  // the creates are all alike: make up for the refused ones
      result_->busy_retries++;
      std::this_thread::sleep_for(kBusyPause);
    }
    done += n - busy;
  }
  result_->precreate_ns = MonotonicNs() - t0;
  return true;
}

Command Client::CreateCommand() const {
  Command create;
  create.kind = CommandKind::kCreate;
  create.spec.title = "load";
  create.spec.queue = config_.queue;
  return create;
}

Command Client::ClaimNextCommand() const {
  Command claim;
  claim.kind = CommandKind::kClaim;
  claim.next = true;
  claim.queue = config_.queue;
  claim.actor = worker_;
  return claim;
}

std::optional<Outcome> Client::Fail(const std::string& what) {
  failed_ = true;
  if (result_->errors++ == 0) result_->first_error = what;
  return std::nullopt;
}

}  // namespace taskledger::bench
