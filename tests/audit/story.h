// Hand-built logs with explicit times, for the audit tests: every event is written as the
// ledger would append it (dense seqs, a claim's token is its seq, normalized specs), so
// that Replay accepts the log and stories can be told of it at any moment.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "projections/event.h"
#include "projections/explain.h"
#include "projections/limits.h"
#include "projections/replay.h"
#include "tests/support/time.h"

namespace taskledger::audit_test {

using test::kMs;
using test::kSec;
using test::kT0;

class StoryLog {
 public:
  struct Who {
    std::string actor;
    uint32_t pid = 0;
    std::string host;
  };

  void Create(int64_t t, const std::string& id, const std::string& title, int64_t ttl_ns = 30 * kSec,
              std::vector<std::string> after = {}, uint32_t max_attempts = 3) {
    Event& e = Add(EventKind::kCreated, t, id, {"dispatcher", 0, ""});
    e.spec.title = title;
    e.spec.queue = kDefaultQueue;
    e.spec.lease_ttl_ns = ttl_ns;
    e.spec.after = std::move(after);
    e.spec.max_attempts = max_attempts;
    e.spec.backoff_initial_ns = kDefaultBackoffInitialNs;
    e.spec.backoff_max_ns = kDefaultBackoffMaxNs;
  }
  // Returns the claim's token.
  uint64_t Claim(int64_t t, const std::string& id, const Who& who, int64_t ttl_ns) {
    Event& e = Add(EventKind::kClaimed, t, id, who);
    e.token = e.seq;
    e.ttl_ns = ttl_ns;
    return e.token;
  }
  void Heartbeat(int64_t t, const std::string& id, uint64_t token, const Who& who, const std::string& note = "") {
    Event& e = Add(EventKind::kHeartbeat, t, id, who);
    e.token = token;
    e.text = note;
  }
  void Signal(int64_t t, const std::string& id, uint64_t token, const Who& who, const std::string& signal,
              int64_t grace_ns) {
    Event& e = Add(EventKind::kSignaled, t, id, who);
    e.token = token;
    e.signal = signal;
    e.grace_ns = grace_ns;
  }
  void ExitCode(int64_t t, const std::string& id, uint64_t token, const Who& who, int32_t code) {
    Event& e = Add(EventKind::kExited, t, id, who);
    e.token = token;
    e.exit_code = code;
  }
  void ExitSignal(int64_t t, const std::string& id, uint64_t token, const Who& who, const std::string& signal) {
    Event& e = Add(EventKind::kExited, t, id, who);
    e.token = token;
    e.signal = signal;
  }
  void Complete(int64_t t, const std::string& id, uint64_t token, const Who& who, const std::string& result) {
    Event& e = Add(EventKind::kCompleted, t, id, who);
    e.token = token;
    e.text = result;
  }
  void Fail(int64_t t, const std::string& id, uint64_t token, const Who& who, const std::string& error) {
    Event& e = Add(EventKind::kFailed, t, id, who);
    e.token = token;
    e.text = error;
  }
  void Release(int64_t t, const std::string& id, uint64_t token, const Who& who, const std::string& reason) {
    Event& e = Add(EventKind::kReleased, t, id, who);
    e.token = token;
    e.text = reason;
  }
  void Operator(EventKind kind, int64_t t, const std::string& id, const std::string& reason = "") {
    Event& e = Add(kind, t, id, {"operator", 0, ""});
    e.text = reason;
  }
  void LeaseExpired(int64_t t, const std::string& id, uint64_t token, int64_t deadline_ns) {
    Event& e = Add(EventKind::kLeaseExpired, t, id, {"sweeper", 0, ""});
    e.token = token;
    e.deadline_ns = deadline_ns;
  }
  void Rejected(int64_t t, const std::string& id, uint64_t token, const Who& who, HolderCommand command,
                uint64_t current_token, const std::string& reason, const std::string& note = "") {
    Event& e = Add(EventKind::kRejected, t, id, who);
    e.token = token;
    e.rejected_command = command;
    e.current_token = current_token;
    e.reason = reason;
    e.text = note;
  }

  // An imported fact with no equivalent (changes no state).
  void Annotated(int64_t t, const std::string& id, const std::string& source_kind, const std::string& source_id,
                 const std::string& payload) {
    Event& e = Add(EventKind::kAnnotated, t, id, {"board", 0, ""});
    e.source_kind = source_kind;
    e.source_id = source_id;
    e.text = payload;
  }

  const std::vector<Event>& events() const& { return events_; }
  std::vector<Event> events() && { return std::move(events_); }  // SigtermStory().events() stays valid
  // The last event, to give it what the builders above leave at defaults.
  Event& last() { return events_.back(); }

  // The log's events with time <= t, folded.
  Replay ReplayAt(int64_t t) const {
    Replay replay;
    for (const Event& e : events_) {
      if (e.time_ns > t) break;
      const Status s = replay.Apply(e);
      EXPECT_TRUE(s.ok()) << s.ToString();
    }
    return replay;
  }

  // What `explain ID --at t` gathers.
  ExplainInput Input(const std::string& id, int64_t t) const {
    const Replay replay = ReplayAt(t);
    ExplainInput input;
    input.at_ns = t;
    for (const Event& e : events_) {
      if (e.time_ns <= t && e.task_id == id) input.events.push_back(e);
    }
    const TaskRecord* record = replay.Find(id);
    EXPECT_NE(record, nullptr) << id;
    if (record == nullptr) return input;
    input.view = replay.View(*record, t);
    for (const std::string& dep : record->spec.after) {
      if (const TaskRecord* r = replay.Find(dep)) input.dependencies[dep] = replay.View(*r, t);
    }
    return input;
  }

  std::string ExplainText(const std::string& id, int64_t t) const {
    Result<Explanation> x = Explain(Input(id, t));
    EXPECT_TRUE(x.ok()) << x.status().ToString();
    return x.ok() ? RenderExplanation(*x) : "";
  }

 private:
  Event& Add(EventKind kind, int64_t t, const std::string& id, const Who& who) {
    Event e;
    e.seq = events_.size() + 1;
    e.time_ns = t;
    e.task_id = id;
    e.kind = kind;
    e.actor = who.actor;
    e.meta.pid = who.pid;
    e.meta.host = who.host;
    events_.push_back(std::move(e));
    return events_.back();
  }

  std::vector<Event> events_;
};

// DESIGN §7 story 1, the reported bug: w1 gets SIGTERM and hangs; its lease lapses within
// the grace, w2 runs etl, the dependent report proceeds, and the zombie's late heartbeat is
// refused.
inline void AddSigtermStory(StoryLog& log, int64_t t0) {
  const StoryLog::Who w1{"w1", 4242, "node-a"}, w2{"w2", 5151, "node-b"};
  log.Create(t0, "etl", "nightly ETL", 3 * kSec);
  log.Create(t0, "report", "daily report", 30 * kSec, {"etl"});
  const uint64_t t1 = log.Claim(t0 + 1 * kSec, "etl", w1, 3 * kSec);
  log.Heartbeat(t0 + 2 * kSec, "etl", t1, w1, "extracting");
  log.Signal(t0 + 3 * kSec, "etl", t1, w1, "SIGTERM", 1 * kSec);
  const uint64_t t2 = log.Claim(t0 + 4500 * kMs, "etl", w2, 3 * kSec);
  log.Rejected(t0 + 5 * kSec, "etl", t1, w1, HolderCommand::kHeartbeat, t2,
               "stale token (the current token is " + std::to_string(t2) + ")", "still here");
  log.Complete(t0 + 6 * kSec, "etl", t2, w2, "42 rows");
  log.ExitCode(t0 + 6 * kSec, "etl", t2, w2, 0);
  const uint64_t t3 = log.Claim(t0 + 6500 * kMs, "report", w2, 30 * kSec);
  log.Complete(t0 + 7 * kSec, "report", t3, w2, "sent");
  log.ExitCode(t0 + 7 * kSec, "report", t3, w2, 0);
}
inline StoryLog SigtermStory() {
  StoryLog log;
  AddSigtermStory(log, kT0);
  return log;
}

// Story 2: w1's supervisor is frozen (SIGSTOP) past its ttl; w2 re-claims; after SIGCONT
// w1's heartbeat, completion and exit record are refused; the task is completed once.
inline void AddSigstopStory(StoryLog& log, int64_t t0) {
  const StoryLog::Who w1{"w1", 100, "node-a"}, w2{"w2", 200, "node-b"};
  log.Create(t0, "build", "build the site", 10 * kSec);
  const uint64_t t1 = log.Claim(t0 + 1 * kSec, "build", w1, 10 * kSec);
  log.Heartbeat(t0 + 4 * kSec, "build", t1, w1);
  log.Heartbeat(t0 + 7 * kSec, "build", t1, w1);
  // Frozen from T0+8s; the lease lapses at T0+17s; the backoff runs to T0+18s.
  const uint64_t t2 = log.Claim(t0 + 20 * kSec, "build", w2, 10 * kSec);
  const std::string stale = "stale token (the current token is " + std::to_string(t2) + ")";
  log.Rejected(t0 + 25 * kSec, "build", t1, w1, HolderCommand::kHeartbeat, t2, stale);
  log.Rejected(t0 + 25100 * kMs, "build", t1, w1, HolderCommand::kComplete, t2, stale, "built");
  log.Rejected(t0 + 25200 * kMs, "build", t1, w1, HolderCommand::kExit, t2, stale);
  log.Heartbeat(t0 + 27 * kSec, "build", t2, w2);
  log.Complete(t0 + 30 * kSec, "build", t2, w2, "built");
  log.ExitCode(t0 + 30 * kSec, "build", t2, w2, 0);
}
inline StoryLog SigstopStory() {
  StoryLog log;
  AddSigstopStory(log, kT0);
  return log;
}

// Story 3: w1 is killed with SIGKILL after one heartbeat and never says a word again; the
// lease lapses at its deadline and a sweep observes it later.
inline void AddSigkillStory(StoryLog& log, int64_t t0) {
  const StoryLog::Who w1{"w1", 300, "node-c"};
  log.Create(t0, "job", "resize images", 10 * kSec);
  const uint64_t t1 = log.Claim(t0 + 1 * kSec, "job", w1, 10 * kSec);
  log.Heartbeat(t0 + 4 * kSec, "job", t1, w1, "1/3");
  // SIGKILL at T0+5s: nothing more from w1. The lease lapses at T0+14s.
  log.LeaseExpired(t0 + 16 * kSec, "job", t1, t0 + 14 * kSec);
}
inline StoryLog SigkillStory() {
  StoryLog log;
  AddSigkillStory(log, kT0);
  return log;
}

// The three stories one after the other in one log (story 2 from T0+10s, story 3 from
// T0+50s), as a ledger that lived through all of them would hold them.
inline StoryLog AllStories() {
  StoryLog log;
  AddSigtermStory(log, kT0);
  AddSigstopStory(log, kT0 + 10 * kSec);
  AddSigkillStory(log, kT0 + 50 * kSec);
  return log;
}

// A log holding every event kind, with client metadata, a payload spelled as a person
// writes it, and texts with quotes, newlines and non-ASCII: what an export must carry whole.
inline StoryLog EveryKindStory() {
  StoryLog log;
  const StoryLog::Who w1{"w1", 4242, "node-a"}, w2{"w2", 0, "node-b"};
  log.Create(kT0, "a", "every \"kind\" \u2713", 10 * kSec);
  log.last().spec.payload = "{\"b\": 1, \"a\": [1.50, 2e3]}";
  log.last().spec.priority = -3;
  log.last().spec.idempotency_key = "key-a";
  log.last().spec.max_runtime_ns = 1000 * kSec;
  log.last().meta.wall_time_ns = kT0 - 5 * kMs;
  log.Create(kT0 + 1 * kMs, "b", "after a", 10 * kSec, {"a"});
  uint64_t t = log.Claim(kT0 + 1 * kSec, "a", w1, 10 * kSec);
  log.Heartbeat(kT0 + 2 * kSec, "a", t, w1, "half \u2713 \"done\"\nnext");
  log.Signal(kT0 + 3 * kSec, "a", t, w1, "SIGTERM", 5 * kSec);
  log.ExitSignal(kT0 + 4 * kSec, "a", t, w1, "SIGTERM");  // interrupted
  t = log.Claim(kT0 + 5 * kSec, "a", w2, 10 * kSec);
  log.Release(kT0 + 6 * kSec, "a", t, w2, "going away");
  t = log.Claim(kT0 + 7 * kSec, "a", w1, 10 * kSec);
  log.Fail(kT0 + 8 * kSec, "a", t, w1, "disk full");  // failure 1: backoff to +9s
  t = log.Claim(kT0 + 10 * kSec, "a", w2, 2 * kSec);
  // The lease lapses at +12s (failure 2: backoff 2s to +14s); a sweep sees it at +13s.
  log.LeaseExpired(kT0 + 13 * kSec, "a", t, kT0 + 12 * kSec);
  log.Rejected(kT0 + 13500 * kMs, "a", t, w2, HolderCommand::kHeartbeat, t,
               "lease expired at 2023-11-14T22:13:32.000Z (1.5s ago)", "late");
  log.Operator(EventKind::kBlocked, kT0 + 14 * kSec, "a", "hold");
  log.Operator(EventKind::kUnblocked, kT0 + 15 * kSec, "a");
  t = log.Claim(kT0 + 16 * kSec, "a", w1, 10 * kSec);
  log.Complete(kT0 + 17 * kSec, "a", t, w1, "42 rows");
  log.ExitCode(kT0 + 17 * kSec, "a", t, w1, 0);
  log.Operator(EventKind::kCancelled, kT0 + 18 * kSec, "b", "not needed");
  log.Operator(EventKind::kRevived, kT0 + 19 * kSec, "b");
  // An annotation is accepted on a done task as on any other.
  log.Annotated(kT0 + 20 * kSec, "a", "claim_extended", "task_events:7", "{\"worker_pid\": 777, \"note\": \"\u2713\"}");
  return log;
}

}  // namespace taskledger::audit_test
