// ledger_load, --pattern worker: each connection is one worker holding up to F leases, as
// `taskledger worker` drives its slots (tools/worker/worker.cc); one call at a time, each
// carrying many commands (bench/ledger_load.cc). And the read-back of the ledger after the
// load (VerifyLedger).
#include <capnp/ez-rpc.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench/ledger_load.h"

namespace taskledger::bench {

void Client::RunWorker(rpc::Ledger::Client& ledger, kj::WaitScope& wait) {
  const size_t slots = static_cast<size_t>(config_.inflight);
  std::vector<Held> held;
  held.reserve(slots);
  bool queue_empty = false;
  std::vector<Command> commands;
  std::vector<size_t> subject;  // per command: index into `held`, or SIZE_MAX for a claim
  while (!failed_) {
    commands.clear();
    subject.clear();
    bool renewing = false;
    for (size_t i = 0; i < held.size(); ++i) {
      if (held[i].heartbeats < config_.heartbeats) renewing = true;
    }
    if (renewing) {  // one call renews every held lease that needs it
      for (size_t i = 0; i < held.size(); ++i) {
        if (held[i].heartbeats >= config_.heartbeats) continue;
        commands.push_back(HolderCommand(held[i], CommandKind::kHeartbeat));
        subject.push_back(i);
      }
    } else {  // every held task is done: complete them all, claim for every free slot
      for (size_t i = 0; i < held.size(); ++i) {
        commands.push_back(HolderCommand(held[i], CommandKind::kComplete));
        subject.push_back(i);
      }
      const bool claiming = !queue_empty && MonotonicNs() < deadline_ns_;
      // Every slot frees in this call (a complete refused as Busy keeps its slot a call
      // longer, beyond the F).
      const size_t claims = claiming ? std::min(slots, remaining_) : 0;
      for (size_t c = 0; c < claims; ++c) {
        Command claim;
        claim.kind = CommandKind::kClaim;
        claim.next = true;
        claim.queue = config_.queue;
        claim.actor = worker_;
        commands.push_back(std::move(claim));
        subject.push_back(SIZE_MAX);
      }
    }
    if (commands.empty()) break;  // nothing held, nothing more to claim

    auto request = ledger.submitRequest();
    auto list = request.initCommands(static_cast<unsigned>(commands.size()));
    for (size_t k = 0; k < commands.size(); ++k) wire::WriteCommand(commands[k], list[static_cast<unsigned>(k)]);
    const int64_t t0 = MonotonicNs();
    auto response = request.send().wait(wait);
    const int64_t t1 = MonotonicNs();
    result_->calls++;
    result_->commands_sent += commands.size();
    result_->calls_latency.Add(t1 - t0);
    auto outcomes = response.getOutcomes();
    if (outcomes.size() != commands.size()) {
      Fail("the server answered a different count");
      break;
    }
    bool busy = false;
    std::vector<bool> released(held.size(), false);
    std::vector<Held> claimed;
    for (size_t k = 0; k < commands.size() && !failed_; ++k) {
      Result<Outcome> outcome = wire::ReadOutcome(outcomes[static_cast<unsigned>(k)]);
      if (!outcome.ok()) {
        Fail(outcome.status().message());
        break;
      }
      const CommandKind kind = commands[k].kind;
      const Kind stat = kind == CommandKind::kClaim ? kClaim : kind == CommandKind::kHeartbeat ? kHeartbeat : kComplete;
      if (outcome->status.code() == Code::kBusy) {  // retried in a later call
        busy = true;
        result_->busy_retries++;
        continue;
      }
      if (kind == CommandKind::kClaim && outcome->status.IsNotFound()) {
        queue_empty = true;
        result_->claims_empty++;
        continue;
      }
      if (!outcome->status.ok()) {
        Fail(std::string(kKindNames[stat]) + ": " + outcome->status.message());
        break;
      }
      result_->by_kind[stat].Add(t1 - t0);
      result_->commands++;
      if (kind == CommandKind::kClaim) {
        --remaining_;
        claimed.push_back(Held{outcome->reply.task_id, outcome->reply.token, t0, 0});
      } else if (kind == CommandKind::kHeartbeat) {
        held[subject[k]].heartbeats++;
      } else {
        result_->cycles.Add(t1 - held[subject[k]].claim_call_ns);
        result_->tasks++;
        result_->completed++;
        released[subject[k]] = true;
      }
    }
    if (failed_) break;
    size_t kept = 0;
    for (size_t i = 0; i < held.size(); ++i) {
      if (released[i]) continue;
      if (kept != i) held[kept] = std::move(held[i]);
      ++kept;
    }
    held.resize(kept);
    for (Held& h : claimed) held.push_back(std::move(h));
    if (busy) std::this_thread::sleep_for(kBusyPause);
  }
}

Command Client::HolderCommand(const Held& held, CommandKind kind) const {
  Command c;
  c.kind = kind;
  c.task_id = held.task_id;
  c.token = held.token;
  c.actor = worker_;
  return c;
}

std::string VerifyLedger(const Config& config, uint64_t completed, nlohmann::json* out) {
  try {
    capnp::ReaderOptions options;
    options.traversalLimitInWords = kTraversalWords;
    capnp::EzRpcClient client(config.endpoint, 0, options);
    rpc::Ledger::Client ledger = client.getMain<rpc::Ledger>();
    auto request = ledger.tasksAtRequest();
    request.initAt().setKind(0);
    auto response = request.send().wait(client.getWaitScope());
    if (response.getError().getCode() != 0) return "verify: tasksAt: " + std::string(response.getError().getMessage().cStr());
    uint64_t in_queue = 0, done = 0, claimed_more = 0, open = 0;
    for (auto view : response.getTasks()) {
      auto settled = view.getSettled();
      if (settled.getSpec().getQueue() != config.queue.c_str()) continue;
      ++in_queue;
      if (view.getStatus() == static_cast<uint8_t>(TaskStatus::kDone)) {
        ++done;
        if (settled.getAttempts() != 1) ++claimed_more;
      } else {
        ++open;
      }
    }
    (*out)["verified"] = {{"in_queue", in_queue}, {"done", done}, {"claimed_more_than_once", claimed_more}, {"not_done", open}};
    if (done != completed) {
      return "verify: the ledger has " + std::to_string(done) + " tasks done in queue " + config.queue + ", the load " +
             std::to_string(completed) + " completes that succeeded";
    }
    if (claimed_more != 0) return "verify: " + std::to_string(claimed_more) + " done task(s) were claimed more than once";
    if (config.max_seconds <= 0 && in_queue <= config.tasks && open != 0) {
      return "verify: " + std::to_string(open) + " task(s) of queue " + config.queue + " not done after the load";
    }
    return "";
  } catch (const kj::Exception& e) {
    return std::string("verify: ") + e.getDescription().cStr();
  }
}

}  // namespace taskledger::bench
