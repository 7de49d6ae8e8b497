// The deterministic simulation against the reference model (tests/sim/sim.h).
//
//   TASKLEDGER_SIM_SEEDS=N       how many seeds (default 300, well under a minute; 30 under sanitizers)
//   TASKLEDGER_SIM_FIRST_SEED=S  the first seed (default 1)
//   TASKLEDGER_SIM_SEED=S        exactly one seed (to replay a reported failure)
//   TASKLEDGER_SIM_STEPS=K       actions per seed (default 200)
// The long mode is TASKLEDGER_SIM_SEEDS=10000 (scripts/test-long.sh runs it).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>

#include "tests/sim/sim.h"
#include "tests/support/env.h"

namespace taskledger::sim {
namespace {

// Under a sanitizer the simulation runs an order of magnitude slower: fewer seeds by
// default keep it inside ctest's timeout there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr uint64_t kDefaultSeeds = 30;
#else
constexpr uint64_t kDefaultSeeds = 300;
#endif

using test::EnvNumber;

TEST(Simulation, EverySeedAgreesWithTheReferenceModelAndKeepsTheInvariants) {
  uint64_t first = EnvNumber("TASKLEDGER_SIM_FIRST_SEED", 1);
  uint64_t seeds = EnvNumber("TASKLEDGER_SIM_SEEDS", kDefaultSeeds);
  if (std::getenv("TASKLEDGER_SIM_SEED") != nullptr) {
    first = EnvNumber("TASKLEDGER_SIM_SEED", 1);
    seeds = 1;
  }
  const int steps = static_cast<int>(EnvNumber("TASKLEDGER_SIM_STEPS", 200));
  const auto started = std::chrono::steady_clock::now();
  Counters total;
  uint64_t failures = 0;
  for (uint64_t seed = first; seed < first + seeds; ++seed) {
    const SeedResult result = RunSeed(seed, steps);
    total.Add(result.result.counters);
    if (result.result.failure) {
      ++failures;
      ADD_FAILURE() << Report(result, 3000);
      if (failures >= 3) break;  // each report shrinks; three are plenty to go on
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "simulation: seeds " << seeds << " (from " << first << "), steps " << total.steps << ", commands "
            << total.commands << " (accepted " << total.accepted << ", refused " << total.refused
            << ", rejected events " << total.rejected_events << "), events " << total.events << ", reopens "
            << total.reopens << ", clock rewinds " << total.rewinds << ", verifies " << total.verifies
            << ", time-travel checks " << total.travel_checks << ", failing seeds " << failures << ", " << seconds
            << " s\n";
  EXPECT_EQ(failures, 0u);
  EXPECT_GT(total.accepted, 0u);
}

// The harness catches what it is built to catch: a write the model never saw, hidden in
// a run of ordinary actions, fails the run, and the failure shrinks to the few actions
// that matter.
TEST(Simulation, ADivergenceIsCaughtAndShrunk) {
  std::vector<Action> actions;
  Generator generator(42);
  World world;
  for (int i = 0; i < 80; ++i) {
    actions.push_back(generator.Next(world));
    ASSERT_FALSE(world.Step(actions.back()).has_value()) << Describe(actions.back());
  }
  ASSERT_FALSE(Replay(actions).failure.has_value());
  Action hidden;
  hidden.op = Op::kUnmodelled;
  hidden.command.kind = CommandKind::kCreate;
  hidden.command.task_id = "hidden";
  hidden.command.actor = "dispatcher";
  hidden.command.spec.title = "unseen";
  actions.insert(actions.begin() + 40, hidden);
  const RunResult failed = Replay(actions);
  ASSERT_TRUE(failed.failure.has_value());
  const std::vector<Action> shrunk = Shrink(actions, 500);
  EXPECT_LE(shrunk.size(), 2u);
  EXPECT_TRUE(std::any_of(shrunk.begin(), shrunk.end(), [](const Action& a) { return a.op == Op::kUnmodelled; }));
  EXPECT_TRUE(Replay(shrunk).failure.has_value());
}

}  // namespace
}  // namespace taskledger::sim
