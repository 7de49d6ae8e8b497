// A seeded simulation of the scale-out failover protocol (docs/scale-out.md): three
// servers compete for one partition's writer lease and append to the partition's log.
// Their clocks run at different rates. The network loses requests and answers, and servers
// are paused (SIGSTOP), sometimes between deciding to append and appending, and crash and
// restart.
//
// The servers follow the real rules (projections/writer_lease.h: DecideTakeover,
// LeaseWatch, HeldUntilNs, WriteLanded). The store is a reference model of what the
// cluster tests check that JetStream does: a register changed by compare-and-set on its
// revision, and a log whose appends are conditional on its last sequence.
//
// Checked for every seed:
//   - at any moment at most one server believes it holds the lease (on its own clock);
//   - every append a server counted as stored is in the log, at its place;
//   - terms never go down along the log: a writer that was replaced never appends after
//     its successor;
//   - once faults stop, the partition is written again within a few ttls.
//
//   TASKLEDGER_FAILOVER_SEEDS=N       how many seeds (default 500, about a second)
//   TASKLEDGER_FAILOVER_SEED=S        exactly one seed (to replay a reported failure)
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "projections/writer_lease.h"
#include "tests/support/env.h"

namespace taskledger {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kTtl = 2000 * kMs;
constexpr int64_t kPoll = 200 * kMs;          // a standby's look at the lease
constexpr int64_t kRenewEvery = kTtl / 3;     // a holder's renewal
constexpr int64_t kStep = 5 * kMs;            // the simulation's tick, in real time
constexpr int64_t kFaultyFor = 60'000 * kMs;  // faults happen in this first part of a run
constexpr int64_t kQuietFor = 10 * kTtl;      // then none, to see the partition written again
constexpr int kTries = 3;                     // tries of one request before "outcome unknown"

// The store: what JetStream does for the lease and the log, with a network that may lose
// a request (nothing happens) or its answer (it happened; the caller cannot tell).
class Store {
 public:
  enum class Answer { kOk, kMoved, kLost };

  explicit Store(std::mt19937_64* rng) : rng_(rng) {}
  void set_loss(double loss) { loss_ = loss; }

  Answer ReadLease(uint64_t* revision, WriterLeaseRecord* record) {
    if (Lost()) return Answer::kLost;
    *revision = revision_;
    *record = record_;
    return Lost() ? Answer::kLost : Answer::kOk;
  }
  Answer WriteLease(const WriterLeaseRecord& record, uint64_t expected, uint64_t* revision) {
    if (Lost()) return Answer::kLost;
    if (expected != revision_) return Lost() ? Answer::kLost : Answer::kMoved;
    record_ = record;
    revision_ = ++revisions_;
    *revision = revision_;
    return Lost() ? Answer::kLost : Answer::kOk;
  }
  Answer LastSeq(uint64_t* last) {
    if (Lost()) return Answer::kLost;
    *last = log_.size();
    return Lost() ? Answer::kLost : Answer::kOk;
  }
  Answer Append(const std::string& group, uint64_t after) {
    if (Lost()) return Answer::kLost;
    if (after != log_.size()) return Lost() ? Answer::kLost : Answer::kMoved;
    log_.push_back(group);
    return Lost() ? Answer::kLost : Answer::kOk;
  }
  Answer At(uint64_t seq, std::string* group) {
    if (Lost()) return Answer::kLost;
    *group = seq >= 1 && seq <= log_.size() ? log_[seq - 1] : std::string();
    return Lost() ? Answer::kLost : Answer::kOk;
  }
  const std::vector<std::string>& log() const { return log_; }

 private:
  bool Lost() { return std::bernoulli_distribution(loss_)(*rng_); }
  std::mt19937_64* rng_;
  double loss_ = 0;
  uint64_t revision_ = 0, revisions_ = 0;  // revision 0: never written
  WriterLeaseRecord record_;
  std::vector<std::string> log_;  // seq = index + 1
};

// A group names its writer's term, so that the log can be read for the order of terms.
std::string Group(uint64_t term, const std::string& server, int n) {
  return std::to_string(term) + " " + server + " " + std::to_string(n);
}
uint64_t TermOf(const std::string& group) { return std::stoull(group.substr(0, group.find(' '))); }

struct Server {
  std::string name;
  double rate = 1;     // local time = offset + real time * rate
  int64_t offset = 0;
  bool up = true;
  int64_t restart_at = 0, paused_until = 0;

  // The lease, as this server knows it.
  LeaseWatch watch;
  bool holding = false;
  WriterLeaseRecord record;
  uint64_t revision = 0;
  int64_t held_until = 0;  // local
  std::optional<int64_t> unanswered_since;  // local: the earliest renewal whose answer was lost
  int64_t next_lease_look = 0;  // local

  // The log, as this server knows it.
  bool caught_up = false;
  uint64_t last = 0;
  std::optional<std::pair<std::string, uint64_t>> pending;  // a group to append, after seq
  int groups = 0;

  int64_t Local(int64_t real) const { return offset + static_cast<int64_t>(static_cast<double>(real) * rate); }
  bool Believes(int64_t real) const { return up && holding && Local(real) < held_until; }
  // A new process with the same name, clock and nothing else.
  void Restart(int64_t local_now) {
    Server fresh;
    fresh.name = name;
    fresh.rate = rate;
    fresh.offset = offset;
    fresh.next_lease_look = local_now;
    *this = std::move(fresh);
  }
};

struct SimRun {
  int max_believers = 0;
  int64_t overlap_at = -1;
  std::vector<std::pair<uint64_t, std::string>> counted;  // appends a server counted as stored
  int counted_in_quiet = 0;
  // How often the paths that matter were taken, to show the faults reach them.
  int takeovers = 0, fenced_appends = 0, resolved_renewals = 0;
  std::vector<std::string> log;
};

// Mirrors WriterLeases::Write: tries until answered; "the revision moved" is resolved by
// reading the record back. Ok with the new revision, Moved (another server's), or Lost.
Store::Answer WriteResolved(Store& store, const WriterLeaseRecord& record, uint64_t expected, uint64_t* revision) {
  for (int i = 0; i < kTries; ++i) {
    Store::Answer answer = store.WriteLease(record, expected, revision);
    if (answer == Store::Answer::kOk) return answer;
    if (answer == Store::Answer::kMoved) {
      WriterLeaseRecord now;
      if (store.ReadLease(revision, &now) != Store::Answer::kOk) return Store::Answer::kLost;
      return WriteLanded(expected, record, *revision, now) ? Store::Answer::kOk : Store::Answer::kMoved;
    }
  }
  return Store::Answer::kLost;
}

// Mirrors JetStreamLog::Append: an answer lost is tried again; "moved" is resolved by
// comparing the bytes at after + 1.
Store::Answer AppendResolved(Store& store, const std::string& group, uint64_t after) {
  for (int i = 0; i < kTries; ++i) {
    Store::Answer answer = store.Append(group, after);
    if (answer == Store::Answer::kOk) return answer;
    if (answer == Store::Answer::kMoved) {
      std::string there;
      if (store.At(after + 1, &there) != Store::Answer::kOk) return Store::Answer::kLost;
      return there == group ? Store::Answer::kOk : Store::Answer::kMoved;
    }
  }
  return Store::Answer::kLost;
}

void LookAtLease(Server& s, Store& store, int64_t local, SimRun* run) {
  if (local < s.next_lease_look) return;
  if (s.holding) {
    s.next_lease_look = local + kRenewEvery;
    uint64_t revision = 0;
    switch (WriteResolved(store, s.record, s.revision, &revision)) {
      case Store::Answer::kOk:
        if (s.unanswered_since) ++run->resolved_renewals;
        s.revision = revision;
        s.held_until = HeldUntilNs(RenewalStartNs(local, s.unanswered_since), kTtl);
        s.unanswered_since.reset();
        break;
      case Store::Answer::kMoved:  // replaced: stop writing
        s.holding = false;
        s.pending.reset();
        s.unanswered_since.reset();
        break;
      case Store::Answer::kLost:  // unknown: the lease ends at the last held_until unless a later renewal lands
        if (!s.unanswered_since) s.unanswered_since = local;
        break;
    }
    return;
  }
  s.next_lease_look = local + kPoll;
  uint64_t revision = 0;
  WriterLeaseRecord current;
  if (store.ReadLease(&revision, &current) != Store::Answer::kOk) return;
  const TakeoverDecision decision = DecideTakeover(s.watch, revision, current, s.name, kTtl, local);
  if (!decision.take) return;
  uint64_t written = 0;
  if (WriteResolved(store, decision.record, decision.expected_revision, &written) != Store::Answer::kOk) return;
  if (decision.record.term > 1) ++run->takeovers;
  s.holding = true;
  s.record = decision.record;
  s.revision = written;
  s.held_until = HeldUntilNs(local, kTtl);
  s.caught_up = false;
  s.watch = LeaseWatch();
  s.next_lease_look = local + kRenewEvery;
}

void Write(Server& s, Store& store, std::mt19937_64& rng, int64_t real, bool faults, SimRun* run) {
  if (!s.pending) {
    if (!s.Believes(real)) return;
    if (!s.caught_up) {
      if (store.LastSeq(&s.last) != Store::Answer::kOk) return;
      s.caught_up = true;
    }
    s.pending.emplace(Group(s.record.term, s.name, s.groups++), s.last);
    // Paused between deciding and appending: the append goes out after the pause, unchecked.
    if (faults && std::bernoulli_distribution(0.002)(rng)) {
      s.paused_until = real + std::uniform_int_distribution<int64_t>(0, 3 * kTtl)(rng);
      return;
    }
  }
  const auto [group, after] = *s.pending;
  switch (AppendResolved(store, group, after)) {
    case Store::Answer::kOk:
      run->counted.emplace_back(after + 1, group);
      if (!faults) ++run->counted_in_quiet;
      s.last = after + 1;
      s.pending.reset();
      break;
    case Store::Answer::kMoved:  // fenced: catch up before anything else
      ++run->fenced_appends;
      s.caught_up = false;
      s.pending.reset();
      break;
    case Store::Answer::kLost:  // unknown: the same group again, after the same seq
      break;
  }
}

SimRun Simulate(uint64_t seed, double max_rate_difference) {
  std::mt19937_64 rng(seed);
  Store store(&rng);
  std::vector<Server> servers(3);
  std::uniform_real_distribution<double> rate(1 - max_rate_difference, 1 + max_rate_difference);
  for (size_t i = 0; i < servers.size(); ++i) {
    servers[i].name = "n" + std::to_string(i);
    servers[i].rate = rate(rng);
    servers[i].offset = std::uniform_int_distribution<int64_t>(0, 1'000'000 * kMs)(rng);
    servers[i].next_lease_look = servers[i].Local(0);
  }
  SimRun run;
  for (int64_t real = 0; real < kFaultyFor + kQuietFor; real += kStep) {
    const bool faults = real < kFaultyFor;
    store.set_loss(faults && (real / (5000 * kMs)) % 2 == 1 ? 0.1 : 0);  // bad network every other 5 s
    for (Server& s : servers) {
      if (!s.up) {
        if (real >= s.restart_at) {
          s.Restart(s.Local(real));
          s.up = true;
        }
        continue;
      }
      if (faults && std::bernoulli_distribution(0.0005)(rng)) {  // crash, back within 5 s
        s.up = false;
        s.restart_at = real + std::uniform_int_distribution<int64_t>(0, 5000 * kMs)(rng);
        continue;
      }
      if (faults && std::bernoulli_distribution(0.0005)(rng)) {  // SIGSTOP for up to 3 ttls
        s.paused_until = real + std::uniform_int_distribution<int64_t>(0, 3 * kTtl)(rng);
      }
      if (real < s.paused_until) continue;
      LookAtLease(s, store, s.Local(real), &run);
      Write(s, store, rng, real, faults, &run);
    }
    int believers = 0;
    for (const Server& s : servers) believers += s.Believes(real) ? 1 : 0;
    if (believers > run.max_believers) {
      run.max_believers = believers;
      if (believers > 1 && run.overlap_at < 0) run.overlap_at = real;
    }
  }
  run.log = store.log();
  return run;
}

std::vector<uint64_t> Seeds() {
  if (const uint64_t one = test::EnvNumber("TASKLEDGER_FAILOVER_SEED", 0); one != 0) return {one};
  std::vector<uint64_t> seeds;
  for (uint64_t seed = 1; seed <= test::EnvNumber("TASKLEDGER_FAILOVER_SEEDS", 500); ++seed) seeds.push_back(seed);
  return seeds;
}

TEST(FailoverSimTest, OneWriterAtATimeNoCountedAppendLostTermsInOrderAndWritingResumes) {
  int takeovers = 0, fenced_appends = 0, resolved_renewals = 0;
  for (uint64_t seed : Seeds()) {
    SCOPED_TRACE("TASKLEDGER_FAILOVER_SEED=" + std::to_string(seed));
    // Clock rates within 5% of each other's mean: inside what HeldUntilNs gives up.
    const SimRun run = Simulate(seed, 0.05);
    ASSERT_LE(run.max_believers, 1) << "two servers believed they held the lease at " << run.overlap_at / kMs
                                    << " ms";
    for (const auto& [seq, group] : run.counted) {
      ASSERT_LE(seq, run.log.size()) << group;
      ASSERT_EQ(run.log[seq - 1], group) << "at " << seq;
    }
    for (size_t i = 1; i < run.log.size(); ++i) {
      ASSERT_LE(TermOf(run.log[i - 1]), TermOf(run.log[i])) << "at " << i + 1 << ": " << run.log[i];
    }
    ASSERT_GT(run.counted_in_quiet, 0) << "nothing written after the faults stopped";
    takeovers += run.takeovers;
    fenced_appends += run.fenced_appends;
    resolved_renewals += run.resolved_renewals;
  }
  if (Seeds().size() >= 100) {  // the faults reach every path the checks are about
    EXPECT_GT(takeovers, 0);
    EXPECT_GT(fenced_appends, 0);
    EXPECT_GT(resolved_renewals, 0);
  }
  std::printf("failover simulation: %zu seeds, %d takeovers, %d fenced appends, %d renewals resolved after a lost answer\n",
              Seeds().size(), takeovers, fenced_appends, resolved_renewals);
}

// The check above is not vacuous: with clocks far apart (25%), the tenth HeldUntilNs gives
// up is not enough, and some seed sees two servers believe they hold the lease. Fencing
// still keeps the log in term order.
TEST(FailoverSimTest, ClocksFartherApartThanTheMarginLetTwoServersBelieve) {
  int overlapping = 0;
  for (uint64_t seed = 1; seed <= 100 && overlapping == 0; ++seed) {
    const SimRun run = Simulate(seed, 0.25);
    if (run.max_believers > 1) ++overlapping;
    for (size_t i = 1; i < run.log.size(); ++i) {
      ASSERT_LE(TermOf(run.log[i - 1]), TermOf(run.log[i])) << "seed " << seed << " at " << i + 1;
    }
  }
  EXPECT_GT(overlapping, 0);
}

}  // namespace
}  // namespace taskledger
