// ledger_load, --pattern worker: each connection is one worker holding up to F leases, as
// `taskledger worker` drives its slots (tools/worker/worker.cc); one call at a time, each
// carrying many commands (bench/ledger_load.cc). And the read-back of the ledger after the
// load (VerifyLedger).
#include <capnp/ez-rpc.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "bench/ledger_load.h"

namespace taskledger::bench {

void Client::RunWorker(rpc::Ledger::Client& ledger, kj::WaitScope& wait) {
  const size_t slots = static_cast<size_t>(config_.inflight);
  const size_t lanes = std::min(static_cast<size_t>(config_.lanes), slots);
  std::vector<WorkerState> states(lanes);
  kj::Vector<kj::Promise<void>> running;
  for (size_t l = 0; l < lanes; ++l) {
    states[l].slots = slots / lanes + (l < slots % lanes ? 1 : 0);
    states[l].held.reserve(states[l].slots);
    running.add(WorkerLane(ledger, &states[l]));
  }
  kj::joinPromises(running.releaseAsArray()).wait(wait);
}

kj::Promise<void> Client::WorkerLane(rpc::Ledger::Client ledger, WorkerState* state) {
  if (failed_) return kj::READY_NOW;
  auto call = kj::heap<WorkerCall>();
  PlanWorkerCall(*state, call.get());
  if (call->commands.empty()) return kj::READY_NOW;  // nothing held, nothing more to claim

  auto request = ledger.submitRequest();
  auto list = request.initCommands(static_cast<unsigned>(call->commands.size()));
  for (size_t k = 0; k < call->commands.size(); ++k) {
    wire::WriteCommand(call->commands[k], list[static_cast<unsigned>(k)]);
  }
  const int64_t t0 = MonotonicNs();
  return request.send().then(
      [this, ledger, state, call = kj::mv(call), t0](capnp::Response<rpc::Ledger::SubmitResults>&& response) mutable
      -> kj::Promise<void> {
        const int64_t t1 = MonotonicNs();
        result_->calls++;
        result_->commands_sent += call->commands.size();
        result_->calls_latency.Add(t1 - t0);
        auto outcomes = response.getOutcomes();
        if (outcomes.size() != call->commands.size()) {
          Fail("the server answered a different count");
          return kj::READY_NOW;
        }
        const bool busy = ApplyWorkerOutcomes(*call, outcomes, t0, t1, state);
        if (failed_) return kj::READY_NOW;
        if (!busy) return WorkerLane(ledger, state);
        return timer_->afterDelay(kBusyPause.count() * kj::MILLISECONDS).then([this, ledger, state]() mutable {
          return WorkerLane(ledger, state);
        });
      });
}

void Client::PlanWorkerCall(const WorkerState& state, WorkerCall* call) const {
  call->commands.clear();
  call->subject.clear();
  const std::vector<Held>& held = state.held;
  const bool renewing =
      std::any_of(held.begin(), held.end(), [&](const Held& h) { return h.heartbeats < config_.heartbeats; });
  if (renewing) {  // one call renews every held lease that needs it
    for (size_t i = 0; i < held.size(); ++i) {
      if (held[i].heartbeats >= config_.heartbeats) continue;
      call->commands.push_back(HolderCommand(held[i], CommandKind::kHeartbeat));
      call->subject.push_back(i);
    }
    return;
  }
  // Every held task is done: complete them all, claim for every free slot.
  for (size_t i = 0; i < held.size(); ++i) {
    call->commands.push_back(HolderCommand(held[i], CommandKind::kComplete));
    call->subject.push_back(i);
  }
  const bool claiming = !state.queue_empty && MonotonicNs() < deadline_ns_;
  // Every slot frees in this call (a complete refused as Busy keeps its slot a call
  // longer, beyond the F).
  const size_t claims = claiming ? std::min(state.slots, remaining_) : 0;
  for (size_t c = 0; c < claims; ++c) {
    call->commands.push_back(ClaimNextCommand());
    call->subject.push_back(WorkerCall::kClaimSubject);
  }
}

bool Client::ApplyWorkerOutcomes(const WorkerCall& call, capnp::List<rpc::Outcome>::Reader outcomes, int64_t t0,
                                 int64_t t1, WorkerState* state) {
  std::vector<Held>& held = state->held;
  bool busy = false;
  std::vector<bool> released(held.size(), false);
  std::vector<Held> claimed;
  for (size_t k = 0; k < call.commands.size() && !failed_; ++k) {
    Result<Outcome> outcome = wire::ReadOutcome(outcomes[static_cast<unsigned>(k)]);
    if (!outcome.ok()) {
      Fail(outcome.status().message());
      break;
    }
    const CommandKind kind = call.commands[k].kind;
    const Kind stat = kind == CommandKind::kClaim ? kClaim : kind == CommandKind::kHeartbeat ? kHeartbeat : kComplete;
    if (outcome->status.code() == Code::kBusy) {  // retried in a later call
      busy = true;
      result_->busy_retries++;
      continue;
    }
    if (kind == CommandKind::kClaim && outcome->status.IsNotFound()) {
      state->queue_empty = true;
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
      held[call.subject[k]].heartbeats++;
    } else {
      result_->cycles.Add(t1 - held[call.subject[k]].claim_call_ns);
      result_->tasks++;
      result_->completed++;
      released[call.subject[k]] = true;
    }
  }
  if (failed_) return busy;
  // The completed leases leave (the others keep their order); the claimed ones join.
  size_t kept = 0;
  for (size_t i = 0; i < held.size(); ++i) {
    if (released[i]) continue;
    if (kept != i) held[kept] = std::move(held[i]);
    ++kept;
  }
  held.resize(kept);
  for (Held& h : claimed) held.push_back(std::move(h));
  return busy;
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
