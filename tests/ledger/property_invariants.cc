// The property test's checks: the invariants of DESIGN §5 after every step, and at the end
// of a run time travel and the listing now, each against a replay of the log.
#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "ledger/ledger.h"
#include "ledger_fixture.h"
#include "projections/decide.h"
#include "projections/replay.h"
#include "property_simulation.h"
#include "test_util.h"

namespace taskledger::property {

using test::kSec;
using test::kT0;

void Simulation::ExpectVerifyClean() { test::ExpectVerifyClean(L()); }

void Simulation::CheckTimeTravel() {
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
      // The list (Replay::TakeViews, records moved into their views) equals each view
      // evaluated alone, field by field.
      ASSERT_EQ(all->tasks[i].settled, want.settled);
      ASSERT_EQ(all->tasks[i].status, want.status);
      ASSERT_EQ(all->tasks[i].wait, want.wait);
      ASSERT_EQ(all->tasks[i].until_ns, want.until_ns);
      ASSERT_EQ(all->tasks[i].dependency, want.dependency);
      ASSERT_EQ(all->tasks[i].dependency_status, want.dependency_status);
      Result<TaskView> one = L().TaskAt(tasks[i]->id, at);
      ASSERT_TRUE(one.ok()) << one.status().ToString();
      ASSERT_EQ(one->settled, want.settled) << tasks[i]->id;
      ASSERT_EQ(one->status, want.status) << tasks[i]->id;
      ASSERT_EQ(one->until_ns, want.until_ns) << tasks[i]->id;
      ASSERT_EQ(one->dependency, want.dependency) << tasks[i]->id;
    }
  }
}

void Simulation::CheckListNow() {
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

// ---- the invariants ----

// Folds the events appended since the last check into the incremental replay, checking
// the per-event invariants against the state just before each event.
void Simulation::CheckNewEvents() {
  std::vector<Event> fresh = m_.Events(checked_seq_ + 1);
  for (const Event& e : fresh) {
    SCOPED_TRACE("seq " + std::to_string(e.seq) + " " + std::string(EventKindName(e.kind)) + " of " + e.task_id);
    ASSERT_EQ(e.seq, checked_seq_ + 1);       // invariant 1: dense
    ASSERT_GE(e.time_ns, replay_.last_ns());  // invariant 1: time never decreases
    const TaskRecord* found = replay_.Find(e.task_id);
    const std::optional<TaskRecord> before_copy =
        found == nullptr ? std::nullopt : std::optional<TaskRecord>(*found);
    const TaskRecord* before = before_copy ? &*before_copy : nullptr;
    CheckEventAgainstBefore(e, before);
    if (::testing::Test::HasFatalFailure()) return;
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

// Invariants 3 and 7 of one event, against its task as it was just before the event.
void Simulation::CheckEventAgainstBefore(const Event& e, const TaskRecord* before) {
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
    const bool holds = settled.attempt_open && e.token == settled.last_token && e.time_ns < settled.deadline_ns;
    const bool completed_exit = e.kind == EventKind::kExited && e.token == settled.completed_token &&
                                e.token != 0 && !settled.completed_exit_recorded;
    ASSERT_TRUE(holds || completed_exit)
        << "token " << e.token << " current " << settled.last_token << " open " << settled.attempt_open
        << " deadline " << settled.deadline_ns - e.time_ns << " ns ahead";
  }
  if (before != nullptr && before->terminal() && e.kind != EventKind::kRejected && e.kind != EventKind::kAnnotated &&
      e.kind != EventKind::kRevived && e.kind != EventKind::kCancelled && e.kind != EventKind::kExited) {
    ADD_FAILURE() << "invariant 7: an event after a terminal state";
  }
}

void Simulation::CheckInvariants() {
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
    CheckAtMostOneLiveLease(*stored, want, now);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

// Invariant 2: at most one live lease. Of every token any worker ever got for this task,
// at most one would be accepted by a heartbeat now; exactly one when running.
void Simulation::CheckAtMostOneLiveLease(const TaskRecord& stored, const TaskView& want, int64_t now) {
  int live = 0;
  std::set<uint64_t> tokens;
  for (const std::vector<Held>& history : held_) {
    for (const Held& h : history) {
      if (h.task == stored.id) tokens.insert(h.token);
    }
  }
  for (uint64_t token : tokens) {
    Command hb;
    hb.kind = CommandKind::kHeartbeat;
    hb.task_id = stored.id;
    hb.actor = "probe";
    hb.token = token;
    const Outcome probe = DecideOnTask(hb, stored, DecisionContext{now, L().last_seq() + 1, {}});
    if (probe.status.ok()) ++live;
  }
  ASSERT_LE(live, 1);
  if (want.status == TaskStatus::kRunning) {
    ASSERT_EQ(live, 1);
    ASSERT_LT(now, want.until_ns);
  }
}

}  // namespace taskledger::property
