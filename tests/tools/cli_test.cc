// The CLI contract of DESIGN §6 as a script sees it: verbs, flags, --json, exit codes
// (0 ok, 1 I/O, 2 bad usage or input, 3 refused by the rules, 4 not found), one error
// line on stderr, and nothing written by a refused command.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ledger/ledger.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace taskledger {
namespace {

using test::ProcessResult;
using test::TaskledgerBinary;

class CliTest : public ::testing::Test {
 protected:

  ProcessResult Run(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {TaskledgerBinary(), "--db", db_});
    return test::RunProcess(args, {}, input);
  }
  // Runs a command that must succeed; returns its stdout.
  std::string Ok(const std::vector<std::string>& args) {
    const ProcessResult r = Run(args);
    EXPECT_EQ(r.exit_code, 0) << "args: " << ::testing::PrintToString(args) << "\nstderr: " << r.err;
    return r.out;
  }
  nlohmann::json Json(std::vector<std::string> args) {
    args.insert(args.begin(), "--json");
    const std::string out = Ok(args);
    return nlohmann::json::parse(out, nullptr, false);
  }
  uint64_t EventCount() {
    const std::string out = Ok({"log"});
    return static_cast<uint64_t>(std::count(out.begin(), out.end(), '\n'));
  }
  // The failure must be exactly one line on stderr and nothing on stdout.
  void ExpectFailure(const ProcessResult& r, int code) {
    EXPECT_EQ(r.exit_code, code) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.rfind("taskledger: ", 0), 0u) << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
  // Claims a task; returns its token.
  std::string Claim(const std::string& id, const std::string& worker = "w1", const std::string& ttl = "30s") {
    const nlohmann::json reply = Json({"claim", id, "--worker", worker, "--ttl", ttl});
    return std::to_string(reply.value("token", uint64_t{0}));
  }

  test::TempDir dir_{"taskledger-cli-test"};
  std::string root_ = dir_.path();
  std::string db_ = root_ + "/ledger.db";
};

TEST_F(CliTest, CreatePrintsTheIdAndGeneratesOneWhenNotGiven) {
  EXPECT_EQ(Ok({"create", "build", "--title", "Build it"}), "build\n");
  const std::string generated = Ok({"create", "--title", "anonymous"});
  EXPECT_EQ(generated, "t-2\n");
}

TEST_F(CliTest, ClaimPrintsIdTokenAndDeadline) {
  Ok({"create", "a", "--title", "A"});
  std::istringstream line(Ok({"claim", "a", "--worker", "w1"}));
  std::string id, token, deadline;
  line >> id >> token >> deadline;
  EXPECT_EQ(id, "a");
  EXPECT_EQ(token, "2");
  EXPECT_EQ(deadline.size(), std::string("2026-11-28T10:02:00.000Z").size());
}

TEST_F(CliTest, EveryVerbSpeaksJson) {
  EXPECT_EQ(Json({"create", "a", "--title", "A", "--payload", "{\"n\":1}"})["task"], "a");
  const nlohmann::json claim = Json({"claim", "--next", "--worker", "w1"});
  EXPECT_EQ(claim["task"], "a");
  const std::string token = std::to_string(claim["token"].get<uint64_t>());
  EXPECT_TRUE(Json({"heartbeat", "a", "--token", token, "--note", "half"}).contains("deadline_ns"));
  EXPECT_EQ(Json({"signal", "a", "--token", token, "--signal", "TERM", "--grace", "5s"})["status"], "running");
  EXPECT_EQ(Json({"complete", "a", "--token", token, "--result", "ok"})["status"], "done");
  EXPECT_EQ(Json({"exit", "a", "--token", token, "--code", "0"})["status"], "done");
  EXPECT_EQ(Json({"show", "a"})["status"], "done");
  EXPECT_EQ(Json({"ls"})["task"], "a");
  EXPECT_EQ(Json({"stats"})["by_status"]["done"], 1);
  EXPECT_EQ(Json({"verify"})["ok"], true);
  EXPECT_EQ(Json({"rebuild"})["tasks"], 1);
  const std::string log = Ok({"--json", "log"});
  std::istringstream lines(log);
  std::string line;
  int count = 0;
  while (std::getline(lines, line)) {
    EXPECT_FALSE(nlohmann::json::parse(line, nullptr, false).is_discarded()) << line;
    ++count;
  }
  EXPECT_EQ(count, 6);
  Ok({"create", "b", "--title", "B"});
  EXPECT_EQ(Json({"block", "b", "--reason", "flaky"})["status"], "blocked");
  EXPECT_EQ(Json({"unblock", "b"})["status"], "ready");
  EXPECT_EQ(Json({"cancel", "b"})["status"], "cancelled");
  EXPECT_EQ(Json({"revive", "b"})["status"], "ready");
  const std::string token_b = Claim("b");
  EXPECT_EQ(Json({"release", "b", "--token", token_b})["status"], "ready");
  const std::string token_b2 = Claim("b");
  EXPECT_EQ(Json({"fail", "b", "--token", token_b2, "--error", "boom"})["status"], "waiting");
}

TEST_F(CliTest, UnknownTaskExitsFour) {
  Ok({"create", "a", "--title", "A"});
  ExpectFailure(Run({"show", "nope"}), 4);
  ExpectFailure(Run({"claim", "nope", "--worker", "w1"}), 4);
  ExpectFailure(Run({"heartbeat", "nope", "--token", "1"}), 4);
  ExpectFailure(Run({"block", "nope", "--reason", "x"}), 4);
  ExpectFailure(Run({"log", "--task", "nope"}), 4);
  EXPECT_EQ(EventCount(), 1u);
}

TEST_F(CliTest, NothingReadyExitsFour) {
  ExpectFailure(Run({"claim", "--next", "--worker", "w1"}), 4);
  Ok({"create", "a", "--title", "A", "--queue", "gpu"});
  ExpectFailure(Run({"claim", "--next", "--worker", "w1"}), 4);
  EXPECT_EQ(Json({"claim", "--next", "--queue", "gpu", "--worker", "w1"})["task"], "a");
}

TEST_F(CliTest, AfterNamingAMissingTaskExitsFourAndWritesNothing) {
  Ok({"create", "a", "--title", "A"});
  ExpectFailure(Run({"create", "b", "--title", "B", "--after", "a", "--after", "ghost"}), 4);
  EXPECT_EQ(EventCount(), 1u);
}

TEST_F(CliTest, BadDurationsExitTwo) {
  for (const char* bad : {"5x", "-5s", "abc", "", "10", "1y", "99999999999999999999s", "400d"}) {
    ExpectFailure(Run({"create", "a", "--title", "A", "--ttl", bad}), 2);
  }
  ExpectFailure(Run({"create", "a", "--title", "A", "--ttl", "0s"}), 2);
  Ok({"create", "a", "--title", "A"});
  ExpectFailure(Run({"claim", "a", "--worker", "w1", "--ttl", "-1m"}), 2);
  EXPECT_EQ(EventCount(), 1u);
}

TEST_F(CliTest, BadTimesExitTwo) {
  for (const char* bad : {"2026-13-01T00:00:00Z", "yesterday", "1969-12-31T23:59:59Z", "10000-01-01T00:00:00Z",
                          "2026-02-30", "2026-11-28T10:02:00"}) {
    ExpectFailure(Run({"create", "a", "--title", "A", "--not-before", bad}), 2);
  }
  Ok({"create", "a", "--title", "A"});
  ExpectFailure(Run({"ls", "--at", "garbage"}), 2);
  ExpectFailure(Run({"ls", "--at", "-1m", "--at-seq", "1"}), 2);
  ExpectFailure(Run({"log", "--since", "noon"}), 2);
}

TEST_F(CliTest, BadPayloadsExitTwo) {
  ExpectFailure(Run({"create", "a", "--title", "A", "--payload", "{not json"}), 2);
  const std::string path = root_ + "/big.json";
  {
    std::ofstream big(path);
    big << '"' << std::string((1 << 20), 'x') << '"';
  }
  ExpectFailure(Run({"create", "a", "--title", "A", "--payload-file", path}), 2);
  ExpectFailure(Run({"create", "a", "--title", "A", "--payload-file", root_ + "/missing.json"}), 2);
  const ProcessResult from_stdin = Run({"create", "a", "--title", "A", "--payload-file", "-"}, "{\"ok\": true}");
  EXPECT_EQ(from_stdin.exit_code, 0) << from_stdin.err;
  EXPECT_EQ(Json({"show", "a"})["payload"]["ok"], true);
}

TEST_F(CliTest, BadIdsExitTwo) {
  ExpectFailure(Run({"create", std::string(129, 'x'), "--title", "A"}), 2);
  ExpectFailure(Run({"create", "has space", "--title", "A"}), 2);
  ExpectFailure(Run({"create", "tab\there", "--title", "A"}), 2);
  ExpectFailure(Run({"create", "ok", "--title", "A", "--queue", "a b"}), 2);
  ExpectFailure(Run({"claim", "--next", "--worker", std::string(200, 'w')}), 2);
  EXPECT_EQ(Ok({"create", std::string(128, 'x'), "--title", "A"}), std::string(128, 'x') + "\n");
}

TEST_F(CliTest, UnknownFlagsAndVerbsExitTwo) {
  ExpectFailure(Run({"ls", "--bogus"}), 2);
  ExpectFailure(Run({"frobnicate"}), 2);
  ExpectFailure(Run({"serve", "--idle-timeout", "soon"}), 2);
  ExpectFailure(Run({"serve", "--idle-timeout", "-1s"}), 2);
  ExpectFailure(Run({}), 2);
  ExpectFailure(Run({"ls", "--status", "sleeping"}), 2);
  ExpectFailure(Run({"claim", "--worker", "w1"}), 2);
  ExpectFailure(Run({"--log-level", "loud", "ls"}), 2);
  Ok({"create", "a", "--title", "A"});
  const std::string token = Claim("a");
  ExpectFailure(Run({"signal", "a", "--token", token, "--signal", "NOPE"}), 2);
  ExpectFailure(Run({"exit", "a", "--token", token}), 2);
  ExpectFailure(Run({"exit", "a", "--token", token, "--code", "1", "--signal", "KILL"}), 2);
  ExpectFailure(Run({"exit", "a", "--token", token, "--code", "300"}), 2);
  EXPECT_EQ(EventCount(), 2u);
}

// An unknown verb is named on the one error line, with where to look; it is a usage error.
TEST_F(CliTest, AnUnknownVerbIsNamed) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"frobnicate"}, {"frobnicate", "a", "--token", "1"}, {"--json", "frobnicate"}}) {
    const ProcessResult r = Run(args);
    ExpectFailure(r, 2);
    EXPECT_EQ(r.err, "taskledger: unknown command 'frobnicate' (see taskledger --help)\n");
  }
  // A missing verb and an unknown global flag keep their own messages.
  EXPECT_NE(Run({}).err.find("subcommand is required"), std::string::npos);
  const ProcessResult flag = Run({"--bogus", "ls"});
  ExpectFailure(flag, 2);
  EXPECT_NE(flag.err.find("--bogus"), std::string::npos) << flag.err;
}

// --grace 0s means no grace: the lease ends at the signal. Without --grace the default
// (10 s) is recorded.
TEST_F(CliTest, SignalGraceZeroEndsTheLeaseAtTheSignal) {
  Ok({"create", "a", "--title", "A"});
  const std::string token_a = Claim("a", "w1", "1h");
  const nlohmann::json signaled = Json({"signal", "a", "--token", token_a, "--signal", "TERM", "--grace", "0s"});
  EXPECT_EQ(signaled["status"], "ready") << signaled;  // interrupted: claimable at once
  const nlohmann::json event = nlohmann::json::parse(Ok({"--json", "log", "--since", signaled["seq"].dump()}));
  EXPECT_EQ(event["kind"], "signaled");
  EXPECT_EQ(event["grace_ns"], 0);
  ExpectFailure(Run({"heartbeat", "a", "--token", token_a}), 3);

  Ok({"create", "b", "--title", "B"});
  const std::string token_b = Claim("b", "w1", "1h");
  const nlohmann::json defaulted = Json({"signal", "b", "--token", token_b, "--signal", "TERM"});
  EXPECT_EQ(defaulted["status"], "running");
  const nlohmann::json default_event =
      nlohmann::json::parse(Ok({"--json", "log", "--since", defaulted["seq"].dump()}));
  EXPECT_EQ(default_event["grace_ns"], 10'000'000'000);
  EXPECT_EQ(defaulted["deadline_ns"], default_event["time_ns"].get<int64_t>() + 10'000'000'000);
  EXPECT_EQ(Json({"verify"})["ok"], true);
}

TEST_F(CliTest, ClaimOfAnUnclaimableTaskExitsThree) {
  Ok({"create", "running", "--title", "R"});
  Claim("running");
  ExpectFailure(Run({"claim", "running", "--worker", "w2"}), 3);
  Ok({"create", "blocked", "--title", "B"});
  Ok({"block", "blocked", "--reason", "broken"});
  ExpectFailure(Run({"claim", "blocked", "--worker", "w2"}), 3);
  Ok({"create", "done", "--title", "D"});
  Ok({"complete", "done", "--token", Claim("done")});
  ExpectFailure(Run({"claim", "done", "--worker", "w2"}), 3);
  Ok({"create", "waiting", "--title", "W", "--after", "running"});
  ExpectFailure(Run({"claim", "waiting", "--worker", "w2"}), 3);
  Ok({"create", "later", "--title", "L", "--not-before", "2099-01-01T00:00:00Z"});
  ExpectFailure(Run({"claim", "later", "--worker", "w2"}), 3);
  EXPECT_EQ(EventCount(), 9u);
}

TEST_F(CliTest, StaleTokenIsRefusedWithExitThreeAndRecordedAsRejected) {
  Ok({"create", "a", "--title", "A"});
  const std::string old_token = Claim("a", "w1");
  Ok({"release", "a", "--token", old_token});
  Claim("a", "w2");
  const uint64_t before = EventCount();
  ExpectFailure(Run({"heartbeat", "a", "--token", old_token}), 3);
  ExpectFailure(Run({"complete", "a", "--token", old_token}), 3);
  EXPECT_EQ(EventCount(), before + 2);  // exactly the two rejected events
  const std::string log = Ok({"log", "--task", "a"});
  EXPECT_NE(log.find("rejected w1 heartbeat token=" + old_token), std::string::npos) << log;
  EXPECT_NE(log.find("rejected w1 complete token=" + old_token), std::string::npos) << log;
  EXPECT_EQ(Json({"show", "a"})["status"], "running");
}

TEST_F(CliTest, CurrentTokenAfterTheDeadlineIsRefused) {
  // An hour's backoff: the default second can pass between these processes on a loaded
  // machine under ASan, and the task would read as ready again.
  Ok({"create", "a", "--title", "A", "--backoff", "1h"});
  // A 1 ms lease has lapsed by the time the next process runs.
  const std::string token = Claim("a", "w1", "1ms");
  ExpectFailure(Run({"heartbeat", "a", "--token", token}), 3);
  ExpectFailure(Run({"complete", "a", "--token", token}), 3);
  EXPECT_NE(Ok({"log", "--task", "a"}).find("lease expired at"), std::string::npos);
  EXPECT_EQ(Json({"show", "a"})["status"], "waiting");  // expiry is a failure: backoff
}

TEST_F(CliTest, IdempotencyKeyReturnsTheSameTaskAndAppendsNothing) {
  EXPECT_EQ(Ok({"create", "--title", "A", "--idempotency-key", "k1"}), "t-1\n");
  EXPECT_EQ(Ok({"create", "--title", "A", "--idempotency-key", "k1"}), "t-1\n");
  EXPECT_EQ(Json({"create", "--title", "A", "--idempotency-key", "k1"})["existing"], true);
  EXPECT_EQ(EventCount(), 1u);
}

TEST_F(CliTest, ALedgerHeldByAnotherProcessIsRefusedNamingTheHolder) {
  ManualClock clock(0);
  LedgerOptions options;
  options.path = db_;
  Result<std::unique_ptr<Ledger>> holder = Ledger::Open(options, &clock);
  ASSERT_TRUE(holder.ok()) << holder.status().ToString();
  const ProcessResult r = Run({"create", "a", "--title", "A"});
  ExpectFailure(r, 1);
  EXPECT_NE(r.err.find("held by another process (pid " + std::to_string(::getpid())), std::string::npos) << r.err;
  // Read-only verbs still work beside the owner.
  const ProcessResult ls = Run({"ls"});
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
}

TEST_F(CliTest, ReadVerbsOnAMissingLedgerExitOne) {
  ExpectFailure(Run({"ls"}), 1);
  EXPECT_FALSE(std::filesystem::exists(db_));
}

TEST_F(CliTest, TimeTravelShowsThePast) {
  Ok({"create", "a", "--title", "A"});
  const std::string token = Claim("a");
  Ok({"complete", "a", "--token", token});
  EXPECT_EQ(Json({"show", "a", "--at-seq", "1"})["status"], "ready");
  EXPECT_EQ(Json({"show", "a", "--at-seq", "2"})["status"], "running");
  EXPECT_EQ(Json({"ls", "--at-seq", "2"})["status"], "running");
  EXPECT_EQ(Json({"show", "a", "--at-seq", "3"})["status"], "done");
  ExpectFailure(Run({"show", "a", "--at-seq", "9"}), 2);
  ExpectFailure(Run({"show", "a", "--at", "2000-01-01T00:00:00Z"}), 4);
}

TEST_F(CliTest, SweepListsLapsedLeasesOnce) {
  Ok({"create", "a", "--title", "A"});
  Ok({"create", "b", "--title", "B"});
  Claim("a", "w1", "1ms");
  Claim("b", "w1", "1h");
  const std::string swept = Ok({"sweep"});
  EXPECT_NE(swept.find("a token 3 lease expired at"), std::string::npos) << swept;
  EXPECT_EQ(swept.find("b token"), std::string::npos) << swept;
  EXPECT_EQ(Ok({"sweep"}), "");
  EXPECT_EQ(Json({"verify"})["ok"], true);
}

}  // namespace
}  // namespace taskledger
