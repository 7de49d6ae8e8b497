// The seeded property test's simulation (property_test.cc): random multi-worker command
// sequences against a ledger on an in-memory Env, with the invariants of DESIGN §5 checked
// after every step. Its parts:
//   property_test.cc        running a seed: steps, submitting, the test itself
//   property_commands.cc    the random commands and clock moves, and the oracle (what the
//                           rules say a single command does, from the replay)
//   property_invariants.cc  the invariants, time travel and the listing now
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "ledger/ledger.h"
#include "ledger_fixture.h"
#include "projections/replay.h"

namespace taskledger::property {

inline constexpr int kWorkers = 4;
inline constexpr size_t kMaxTasks = 6;

// A token a worker was granted for a task.
struct Held {
  std::string task;
  uint64_t token = 0;
};

class Simulation {
 public:
  explicit Simulation(uint64_t seed) : seed_(seed), rng_(seed * 0x9E3779B97F4A7C15ULL + 1) {}

  // Runs the whole sequence; stops at the first broken invariant (gtest fatal failure).
  void Run();

  uint64_t events() const { return checked_seq_; }
  // How often each event kind and each attempt end occurred: the test only means something
  // if the random sequences reach every rule.
  const std::map<std::string, uint64_t>& coverage() const { return coverage_; }

 private:
  Ledger& L() { return m_.ledger(); }
  uint64_t Rand(uint64_t n) { return rng_() % n; }
  bool Chance(int percent) { return static_cast<int>(Rand(100)) < percent; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) { return v[Rand(v.size())]; }
  std::string Worker(int w) const { return "w" + std::to_string(w); }

  // ---- running (property_test.cc) ----
  void Step();
  void SubmitOne(const Command& c);
  void SubmitGroup();
  void Remember(const Command& c, const Outcome& out);
  // The end of a run: time travel, the listing now, verify, and (some seeds) a rebuild.
  void Finish();

  // ---- command generation (property_commands.cc) ----
  Command RandomCreate();
  std::optional<Held> RandomHeld(int w);
  std::optional<Command> RandomCommand();
  Command ClaimNext(int w);
  Command RandomHolderCommand(int w, const Held& held);
  Command RandomOperatorCommand();
  void AdvanceClock();

  // ---- the oracle (property_commands.cc) ----
  struct Expectation {
    bool known = false;
    Code code = Code::kOk;
    size_t events = 0;
    std::string task_id;          // claim --next: which task
    std::set<std::string> swept;  // sweep: which tasks
  };
  Expectation Expect(const Command& c, int64_t now);
  Expectation ExpectClaimNext(const Command& c, int64_t now);
  Expectation ExpectOnTask(const Command& c, const TaskRecord& rec, int64_t now);

  // ---- the invariants (property_invariants.cc) ----
  void ExpectVerifyClean();
  void CheckNewEvents();
  void CheckEventAgainstBefore(const Event& e, const TaskRecord* before);
  void CheckInvariants();
  void CheckAtMostOneLiveLease(const TaskRecord& stored, const TaskView& want, int64_t now);
  // Time travel (by seq and by time, every task and one task) equals a replay of the log's
  // prefix evaluated at that point.
  void CheckTimeTravel();
  // Every task now (TasksAt, and a walk of TaskPages in pages of a random size, sorted)
  // equals a replay of the whole log evaluated now.
  void CheckListNow();

  std::map<std::string, uint64_t> coverage_;
  const uint64_t seed_;
  std::mt19937_64 rng_;
  test::MemLedger m_;
  std::vector<std::string> ids_;
  std::vector<Held> held_[kWorkers];
  std::map<std::string, uint64_t> last_claim_token_;
  Replay replay_;  // incremental: the log up to checked_seq_
  uint64_t checked_seq_ = 0;
  int step_ = 0;
  std::string last_action_ = "start";
};

// Whether an event or command is one of the lease holder's.
bool IsHolderEvent(EventKind k);
bool IsHolderCommand(CommandKind k);

}  // namespace taskledger::property
