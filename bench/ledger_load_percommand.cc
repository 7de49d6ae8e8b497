// ledger_load, --pattern percommand (the default): one command per call; a client keeps F
// task cycles going at once on its connection (--inflight F), each cycle's commands one
// after the other: [create,] claim --next, K heartbeats, complete (bench/ledger_load.cc).
#include <capnp/capability.h>
#include <kj/async.h>

#include <optional>
#include <string>
#include <utility>

#include "bench/ledger_load.h"

namespace taskledger::bench {

// One lane: task cycles one after another until this client's share is done, the
// deadline passes or a command fails.
kj::Promise<void> Client::Lane(rpc::Ledger::Client ledger) {
  if (remaining_ == 0 || failed_ || MonotonicNs() >= deadline_ns_) return kj::READY_NOW;
  --remaining_;
  const int64_t t0 = MonotonicNs();
  return Cycle(ledger).then([this, ledger, t0](bool ok) mutable -> kj::Promise<void> {
    if (!ok) {
      failed_ = true;
      return kj::READY_NOW;
    }
    result_->cycles.Add(MonotonicNs() - t0);
    result_->tasks++;
    return Lane(kj::mv(ledger));
  });
}

// One task: [create,] claim --next, heartbeats, complete. False on a failure.
kj::Promise<bool> Client::Cycle(rpc::Ledger::Client ledger) {
  kj::Promise<bool> created = config_.no_create ? kj::Promise<bool>(true)
                                                : Submit(ledger, CreateCommand(), kCreate).then(
                                                      [](std::optional<Outcome>&& o) { return o.has_value(); });
  return created.then([this, ledger](bool ok) mutable -> kj::Promise<bool> {
    if (!ok) return false;
    return Submit(ledger, ClaimNextCommand(), kClaim)
        .then([this, ledger](std::optional<Outcome>&& claimed) mutable -> kj::Promise<bool> {
          if (!claimed) return false;
          Command holder;
          holder.task_id = claimed->reply.task_id;
          holder.token = claimed->reply.token;
          holder.actor = worker_;
          return Hold(kj::mv(ledger), std::move(holder), 0);
        });
  });
}

// The holder's commands from heartbeat number `h` on: the rest of the heartbeats, then
// complete.
kj::Promise<bool> Client::Hold(rpc::Ledger::Client ledger, Command holder, int h) {
  if (h == config_.heartbeats) {
    holder.kind = CommandKind::kComplete;
    return Submit(ledger, std::move(holder), kComplete).then([](std::optional<Outcome>&& o) {
      return o.has_value();
    });
  }
  holder.kind = CommandKind::kHeartbeat;
  Command next = holder;
  return Submit(ledger, std::move(holder), kHeartbeat)
      .then([this, ledger, next = std::move(next), h](std::optional<Outcome>&& o) mutable -> kj::Promise<bool> {
        if (!o) return false;
        return Hold(kj::mv(ledger), std::move(next), h + 1);
      });
}

// One command in one call, retried while the server is busy; nullopt on a failure.
// t0: when the command was first sent (its latency includes the retries).
kj::Promise<std::optional<Outcome>> Client::Submit(rpc::Ledger::Client ledger, Command command, Kind kind,
                                                   int64_t t0) {
  if (t0 < 0) t0 = MonotonicNs();
  result_->calls++;
  result_->commands_sent++;
  auto request = ledger.submitRequest();
  wire::WriteCommand(command, request.initCommands(1)[0]);
  return request.send().then(
      [this, ledger, command = std::move(command), kind,
       t0](capnp::Response<rpc::Ledger::SubmitResults>&& response) mutable
      -> kj::Promise<std::optional<Outcome>> {
        if (response.getOutcomes().size() != 1) return Fail("the server answered a different count");
        Result<Outcome> outcome = wire::ReadOutcome(response.getOutcomes()[0]);
        if (!outcome.ok()) return Fail(outcome.status().message());
        if (outcome->status.code() == Code::kBusy) {
          result_->busy_retries++;
          return timer_->afterDelay(kBusyPause.count() * kj::MILLISECONDS)
              .then([this, ledger, command = std::move(command), kind, t0]() mutable {
                return Submit(kj::mv(ledger), std::move(command), kind, t0);
              });
        }
        if (!outcome->status.ok()) {
          return Fail(std::string(kKindNames[kind]) + ": " + outcome->status.message());
        }
        result_->by_kind[kind].Add(MonotonicNs() - t0);
        result_->commands++;
        return std::optional<Outcome>(std::move(*outcome));
      });
}

}  // namespace taskledger::bench
