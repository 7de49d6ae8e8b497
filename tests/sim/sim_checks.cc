// The simulation's checks: each command's outcome and appended events against the model,
// every task's status now and in the past (time travel), the whole log, verify, and the
// invariants of DESIGN §5 read straight off the log.
#include <algorithm>
#include <map>
#include <sstream>

#include "tests/sim/sim.h"
#include "tests/sim/sim_internal.h"

namespace taskledger::sim {
namespace {

// Time-travel checks at the end of a run: this many past seqs and times.
constexpr size_t kTravelChecks = 6;

// An appended event, or the model's expectation of one.
template <typename E>
std::string Show(const E& e) {
  std::ostringstream out;
  out << "seq " << e.seq << " " << EventKindName(e.kind) << " " << e.task_id << " token " << e.token;
  if (e.kind == EventKind::kLeaseExpired) out << " deadline +" << Ns(e.deadline_ns - kStartNs);
  return out.str();
}

// Compares one appended event with the model's expectation.
std::optional<std::string> SameEvent(const Event& got, const ExpectedEvent& want) {
  bool same = got.seq == want.seq && got.time_ns == want.time_ns && got.kind == want.kind &&
              got.task_id == want.task_id && got.token == want.token;
  if (want.kind == EventKind::kLeaseExpired) same = same && got.deadline_ns == want.deadline_ns;
  if (want.kind == EventKind::kRejected) same = same && got.current_token == want.current_token;
  if (same) return std::nullopt;
  return "event differs: ledger {" + Show(got) + " at +" + Ns(got.time_ns - kStartNs) + "} model {" + Show(want) +
         " at +" + Ns(want.time_ns - kStartNs) + "}";
}

}  // namespace

std::optional<std::string> World::CheckOutcome(const Command& command, const Expected& want, const Outcome& got) {
  ++counters_.commands;
  std::ostringstream why;
  if (got.status.code() != want.code) {
    why << "outcome: ledger " << CodeName(got.status.code()) << " (" << got.status.message() << "), model "
        << CodeName(want.code);
    return why.str();
  }
  if (got.reply.events.size() != want.events.size()) {
    why << "the ledger appended " << got.reply.events.size() << " event(s), the model " << want.events.size();
    for (const Event& e : got.reply.events) why << "\n    ledger: " << Show(e);
    for (const ExpectedEvent& e : want.events) why << "\n    model:  " << Show(e);
    return why.str();
  }
  for (size_t i = 0; i < want.events.size(); ++i) {
    if (auto f = SameEvent(got.reply.events[i], want.events[i])) return f;
  }
  if (want.code == Code::kOk) {
    ++counters_.accepted;
    const CommandReply& r = got.reply;
    if (r.task_id != want.task_id || r.token != want.token || r.deadline_ns != want.deadline_ns ||
        r.status != want.status || r.existing != want.existing) {
      why << "reply: ledger {task " << r.task_id << " token " << r.token << " status " << TaskStatusName(r.status)
          << " deadline +" << Ns(r.deadline_ns ? r.deadline_ns - kStartNs : 0) << " existing " << r.existing
          << "} model {task " << want.task_id << " token " << want.token << " status "
          << TaskStatusName(want.status) << " deadline +" << Ns(want.deadline_ns ? want.deadline_ns - kStartNs : 0)
          << " existing " << want.existing << "}";
      return why.str();
    }
    if (command.kind == CommandKind::kClaim) grants_[{command.actor, r.task_id}].push_back(r.token);
  } else {
    ++counters_.refused;
    if (!want.events.empty()) ++counters_.rejected_events;
  }
  counters_.events += want.events.size();
  log_.insert(log_.end(), want.events.begin(), want.events.end());
  return std::nullopt;
}

std::optional<std::string> World::CheckStatuses(const PointInTime& at, const Model& model, int64_t at_ns,
                                                const std::string& label) {
  Result<TasksSnapshot> snapshot = ledger_->TasksAt(at);
  if (!snapshot.ok()) return "tasks at " + label + ": " + snapshot.status().ToString();
  if (snapshot->at_ns != at_ns) {
    return "tasks at " + label + ": evaluated at +" + Ns(snapshot->at_ns - kStartNs) + ", the model at +" +
           Ns(at_ns - kStartNs);
  }
  const std::vector<std::string> order = model.CreationOrder();
  if (snapshot->tasks.size() != order.size()) {
    return "tasks at " + label + ": the ledger has " + std::to_string(snapshot->tasks.size()) + ", the model " +
           std::to_string(order.size());
  }
  for (size_t i = 0; i < order.size(); ++i) {
    const TaskView& view = snapshot->tasks[i];
    const std::string& id = order[i];
    if (view.settled.id != id) return "tasks at " + label + ": position " + std::to_string(i) + " is " + view.settled.id + ", the model's " + id;
    const TaskStatus want = model.StatusAt(id, at_ns);
    const Model::Task lapsed = Model::Lapsed(model.tasks().at(id), at_ns);
    const int64_t deadline = model.DeadlineAt(id, at_ns);
    const int64_t got_deadline = view.status == TaskStatus::kRunning ? view.until_ns : 0;
    if (view.status != want || got_deadline != deadline || view.settled.failures != lapsed.failures ||
        view.settled.last_token != lapsed.last_token) {
      std::ostringstream why;
      why << "task " << id << " at " << label << " (+" << Ns(at_ns - kStartNs) << "): ledger {"
          << TaskStatusName(view.status) << " failures " << view.settled.failures << " token "
          << view.settled.last_token << " deadline +" << Ns(got_deadline ? got_deadline - kStartNs : 0)
          << "} model {" << TaskStatusName(want) << " failures " << lapsed.failures << " token " << lapsed.last_token
          << " deadline +" << Ns(deadline ? deadline - kStartNs : 0) << "}";
      return why.str();
    }
  }
  return std::nullopt;
}

std::optional<std::string> World::CheckLog(uint64_t from_seq) {
  uint64_t next = from_seq;
  std::optional<std::string> problem;
  const Status read = ledger_->ForEachEvent(from_seq, [&](const Event& e) {
    if (e.seq != next) {
      problem = "the log skips from seq " + std::to_string(next) + " to " + std::to_string(e.seq);
      return false;
    }
    if (e.seq > log_.size()) {
      problem = "the log holds seq " + std::to_string(e.seq) + " the model never expected";
      return false;
    }
    problem = SameEvent(e, log_[e.seq - 1]);
    ++next;
    return !problem;
  });
  if (!read.ok()) return "reading the log: " + read.ToString();
  if (problem) return problem;
  if (next != log_.size() + 1) {
    return "the log ends at seq " + std::to_string(next - 1) + "; the model expects " + std::to_string(log_.size());
  }
  return std::nullopt;
}

std::optional<std::string> World::CheckVerify() {
  ++counters_.verifies;
  Result<VerifyReport> report = ledger_->Verify();
  if (!report.ok()) return "verify failed: " + report.status().ToString();
  if (!report->problems.empty()) return "verify: " + report->problems.front();
  if (report->events != model_.last_seq()) {
    return "verify counted " + std::to_string(report->events) + " events, the model " + std::to_string(model_.last_seq());
  }
  return std::nullopt;
}

// DESIGN §5 invariants 1, 3 and 7 read straight off the log, without any fold.
std::optional<std::string> World::CheckLogInvariants() {
  struct Seen {
    uint64_t token = 0;            // the latest claim's token
    uint64_t completed_token = 0;  // the completing token, once done
    bool done = false, cancelled = false, completer_exited = false;
  };
  std::map<std::string, Seen> tasks;
  uint64_t expected_seq = 1;
  int64_t last_ns = 0;
  std::optional<std::string> problem;
  const auto fail = [&](const Event& e, const std::string& what) {
    problem = "invariant: " + Show(e) + ": " + what;
    return false;
  };
  const Status read = ledger_->ForEachEvent(1, [&](const Event& e) {
    if (e.seq != expected_seq++) return fail(e, "seq is not dense");                        // 1
    if (e.time_ns < last_ns) return fail(e, "ledger time went backwards");                 // 1
    last_ns = e.time_ns;
    Seen& t = tasks[e.task_id];
    const bool terminal = t.done || t.cancelled;
    switch (e.kind) {
      case EventKind::kClaimed:
        if (e.token != e.seq || e.token <= t.token) return fail(e, "token does not increase"); // 3
        if (terminal) return fail(e, "claim after a terminal state");                         // 7
        t.token = e.token;
        break;
      case EventKind::kHeartbeat:
      case EventKind::kSignaled:
      case EventKind::kFailed:
      case EventKind::kReleased:
      case EventKind::kCompleted:
        if (e.token != t.token) return fail(e, "holder event without the current token");   // 3
        if (terminal) return fail(e, "holder event after a terminal state");                  // 7
        if (e.kind == EventKind::kCompleted) {
          t.done = true;
          t.completed_token = e.token;
        }
        break;
      case EventKind::kExited:
        if (t.done) {
          if (e.token != t.completed_token || t.completer_exited) return fail(e, "exit after done, not the completer's"); // 7
          t.completer_exited = true;
        } else if (e.token != t.token || t.cancelled) {
          return fail(e, "exit without the current token");                                 // 3, 7
        }
        break;
      case EventKind::kCancelled:
        if (t.done || t.cancelled) return fail(e, "cancel after a terminal state");          // 7
        t.cancelled = true;
        break;
      case EventKind::kRevived:
        t.cancelled = false;
        break;
      case EventKind::kBlocked:
      case EventKind::kUnblocked:
        if (terminal) return fail(e, "operator block after a terminal state");               // 7
        break;
      case EventKind::kLeaseExpired:
        if (terminal || e.token != t.token) return fail(e, "expiry marker of no current lease");
        break;
      case EventKind::kCreated:
      case EventKind::kRejected:  // the evidence of a zombie may follow anything
      case EventKind::kAnnotated:  // an imported fact: no state, may follow anything
        break;
    }
    return true;
  });
  if (!read.ok()) return "reading the log: " + read.ToString();
  return problem;
}

std::optional<std::string> World::CheckTimeTravel() {
  if (snapshots_.empty()) return std::nullopt;
  const size_t stride = std::max<size_t>(1, snapshots_.size() / kTravelChecks);
  for (size_t i = 0; i < snapshots_.size(); i += stride) {
    const Snapshot& s = snapshots_[i];
    ++counters_.travel_checks;
    if (auto f = CheckStatuses(PointInTime::AtSeq(s.seq), s.model, s.time_ns, "seq " + std::to_string(s.seq))) {
      return "time travel: " + *f;
    }
    // Between this step's time and the next step's: the state of this snapshot, at T.
    const int64_t next_ns = i + 1 < snapshots_.size() ? snapshots_[i + 1].time_ns : s.time_ns + 90 * kSecond;
    if (next_ns <= s.time_ns) continue;
    const int64_t t = s.time_ns + (next_ns - s.time_ns) / 2;
    if (auto f = CheckStatuses(PointInTime::AtTime(t), s.model, t, "time +" + Ns(t - kStartNs))) {
      return "time travel: " + *f;
    }
    for (const auto& [id, task] : s.model.tasks()) {
      Result<TaskView> view = ledger_->TaskAt(id, PointInTime::AtTime(t));
      if (!view.ok()) return "time travel: show " + id + ": " + view.status().ToString();
      if (view->status != s.model.StatusAt(id, t)) {
        return "time travel: show " + id + " at +" + Ns(t - kStartNs) + ": ledger " +
               std::string(TaskStatusName(view->status)) + ", model " +
               std::string(TaskStatusName(s.model.StatusAt(id, t)));
      }
      break;  // one single-task lookup per point is enough
    }
  }
  return std::nullopt;
}

}  // namespace taskledger::sim
