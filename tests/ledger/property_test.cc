// A seeded property test: random multi-worker command sequences against a ledger on an
// in-memory Env, with the invariants of DESIGN §5 checked after every step.
//
// Seeds: TASKLEDGER_PROPERTY_SEEDS=N runs seeds 1..N (default 1000; 100 under sanitizers);
// TASKLEDGER_PROPERTY_SEED=S runs seed S alone (to replay a failure).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "ledger/ledger.h"
#include "ledger_fixture.h"
#include "projections/decide.h"
#include "projections/limits.h"
#include "projections/replay.h"
#include "test_util.h"

namespace taskledger {
namespace {

using test::kMs;
using test::kSec;
using test::kT0;
using test::MemLedger;

// Under a sanitizer every step runs an order of magnitude slower: fewer seeds by default
// keep the sanitizer suite inside CI's time (the plain build runs all 1000).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kDefaultSeeds = 100;
#else
constexpr int kDefaultSeeds = 1000;
#endif
constexpr int kWorkers = 4;
constexpr size_t kMaxTasks = 6;

uint64_t EnvNumber(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  return std::strtoull(v, nullptr, 10);
}

bool IsHolderEvent(EventKind k) {
  return k == EventKind::kHeartbeat || k == EventKind::kCompleted || k == EventKind::kFailed ||
         k == EventKind::kReleased || k == EventKind::kSignaled || k == EventKind::kExited;
}

bool IsHolderCommand(CommandKind k) {
  return k == CommandKind::kHeartbeat || k == CommandKind::kComplete || k == CommandKind::kFail ||
         k == CommandKind::kRelease || k == CommandKind::kSignal || k == CommandKind::kExit;
}

struct Held {
  std::string task;
  uint64_t token = 0;
};

class Simulation {
 public:
  explicit Simulation(uint64_t seed) : seed_(seed), rng_(seed * 0x9E3779B97F4A7C15ULL + 1) {}

  // Runs the whole sequence; stops at the first broken invariant (gtest fatal failure).
  void Run() {
    TL_ASSERT_OK(m_.Open());
    const int steps = 60 + static_cast<int>(rng_() % 91);
    for (step_ = 0; step_ < steps; ++step_) {
      SCOPED_TRACE("step " + std::to_string(step_) + " (" + last_action_ + ")");
      Step();
      if (::testing::Test::HasFailure()) return;
      CheckInvariants();
      if (::testing::Test::HasFailure()) return;
      if (step_ == steps / 2) {
        ExpectVerifyClean();
        if (::testing::Test::HasFailure()) return;
      }
    }
    CheckTimeTravel();
    if (::testing::Test::HasFailure()) return;
    CheckListNow();
    if (::testing::Test::HasFailure()) return;
    Result<VerifyReport> report = L().Verify();
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    for (const std::string& p : report->problems) ADD_FAILURE() << "verify: " << p;
    EXPECT_EQ(report->events, L().last_seq());
    if (seed_ % 25 == 0) {
      // Rebuilding the projection from the log changes nothing.
      std::map<std::string, TaskRecord> before;
      for (const std::string& id : ids_) before[id] = *m_.Task(id);
      Result<RebuildReport> rebuilt = L().Rebuild();
      ASSERT_TRUE(rebuilt.ok()) << rebuilt.status().ToString();
      for (const std::string& id : ids_) EXPECT_EQ(*m_.Task(id), before[id]) << id;
      report = L().Verify();
      ASSERT_TRUE(report.ok());
      for (const std::string& p : report->problems) ADD_FAILURE() << "verify after rebuild: " << p;
    }
  }

  uint64_t events() const { return checked_seq_; }

  void ExpectVerifyClean() {
    Result<VerifyReport> report = L().Verify();
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    for (const std::string& p : report->problems) ADD_FAILURE() << "verify: " << p;
  }

  // Time travel (by seq and by time, every task and one task) equals a replay of the
  // log's prefix evaluated at that point.
  void CheckTimeTravel() {
    const std::vector<Event> log = m_.Events();
    if (log.empty()) return;
    for (int probe = 0; probe < 4; ++probe) {
      const uint64_t n = 1 + Rand(log.size());
      const bool by_time = probe % 2 == 1;
      // By time: somewhere between two events (or on one), possibly long after the last.
      const int64_t t = by_time ? log[n - 1].time_ns + static_cast<int64_t>(Rand(3)) * static_cast<int64_t>(Rand(20 * kSec))
                                : log[n - 1].time_ns;
      Replay prefix;
      for (const Event& e : log) {
        if (by_time ? e.time_ns > t : e.seq > n) break;
        TL_ASSERT_OK(prefix.Apply(e));
      }
      SCOPED_TRACE(by_time ? "at time +" + std::to_string(t - kT0) : "at seq " + std::to_string(n));
      const PointInTime at = by_time ? PointInTime::AtTime(t) : PointInTime::AtSeq(n);
      Result<TasksSnapshot> all = L().TasksAt(at);
      ASSERT_TRUE(all.ok()) << all.status().ToString();
      ASSERT_EQ(all->seq, prefix.last_seq());
      ASSERT_EQ(all->at_ns, t);
      const std::vector<const TaskRecord*> tasks = prefix.Tasks();
      ASSERT_EQ(all->tasks.size(), tasks.size());
      for (size_t i = 0; i < tasks.size(); ++i) {
        const TaskView want = prefix.View(*tasks[i], t);
        ASSERT_EQ(all->tasks[i].settled, want.settled);
        ASSERT_EQ(all->tasks[i].status, want.status);
        Result<TaskView> one = L().TaskAt(tasks[i]->id, at);
        ASSERT_TRUE(one.ok()) << one.status().ToString();
        ASSERT_EQ(one->settled, want.settled) << tasks[i]->id;
        ASSERT_EQ(one->status, want.status) << tasks[i]->id;
        ASSERT_EQ(one->until_ns, want.until_ns) << tasks[i]->id;
        ASSERT_EQ(one->dependency, want.dependency) << tasks[i]->id;
      }
    }
  }
  // Every task now (TasksAt, and a walk of TaskPages in pages of a random size, sorted)
  // equals a replay of the whole log evaluated now.
  void CheckListNow() {
    Replay full;
    for (const Event& e : m_.Events()) TL_ASSERT_OK(full.Apply(e));
    Result<TasksSnapshot> all = L().TasksAt(PointInTime::Now());
    ASSERT_TRUE(all.ok()) << all.status().ToString();
    ASSERT_EQ(all->seq, full.last_seq());
    Result<std::unique_ptr<TaskPages>> pages = L().TaskPagesNow();
    ASSERT_TRUE(pages.ok()) << pages.status().ToString();
    ASSERT_EQ((*pages)->at_ns(), all->at_ns);
    const size_t page_views = 1 + Rand(8);
    SCOPED_TRACE("pages of " + std::to_string(page_views));
    std::vector<TaskView> walked;
    std::vector<TaskView> page;
    do {
      TL_ASSERT_OK((*pages)->Next(page_views, 1 << 20, &page));
      ASSERT_LE(page.size(), page_views);
      std::move(page.begin(), page.end(), std::back_inserter(walked));
    } while (!page.empty());
    SortInCreationOrder(&walked);
    const std::vector<const TaskRecord*> tasks = full.Tasks();
    ASSERT_EQ(all->tasks.size(), tasks.size());
    ASSERT_EQ(walked.size(), tasks.size());
    for (size_t i = 0; i < tasks.size(); ++i) {
      const TaskView want = full.View(*tasks[i], all->at_ns);
      for (const TaskView* got : {&all->tasks[i], &walked[i]}) {
        ASSERT_EQ(got->settled, want.settled) << tasks[i]->id;
        ASSERT_EQ(got->status, want.status) << tasks[i]->id;
        ASSERT_EQ(got->wait, want.wait) << tasks[i]->id;
        ASSERT_EQ(got->until_ns, want.until_ns) << tasks[i]->id;
        ASSERT_EQ(got->dependency, want.dependency) << tasks[i]->id;
      }
    }
  }

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

  // ---- command generation ----

  Command RandomCreate() {
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
  std::optional<Held> RandomHeld(int w) {
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

  std::optional<Command> RandomCommand() {
    const int w = static_cast<int>(Rand(kWorkers));
    const int r = static_cast<int>(Rand(100));
    if (r < 10 || ids_.empty()) {
      if (ids_.size() >= kMaxTasks && !ids_.empty()) return std::nullopt;
      return RandomCreate();
    }
    if (r < 30) {
      Command c;
      c.kind = CommandKind::kClaim;
      c.next = true;
      c.actor = Worker(w);
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
      if (!held) {
        Command c;
        c.kind = CommandKind::kClaim;
        c.next = true;
        c.actor = Worker(w);
        return c;
      }
      Command c;
      c.task_id = held->task;
      c.token = held->token;
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
    if (r < 85) {
      Command c;
      c.task_id = Pick(ids_);
      c.actor = "operator";
      const int o = static_cast<int>(Rand(100));
      c.kind = o < 30 ? CommandKind::kBlock : o < 60 ? CommandKind::kUnblock : o < 75 ? CommandKind::kCancel
                                                                               : CommandKind::kRevive;
      if (c.kind == CommandKind::kBlock || c.kind == CommandKind::kCancel) c.text = "operator";
      return c;
    }
    Command c;
    c.kind = CommandKind::kSweep;
    return c;
  }

  void AdvanceClock() {
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

  struct Expectation {
    bool known = false;
    Code code = Code::kOk;
    size_t events = 0;
    std::string task_id;                   // claim --next: which task
    std::set<std::string> swept;           // sweep: which tasks
  };

  Expectation Expect(const Command& c, int64_t now) {
    Expectation x;
    x.known = true;
    const TaskRecord* rec = c.task_id.empty() ? nullptr : replay_.Find(c.task_id);
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
    if (c.kind == CommandKind::kClaim && c.next) {
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
    if (rec == nullptr) {
      x.code = Code::kNotFound;
      return x;
    }
    TaskRecord settled = *rec;
    Settle(&settled, now);
    if (c.kind == CommandKind::kClaim) {
      const bool ready = replay_.View(*rec, now).status == TaskStatus::kReady;
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

  void Remember(const Command& c, const Outcome& out) {
    if (!out.status.ok()) return;
    if (c.kind == CommandKind::kClaim) {
      const int w = std::stoi(c.actor.substr(1));
      held_[w].push_back(Held{out.reply.task_id, out.reply.token});
    }
    if (c.kind == CommandKind::kCreate && !out.reply.existing) ids_.push_back(out.reply.task_id);
  }

  void SubmitOne(const Command& c) {
    const int64_t now = L().Now();
    const uint64_t seq = L().last_seq();
    const Expectation x = Expect(c, now);
    const Outcome out = L().Submit(c);
    last_action_ = std::string(c.next ? "claim --next" : "") + " kind " + std::to_string(static_cast<int>(c.kind)) +
                   " task " + c.task_id + " token " + std::to_string(c.token) + " by " + c.actor + " -> " +
                   out.status.ToString();
    // Every append is in the log, in order, exactly as replied.
    const std::vector<Event> appended = m_.Events(seq + 1);
    ASSERT_EQ(appended, out.reply.events);
    ASSERT_EQ(L().last_seq(), seq + out.reply.events.size());
    for (const Event& e : appended) ASSERT_EQ(e.time_ns, now);
    if (x.known) {
      ASSERT_EQ(out.status.code(), x.code) << out.status.ToString();
      if (c.kind == CommandKind::kClaim && c.next && x.code == Code::kOk) {
        ASSERT_EQ(out.reply.task_id, x.task_id) << "claim --next took the wrong task";
      }
      if (c.kind == CommandKind::kSweep) {
        std::set<std::string> swept;
        for (const Event& e : appended) {
          ASSERT_EQ(e.kind, EventKind::kLeaseExpired);
          swept.insert(e.task_id);
        }
        ASSERT_EQ(swept, x.swept);
      }
      ASSERT_EQ(out.reply.events.size(), x.events) << out.status.ToString();
      if (IsHolderCommand(c.kind) && x.code == Code::kRefused) {
        ASSERT_EQ(appended.at(0).kind, EventKind::kRejected);
        ASSERT_EQ(appended.at(0).token, c.token);
      }
    } else {
      // create: either a new task (one event), the idempotent original (none), or refused.
      if (out.status.ok()) {
        ASSERT_EQ(out.reply.events.size(), out.reply.existing ? 0u : 1u);
        if (out.reply.existing) {
          ASSERT_FALSE(c.spec.idempotency_key.empty());
          ASSERT_EQ(replay_.Find(out.reply.task_id)->spec.idempotency_key, c.spec.idempotency_key);
        }
      } else {
        ASSERT_TRUE(out.reply.events.empty());
        ASSERT_EQ(out.status.code(), Code::kRefused) << out.status.ToString();  // only a taken id
        ASSERT_NE(replay_.Find(c.task_id), nullptr);
      }
    }
    Remember(c, out);
  }

  void SubmitGroup() {
    std::vector<Command> commands;
    const size_t n = 2 + Rand(3);
    for (size_t i = 0; i < n; ++i) {
      std::optional<Command> c = RandomCommand();
      if (c) commands.push_back(*c);
    }
    if (Chance(40)) {  // the server's typical group: several workers asking for work at once
      for (int w = 0; w < 2; ++w) {
        Command c;
        c.kind = CommandKind::kClaim;
        c.next = true;
        c.actor = Worker(static_cast<int>(Rand(kWorkers)));
        commands.push_back(c);
      }
    }
    const uint64_t seq = L().last_seq();
    const std::vector<Outcome> outs = L().SubmitGroup(commands);
    ASSERT_EQ(outs.size(), commands.size());
    last_action_ = "group of " + std::to_string(commands.size());
    std::vector<Event> replied;
    std::map<std::string, int> claimed;
    for (size_t i = 0; i < outs.size(); ++i) {
      replied.insert(replied.end(), outs[i].reply.events.begin(), outs[i].reply.events.end());
      if (commands[i].kind == CommandKind::kClaim && outs[i].status.ok()) claimed[outs[i].reply.task_id]++;
      Remember(commands[i], outs[i]);
    }
    ASSERT_EQ(m_.Events(seq + 1), replied);
    // Two claims in one group never get the same task.
    for (const auto& [id, count] : claimed) ASSERT_EQ(count, 1) << "task " << id << " claimed twice in a group";
  }

  void Step() {
    const int r = static_cast<int>(Rand(100));
    if (r < 18) {
      AdvanceClock();
    } else if (r < 24) {
      SubmitGroup();
    } else {
      std::optional<Command> c = RandomCommand();
      if (!c) {
        AdvanceClock();
      } else {
        SubmitOne(*c);
      }
    }
    // Time passes a little between most commands.
    if (Chance(50)) m_.clock().Advance(static_cast<int64_t>(Rand(800)) * kMs);
  }

  // ---- the invariants ----

  void CheckNewEvents() {
    // Folds the events appended since the last check into the incremental replay, checking
    // the per-event invariants against the state just before each event.
    std::vector<Event> fresh = m_.Events(checked_seq_ + 1);
    for (const Event& e : fresh) {
      SCOPED_TRACE("seq " + std::to_string(e.seq) + " " + std::string(EventKindName(e.kind)) + " of " + e.task_id);
      ASSERT_EQ(e.seq, checked_seq_ + 1);                 // invariant 1: dense
      ASSERT_GE(e.time_ns, replay_.last_ns());            // invariant 1: time never decreases
      const TaskRecord* found = replay_.Find(e.task_id);
      const std::optional<TaskRecord> before_copy =
          found == nullptr ? std::nullopt : std::optional<TaskRecord>(*found);
      const TaskRecord* before = before_copy ? &*before_copy : nullptr;
      if (e.kind == EventKind::kClaimed) {
        ASSERT_EQ(e.token, e.seq);
        // Invariant 3: tokens strictly increase per task across claims.
        uint64_t& last = last_claim_token_[e.task_id];
        ASSERT_GT(e.token, last);
        last = e.token;
      }
      if (IsHolderEvent(e.kind)) {
        // Invariant 3: an accepted holder command carries the current token and arrives
        // before the deadline of the lease it carried (or is the completing attempt's exit).
        ASSERT_NE(before, nullptr);
        TaskRecord settled = *before;
        Settle(&settled, e.time_ns);
        const bool holds =
            settled.attempt_open && e.token == settled.last_token && e.time_ns < settled.deadline_ns;
        const bool completed_exit = e.kind == EventKind::kExited && e.token == settled.completed_token &&
                                    e.token != 0 && !settled.completed_exit_recorded;
        ASSERT_TRUE(holds || completed_exit)
            << "token " << e.token << " current " << settled.last_token << " open " << settled.attempt_open
            << " deadline " << settled.deadline_ns - e.time_ns << " ns ahead";
      }
      if (before != nullptr && before->terminal() && e.kind != EventKind::kRejected &&
          e.kind != EventKind::kRevived && e.kind != EventKind::kCancelled && e.kind != EventKind::kExited) {
        ADD_FAILURE() << "invariant 7: an event after a terminal state";
      }
      const Status applied = replay_.Apply(e);
      ASSERT_TRUE(applied.ok()) << applied.ToString();
      checked_seq_ = e.seq;
      coverage_["event " + std::string(EventKindName(e.kind))]++;
      const TaskRecord* after = replay_.Find(e.task_id);
      if (before != nullptr && after->last_end != AttemptEnd::kNone &&
          (after->last_end != before->last_end || after->last_end_ns != before->last_end_ns)) {
        coverage_["end " + std::string(AttemptEndName(after->last_end))]++;
      }
      if (after->dead() && !(before != nullptr && before->dead())) coverage_["became dead"]++;
    }
  }

  void CheckInvariants() {
    CheckNewEvents();
    if (::testing::Test::HasFatalFailure()) return;
    const int64_t now = L().Now();
    ASSERT_EQ(checked_seq_, L().last_seq());

    // Invariant 4: the materialized projection equals a full replay of the log.
    Replay full;
    Status failed = Status::Ok();
    const Status read = L().ForEachEvent(1, [&](const Event& e) {
      failed = full.Apply(e);
      return failed.ok();
    });
    ASSERT_TRUE(read.ok()) << read.ToString();
    ASSERT_TRUE(failed.ok()) << failed.ToString();
    ASSERT_EQ(full.last_seq(), L().last_seq());
    ASSERT_EQ(full.task_count(), ids_.size());
    for (const TaskRecord* expected : full.Tasks()) {
      SCOPED_TRACE("task " + expected->id);
      const std::optional<TaskRecord> stored = m_.Task(expected->id);
      ASSERT_TRUE(stored.has_value());
      ASSERT_EQ(*stored, *expected);
      ASSERT_EQ(*replay_.Find(expected->id), *expected);

      // The ledger's view now is the replay's view now.
      Result<TaskView> view = L().TaskAt(expected->id, PointInTime::Now());
      ASSERT_TRUE(view.ok()) << view.status().ToString();
      const TaskView want = full.View(*expected, now);
      ASSERT_EQ(view->status, want.status);
      ASSERT_EQ(view->until_ns, want.until_ns);

      // Invariant 2: at most one live lease. Of every token any worker ever got for this
      // task, at most one would be accepted by a heartbeat now; exactly one when running.
      int live = 0;
      std::set<uint64_t> tokens;
      for (const std::vector<Held>& history : held_) {
        for (const Held& h : history) {
          if (h.task == expected->id) tokens.insert(h.token);
        }
      }
      for (uint64_t token : tokens) {
        Command hb;
        hb.kind = CommandKind::kHeartbeat;
        hb.task_id = expected->id;
        hb.actor = "probe";
        hb.token = token;
        const Outcome probe = DecideOnTask(hb, *stored, DecisionContext{now, L().last_seq() + 1, {}});
        if (probe.status.ok()) ++live;
      }
      ASSERT_LE(live, 1);
      if (want.status == TaskStatus::kRunning) {
        ASSERT_EQ(live, 1);
        ASSERT_LT(now, want.until_ns);
      }
    }
  }

  std::map<std::string, uint64_t> coverage_;
  const uint64_t seed_;
  std::mt19937_64 rng_;
  MemLedger m_;
  std::vector<std::string> ids_;
  std::vector<Held> held_[kWorkers];
  std::map<std::string, uint64_t> last_claim_token_;
  Replay replay_;  // incremental: the log up to checked_seq_
  uint64_t checked_seq_ = 0;
  int step_ = 0;
  std::string last_action_ = "start";
};

TEST(PropertyTest, RandomMultiWorkerSequencesKeepTheInvariants) {
  const uint64_t only = EnvNumber("TASKLEDGER_PROPERTY_SEED", 0);
  const uint64_t seeds = EnvNumber("TASKLEDGER_PROPERTY_SEEDS", kDefaultSeeds);
  const uint64_t first = only != 0 ? only : 1;
  const uint64_t last = only != 0 ? only : seeds;
  const auto start = std::chrono::steady_clock::now();
  uint64_t events = 0;
  uint64_t ran = 0;
  std::map<std::string, uint64_t> coverage;
  for (uint64_t seed = first; seed <= last; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " (replay with TASKLEDGER_PROPERTY_SEED=" + std::to_string(seed) +
                 ")");
    Simulation sim(seed);
    sim.Run();
    events += sim.events();
    for (const auto& [what, count] : sim.coverage()) coverage[what] += count;
    ++ran;
    if (::testing::Test::HasFailure()) {
      ADD_FAILURE() << "stopped at the first failing seed: " << seed;
      break;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(ran, 1u);
  std::string summary;
  for (const auto& [what, count] : coverage) summary += " " + what + "=" + std::to_string(count);
  std::printf("[ property ] coverage:%s\n", summary.c_str());
  if (ran >= 100 && !::testing::Test::HasFailure()) {
    // Every kind of event, and every way an attempt ends by an event, was exercised.
    for (int k = 0; k < kEventKindCount; ++k) {
      EXPECT_GT(coverage["event " + std::string(EventKindName(static_cast<EventKind>(k)))], 0u)
          << EventKindName(static_cast<EventKind>(k));
    }
    for (const char* end : {"completed", "failed", "exited", "expired", "interrupted", "released", "blocked",
                            "cancelled"}) {
      EXPECT_GT(coverage[std::string("end ") + end], 0u) << end;
    }
    EXPECT_GT(coverage["became dead"], 0u);
  }
  RecordProperty("seeds", static_cast<int>(ran));
  std::printf("[ property ] %llu seeds, %llu events in %.1f s\n", static_cast<unsigned long long>(ran),
              static_cast<unsigned long long>(events), seconds);
}

}  // namespace
}  // namespace taskledger
