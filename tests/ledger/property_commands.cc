// The property test's random commands and clock moves, and its oracle: what the rules say
// a single command does, computed from the replay of the log so far.
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ledger/ledger.h"
#include "ledger_fixture.h"
#include "projections/decide.h"
#include "projections/limits.h"
#include "property_simulation.h"

namespace taskledger::property {

using test::kMs;
using test::kSec;

bool IsHolderEvent(EventKind k) {
  return k == EventKind::kHeartbeat || k == EventKind::kCompleted || k == EventKind::kFailed ||
         k == EventKind::kReleased || k == EventKind::kSignaled || k == EventKind::kExited;
}

bool IsHolderCommand(CommandKind k) {
  return k == CommandKind::kHeartbeat || k == CommandKind::kComplete || k == CommandKind::kFail ||
         k == CommandKind::kRelease || k == CommandKind::kSignal || k == CommandKind::kExit;
}

// ---- command generation ----

Command Simulation::RandomCreate() {
  Command c;
  c.kind = CommandKind::kCreate;
  if (Chance(50)) c.task_id = "task-" + std::to_string(Rand(kMaxTasks + 2));  // may exist already
  c.spec.title = "t";
  c.spec.queue = Chance(70) ? "" : "q2";
  c.spec.priority = static_cast<int32_t>(Rand(5)) - 2;
  c.spec.lease_ttl_ns = Pick(std::vector<int64_t>{kSec, 3 * kSec, 5 * kSec, 10 * kSec});
  c.spec.max_attempts = 1 + static_cast<uint32_t>(Rand(4));
  if (Chance(30)) c.spec.max_runtime_ns = Pick(std::vector<int64_t>{4 * kSec, 8 * kSec});
  c.spec.backoff_initial_ns = Pick(std::vector<int64_t>{0, 200 * kMs, 2 * kSec});
  if (Chance(30)) c.spec.not_before_ns = L().Now() + Pick(std::vector<int64_t>{kSec, 5 * kSec, 20 * kSec});
  for (const std::string& id : ids_) {
    if (c.spec.after.size() < 2 && Chance(15)) c.spec.after.push_back(id);
  }
  if (Chance(20)) c.spec.idempotency_key = "key-" + std::to_string(Rand(4));
  return c;
}

// A remembered token: mostly one the worker still holds, else its latest, sometimes an
// old one (a zombie), sometimes junk. Nothing when a worker holding nothing would rather
// ask for work.
std::optional<Held> Simulation::RandomHeld(int w) {
  const std::vector<Held>& history = held_[w];
  if (ids_.empty()) return std::nullopt;
  if (history.empty() || Chance(4)) return Held{Pick(ids_), Rand(L().last_seq() + 3)};
  std::vector<Held> live;
  for (const Held& h : history) {
    const TaskRecord* r = replay_.Find(h.task);
    if (r != nullptr && r->attempt_open && r->last_token == h.token) live.push_back(h);
  }
  if (!live.empty() && Chance(80)) return Pick(live);
  if (live.empty() && Chance(50)) return std::nullopt;
  if (Chance(60)) return history.back();
  return Pick(history);
}

Command Simulation::ClaimNext(int w) {
  Command c;
  c.kind = CommandKind::kClaim;
  c.next = true;
  c.actor = Worker(w);
  return c;
}

Command Simulation::RandomHolderCommand(int w, const Held& held) {
  Command c;
  c.task_id = held.task;
  c.token = held.token;
  c.actor = Worker(w);
  const int h = static_cast<int>(Rand(100));
  if (h < 40) {
    c.kind = CommandKind::kHeartbeat;
    if (Chance(30)) c.text = "progress";
  } else if (h < 55) {
    c.kind = CommandKind::kComplete;
    c.with_exit = Chance(50);
    c.text = "result";
  } else if (h < 63) {
    c.kind = CommandKind::kFail;
    c.text = "error";
  } else if (h < 70) {
    c.kind = CommandKind::kRelease;
  } else if (h < 82) {
    c.kind = CommandKind::kSignal;
    c.signal = Chance(80) ? "SIGTERM" : "SIGHUP";
    c.grace_ns = Pick(std::vector<int64_t>{0, kSec, 3 * kSec, 30 * kSec});
    c.has_grace = c.grace_ns > 0 || Chance(50);  // given 0: the lease ends at the signal
  } else {
    c.kind = CommandKind::kExit;
    if (Chance(70)) {
      c.exit_code = static_cast<int32_t>(Pick(std::vector<int>{0, 1, 137, 143}));
    } else {
      c.signal = Chance(50) ? "SIGKILL" : "SIGTERM";
    }
  }
  return c;
}

Command Simulation::RandomOperatorCommand() {
  Command c;
  c.task_id = Pick(ids_);
  c.actor = "operator";
  const int o = static_cast<int>(Rand(100));
  c.kind = o < 30 ? CommandKind::kBlock : o < 60 ? CommandKind::kUnblock : o < 75 ? CommandKind::kCancel
                                                                           : CommandKind::kRevive;
  if (c.kind == CommandKind::kBlock || c.kind == CommandKind::kCancel) c.text = "operator";
  return c;
}

std::optional<Command> Simulation::RandomCommand() {
  const int w = static_cast<int>(Rand(kWorkers));
  const int r = static_cast<int>(Rand(100));
  if (r < 10 || ids_.empty()) {
    if (ids_.size() >= kMaxTasks && !ids_.empty()) return std::nullopt;
    return RandomCreate();
  }
  if (r < 30) {
    Command c = ClaimNext(w);
    c.queue = Chance(70) ? "" : "q2";
    c.ttl_ns = Pick(std::vector<int64_t>{0, 0, 2 * kSec, 5 * kSec});
    return c;
  }
  if (r < 35) {
    Command c;
    c.kind = CommandKind::kClaim;
    c.task_id = Pick(ids_);
    c.actor = Worker(w);
    return c;
  }
  if (r < 72) {
    const std::optional<Held> held = RandomHeld(w);
    if (!held) return ClaimNext(w);
    return RandomHolderCommand(w, *held);
  }
  if (r < 85) return RandomOperatorCommand();
  Command c;
  c.kind = CommandKind::kSweep;
  return c;
}

void Simulation::AdvanceClock() {
  if (Chance(7)) {
    m_.clock().Advance(-static_cast<int64_t>(Rand(5 * kSec)));  // the clock steps back
    last_action_ = "clock back";
    return;
  }
  m_.clock().Advance(Pick(std::vector<int64_t>{kMs, 100 * kMs, 500 * kMs, kSec, 2 * kSec, 4 * kSec, 11 * kSec,
                                               30 * kSec, 120 * kSec}));
  last_action_ = "clock forward";
}

// ---- the oracle: what the rules say a single command does, from the replay ----

Simulation::Expectation Simulation::Expect(const Command& c, int64_t now) {
  Expectation x;
  x.known = true;
  if (c.kind == CommandKind::kCreate) {
    x.known = false;  // idempotency and naming are checked after the fact
    return x;
  }
  if (c.kind == CommandKind::kSweep) {
    for (const TaskRecord* r : replay_.Tasks()) {
      if (r->attempt_open && r->deadline_ns <= now) x.swept.insert(r->id);
    }
    x.events = x.swept.size();
    return x;
  }
  if (c.kind == CommandKind::kClaim && c.next) return ExpectClaimNext(c, now);
  const TaskRecord* rec = c.task_id.empty() ? nullptr : replay_.Find(c.task_id);
  if (rec == nullptr) {
    x.code = Code::kNotFound;
    return x;
  }
  return ExpectOnTask(c, *rec, now);
}

Simulation::Expectation Simulation::ExpectClaimNext(const Command& c, int64_t now) {
  Expectation x;
  x.known = true;
  const std::string queue = c.queue.empty() ? kDefaultQueue : c.queue;
  const TaskRecord* best = nullptr;
  for (const TaskRecord* r : replay_.Tasks()) {
    if (r->spec.queue != queue || replay_.View(*r, now).status != TaskStatus::kReady) continue;
    if (best == nullptr || r->spec.priority > best->spec.priority) best = r;  // Tasks() is oldest first
  }
  if (best == nullptr) {
    x.code = Code::kNotFound;
  } else {
    x.task_id = best->id;
    x.events = 1;
  }
  return x;
}

// A claim of a named task, a holder command or an operator command, of a task that exists.
Simulation::Expectation Simulation::ExpectOnTask(const Command& c, const TaskRecord& rec, int64_t now) {
  Expectation x;
  x.known = true;
  TaskRecord settled = rec;
  Settle(&settled, now);
  if (c.kind == CommandKind::kClaim) {
    const bool ready = replay_.View(rec, now).status == TaskStatus::kReady;
    x.code = ready ? Code::kOk : Code::kRefused;
    x.events = ready ? 1 : 0;
    return x;
  }
  if (IsHolderCommand(c.kind)) {
    const bool holds = settled.attempt_open && c.token == settled.last_token && now < settled.deadline_ns;
    const bool completed_exit =
        (c.kind == CommandKind::kExit || (c.kind == CommandKind::kComplete && c.with_exit)) && c.token != 0 &&
        c.token == settled.completed_token && !settled.completed_exit_recorded;
    x.code = holds || completed_exit ? Code::kOk : Code::kRefused;
    x.events = holds && c.kind == CommandKind::kComplete && c.with_exit ? 2 : 1;
    return x;
  }
  bool allowed = false;
  switch (c.kind) {
    case CommandKind::kBlock: allowed = !settled.terminal() && !settled.blocked; break;
    case CommandKind::kUnblock: allowed = settled.blocked; break;
    case CommandKind::kCancel: allowed = !settled.done && !settled.cancelled; break;
    case CommandKind::kRevive: allowed = settled.dead() || settled.cancelled; break;
    default: break;
  }
  x.code = allowed ? Code::kOk : Code::kRefused;
  x.events = allowed ? 1 : 0;
  return x;
}

}  // namespace taskledger::property
