#include "tests/sim/sim.h"

#include <rocksdb/env.h>

#include <algorithm>
#include <set>
#include <sstream>

#include "projections/time_text.h"

namespace taskledger::sim {
namespace {

// An arbitrary, fixed start (2023-11-14T22:13:20Z): the simulation never reads a real clock.
constexpr int64_t kStartNs = 1'700'000'000 * kSecond;

// One in-memory Env for every world (each under its own path): a fresh Env per world makes
// the first open of each several times slower.
rocksdb::Env* SharedMemEnv() {
  static rocksdb::Env* const env = rocksdb::NewMemEnv(rocksdb::Env::Default());
  return env;
}
uint64_t next_world_id = 0;
// A full verify every this many steps (and at every reopen and at the end).
constexpr size_t kVerifyEvery = 25;
// Time-travel checks at the end of a run: this many past seqs and times.
constexpr size_t kTravelChecks = 6;

std::string Ns(int64_t ns) { return FormatDuration(ns); }

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

std::string Show(const ExpectedEvent& e) {
  std::ostringstream out;
  out << "seq " << e.seq << " " << EventKindName(e.kind) << " " << e.task_id << " token " << e.token;
  if (e.kind == EventKind::kLeaseExpired) out << " deadline +" << Ns(e.deadline_ns - kStartNs);
  return out.str();
}
std::string Show(const Event& e) {
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

std::optional<std::string> World::Finish() {
  if (!ledger_) {
    if (auto f = Open()) return f;
  }
  if (auto f = CheckVerify()) return "at the end: " + *f;
  if (auto f = CheckLog(1)) return "at the end: " + *f;
  if (auto f = CheckLogInvariants()) return f;
  return CheckTimeTravel();
}

// ---- Generator ----

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
