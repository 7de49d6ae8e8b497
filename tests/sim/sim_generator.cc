// The simulation's generator: the next action from a world's state, deterministic for a
// seed (which worker or operator acts, with which command, how the clock moves).
#include <algorithm>
#include <iterator>

#include "tests/sim/sim.h"

namespace taskledger::sim {

std::string Generator::AnyTask(const Model& model) {
  if (model.tasks().empty()) return "t0";
  auto it = model.tasks().begin();
  std::advance(it, Pick(static_cast<int>(model.tasks().size())));
  return it->first;
}

std::string Generator::ReadyTask(const Model& model, int64_t now_ns) {
  std::vector<std::string> ready;
  for (const auto& [id, t] : model.tasks()) {
    if (model.StatusAt(id, now_ns) == TaskStatus::kReady) ready.push_back(id);
  }
  if (ready.empty()) return AnyTask(model);
  return ready[static_cast<size_t>(Pick(static_cast<int>(ready.size())))];
}

Action Generator::Create(World& world) {
  const Model& model = world.model();
  Action a;
  Command& c = a.command;
  c.kind = CommandKind::kCreate;
  c.actor = "dispatcher";
  c.task_id = !model.tasks().empty() && Chance(4) ? AnyTask(model) : "t" + std::to_string(next_task_++);
  TaskSpec& s = c.spec;
  s.title = "task " + c.task_id;
  s.lease_ttl_ns = Chance(10) ? 0 : Between(1, 20) * kSecond / (Chance(20) ? 10 : 1);
  s.max_attempts = static_cast<uint32_t>(Between(0, 4));
  s.backoff_initial_ns = Chance(30) ? 0 : Between(1, 5) * kSecond;
  s.backoff_max_ns = Chance(40) ? 0 : std::max(s.backoff_initial_ns, Between(2, 60) * kSecond);
  s.max_runtime_ns = Chance(70) ? 0 : Between(3, 40) * kSecond;
  s.not_before_ns = Chance(75) ? 0 : model.Now(world.clock_ns()) + Between(0, 30) * kSecond;
  const int deps = model.tasks().empty() ? 0 : Pick(3);
  for (int i = 0; i < deps; ++i) s.after.push_back(AnyTask(model));
  s.queue = Chance(75) ? "" : "q2";
  s.priority = static_cast<int32_t>(Between(-1, 2));
  if (Chance(15)) s.idempotency_key = "k" + std::to_string(Pick(6));
  return a;
}

Action Generator::Holder(World& world) {
  Action a;
  Command& c = a.command;
  const auto& grants = world.grants();
  if (grants.empty() || Chance(3)) {
    c.task_id = AnyTask(world.model());
    c.actor = Worker();
    c.token = static_cast<uint64_t>(Between(0, static_cast<int64_t>(world.model().last_seq()) + 3));
  } else {
    auto it = grants.begin();
    std::advance(it, Pick(static_cast<int>(grants.size())));
    c.actor = it->first.first;
    c.task_id = it->first.second;
    a.pick = Chance(85) || it->second.size() < 2 ? TokenPick::kLatest : TokenPick::kPrevious;
  }
  const int kind = Pick(100);
  if (kind < 35) {
    c.kind = CommandKind::kHeartbeat;
    if (Chance(20)) c.text = "progress";
  } else if (kind < 50) {
    c.kind = CommandKind::kComplete;
    c.with_exit = Chance(30);
    c.text = "result";
  } else if (kind < 60) {
    c.kind = CommandKind::kFail;
    c.text = "boom";
  } else if (kind < 68) {
    c.kind = CommandKind::kRelease;
  } else if (kind < 82) {
    c.kind = CommandKind::kSignal;
    c.signal = Chance(80) ? "SIGTERM" : "SIGINT";
    c.grace_ns = Chance(20) ? 0 : Between(1, 15) * kSecond;
    // An explicit --grace 0s ends the lease at the signal; an omitted one is the default.
    c.has_grace = c.grace_ns > 0 || Chance(50);
  } else {
    c.kind = CommandKind::kExit;
    if (Chance(70)) c.exit_code = static_cast<int32_t>(Between(0, 3));
    else c.signal = Chance(50) ? "SIGKILL" : "SIGTERM";
  }
  return a;
}

Action Generator::Clock(World& world) {
  const Model& model = world.model();
  Action a;
  a.op = Op::kAdvance;
  const int how = Pick(100);
  if (how < 55) {
    a.ns = Between(1, 2000) * kNanosPerMilli;
  } else if (how < 72) {
    a.ns = Between(5, 90) * kSecond;  // a freeze: past most leases
  } else if (how < 80) {
    a.ns = Between(5, 10) * 60 * kSecond;  // past backoff caps
  } else {
    // Land exactly on (or one ns either side of) a live deadline: the lease rule's edge.
    std::vector<int64_t> deadlines;
    const int64_t clock = world.clock_ns();
    for (const auto& [id, t] : model.tasks()) {
      if (t.attempt && t.attempt->deadline_ns > clock + 1) deadlines.push_back(t.attempt->deadline_ns);
    }
    if (deadlines.empty()) {
      a.ns = Between(1, 3000) * kNanosPerMilli;
    } else {
      const int64_t target = deadlines[static_cast<size_t>(Pick(static_cast<int>(deadlines.size())))];
      a.ns = target - clock + Between(-1, 1);
    }
  }
  return a;
}

Action Generator::Invalid(World& world) {
  Action a;
  Command& c = a.command;
  c.actor = Worker();
  switch (Pick(7)) {
    case 0:
      c.kind = CommandKind::kCreate;
      c.task_id = std::string(200, 'x');  // over the id limit
      c.spec.title = "long id";
      break;
    case 1:
      c.kind = CommandKind::kCreate;
      c.task_id = "has space";
      c.spec.title = "bad id";
      break;
    case 2:
      c.kind = CommandKind::kClaim;
      c.task_id = AnyTask(world.model());
      c.ttl_ns = 400LL * 24 * 3600 * kSecond;  // over a year
      break;
    case 3:
      c.kind = CommandKind::kHeartbeat;
      c.task_id = AnyTask(world.model());
      c.token = 1;
      c.text = std::string("bell\x07");
      break;
    case 4:
      c.kind = CommandKind::kClaim;
      c.task_id = "nosuchtask";
      break;
    case 5:
      c.kind = CommandKind::kCreate;
      c.task_id = "orphan" + std::to_string(next_task_++);
      c.spec.title = "depends on nothing that exists";
      c.spec.after = {"nosuchtask"};
      break;
    default:
      c.kind = CommandKind::kSignal;
      c.task_id = AnyTask(world.model());
      c.token = 1;
      c.signal = "";  // a signal needs a name
      break;
  }
  return a;
}

Action Generator::Next(World& world) {
  const Model& model = world.model();
  const int64_t now = model.Now(world.clock_ns());
  const int roll = Pick(100);
  Action a;
  if (roll < 14 || model.tasks().empty()) return Create(world);
  if (roll < 24) {
    a.command.kind = CommandKind::kClaim;
    a.command.task_id = Chance(75) ? ReadyTask(model, now) : AnyTask(model);
    a.command.actor = Worker();
    a.command.ttl_ns = Chance(50) ? 0 : Between(1, 20) * kSecond;
    return a;
  }
  if (roll < 32) {
    a.command.kind = CommandKind::kClaim;
    a.command.next = true;
    a.command.queue = Chance(75) ? "" : "q2";
    a.command.actor = Worker();
    a.command.ttl_ns = Chance(50) ? 0 : Between(1, 20) * kSecond;
    return a;
  }
  if (roll < 62) return Holder(world);
  if (roll < 69) {
    static constexpr CommandKind kOperator[] = {CommandKind::kBlock, CommandKind::kUnblock, CommandKind::kCancel,
                                                CommandKind::kRevive};
    a.command.kind = kOperator[Pick(4)];
    a.command.task_id = AnyTask(model);
    a.command.actor = "operator";
    if (a.command.kind == CommandKind::kBlock) a.command.text = "hold";
    return a;
  }
  if (roll < 72) {
    a.command.kind = CommandKind::kSweep;
    a.command.actor = "sweeper";
    return a;
  }
  if (roll < 90) return Clock(world);
  if (roll < 93) {
    a.op = Op::kRewind;
    a.ns = Between(1, 30'000) * kNanosPerMilli;
    return a;
  }
  if (roll < 94) {
    a.op = Op::kReopen;
    return a;
  }
  if (roll < 96) return Invalid(world);
  // Several commands in one commit group: each sees the ones before it (read-your-writes).
  a.op = Op::kGroup;
  const int size = static_cast<int>(Between(2, 5));
  for (int i = 0; i < size; ++i) {
    Action member;
    do {
      member = Next(world);
    } while (member.op != Op::kCommand);
    a.members.push_back(std::move(member));
  }
  return a;
}

}  // namespace taskledger::sim
