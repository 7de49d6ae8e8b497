// The simulation's driver: a World runs actions against the ledger and the model, and
// runs, replays, shrinks and reports action lists. The checks it makes are in
// sim_checks.cc, the actions it is given come from sim_generator.cc.
#include "tests/sim/sim.h"

#include <rocksdb/env.h>

#include <algorithm>
#include <sstream>

#include "tests/sim/sim_internal.h"

namespace taskledger::sim {
namespace {

// One in-memory Env for every world (each under its own path): a fresh Env per world makes
// the first open of each several times slower.
rocksdb::Env* SharedMemEnv() {
  static rocksdb::Env* const env = rocksdb::NewMemEnv(rocksdb::Env::Default());
  return env;
}
uint64_t next_world_id = 0;
// A full verify every this many steps (and at every reopen and at the end).
constexpr size_t kVerifyEvery = 25;

std::string KindName(CommandKind kind) {
  switch (kind) {
    case CommandKind::kCreate: return "create";
    case CommandKind::kClaim: return "claim";
    case CommandKind::kHeartbeat: return "heartbeat";
    case CommandKind::kComplete: return "complete";
    case CommandKind::kFail: return "fail";
    case CommandKind::kRelease: return "release";
    case CommandKind::kSignal: return "signal";
    case CommandKind::kExit: return "exit";
    case CommandKind::kBlock: return "block";
    case CommandKind::kUnblock: return "unblock";
    case CommandKind::kCancel: return "cancel";
    case CommandKind::kRevive: return "revive";
    case CommandKind::kSweep: return "sweep";
  }
  return "?";
}

}  // namespace

void Counters::Add(const Counters& o) {
  steps += o.steps;
  commands += o.commands;
  accepted += o.accepted;
  refused += o.refused;
  rejected_events += o.rejected_events;
  events += o.events;
  reopens += o.reopens;
  rewinds += o.rewinds;
  verifies += o.verifies;
  travel_checks += o.travel_checks;
}

std::string Describe(const Action& a) {
  std::ostringstream out;
  switch (a.op) {
    case Op::kAdvance: return "clock +" + Ns(a.ns);
    case Op::kRewind: return "clock -" + Ns(a.ns) + " (backwards)";
    case Op::kReopen: return "close and reopen the ledger";
    case Op::kUnmodelled: return "a write the model does not see: " + KindName(a.command.kind) + " " + a.command.task_id;
    case Op::kGroup: {
      std::string out = "group of " + std::to_string(a.members.size()) + " {";
      for (size_t i = 0; i < a.members.size(); ++i) out += (i ? "; " : "") + Describe(a.members[i]);
      return out + "}";
    }
    case Op::kCommand: break;
  }
  const Command& c = a.command;
  out << KindName(c.kind);
  if (c.kind == CommandKind::kClaim && c.next) out << " --next queue=" << (c.queue.empty() ? "default" : c.queue);
  if (!c.task_id.empty()) out << " " << (c.task_id.size() > 20 ? c.task_id.substr(0, 20) + "..." : c.task_id);
  if (!c.actor.empty()) out << " by " << c.actor;
  if (c.kind == CommandKind::kCreate) {
    const TaskSpec& s = c.spec;
    out << " ttl=" << Ns(s.lease_ttl_ns) << " attempts=" << s.max_attempts << " backoff=" << Ns(s.backoff_initial_ns)
        << "/" << Ns(s.backoff_max_ns) << " runtime=" << Ns(s.max_runtime_ns);
    if (s.not_before_ns != 0) out << " not_before=+" << Ns(s.not_before_ns - kStartNs);
    if (!s.after.empty()) {
      out << " after=[";
      for (size_t i = 0; i < s.after.size(); ++i) out << (i ? "," : "") << s.after[i];
      out << "]";
    }
    if (!s.queue.empty()) out << " queue=" << s.queue;
    if (s.priority != 0) out << " priority=" << s.priority;
    if (!s.idempotency_key.empty()) out << " key=" << s.idempotency_key;
  }
  if (c.kind == CommandKind::kClaim && c.ttl_ns != 0) out << " ttl=" << Ns(c.ttl_ns);
  switch (a.pick) {
    case TokenPick::kLatest: out << " token=<latest granted>"; break;
    case TokenPick::kPrevious: out << " token=<previous granted (stale)>"; break;
    case TokenPick::kAsWritten:
      if (c.token != 0) out << " token=" << c.token;
      break;
  }
  if (c.kind == CommandKind::kSignal) {
    out << " signal=" << c.signal << " grace=" << (c.has_grace ? Ns(c.grace_ns) : std::string("default"));
  }
  if (c.kind == CommandKind::kExit) {
    if (c.exit_code) out << " code=" << *c.exit_code;
    else out << " signal=" << c.signal;
  }
  if (c.with_exit) out << " with_exit";
  if (!c.text.empty()) out << " text=" << (c.text.size() > 20 ? std::to_string(c.text.size()) + " bytes" : "'" + c.text + "'");
  return out.str();
}

// ---- World ----

World::World() : path_("/sim-" + std::to_string(next_world_id++)), clock_(kStartNs) {}

World::~World() {
  ledger_.reset();
  // Free the world's files: the shared Env outlives every world.
  rocksdb::Env* env = SharedMemEnv();
  std::vector<std::string> children;
  if (env->GetChildren(path_, &children).ok()) {
    for (const std::string& child : children) (void)env->DeleteFile(path_ + "/" + child);
  }
  (void)env->DeleteDir(path_);
}

std::optional<std::string> World::Open() {
  LedgerOptions options;
  options.path = path_;
  options.env = SharedMemEnv();
  options.sync = false;  // the in-memory Env has nothing to sync; crashes are tests/crash's
  Result<std::unique_ptr<Ledger>> opened = Ledger::Open(options, &clock_);
  if (!opened.ok()) return "open failed: " + opened.status().ToString();
  ledger_ = std::move(*opened);
  return std::nullopt;
}

std::optional<std::string> World::Step(const Action& a) {
  ++steps_;
  ++counters_.steps;
  if (!ledger_) {
    if (auto f = Open()) return f;
  }
  switch (a.op) {
    case Op::kAdvance:
      clock_.Advance(a.ns);
      break;
    case Op::kRewind:
      clock_.Advance(-a.ns);
      ++counters_.rewinds;
      break;
    case Op::kReopen: {
      ledger_.reset();
      if (auto f = Open()) return f;
      ++counters_.reopens;
      if (ledger_->last_seq() != model_.last_seq()) {
        return "after reopen the log ends at seq " + std::to_string(ledger_->last_seq()) + ", the model's at " +
               std::to_string(model_.last_seq());
      }
      if (auto f = CheckLog(1)) return "after reopen: " + *f;
      if (auto f = CheckVerify()) return "after reopen: " + *f;
      break;
    }
    case Op::kUnmodelled:
      (void)ledger_->Submit(a.command);
      break;
    case Op::kCommand:
      if (auto f = RunGroup({Resolve(a)})) return f;
      break;
    case Op::kGroup: {
      std::vector<Command> commands;
      for (const Action& member : a.members) commands.push_back(Resolve(member));
      if (auto f = RunGroup(commands)) return f;
      break;
    }
  }
  if (steps_ % kVerifyEvery == 0) {
    if (auto f = CheckVerify()) return f;
  }
  return CheckStatuses(PointInTime::Now(), model_, model_.Now(clock_.NowNs()), "now");
}

Command World::Resolve(const Action& a) const {
  Command command = a.command;
  if (a.pick != TokenPick::kAsWritten) {
    auto granted = grants_.find({command.actor, command.task_id});
    const size_t back = a.pick == TokenPick::kLatest ? 1 : 2;
    command.token = granted != grants_.end() && granted->second.size() >= back
                        ? granted->second[granted->second.size() - back]
                        : 0;
  }
  return command;
}

std::optional<std::string> World::RunGroup(const std::vector<Command>& commands) {
  const uint64_t before = ledger_->last_seq();
  std::vector<Expected> wants;
  for (const Command& command : commands) wants.push_back(model_.Apply(command, clock_.NowNs()));
  const std::vector<Outcome> gots = ledger_->SubmitGroup(commands);
  if (gots.size() != commands.size()) return "the group returned " + std::to_string(gots.size()) + " outcomes";
  for (size_t i = 0; i < commands.size(); ++i) {
    if (auto f = CheckOutcome(commands[i], wants[i], gots[i])) {
      return commands.size() == 1 ? *f : "command " + std::to_string(i) + " of the group: " + *f;
    }
  }
  if (ledger_->last_seq() != model_.last_seq()) {
    return "the log ends at seq " + std::to_string(ledger_->last_seq()) + ", the model's at " +
           std::to_string(model_.last_seq());
  }
  if (ledger_->last_seq() != before) {
    snapshots_.push_back({model_.last_seq(), model_.last_event_ns(), model_});
    // Invariant 5 within a session: what was acknowledged reads back from the store.
    if (auto f = CheckLog(before + 1)) return f;
  }
  return std::nullopt;
}

std::optional<std::string> World::Finish() {
  if (!ledger_) {
    if (auto f = Open()) return f;
  }
  if (auto f = CheckVerify()) return "at the end: " + *f;
  if (auto f = CheckLog(1)) return "at the end: " + *f;
  if (auto f = CheckLogInvariants()) return f;
  return CheckTimeTravel();
}

// ---- Running, shrinking, reporting ----

RunResult Replay(const std::vector<Action>& actions) {
  World world;
  RunResult result;
  for (size_t i = 0; i < actions.size(); ++i) {
    if (auto f = world.Step(actions[i])) {
      result.failure = Failure{i, *f};
      result.counters = world.counters();
      return result;
    }
  }
  if (auto f = world.Finish()) result.failure = Failure{actions.size(), *f};
  result.counters = world.counters();
  return result;
}

SeedResult RunSeed(uint64_t seed, int steps) {
  SeedResult out;
  out.seed = seed;
  World world;
  Generator generator(seed);
  for (int i = 0; i < steps; ++i) {
    out.actions.push_back(generator.Next(world));
    if (auto f = world.Step(out.actions.back())) {
      out.result.failure = Failure{out.actions.size() - 1, *f};
      out.result.counters = world.counters();
      return out;
    }
  }
  if (auto f = world.Finish()) out.result.failure = Failure{out.actions.size(), *f};
  out.result.counters = world.counters();
  return out;
}

std::vector<Action> Shrink(const std::vector<Action>& failing, int max_replays) {
  // Only the actions up to the failing step can matter.
  std::vector<Action> current = failing;
  int replays = 0;
  const auto fails = [&](const std::vector<Action>& candidate) {
    ++replays;
    return Replay(candidate).failure.has_value();
  };
  size_t chunks = 2;
  while (current.size() >= 2 && replays < max_replays) {
    const size_t chunk = (current.size() + chunks - 1) / chunks;
    bool reduced = false;
    for (size_t start = 0; start < current.size() && replays < max_replays; start += chunk) {
      std::vector<Action> complement(current.begin(), current.begin() + static_cast<long>(start));
      complement.insert(complement.end(), current.begin() + static_cast<long>(std::min(start + chunk, current.size())),
                        current.end());
      if (!complement.empty() && fails(complement)) {
        current = std::move(complement);
        chunks = std::max<size_t>(chunks - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      if (chunk == 1) break;
      chunks = std::min(chunks * 2, current.size());
    }
  }
  return current;
}

std::string Report(const SeedResult& failed, int max_replays) {
  std::ostringstream out;
  const Failure& f = *failed.result.failure;
  out << "simulation seed " << failed.seed << " failed after step " << f.step << " of " << failed.actions.size()
      << ":\n  " << f.message << "\n";
  std::vector<Action> prefix(failed.actions.begin(),
                             failed.actions.begin() + static_cast<long>(std::min(f.step + 1, failed.actions.size())));
  const std::vector<Action> shrunk = Shrink(prefix, max_replays);
  const RunResult again = Replay(shrunk);
  out << "shrunk to " << shrunk.size() << " action(s) (replay with TASKLEDGER_SIM_SEED=" << failed.seed << "):\n";
  for (size_t i = 0; i < shrunk.size(); ++i) out << "  " << i << ": " << Describe(shrunk[i]) << "\n";
  if (again.failure) out << "which fails after step " << again.failure->step << ":\n  " << again.failure->message << "\n";
  return out.str();
}

}  // namespace taskledger::sim
