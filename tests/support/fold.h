// One task's events folded by hand: a fully specified spec, hand-built events, and Fold,
// which applies them with ApplyEvent as the ledger would (dense seqs, a claim's token is
// its seq). For the projection tests and the ledger tests that compare against a fold.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "projections/event.h"
#include "projections/limits.h"
#include "projections/status.h"
#include "projections/task.h"
#include "tests/support/time.h"

namespace taskledger::test {

// A fully specified spec (as NormalizeSpec would leave it), with explicit values so that
// every expectation can be computed by hand.
inline TaskSpec TestSpec() {
  TaskSpec spec;
  spec.title = "test task";
  spec.queue = kDefaultQueue;
  spec.lease_ttl_ns = 10 * kSec;
  spec.max_attempts = 3;
  spec.backoff_initial_ns = 1 * kSec;
  spec.backoff_max_ns = 300 * kSec;
  return spec;
}

inline Event MakeEvent(EventKind kind, uint64_t seq, int64_t t, const std::string& task_id = "a",
                       uint64_t token = 0) {
  Event e;
  e.kind = kind;
  e.seq = seq;
  e.time_ns = t;
  e.task_id = task_id;
  e.actor = "w1";
  e.token = token;
  return e;
}

// One task's events, folded with ApplyEvent. Seqs are assigned densely; a claim's token
// is its seq, as the ledger assigns it. Every method returns ApplyEvent's verdict.
class Fold {
 public:
  explicit Fold(TaskSpec spec = TestSpec(), int64_t t = kT0, std::string id = "a") : id_(std::move(id)) {
    Event e = MakeEvent(EventKind::kCreated, next_seq_, t, id_);
    e.actor = "dispatcher";
    e.spec = std::move(spec);
    created_ = ApplyEvent(&record_, e);
    if (created_.ok()) ++next_seq_;
  }

  const Status& created() const { return created_; }
  const TaskRecord& record() const { return record_; }
  TaskRecord& mutable_record() { return record_; }
  uint64_t next_seq() const { return next_seq_; }
  uint64_t token() const { return record_.last_token; }
  const std::string& id() const { return id_; }

  // Applies `e` with the next seq (unless e.seq is already set).
  Status Apply(Event e) {
    if (e.seq == 0) e.seq = next_seq_;
    if (e.task_id.empty()) e.task_id = id_;
    const Status s = ApplyEvent(&record_, e);
    if (s.ok()) next_seq_ = e.seq + 1;
    return s;
  }

  Status Claim(int64_t t, int64_t ttl = 10 * kSec, const std::string& worker = "w1") {
    Event e = Base(EventKind::kClaimed, t, 0);
    e.token = next_seq_;
    e.ttl_ns = ttl;
    e.actor = worker;
    return Apply(std::move(e));
  }
  Status Heartbeat(int64_t t, uint64_t token, const std::string& note = "") {
    Event e = Base(EventKind::kHeartbeat, t, token);
    e.text = note;
    return Apply(std::move(e));
  }
  Status Signal(int64_t t, uint64_t token, int64_t grace, const std::string& signal = "SIGTERM") {
    Event e = Base(EventKind::kSignaled, t, token);
    e.signal = signal;
    e.grace_ns = grace;
    return Apply(std::move(e));
  }
  Status ExitCode(int64_t t, uint64_t token, int32_t code) {
    Event e = Base(EventKind::kExited, t, token);
    e.exit_code = code;
    return Apply(std::move(e));
  }
  Status ExitSignal(int64_t t, uint64_t token, const std::string& signal) {
    Event e = Base(EventKind::kExited, t, token);
    e.signal = signal;
    return Apply(std::move(e));
  }
  Status Complete(int64_t t, uint64_t token, const std::string& result = "ok") {
    Event e = Base(EventKind::kCompleted, t, token);
    e.text = result;
    return Apply(std::move(e));
  }
  Status Fail(int64_t t, uint64_t token, const std::string& error = "boom") {
    Event e = Base(EventKind::kFailed, t, token);
    e.text = error;
    return Apply(std::move(e));
  }
  Status Release(int64_t t, uint64_t token) { return Apply(Base(EventKind::kReleased, t, token)); }
  Status Block(int64_t t, const std::string& reason = "hold on") {
    Event e = Base(EventKind::kBlocked, t, 0);
    e.actor = "operator";
    e.text = reason;
    return Apply(std::move(e));
  }
  Status Unblock(int64_t t) { return Operator(EventKind::kUnblocked, t); }
  Status Cancel(int64_t t) { return Operator(EventKind::kCancelled, t); }
  Status Revive(int64_t t) { return Operator(EventKind::kRevived, t); }
  Status LeaseExpired(int64_t t, uint64_t token, int64_t deadline) {
    Event e = Base(EventKind::kLeaseExpired, t, token);
    e.actor = "sweeper";
    e.deadline_ns = deadline;
    return Apply(std::move(e));
  }
  Status Rejected(int64_t t, uint64_t token, HolderCommand command = HolderCommand::kHeartbeat) {
    Event e = Base(EventKind::kRejected, t, token);
    e.actor = "w-old";
    e.rejected_command = command;
    e.current_token = record_.last_token;
    e.reason = "stale token";
    return Apply(std::move(e));
  }

  // A zombie in the making: w1 claims at `t` and releases a second later, and w2 claims at
  // once. Returns w1's token, now stale (0 if the rules refused a step); token() is w2's.
  uint64_t ClaimReleaseAndReclaim(int64_t t) {
    if (!Claim(t).ok()) return 0;
    const uint64_t stale = token();
    if (!Release(t + kSec, stale).ok() || !Claim(t + kSec, 10 * kSec, "w2").ok()) return 0;
    return stale;
  }

  TaskView View(int64_t t, const DependencyLookup& deps = {}) const { return Evaluate(record_, t, deps); }
  TaskStatus Own(int64_t t) const { return OwnStatus(record_, t); }
  TaskRecord Settled(int64_t t) const {
    TaskRecord r = record_;
    Settle(&r, t);
    return r;
  }

 private:
  Event Base(EventKind kind, int64_t t, uint64_t token) const {
    Event e = MakeEvent(kind, next_seq_, t, id_, token);
    return e;
  }
  Status Operator(EventKind kind, int64_t t) {
    Event e = Base(kind, t, 0);
    e.actor = "operator";
    return Apply(std::move(e));
  }

  std::string id_;
  TaskRecord record_;
  uint64_t next_seq_ = 1;
  Status created_;
};

// A task of one attempt, claimed at `t` and failed a second later: dead.
inline Fold DeadAfterOneFailure(int64_t t = kT0) {
  TaskSpec spec = TestSpec();
  spec.max_attempts = 1;
  Fold f(spec);
  if (f.Claim(t).ok()) (void)f.Fail(t + kSec, f.token());
  return f;
}

// A dependency lookup from a fixed map of statuses.
inline DependencyLookup Deps(std::initializer_list<std::pair<const char*, TaskStatus>> statuses) {
  std::map<std::string, TaskStatus> m;
  for (const auto& [id, s] : statuses) m.emplace(id, s);
  return [m](const std::string& id) -> std::optional<TaskStatus> {
    auto it = m.find(id);
    if (it == m.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace taskledger::test
