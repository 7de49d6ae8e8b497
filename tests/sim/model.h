// The reference model of the simulation: DESIGN §4 written a second time, naively and
// independently of projections/ (it shares only the plain value types: Command, Event
// kinds, statuses). It decides accept or refuse for each command, names the events an
// accepted (or rejected holder) command appends, and computes each task's status at any
// time T. Where it and the ledger disagree, DESIGN.md decides which one is wrong.
//
// Not thread-safe; a value type (the simulation snapshots it for time travel).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "projections/decide.h"
#include "projections/event.h"
#include "projections/status.h"
#include "projections/task.h"

namespace taskledger::sim {

inline constexpr int64_t kSecond = 1'000'000'000;
inline constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
// The defaults of DESIGN §3/§4 and of the Command contract (decide.h: 0 = the default).
inline constexpr int64_t kModelDefaultTtl = 30 * kSecond;
inline constexpr uint32_t kModelDefaultMaxAttempts = 3;
inline constexpr int64_t kModelDefaultBackoff = 1 * kSecond;
inline constexpr int64_t kModelDefaultBackoffMax = 300 * kSecond;
inline constexpr int64_t kModelDefaultGrace = 10 * kSecond;
inline constexpr int64_t kModelYear = 366LL * 24 * 3600 * kSecond;

// What the model expects one appended event to be.
struct ExpectedEvent {
  uint64_t seq = 0;
  int64_t time_ns = 0;
  EventKind kind = EventKind::kCreated;
  std::string task_id;
  uint64_t token = 0;           // claim: its seq; holder events and rejected: the token carried
  int64_t deadline_ns = 0;      // lease_expired only
  uint64_t current_token = 0;   // rejected only
};

// What the model expects of a command.
struct Expected {
  Code code = Code::kOk;
  std::string task_id;          // ok or rejected: the task
  uint64_t token = 0;           // ok: the task's current token after the command
  int64_t deadline_ns = 0;      // ok: the deadline if the task is running after it, else 0
  TaskStatus status = TaskStatus::kWaiting;  // ok: status right after
  bool existing = false;        // create: named by its idempotency key
  std::vector<ExpectedEvent> events;
};

class Model {
 public:
  struct Attempt {
    uint64_t token = 0;
    int64_t ttl_ns = 0;
    int64_t deadline_ns = 0;
    int64_t runtime_cap_ns = kNever;  // claim time + max runtime
    int64_t signal_cap_ns = kNever;   // earliest signal time + its grace
    bool signaled = false;
  };
  struct Task {
    std::string id;
    uint64_t created_seq = 0;
    std::string queue;
    int32_t priority = 0;
    int64_t ttl_ns = 0;
    uint32_t max_attempts = 0;
    int64_t max_runtime_ns = 0;
    int64_t not_before_ns = 0;
    int64_t backoff_initial_ns = 0;
    int64_t backoff_max_ns = 0;
    std::vector<std::string> after;
    bool done = false;
    bool cancelled = false;
    bool blocked = false;
    uint32_t failures = 0;
    uint64_t last_token = 0;
    std::optional<Attempt> attempt;  // open as of the task's last event (a lapse may be due)
    int64_t backoff_until_ns = 0;
    uint64_t completed_token = 0;
    bool completed_exit_recorded = false;
  };

  // Ledger time for a command: the clock, never before the last event.
  int64_t Now(int64_t clock_ns) const { return std::max(clock_ns, last_event_ns_); }
  uint64_t last_seq() const { return next_seq_ - 1; }
  int64_t last_event_ns() const { return last_event_ns_; }
  const std::map<std::string, Task>& tasks() const { return tasks_; }
  const Task* Find(const std::string& id) const {
    auto it = tasks_.find(id);
    return it == tasks_.end() ? nullptr : &it->second;
  }
  // Ids in creation order.
  std::vector<std::string> CreationOrder() const {
    std::vector<const Task*> all;
    for (const auto& [id, t] : tasks_) all.push_back(&t);
    std::sort(all.begin(), all.end(), [](const Task* a, const Task* b) { return a->created_seq < b->created_seq; });
    std::vector<std::string> out;
    for (const Task* t : all) out.push_back(t->id);
    return out;
  }

  // ---- Status at T (DESIGN §4 "Statuses at T" and "The lease rule") ----

  static int64_t Backoff(const Task& t) {
    if (t.failures == 0) return 0;
    int64_t backoff = t.backoff_initial_ns;
    for (uint32_t i = 1; i < t.failures; ++i) {
      if (backoff >= t.backoff_max_ns) break;
      backoff *= 2;
    }
    return std::min(backoff, t.backoff_max_ns);
  }

  // The lapse of a lease: an attempt whose deadline is <= T ended at its deadline; after a
  // signal it was interrupted (no failure, no backoff), else it failed.
  static Task Lapsed(Task t, int64_t at_ns) {
    if (t.attempt && t.attempt->deadline_ns <= at_ns) {
      const Attempt a = *t.attempt;
      t.attempt.reset();
      if (!a.signaled) Fail(&t, a.deadline_ns);
    }
    return t;
  }
  static bool Dead(const Task& t) { return !t.done && !t.cancelled && t.failures >= t.max_attempts; }
  static bool Terminal(const Task& t) { return t.done || t.cancelled || Dead(t); }

  // A task's status ignoring its dependencies.
  static TaskStatus OwnStatusAt(const Task& task, int64_t at_ns) {
    const Task t = Lapsed(task, at_ns);
    if (t.done) return TaskStatus::kDone;
    if (t.cancelled) return TaskStatus::kCancelled;
    if (Dead(t)) return TaskStatus::kDead;
    if (t.blocked) return TaskStatus::kBlocked;
    if (t.attempt) return TaskStatus::kRunning;
    if (at_ns < t.not_before_ns || at_ns < t.backoff_until_ns) return TaskStatus::kWaiting;
    return TaskStatus::kReady;
  }

  TaskStatus StatusAt(const std::string& id, int64_t at_ns) const {
    const Task& t = tasks_.at(id);
    const TaskStatus own = OwnStatusAt(t, at_ns);
    if (own != TaskStatus::kReady && own != TaskStatus::kWaiting) return own;
    bool pending = false;
    for (const std::string& dep : t.after) {
      const TaskStatus s = OwnStatusAt(tasks_.at(dep), at_ns);
      if (s == TaskStatus::kDead || s == TaskStatus::kCancelled) return TaskStatus::kBlocked;
      if (s != TaskStatus::kDone) pending = true;
    }
    return pending ? TaskStatus::kWaiting : own;
  }
  // The deadline of a task running at T (0 if it is not running).
  int64_t DeadlineAt(const std::string& id, int64_t at_ns) const {
    if (StatusAt(id, at_ns) != TaskStatus::kRunning) return 0;
    return tasks_.at(id).attempt->deadline_ns;
  }

  // ---- Commands ----

  Expected Apply(const Command& c, int64_t clock_ns) {
    const int64_t now = Now(clock_ns);
    Expected out;
    if (!TextOk(c.text)) return Refuse(Code::kInvalidArgument);
    switch (c.kind) {
      case CommandKind::kCreate: out = Create(c, now); break;
      case CommandKind::kClaim: out = c.next ? ClaimNext(c, now) : Claim(c, now); break;
      case CommandKind::kHeartbeat:
      case CommandKind::kComplete:
      case CommandKind::kFail:
      case CommandKind::kRelease:
      case CommandKind::kSignal:
      case CommandKind::kExit: out = Holder(c, now); break;
      case CommandKind::kBlock:
      case CommandKind::kUnblock:
      case CommandKind::kCancel:
      case CommandKind::kRevive: out = Operator(c, now); break;
      case CommandKind::kSweep: out = Sweep(now); break;
    }
    if (!out.events.empty()) last_event_ns_ = now;
    return out;
  }

 private:
  static void Fail(Task* t, int64_t at_ns) {
    t->failures++;
    t->backoff_until_ns = at_ns + Backoff(*t);
  }
  static bool Printable(const std::string& s) {
    if (s.empty() || s.size() > 128) return false;
    for (unsigned char ch : s) {
      if (ch <= 0x20 || ch >= 0x7f) return false;
    }
    return true;
  }
  // Text for people: at most 64 KiB, no control characters but newline and tab. (The
  // simulation writes ASCII only, so UTF-8 validity is not modelled.)
  static bool TextOk(const std::string& s) {
    if (s.size() > 64 * 1024) return false;
    for (unsigned char ch : s) {
      if (ch < 0x20 && ch != '\n' && ch != '\t') return false;
    }
    return true;
  }
  static bool Duration(int64_t ns) { return ns >= 0 && ns <= kModelYear; }

  ExpectedEvent NewEvent(EventKind kind, const std::string& id, int64_t now) {
    ExpectedEvent e;
    e.seq = next_seq_++;
    e.time_ns = now;
    e.kind = kind;
    e.task_id = id;
    return e;
  }
  Expected Refuse(Code code) {
    Expected out;
    out.code = code;
    return out;
  }
  void Reply(const std::string& id, int64_t now, Expected* out) const {
    out->task_id = id;
    out->token = tasks_.at(id).last_token;
    out->status = StatusAt(id, now);
    out->deadline_ns = DeadlineAt(id, now);
  }

  // The fields of a spec that are checked on their own, before the defaults apply.
  static bool SpecFieldsOk(const TaskSpec& s) {
    return Duration(s.lease_ttl_ns) && Duration(s.max_runtime_ns) && Duration(s.backoff_initial_ns) &&
           Duration(s.backoff_max_ns) && s.not_before_ns >= 0 && s.max_attempts <= 1'000'000 &&
           (s.queue.empty() || Printable(s.queue)) && (s.idempotency_key.empty() || Printable(s.idempotency_key));
  }

  Expected Create(const Command& c, int64_t now) {
    const TaskSpec& s = c.spec;
    if (!SpecFieldsOk(s)) return Refuse(Code::kInvalidArgument);
    const int64_t backoff = s.backoff_initial_ns > 0 ? s.backoff_initial_ns : kModelDefaultBackoff;
    const int64_t backoff_max = s.backoff_max_ns > 0 ? s.backoff_max_ns : std::max(kModelDefaultBackoffMax, backoff);
    if (backoff_max < backoff) return Refuse(Code::kInvalidArgument);
    for (const std::string& dep : s.after) {
      if (!Printable(dep)) return Refuse(Code::kInvalidArgument);
    }
    if (!s.idempotency_key.empty()) {
      auto used = idempotency_.find(s.idempotency_key);
      if (used != idempotency_.end()) {
        Expected out;
        Reply(used->second, now, &out);
        out.existing = true;
        return out;
      }
    }
    if (!Printable(c.task_id)) return Refuse(Code::kInvalidArgument);
    if (tasks_.count(c.task_id) != 0) return Refuse(Code::kRefused);
    Task t;
    for (const std::string& dep : s.after) {
      if (tasks_.count(dep) == 0) return Refuse(Code::kNotFound);
      if (std::find(t.after.begin(), t.after.end(), dep) == t.after.end()) t.after.push_back(dep);
    }
    Expected out;
    out.events.push_back(NewEvent(EventKind::kCreated, c.task_id, now));
    t.id = c.task_id;
    t.created_seq = out.events.back().seq;
    t.queue = s.queue.empty() ? "default" : s.queue;
    t.priority = s.priority;
    t.ttl_ns = s.lease_ttl_ns > 0 ? s.lease_ttl_ns : kModelDefaultTtl;
    t.max_attempts = s.max_attempts > 0 ? s.max_attempts : kModelDefaultMaxAttempts;
    t.max_runtime_ns = s.max_runtime_ns;
    t.not_before_ns = s.not_before_ns;
    t.backoff_initial_ns = backoff;
    t.backoff_max_ns = backoff_max;
    tasks_[t.id] = t;
    if (!s.idempotency_key.empty()) idempotency_[s.idempotency_key] = t.id;
    Reply(t.id, now, &out);
    return out;
  }

  Expected ClaimTask(const Command& c, const std::string& id, int64_t now) {
    Task& t = tasks_.at(id);
    Expected out;
    out.events.push_back(NewEvent(EventKind::kClaimed, id, now));
    ExpectedEvent& e = out.events.back();
    e.token = e.seq;
    t = Lapsed(t, now);
    Attempt a;
    a.token = e.seq;
    a.ttl_ns = c.ttl_ns > 0 ? c.ttl_ns : t.ttl_ns;
    if (t.max_runtime_ns > 0) a.runtime_cap_ns = now + t.max_runtime_ns;
    a.deadline_ns = std::min(now + a.ttl_ns, a.runtime_cap_ns);
    t.attempt = a;
    t.last_token = a.token;
    Reply(id, now, &out);
    return out;
  }

  Expected Claim(const Command& c, int64_t now) {
    if (!Printable(c.actor) || !Duration(c.ttl_ns)) return Refuse(Code::kInvalidArgument);
    if (!Printable(c.task_id)) return Refuse(Code::kInvalidArgument);
    if (tasks_.count(c.task_id) == 0) return Refuse(Code::kNotFound);
    if (StatusAt(c.task_id, now) != TaskStatus::kReady) return Refuse(Code::kRefused);
    return ClaimTask(c, c.task_id, now);
  }

  // The best ready task of the queue: highest priority, then the earliest created.
  Expected ClaimNext(const Command& c, int64_t now) {
    const std::string queue = c.queue.empty() ? "default" : c.queue;
    if (!Printable(c.actor) || !Printable(queue) || !Duration(c.ttl_ns)) return Refuse(Code::kInvalidArgument);
    const Task* best = nullptr;
    for (const auto& [id, t] : tasks_) {
      if (t.queue != queue || StatusAt(id, now) != TaskStatus::kReady) continue;
      if (best == nullptr || t.priority > best->priority ||
          (t.priority == best->priority && t.created_seq < best->created_seq)) {
        best = &t;
      }
    }
    if (best == nullptr) return Refuse(Code::kNotFound);
    return ClaimTask(c, best->id, now);
  }

  // The fields of a holder command that are checked before its task is looked at.
  static bool HolderFieldsOk(const Command& c) {
    if (!Printable(c.actor)) return false;
    if (c.kind == CommandKind::kSignal && (!Printable(c.signal) || !Duration(c.grace_ns))) return false;
    if (c.kind == CommandKind::kExit && !c.exit_code && !Printable(c.signal)) return false;
    return Printable(c.task_id);
  }

  Expected Holder(const Command& c, int64_t now) {
    if (!HolderFieldsOk(c)) return Refuse(Code::kInvalidArgument);
    if (tasks_.count(c.task_id) == 0) return Refuse(Code::kNotFound);
    Task& t = tasks_.at(c.task_id);
    t = Lapsed(t, now);  // any event for the task observes a lapse; refusals below append one
    const bool holds = t.attempt && c.token == t.attempt->token && now < t.attempt->deadline_ns;
    // `exit`, or `complete` with_exit, after the same token's `completed`: only the exit.
    const bool completer_exit = (c.kind == CommandKind::kExit || (c.kind == CommandKind::kComplete && c.with_exit)) &&
                                c.token != 0 && c.token == t.completed_token && !t.completed_exit_recorded;
    Expected out;
    if (completer_exit) {
      out.events.push_back(NewEvent(EventKind::kExited, t.id, now));
      out.events.back().token = c.token;
      t.completed_exit_recorded = true;
      Reply(t.id, now, &out);
      return out;
    }
    if (!holds) {
      out.code = Code::kRefused;
      out.task_id = t.id;
      out.events.push_back(NewEvent(EventKind::kRejected, t.id, now));
      out.events.back().token = c.token;
      out.events.back().current_token = t.last_token;
      return out;
    }
    ApplyHolder(c, now, t, &out);
    out.events.back().token = c.token;
    Reply(t.id, now, &out);
    return out;
  }

  // A command of the holder of `t`'s live attempt: the event(s) it appends, what it changes.
  void ApplyHolder(const Command& c, int64_t now, Task& t, Expected* out) {
    Attempt& a = *t.attempt;
    switch (c.kind) {
      case CommandKind::kHeartbeat:
        out->events.push_back(NewEvent(EventKind::kHeartbeat, t.id, now));
        a.deadline_ns = std::min({now + a.ttl_ns, a.runtime_cap_ns, a.signal_cap_ns});
        break;
      case CommandKind::kComplete:
        out->events.push_back(NewEvent(EventKind::kCompleted, t.id, now));
        t.attempt.reset();
        t.done = true;
        t.completed_token = c.token;
        t.completed_exit_recorded = false;
        if (c.with_exit) {
          out->events.back().token = c.token;
          out->events.push_back(NewEvent(EventKind::kExited, t.id, now));
          t.completed_exit_recorded = true;
        }
        break;
      case CommandKind::kFail:
        out->events.push_back(NewEvent(EventKind::kFailed, t.id, now));
        t.attempt.reset();
        Fail(&t, now);
        break;
      case CommandKind::kRelease:
        out->events.push_back(NewEvent(EventKind::kReleased, t.id, now));
        t.attempt.reset();
        break;
      case CommandKind::kSignal: {
        out->events.push_back(NewEvent(EventKind::kSignaled, t.id, now));
        const int64_t grace = c.has_grace || c.grace_ns > 0 ? c.grace_ns : kModelDefaultGrace;
        a.signaled = true;
        a.signal_cap_ns = std::min(a.signal_cap_ns, now + grace);
        a.deadline_ns = std::min(a.deadline_ns, a.signal_cap_ns);
        // A given zero grace ends the lease at the signal itself: the attempt is over
        // (interrupted) there, and no lapse is left for a sweep to mark.
        if (a.deadline_ns <= now) t = Lapsed(t, now);
        break;
      }
      case CommandKind::kExit: {
        out->events.push_back(NewEvent(EventKind::kExited, t.id, now));
        const bool interrupted = a.signaled;
        t.attempt.reset();
        if (!interrupted) Fail(&t, now);
        break;
      }
      default:
        break;
    }
  }

  Expected Operator(const Command& c, int64_t now) {
    if (!Printable(c.actor)) return Refuse(Code::kInvalidArgument);
    if (!Printable(c.task_id)) return Refuse(Code::kInvalidArgument);
    if (tasks_.count(c.task_id) == 0) return Refuse(Code::kNotFound);
    Task t = Lapsed(tasks_.at(c.task_id), now);
    EventKind kind;
    switch (c.kind) {
      case CommandKind::kBlock:
        if (Terminal(t) || t.blocked) return Refuse(Code::kRefused);
        kind = EventKind::kBlocked;
        t.attempt.reset();
        t.blocked = true;
        break;
      case CommandKind::kUnblock:
        if (!t.blocked) return Refuse(Code::kRefused);
        kind = EventKind::kUnblocked;
        t.blocked = false;
        break;
      case CommandKind::kCancel:
        if (t.done || t.cancelled) return Refuse(Code::kRefused);
        kind = EventKind::kCancelled;
        t.attempt.reset();
        t.cancelled = true;
        t.blocked = false;
        break;
      case CommandKind::kRevive:
        if (!Dead(t) && !t.cancelled) return Refuse(Code::kRefused);
        kind = EventKind::kRevived;
        t.cancelled = false;
        t.failures = 0;
        t.backoff_until_ns = 0;
        break;
      default:
        return Refuse(Code::kInternal);
    }
    tasks_[t.id] = t;
    Expected out;
    out.events.push_back(NewEvent(kind, t.id, now));
    Reply(t.id, now, &out);
    return out;
  }

  // Markers for lapses no event has observed yet, in deadline order (then id).
  Expected Sweep(int64_t now) {
    std::vector<std::pair<int64_t, std::string>> lapsed;
    for (const auto& [id, t] : tasks_) {
      if (t.attempt && t.attempt->deadline_ns <= now) lapsed.emplace_back(t.attempt->deadline_ns, id);
    }
    std::sort(lapsed.begin(), lapsed.end());
    Expected out;
    for (const auto& [deadline, id] : lapsed) {
      Task& t = tasks_.at(id);
      out.events.push_back(NewEvent(EventKind::kLeaseExpired, id, now));
      out.events.back().token = t.last_token;
      out.events.back().deadline_ns = deadline;
      t = Lapsed(t, now);
    }
    return out;
  }

  std::map<std::string, Task> tasks_;
  std::map<std::string, std::string> idempotency_;
  uint64_t next_seq_ = 1;
  int64_t last_event_ns_ = 0;
};

}  // namespace taskledger::sim
