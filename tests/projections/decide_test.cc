// DecideOnTask and NormalizeSpec: what a command appends, and what it is refused for.
#include "projections/decide.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "projections/limits.h"
#include "test_util.h"

namespace taskledger {
namespace {

using namespace test;

constexpr CommandKind kHolderCommands[] = {CommandKind::kHeartbeat, CommandKind::kComplete, CommandKind::kFail,
                                           CommandKind::kRelease,   CommandKind::kSignal,   CommandKind::kExit};

HolderCommand HolderOf(CommandKind kind) {
  switch (kind) {
    case CommandKind::kHeartbeat: return HolderCommand::kHeartbeat;
    case CommandKind::kComplete: return HolderCommand::kComplete;
    case CommandKind::kFail: return HolderCommand::kFail;
    case CommandKind::kRelease: return HolderCommand::kRelease;
    case CommandKind::kSignal: return HolderCommand::kSignal;
    default: return HolderCommand::kExit;
  }
}

Command HolderCommandFor(CommandKind kind, const std::string& id, uint64_t token) {
  Command c;
  c.kind = kind;
  c.task_id = id;
  c.actor = "w1";
  c.token = token;
  c.text = "note";
  if (kind == CommandKind::kSignal) c.signal = "SIGTERM";
  if (kind == CommandKind::kExit) c.exit_code = 0;
  return c;
}

DecisionContext Context(int64_t now, uint64_t next_seq, DependencyLookup deps = {}) {
  return DecisionContext{now, next_seq, std::move(deps)};
}

// Asserts that `out` is a refusal carrying exactly one `rejected` event for `command`.
void ExpectOneRejected(const Outcome& out, const Command& command, uint64_t current_token, int64_t now,
                       uint64_t seq, const std::string& reason_part) {
  EXPECT_EQ(out.status.code(), Code::kRefused) << out.status.ToString();
  ASSERT_EQ(out.reply.events.size(), 1u);
  const Event& e = out.reply.events[0];
  EXPECT_EQ(e.kind, EventKind::kRejected);
  EXPECT_EQ(e.rejected_command, HolderOf(command.kind));
  EXPECT_EQ(e.token, command.token);
  EXPECT_EQ(e.current_token, current_token);
  EXPECT_EQ(e.seq, seq);
  EXPECT_EQ(e.time_ns, now);
  EXPECT_EQ(e.task_id, command.task_id);
  EXPECT_EQ(e.actor, command.actor);
  EXPECT_NE(e.reason.find(reason_part), std::string::npos) << e.reason;
  EXPECT_NE(out.status.message().find(reason_part), std::string::npos) << out.status.message();
}

TEST(DecideTest, StaleTokenHolderCommandsYieldExactlyOneRejectedEvent) {
  Fold f;
  const uint64_t stale = f.ClaimReleaseAndReclaim(kT0);
  ASSERT_NE(stale, 0u);
  const uint64_t current = f.token();
  for (CommandKind kind : kHolderCommands) {
    SCOPED_TRACE(std::string(HolderCommandName(HolderOf(kind))));
    const Command c = HolderCommandFor(kind, "a", stale);
    const Outcome out = DecideOnTask(c, f.record(), Context(kT0 + 2 * kSec, f.next_seq()));
    ExpectOneRejected(out, c, current, kT0 + 2 * kSec, f.next_seq(), "stale token");
    // The rejection is itself an event the rules accept, and it moves nothing but the count.
    TaskRecord r = f.record();
    TL_EXPECT_OK(ApplyEvent(&r, out.reply.events[0]));
    EXPECT_EQ(r.rejections, f.record().rejections + 1);
    EXPECT_EQ(OwnStatus(r, kT0 + 2 * kSec), TaskStatus::kRunning);
  }
}

TEST(DecideTest, ExpiredTokenHolderCommandsYieldExactlyOneRejectedEvent) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0, 10 * kSec));
  const uint64_t token = f.token();
  for (int64_t now : {kT0 + 10 * kSec, kT0 + 10 * kSec + 1, kT0 + kMin}) {
    for (CommandKind kind : kHolderCommands) {
      SCOPED_TRACE(std::string(HolderCommandName(HolderOf(kind))) + " at deadline+" + std::to_string(now - kT0 - 10 * kSec));
      const Command c = HolderCommandFor(kind, "a", token);
      const Outcome out = DecideOnTask(c, f.record(), Context(now, f.next_seq()));
      ExpectOneRejected(out, c, token, now, f.next_seq(), "lease expired");
      TaskRecord r = f.record();
      TL_EXPECT_OK(ApplyEvent(&r, out.reply.events[0]));
    }
  }
}

TEST(DecideTest, UnknownTokenAndEndedAttemptAreRejectedWithTheirReason) {
  Fold f;
  {
    const Command c = HolderCommandFor(CommandKind::kHeartbeat, "a", 99);
    ExpectOneRejected(DecideOnTask(c, f.record(), Context(kT0, 2)), c, 0, kT0, 2, "unknown token");
  }
  TL_ASSERT_OK(f.Claim(kT0));
  const uint64_t token = f.token();
  TL_ASSERT_OK(f.Fail(kT0 + kSec, token));
  const Command c = HolderCommandFor(CommandKind::kComplete, "a", token);
  ExpectOneRejected(DecideOnTask(c, f.record(), Context(kT0 + 2 * kSec, f.next_seq())), c, token, kT0 + 2 * kSec,
                    f.next_seq(), "attempt already ended");
}

TEST(DecideTest, CurrentTokenBeforeTheDeadlineIsAccepted) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0, 10 * kSec));
  const uint64_t token = f.token();
  const int64_t now = kT0 + 10 * kSec - 1;
  for (CommandKind kind : kHolderCommands) {
    SCOPED_TRACE(std::string(HolderCommandName(HolderOf(kind))));
    const Outcome out = DecideOnTask(HolderCommandFor(kind, "a", token), f.record(), Context(now, f.next_seq()));
    TL_EXPECT_OK(out.status);
    ASSERT_EQ(out.reply.events.size(), 1u);
    EXPECT_EQ(out.reply.events[0].seq, f.next_seq());
    EXPECT_EQ(out.reply.events[0].time_ns, now);
    EXPECT_EQ(out.reply.events[0].token, token);
    TaskRecord r = f.record();
    TL_EXPECT_OK(ApplyEvent(&r, out.reply.events[0]));
  }
}

TEST(DecideTest, CompleteWithExitAppendsCompletedThenExitedInOrder) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0));
  Command c = HolderCommandFor(CommandKind::kComplete, "a", f.token());
  c.with_exit = true;
  c.text = "result";
  const Outcome out = DecideOnTask(c, f.record(), Context(kT0 + kSec, f.next_seq()));
  TL_ASSERT_OK(out.status);
  ASSERT_EQ(out.reply.events.size(), 2u);
  EXPECT_EQ(out.reply.events[0].kind, EventKind::kCompleted);
  EXPECT_EQ(out.reply.events[0].text, "result");
  EXPECT_EQ(out.reply.events[1].kind, EventKind::kExited);
  EXPECT_EQ(out.reply.events[1].exit_code, 0);
  EXPECT_EQ(out.reply.events[1].seq, out.reply.events[0].seq + 1);
  TaskRecord r = f.record();
  TL_EXPECT_OK(ApplyEvent(&r, out.reply.events[0]));
  TL_EXPECT_OK(ApplyEvent(&r, out.reply.events[1]));
  EXPECT_TRUE(r.done);
  EXPECT_TRUE(r.completed_exit_recorded);
}

// A supervisor whose child completed the task itself sends `complete` with_exit without
// reading the task first: only its `exited` is new, and a second one is a zombie's.
TEST(DecideTest, CompleteWithExitAfterTheChildCompletedRecordsOnlyTheExit) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0, 10 * kSec));
  const uint64_t token = f.token();
  TL_ASSERT_OK(f.Complete(kT0 + kSec, token));
  Command c = HolderCommandFor(CommandKind::kComplete, "a", token);
  c.with_exit = true;
  const Outcome out = DecideOnTask(c, f.record(), Context(kT0 + kMin, f.next_seq()));
  TL_ASSERT_OK(out.status);
  ASSERT_EQ(out.reply.events.size(), 1u);
  EXPECT_EQ(out.reply.events[0].kind, EventKind::kExited);
  EXPECT_EQ(out.reply.events[0].exit_code, 0);
  EXPECT_EQ(out.reply.events[0].token, token);
  TL_ASSERT_OK(f.Apply(out.reply.events[0]));
  EXPECT_TRUE(f.record().completed_exit_recorded);
  ExpectOneRejected(DecideOnTask(c, f.record(), Context(kT0 + kMin, f.next_seq())), c, token, kT0 + kMin,
                    f.next_seq(), "attempt already ended");
  // A plain complete of a done task is still refused: only the completer's exit is news.
  Fold g;
  TL_ASSERT_OK(g.Claim(kT0, 10 * kSec));
  TL_ASSERT_OK(g.Complete(kT0 + kSec, g.token()));
  const Command plain = HolderCommandFor(CommandKind::kComplete, "a", g.token());
  EXPECT_TRUE(DecideOnTask(plain, g.record(), Context(kT0 + kMin, g.next_seq())).status.IsRefused());
}

TEST(DecideTest, ExitAfterCompletedIsAcceptedOnceEvenPastTheDeadline) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0, 10 * kSec));
  const uint64_t token = f.token();
  TL_ASSERT_OK(f.Complete(kT0 + kSec, token));
  Command exit = HolderCommandFor(CommandKind::kExit, "a", token);
  const Outcome out = DecideOnTask(exit, f.record(), Context(kT0 + kMin, f.next_seq()));
  TL_ASSERT_OK(out.status);
  ASSERT_EQ(out.reply.events.size(), 1u);
  EXPECT_EQ(out.reply.events[0].kind, EventKind::kExited);
  TL_ASSERT_OK(f.Apply(out.reply.events[0]));
  // A second exit record is a zombie's.
  ExpectOneRejected(DecideOnTask(exit, f.record(), Context(kT0 + kMin, f.next_seq())), exit, token, kT0 + kMin,
                    f.next_seq(), "attempt already ended");
}

TEST(DecideTest, SignalWithoutGraceTakesTheDefaultGrace) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0, kMin));
  Command c = HolderCommandFor(CommandKind::kSignal, "a", f.token());
  c.grace_ns = 0;
  const Outcome out = DecideOnTask(c, f.record(), Context(kT0 + kSec, f.next_seq()));
  TL_ASSERT_OK(out.status);
  ASSERT_EQ(out.reply.events.size(), 1u);
  EXPECT_EQ(out.reply.events[0].grace_ns, kDefaultGraceNs);
  EXPECT_EQ(out.reply.events[0].signal, "SIGTERM");
}

// An explicitly given zero grace is zero: the lease ends at the signal.
TEST(DecideTest, SignalWithAGivenZeroGraceRecordsZero) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0, kMin));
  Command c = HolderCommandFor(CommandKind::kSignal, "a", f.token());
  c.grace_ns = 0;
  c.has_grace = true;
  const Outcome out = DecideOnTask(c, f.record(), Context(kT0 + kSec, f.next_seq()));
  TL_ASSERT_OK(out.status);
  ASSERT_EQ(out.reply.events.size(), 1u);
  EXPECT_EQ(out.reply.events[0].grace_ns, 0);
  TL_ASSERT_OK(f.Apply(out.reply.events[0]));
  EXPECT_EQ(f.record().deadline_ns, kT0 + kSec);
  EXPECT_FALSE(f.record().attempt_open);  // a zero grace ends the attempt at the signal
  EXPECT_EQ(f.record().last_end, AttemptEnd::kInterrupted);
}

// A given non-zero grace is recorded as given, with or without the flag.
TEST(DecideTest, SignalWithAGivenGraceRecordsIt) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0, kMin));
  for (const bool has_grace : {false, true}) {
    Command c = HolderCommandFor(CommandKind::kSignal, "a", f.token());
    c.grace_ns = 3 * kSec;
    c.has_grace = has_grace;
    const Outcome out = DecideOnTask(c, f.record(), Context(kT0 + kSec, f.next_seq()));
    TL_ASSERT_OK(out.status);
    ASSERT_EQ(out.reply.events.size(), 1u);
    EXPECT_EQ(out.reply.events[0].grace_ns, 3 * kSec) << has_grace;
  }
}

Command ClaimCommand(const std::string& id, int64_t ttl = 0) {
  Command c;
  c.kind = CommandKind::kClaim;
  c.task_id = id;
  c.actor = "w9";
  c.ttl_ns = ttl;
  return c;
}

TEST(DecideTest, ClaimOfAReadyTaskYieldsAClaimWhoseTokenIsItsSeq) {
  Fold f;
  Outcome out = DecideOnTask(ClaimCommand("a"), f.record(), Context(kT0, 17));
  TL_ASSERT_OK(out.status);
  ASSERT_EQ(out.reply.events.size(), 1u);
  EXPECT_EQ(out.reply.events[0].kind, EventKind::kClaimed);
  EXPECT_EQ(out.reply.events[0].seq, 17u);
  EXPECT_EQ(out.reply.events[0].token, 17u);
  EXPECT_EQ(out.reply.events[0].ttl_ns, f.record().spec.lease_ttl_ns);  // the task's ttl by default
  EXPECT_EQ(out.reply.events[0].actor, "w9");
  out = DecideOnTask(ClaimCommand("a", 3 * kSec), f.record(), Context(kT0, 17));
  TL_ASSERT_OK(out.status);
  EXPECT_EQ(out.reply.events[0].ttl_ns, 3 * kSec);
}

void ExpectClaimRefused(const TaskRecord& record, int64_t now, const std::string& reason_part,
                        const DependencyLookup& deps = {}) {
  const Outcome out = DecideOnTask(ClaimCommand(record.id), record, Context(now, record.last_seq + 1, deps));
  EXPECT_EQ(out.status.code(), Code::kRefused) << out.status.ToString();
  EXPECT_TRUE(out.reply.events.empty());
  EXPECT_NE(out.status.message().find(reason_part), std::string::npos) << out.status.message();
}

TEST(DecideTest, ClaimOfARunningTaskIsRefusedWithNoEvents) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0));
  ExpectClaimRefused(f.record(), kT0 + kSec, "running, held by w1");
}

TEST(DecideTest, ClaimOfABlockedTaskIsRefusedWithNoEvents) {
  Fold f;
  TL_ASSERT_OK(f.Block(kT0, "broken input"));
  ExpectClaimRefused(f.record(), kT0 + kSec, "blocked by an operator: broken input");
  TaskSpec spec = TestSpec();
  spec.after = {"dep"};
  Fold g(spec, kT0, "b");
  ExpectClaimRefused(g.record(), kT0, "dependency dep is dead", Deps({{"dep", TaskStatus::kDead}}));
}

TEST(DecideTest, ClaimOfADoneTaskIsRefusedWithNoEvents) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0));
  TL_ASSERT_OK(f.Complete(kT0 + kSec, f.token()));
  ExpectClaimRefused(f.record(), kT0 + kMin, "done");
}

TEST(DecideTest, ClaimOfAWaitingTaskIsRefusedWithNoEvents) {
  {
    Fold f;  // backoff
    TL_ASSERT_OK(f.Claim(kT0));
    TL_ASSERT_OK(f.Fail(kT0 + kSec, f.token()));
    ExpectClaimRefused(f.record(), kT0 + 2 * kSec - 1, "retry backoff");
  }
  {
    TaskSpec spec = TestSpec();  // not-before
    spec.not_before_ns = kT0 + kMin;
    Fold f(spec);
    ExpectClaimRefused(f.record(), kT0, "not before");
  }
  {
    TaskSpec spec = TestSpec();  // dependency
    spec.after = {"dep"};
    Fold f(spec);
    ExpectClaimRefused(f.record(), kT0, "waiting for dependency dep", Deps({{"dep", TaskStatus::kRunning}}));
  }
}

TEST(DecideTest, ClaimOfADeadOrCancelledTaskIsRefusedWithNoEvents) {
  const Fold f = DeadAfterOneFailure();
  ASSERT_TRUE(f.record().dead());
  ExpectClaimRefused(f.record(), kT0 + kMin, "dead");
  Fold g;
  TL_ASSERT_OK(g.Cancel(kT0));
  ExpectClaimRefused(g.record(), kT0 + kMin, "cancelled");
}

TEST(DecideTest, ClaimOfALapsedLeaseIsAcceptedAfterItsBackoff) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0, 10 * kSec));
  ExpectClaimRefused(f.record(), kT0 + 10 * kSec, "retry backoff");  // lapsed: 1 s of backoff
  const Outcome out = DecideOnTask(ClaimCommand("a"), f.record(), Context(kT0 + 11 * kSec, f.next_seq()));
  TL_ASSERT_OK(out.status);
  TL_EXPECT_OK(f.Apply(out.reply.events[0]));
}

TEST(DecideTest, OperatorCommandsRefusedByStateAppendNothing) {
  auto op = [](CommandKind kind) {
    Command c;
    c.kind = kind;
    c.task_id = "a";
    c.actor = "operator";
    return c;
  };
  Fold f;
  for (CommandKind kind : {CommandKind::kUnblock, CommandKind::kRevive}) {
    const Outcome out = DecideOnTask(op(kind), f.record(), Context(kT0, f.next_seq()));
    EXPECT_EQ(out.status.code(), Code::kRefused);
    EXPECT_TRUE(out.reply.events.empty());
  }
  TL_ASSERT_OK(f.Claim(kT0));
  TL_ASSERT_OK(f.Complete(kT0 + kSec, f.token()));
  for (CommandKind kind : {CommandKind::kBlock, CommandKind::kUnblock, CommandKind::kCancel, CommandKind::kRevive}) {
    const Outcome out = DecideOnTask(op(kind), f.record(), Context(kT0 + 2 * kSec, f.next_seq()));
    EXPECT_EQ(out.status.code(), Code::kRefused);
    EXPECT_TRUE(out.reply.events.empty());
  }
  // Accepted ones yield one event the rules accept.
  Fold g;
  const Outcome block = DecideOnTask(op(CommandKind::kBlock), g.record(), Context(kT0, g.next_seq()));
  TL_ASSERT_OK(block.status);
  ASSERT_EQ(block.reply.events.size(), 1u);
  TL_EXPECT_OK(g.Apply(block.reply.events[0]));
}

TEST(DecideTest, CommandsThatDoNotActOnOneTaskAreInternalErrors) {
  Fold f;
  Command c;
  c.kind = CommandKind::kCreate;
  EXPECT_EQ(DecideOnTask(c, f.record(), Context(kT0, 2)).status.code(), Code::kInternal);
  c.kind = CommandKind::kSweep;
  EXPECT_EQ(DecideOnTask(c, f.record(), Context(kT0, 2)).status.code(), Code::kInternal);
}

// ---- NormalizeSpec ----

TEST(NormalizeSpecTest, FillsTheDefaults) {
  TaskSpec spec;
  spec.title = "t";
  TL_ASSERT_OK(NormalizeSpec(&spec));
  EXPECT_EQ(spec.queue, kDefaultQueue);
  EXPECT_EQ(spec.lease_ttl_ns, kDefaultLeaseTtlNs);
  EXPECT_EQ(spec.max_attempts, kDefaultMaxAttempts);
  EXPECT_EQ(spec.backoff_initial_ns, kDefaultBackoffInitialNs);
  EXPECT_EQ(spec.backoff_max_ns, kDefaultBackoffMaxNs);
  EXPECT_EQ(spec.max_runtime_ns, 0);
  EXPECT_EQ(spec.not_before_ns, 0);
  EXPECT_EQ(spec.lease_ttl_ns, 30 * kSec);
  EXPECT_EQ(spec.max_attempts, 3u);
  EXPECT_EQ(spec.backoff_initial_ns, kSec);
  EXPECT_EQ(spec.backoff_max_ns, 5 * kMin);
  // Normalizing twice changes nothing.
  TaskSpec again = spec;
  TL_ASSERT_OK(NormalizeSpec(&again));
  EXPECT_EQ(again, spec);
}

TEST(NormalizeSpecTest, KeepsExplicitValues) {
  TaskSpec spec;
  spec.title = "t";
  spec.payload = R"({"x": [1, 2, 3]})";
  spec.queue = "gpu";
  spec.priority = -4;
  spec.lease_ttl_ns = 5 * kSec;
  spec.max_attempts = 7;
  spec.max_runtime_ns = kMin;
  spec.not_before_ns = kT0;
  spec.idempotency_key = "req-1";
  spec.backoff_initial_ns = 2 * kSec;
  spec.backoff_max_ns = 20 * kSec;
  TaskSpec normalized = spec;
  TL_ASSERT_OK(NormalizeSpec(&normalized));
  EXPECT_EQ(normalized, spec);
}

TEST(NormalizeSpecTest, AnInitialBackoffLongerThanTheDefaultMaxRaisesTheMax) {
  TaskSpec spec;
  spec.backoff_initial_ns = 10 * kMin;
  TL_ASSERT_OK(NormalizeSpec(&spec));
  EXPECT_EQ(spec.backoff_max_ns, 10 * kMin);
}

Status Normalize(TaskSpec spec) { return NormalizeSpec(&spec); }

// Bytes as C escapes, for failure messages.
std::string Escaped(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

TEST(NormalizeSpecTest, PayloadAtTheLimitIsAcceptedAndOverItIsRefused) {
  TaskSpec spec;
  spec.payload = "\"" + std::string(kMaxPayloadBytes - 2, 'x') + "\"";
  ASSERT_EQ(spec.payload.size(), kMaxPayloadBytes);
  TL_EXPECT_OK(Normalize(spec));
  spec.payload = "\"" + std::string(kMaxPayloadBytes - 1, 'x') + "\"";
  const Status s = Normalize(spec);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("payload"), std::string::npos) << s.message();
}

TEST(NormalizeSpecTest, RefusesAPayloadThatIsNotJson) {
  for (const char* payload : {"{", "{\"a\":}", "nope", "[1,2", "{'a': 1}", "{} {}"}) {
    TaskSpec spec;
    spec.payload = payload;
    const Status s = Normalize(spec);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << payload;
    EXPECT_NE(s.message().find("JSON"), std::string::npos) << s.message();
  }
  for (const char* payload : {"{}", "[]", "1", "\"s\"", "null", R"({"a": {"b": [true, null]}})"}) {
    TaskSpec spec;
    spec.payload = payload;
    TL_EXPECT_OK(Normalize(spec));
  }
}

TEST(NormalizeSpecTest, RefusesNegativeAndOverlongDurations) {
  const auto with = [](auto set) {
    TaskSpec spec;
    set(spec);
    return Normalize(spec);
  };
  TL_EXPECT_CODE(with([](TaskSpec& s) { s.lease_ttl_ns = -1; }), Code::kInvalidArgument);
  TL_EXPECT_CODE(with([](TaskSpec& s) { s.max_runtime_ns = -kSec; }), Code::kInvalidArgument);
  TL_EXPECT_CODE(with([](TaskSpec& s) { s.backoff_initial_ns = -1; }), Code::kInvalidArgument);
  TL_EXPECT_CODE(with([](TaskSpec& s) { s.backoff_max_ns = -1; }), Code::kInvalidArgument);
  TL_EXPECT_CODE(with([](TaskSpec& s) { s.not_before_ns = -1; }), Code::kInvalidArgument);
  TL_EXPECT_CODE(with([](TaskSpec& s) { s.lease_ttl_ns = kMaxDurationNs + 1; }), Code::kInvalidArgument);
  TL_EXPECT_CODE(with([](TaskSpec& s) { s.max_runtime_ns = INT64_MAX; }), Code::kInvalidArgument);
  TL_EXPECT_CODE(with([](TaskSpec& s) { s.max_attempts = kMaxAttemptsLimit + 1; }), Code::kInvalidArgument);
  TL_EXPECT_CODE(with([](TaskSpec& s) {
                   s.backoff_initial_ns = 10 * kSec;
                   s.backoff_max_ns = kSec;
                 }),
                 Code::kInvalidArgument);
  TL_EXPECT_OK(with([](TaskSpec& s) { s.lease_ttl_ns = kMaxDurationNs; }));
}

TEST(NormalizeSpecTest, RefusesBadNames) {
  const std::vector<std::string> bad = {
      std::string(kMaxIdBytes + 1, 'q'), "has space", "tab\there", std::string("nul\0x", 5), "bell\x07",
      "del\x7f", "caf\xc3\xa9", ""};
  for (size_t i = 0; i < bad.size(); ++i) {
    SCOPED_TRACE("bad name #" + std::to_string(i));
    if (!bad[i].empty()) {  // an empty queue means the default
      TaskSpec spec;
      spec.queue = bad[i];
      TL_EXPECT_CODE(Normalize(spec), Code::kInvalidArgument);
      spec = TaskSpec();
      spec.idempotency_key = bad[i];
      TL_EXPECT_CODE(Normalize(spec), Code::kInvalidArgument);
    }
    TaskSpec spec;
    spec.after = {bad[i]};
    TL_EXPECT_CODE(Normalize(spec), Code::kInvalidArgument);
    TL_EXPECT_CODE(ValidateName("task id", bad[i]), Code::kInvalidArgument);
  }
  TL_EXPECT_OK(ValidateName("task id", std::string(kMaxIdBytes, 'q')));
  TL_EXPECT_OK(ValidateName("task id", "build/step-1.2_x:y@z"));
  const Status s = ValidateName("queue", std::string(200, 'q'));
  EXPECT_NE(s.message().find("queue is 200 bytes; the limit is 128"), std::string::npos) << s.message();
}

TEST(NormalizeSpecTest, RefusesTooManyDependencies) {
  TaskSpec spec;
  for (size_t i = 0; i <= kMaxDependencies; ++i) spec.after.push_back("d" + std::to_string(i));
  TL_EXPECT_CODE(Normalize(spec), Code::kInvalidArgument);
  spec.after.pop_back();
  TL_EXPECT_OK(Normalize(spec));
}

TEST(NormalizeSpecTest, RefusesABadTitle) {
  TaskSpec spec;
  spec.title = std::string(kMaxTextBytes + 1, 't');
  TL_EXPECT_CODE(Normalize(spec), Code::kInvalidArgument);
  spec.title = "bad \xff utf-8";
  TL_EXPECT_CODE(Normalize(spec), Code::kInvalidArgument);
  spec.title = "escape \x1b[31m";
  TL_EXPECT_CODE(Normalize(spec), Code::kInvalidArgument);
  spec.title = "multi\nline\tand caf\xc3\xa9 \xe2\x9c\x93";
  TL_EXPECT_OK(Normalize(spec));
}

TEST(ValidateTextTest, BoundsAndEncoding) {
  TL_EXPECT_OK(ValidateText("note", ""));
  TL_EXPECT_OK(ValidateText("note", std::string(kMaxTextBytes, 'n')));
  TL_EXPECT_CODE(ValidateText("note", std::string(kMaxTextBytes + 1, 'n')), Code::kInvalidArgument);
  TL_EXPECT_CODE(ValidateText("note", "truncated \xe2\x9c"), Code::kInvalidArgument);
  TL_EXPECT_CODE(ValidateText("note", "lone continuation \x80"), Code::kInvalidArgument);
}

TEST(ValidateTextTest, AcceptedTextIsValidUtf8ThatEveryJsonLineCanCarry) {
  // decide.cc: "Text must be valid UTF-8 so every report and JSON line can carry it."
  // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8; a JSON
  // writer (nlohmann::json::dump, used for --json) throws on them.
  const std::vector<std::string> not_utf8 = {
      "overlong slash \xc0\xaf", "overlong NUL \xc0\x80", "overlong 3-byte \xe0\x80\xaf",
      "surrogate \xed\xa0\x80", "past U+10FFFF \xf4\x90\x80\x80", "F5 lead \xf5\x80\x80\x80"};
  for (const std::string& text : not_utf8) {
    bool json_ok = true;
    try {
      (void)nlohmann::json(text).dump();
    } catch (const nlohmann::json::exception&) {
      json_ok = false;
    }
    EXPECT_FALSE(json_ok) << "the JSON writer accepts " << Escaped(text);
    EXPECT_EQ(ValidateText("note", text).code(), Code::kInvalidArgument) << "accepted as UTF-8: " << Escaped(text);
  }
  // Real UTF-8 of every length is fine for both.
  for (const std::string text : {"caf\xc3\xa9", "\xe2\x9c\x93 done", "\xf0\x9f\x9a\x80 launch", "\xf4\x8f\xbf\xbf"}) {
    TL_EXPECT_OK(ValidateText("note", text));
    EXPECT_NO_THROW((void)nlohmann::json(text).dump()) << Escaped(text);
  }
}

TEST(NotClaimableReasonTest, NamesWhatHoldsTheTaskBack) {
  Fold f;
  TL_ASSERT_OK(f.Claim(kT0, 10 * kSec, "w-zombie"));
  const std::string running = NotClaimableReason(f.View(kT0));
  EXPECT_NE(running.find("w-zombie"), std::string::npos) << running;
  EXPECT_NE(running.find("token " + std::to_string(f.token())), std::string::npos) << running;
  EXPECT_NE(running.find("2023-11-14T22:13:30.000Z"), std::string::npos) << running;  // the deadline
}

}  // namespace
}  // namespace taskledger
