// Deterministic simulation of the ledger (STYLE "deterministic simulation testing").
//
// A seed drives everything: which simulated worker or operator acts, with which command,
// how the ManualClock moves (small steps, freezes past deadlines, landings exactly on a
// deadline, jumps backwards), and when the ledger is closed and reopened. Each action runs
// against a real Ledger on an in-memory RocksDB Env and against the reference model
// (model.h); after every step the two must agree on the outcome, the appended events and
// every task's status, and the ledger's own invariants (DESIGN §5) must hold.
//
// A failing action list is shrunk (delta debugging: retry with subsets of the actions)
// before it is printed with its seed.
//
// The parts: sim.cc runs worlds, action lists, shrinking and reports; sim_checks.cc holds
// World's checks; sim_generator.cc the Generator; model.h the reference model.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "ledger/clock.h"
#include "ledger/ledger.h"
#include "tests/sim/model.h"

namespace rocksdb {
class Env;
}

namespace taskledger::sim {

enum class Op : uint8_t {
  kAdvance,  // the clock moves forward by ns
  kRewind,   // the clock jumps backwards by ns
  kReopen,   // the ledger is closed and opened again
  kCommand,  // a command is submitted
  kGroup,    // several commands in one commit group (the server's group commit)
  // A command submitted to the ledger behind the model's back: never generated; the
  // harness's self-test uses it to prove that a divergence is caught and shrunk.
  kUnmodelled,
};

// How a holder command picks its token when it runs (so that a shrunk action list still
// means what it meant: "the token this worker got for this task").
enum class TokenPick : uint8_t {
  kAsWritten,  // command.token as is
  kLatest,     // the latest token the actor was granted for the task
  kPrevious,   // the one before it: a stale holder waking up
};

struct Action {
  Op op = Op::kCommand;
  int64_t ns = 0;
  Command command;
  TokenPick pick = TokenPick::kAsWritten;
  std::vector<Action> members;  // kGroup: kCommand actions, tokens picked when the group starts
};

std::string Describe(const Action& action);

struct Failure {
  size_t step = 0;  // index of the action after which the check failed (actions.size(): at the end)
  std::string message;
};

struct Counters {
  uint64_t steps = 0;
  uint64_t commands = 0;
  uint64_t accepted = 0;
  uint64_t refused = 0;
  uint64_t rejected_events = 0;
  uint64_t events = 0;
  uint64_t reopens = 0;
  uint64_t rewinds = 0;
  uint64_t verifies = 0;
  uint64_t travel_checks = 0;
  void Add(const Counters& o);
};

// One simulated world: an in-memory ledger, its clock, the model, and what each worker
// remembers (the tokens it was granted).
class World {
 public:
  World();
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  // Runs one action and checks everything it can; the failure message if anything disagrees.
  std::optional<std::string> Step(const Action& action);
  // The end-of-run checks: verify, the whole log, time travel, log-level invariants.
  std::optional<std::string> Finish();

  const Model& model() const { return model_; }
  int64_t clock_ns() { return clock_.NowNs(); }
  const std::map<std::pair<std::string, std::string>, std::vector<uint64_t>>& grants() const { return grants_; }
  const Counters& counters() const { return counters_; }

 private:
  std::optional<std::string> Open();
  Command Resolve(const Action& action) const;
  std::optional<std::string> RunGroup(const std::vector<Command>& commands);
  std::optional<std::string> CheckOutcome(const Command& command, const Expected& want, const Outcome& got);
  std::optional<std::string> CheckStatuses(const PointInTime& at, const Model& model, int64_t at_ns,
                                           const std::string& label);
  std::optional<std::string> CheckLog(uint64_t from_seq);
  std::optional<std::string> CheckVerify();
  std::optional<std::string> CheckLogInvariants();
  std::optional<std::string> CheckTimeTravel();

  const std::string path_;  // in the shared in-memory Env
  ManualClock clock_;
  std::unique_ptr<Ledger> ledger_;
  Model model_;
  std::vector<ExpectedEvent> log_;  // every event the model expects, by seq - 1
  // (actor, task) -> the tokens it was granted, oldest first.
  std::map<std::pair<std::string, std::string>, std::vector<uint64_t>> grants_;
  struct Snapshot {
    uint64_t seq;
    int64_t time_ns;
    Model model;
  };
  std::vector<Snapshot> snapshots_;  // after each step that appended events
  Counters counters_;
  size_t steps_ = 0;
};

// Chooses the next action from the world's state; deterministic for a seed.
class Generator {
 public:
  explicit Generator(uint64_t seed) : random_(seed) {}
  Action Next(World& world);

 private:
  int Pick(int n) { return static_cast<int>(random_() % static_cast<uint64_t>(n)); }
  int64_t Between(int64_t low, int64_t high) {
    return low + static_cast<int64_t>(random_() % static_cast<uint64_t>(high - low + 1));
  }
  bool Chance(int percent) { return Pick(100) < percent; }
  std::string Worker() { return "w" + std::to_string(Pick(5)); }
  std::string AnyTask(const Model& model);
  std::string ReadyTask(const Model& model, int64_t now_ns);

  Action Create(World& world);
  Action Holder(World& world);
  Action Clock(World& world);
  Action Invalid(World& world);

  std::mt19937_64 random_;
  int next_task_ = 0;
};

struct RunResult {
  std::optional<Failure> failure;
  Counters counters;
};

// Runs an action list in a fresh world.
RunResult Replay(const std::vector<Action>& actions);

struct SeedResult {
  uint64_t seed = 0;
  std::vector<Action> actions;
  RunResult result;
};
// Generates and runs `steps` actions for one seed, stopping at the first failure.
SeedResult RunSeed(uint64_t seed, int steps);

// Delta debugging: the smallest subset of `actions` found (within `max_replays`) that
// still fails.
std::vector<Action> Shrink(const std::vector<Action>& actions, int max_replays);

// A failure report: seed, message, the shrunk actions with the failure they produce.
std::string Report(const SeedResult& failed, int max_replays);

}  // namespace taskledger::sim
