// ValidateCommand (projections/validate.h): the rules of a command that need no lookup,
// one row per rule, each command built from a valid one with one thing broken. The rows
// say which code and which words the one-line error must carry; ValidCommandsPass proves
// the starting points themselves are valid, so each failure is the rule it names.
#include "projections/validate.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "projections/decide.h"
#include "projections/limits.h"

namespace taskledger {
namespace {

Command Valid(CommandKind kind) {
  Command c;
  c.kind = kind;
  c.task_id = "a";
  c.actor = "w1";
  c.token = 3;
  switch (kind) {
    case CommandKind::kCreate:
      c.actor.clear();
      c.spec.title = "A";
      break;
    case CommandKind::kSignal:
      c.signal = "SIGTERM";
      break;
    case CommandKind::kExit:
      c.exit_code = 0;
      break;
    case CommandKind::kSweep:
      c.task_id.clear();
      break;
    default:
      break;
  }
  return c;
}

constexpr CommandKind kAllKinds[] = {
    CommandKind::kCreate, CommandKind::kClaim,   CommandKind::kHeartbeat, CommandKind::kComplete, CommandKind::kFail,
    CommandKind::kRelease, CommandKind::kSignal, CommandKind::kExit,      CommandKind::kBlock,    CommandKind::kUnblock,
    CommandKind::kCancel, CommandKind::kRevive,  CommandKind::kSweep};

TEST(ValidateCommandTest, ValidCommandsPass) {
  for (CommandKind kind : kAllKinds) {
    SCOPED_TRACE(static_cast<int>(kind));
    EXPECT_TRUE(ValidateCommand(Valid(kind)).ok()) << ValidateCommand(Valid(kind)).message();
  }
}

struct Case {
  const char* name;
  CommandKind kind;
  std::function<void(Command&)> breaks;
  const char* mentions;  // "" with ok: the edge that is still valid
  bool ok = false;
};

TEST(ValidateCommandTest, EachRuleRefusesWithInvalidArgumentNamingIt) {
  const std::vector<Case> cases = {
      // Exit codes: what waitpid can report, nothing else.
      {"exit code 0", CommandKind::kExit, [](Command& c) { c.exit_code = 0; }, "", true},
      {"exit code 255", CommandKind::kExit, [](Command& c) { c.exit_code = 255; }, "", true},
      {"exit code 256", CommandKind::kExit, [](Command& c) { c.exit_code = 256; }, "exit code must be between 0 and 255"},
      {"exit code 1000", CommandKind::kExit, [](Command& c) { c.exit_code = 1000; }, "exit code"},
      {"exit code -1", CommandKind::kExit, [](Command& c) { c.exit_code = -1; }, "exit code"},
      {"exit code int32 min", CommandKind::kExit, [](Command& c) { c.exit_code = INT32_MIN; }, "exit code"},
      {"exit by a signal", CommandKind::kExit, [](Command& c) { c.exit_code.reset(); c.signal = "SIGKILL"; }, "", true},
      {"exit with neither", CommandKind::kExit, [](Command& c) { c.exit_code.reset(); }, "needs a code or a signal"},
      {"exit by a signal with a space", CommandKind::kExit,
       [](Command& c) { c.exit_code.reset(); c.signal = "SIG KILL"; }, "signal"},
      // Durations: 0 is "the default" (or no grace), a year is the cap.
      {"claim ttl 0", CommandKind::kClaim, [](Command& c) { c.ttl_ns = 0; }, "", true},
      {"claim ttl a year", CommandKind::kClaim, [](Command& c) { c.ttl_ns = kMaxDurationNs; }, "", true},
      {"claim ttl negative", CommandKind::kClaim, [](Command& c) { c.ttl_ns = -1; }, "ttl"},
      {"claim ttl past a year", CommandKind::kClaim, [](Command& c) { c.ttl_ns = kMaxDurationNs + 1; }, "ttl"},
      {"claim --next ttl negative", CommandKind::kClaim,
       [](Command& c) { c.task_id.clear(); c.next = true; c.ttl_ns = -1; }, "ttl"},
      {"claim --next in a queue with a space", CommandKind::kClaim,
       [](Command& c) { c.task_id.clear(); c.next = true; c.queue = "q x"; }, "queue"},
      {"claim --next, no id", CommandKind::kClaim, [](Command& c) { c.task_id.clear(); c.next = true; }, "", true},
      {"grace 0", CommandKind::kSignal, [](Command& c) { c.grace_ns = 0; c.has_grace = true; }, "", true},
      {"grace negative", CommandKind::kSignal, [](Command& c) { c.grace_ns = -1; }, "grace"},
      {"grace int64 min", CommandKind::kSignal, [](Command& c) { c.grace_ns = INT64_MIN; }, "grace"},
      {"grace past a year", CommandKind::kSignal, [](Command& c) { c.grace_ns = kMaxDurationNs + 1; }, "grace"},
      {"signal without a name", CommandKind::kSignal, [](Command& c) { c.signal.clear(); }, "signal is empty"},
      {"create ttl negative", CommandKind::kCreate, [](Command& c) { c.spec.lease_ttl_ns = -5; }, "ttl"},
      {"create ttl past a year", CommandKind::kCreate, [](Command& c) { c.spec.lease_ttl_ns = INT64_MAX; }, "year"},
      {"create max runtime negative", CommandKind::kCreate, [](Command& c) { c.spec.max_runtime_ns = -1; }, "runtime"},
      {"create max attempts over the limit", CommandKind::kCreate,
       [](Command& c) { c.spec.max_attempts = kMaxAttemptsLimit + 1; }, "max attempts"},
      // Ids: syntax, and the explicit empty id.
      {"create without an id", CommandKind::kCreate, [](Command& c) { c.task_id.clear(); }, "", true},
      {"create with an id given empty", CommandKind::kCreate,
       [](Command& c) { c.task_id.clear(); c.task_id_given = true; }, "task id is empty"},
      {"create with an id with a space", CommandKind::kCreate, [](Command& c) { c.task_id = "a b"; }, "task id"},
      {"create with an id of 129 bytes", CommandKind::kCreate,
       [](Command& c) { c.task_id = std::string(kMaxIdBytes + 1, 'i'); }, "task id is 129 bytes"},
      {"create with an id of 128 bytes", CommandKind::kCreate,
       [](Command& c) { c.task_id = std::string(kMaxIdBytes, 'i'); }, "", true},
      {"heartbeat without an id", CommandKind::kHeartbeat, [](Command& c) { c.task_id.clear(); }, "task id is empty"},
      {"block with an id with a control character", CommandKind::kBlock, [](Command& c) { c.task_id = "a\x01"; },
       "task id"},
      {"claim without an id", CommandKind::kClaim, [](Command& c) { c.task_id.clear(); }, "task id is empty"},
      {"actor with a space", CommandKind::kComplete, [](Command& c) { c.actor = "w 1"; }, "actor"},
      {"no actor (the ledger names one)", CommandKind::kCancel, [](Command& c) { c.actor.clear(); }, "", true},
      {"client host with a space", CommandKind::kFail, [](Command& c) { c.meta.host = "a host"; }, "client host"},
      // Texts: size and encoding, from limits.h.
      {"text at the limit", CommandKind::kHeartbeat, [](Command& c) { c.text = std::string(kMaxTextBytes, 'n'); }, "",
       true},
      {"text over the limit", CommandKind::kHeartbeat,
       [](Command& c) { c.text = std::string(kMaxTextBytes + 1, 'n'); }, "text is 65537 bytes"},
      {"text not UTF-8", CommandKind::kRelease, [](Command& c) { c.text = "ok\xff"; }, "UTF-8"},
      {"title with a control character", CommandKind::kCreate, [](Command& c) { c.spec.title = "bell\x07"; }, "title"},
      {"payload over the limit", CommandKind::kCreate,
       [](Command& c) { c.spec.payload = "\"" + std::string(kMaxPayloadBytes, 'p') + "\""; }, "payload"},
      {"payload not JSON", CommandKind::kCreate, [](Command& c) { c.spec.payload = "{nope"; }, "payload"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Command command = Valid(c.kind);
    c.breaks(command);
    const Status s = ValidateCommand(command);
    if (c.ok) {
      EXPECT_TRUE(s.ok()) << s.message();
      continue;
    }
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find(c.mentions), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find('\n'), std::string::npos) << "one line: " << s.message();
  }
}

// The ledger's command path reaches ValidateCommand through DecideOnTask: a command that
// breaks a rule gets no event at all, not even the `rejected` of a stale token.
TEST(ValidateCommandTest, DecideOnTaskRefusesABrokenCommandWithoutAnEvent) {
  TaskRecord record;
  record.id = "a";
  Command exit = Valid(CommandKind::kExit);
  exit.exit_code = 1000;
  const Outcome outcome = DecideOnTask(exit, record, DecisionContext{1, 2, {}});
  EXPECT_EQ(outcome.status.code(), Code::kInvalidArgument) << outcome.status.ToString();
  EXPECT_TRUE(outcome.reply.events.empty());
}

// Import checks events against the same ranges as commands.
TEST(ValidateEventValuesTest, RefusesWhatNoCommandCouldHaveAppended) {
  Event exited;
  exited.kind = EventKind::kExited;
  exited.exit_code = 255;
  EXPECT_TRUE(ValidateEventValues(exited).ok());
  exited.exit_code = 1000;
  EXPECT_EQ(ValidateEventValues(exited).code(), Code::kInvalidArgument);
  exited.exit_code.reset();
  EXPECT_TRUE(ValidateEventValues(exited).ok()) << "an exit by a signal has no code";

  Event claimed;
  claimed.kind = EventKind::kClaimed;
  claimed.ttl_ns = kNanosPerSecond;
  EXPECT_TRUE(ValidateEventValues(claimed).ok());
  claimed.ttl_ns = 0;
  EXPECT_EQ(ValidateEventValues(claimed).code(), Code::kInvalidArgument) << "a recorded claim has its ttl";

  Event signaled;
  signaled.kind = EventKind::kSignaled;
  signaled.grace_ns = 0;
  EXPECT_TRUE(ValidateEventValues(signaled).ok());
  signaled.grace_ns = -1;
  EXPECT_EQ(ValidateEventValues(signaled).code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace taskledger
