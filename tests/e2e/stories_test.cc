// DESIGN §7 stories 1-3, end to end: a real server, real `taskledger run` supervisors,
// real child processes, short leases. Waits are bounded polls of observable state; the
// claims about *when* something became possible are checked with the ledger's own times
// (time travel), not with the test's stopwatch.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "tests/support/server.h"

namespace taskledger {
namespace {

using namespace test;

// Story 1, the reported bug: SIGTERM to a supervisor whose child ignores it. The lease
// ends at signal + grace (interrupted, not a failure), another worker runs the task, and
// the task after it proceeds.
TEST_F(ServerTest, SigtermedWorkerThatHangsLosesTheTaskWithinTheGrace) {
  Ok({"create", "etl", "--title", "ETL"});
  Ok({"create", "report", "--title", "Report", "--after", "etl"});
  ASSERT_NO_FATAL_FAILURE(SigtermASupervisorWhoseChildIgnoresIt("etl", "w1", "1s"));

  const auto events = Events("etl");
  const nlohmann::json& signaled = First(events, "signaled");
  ASSERT_FALSE(signaled.is_null());
  EXPECT_EQ(signaled["signal"], "SIGTERM");
  // Claimable exactly when the grace ran out, by the ledger's clock: time travel to it.
  const int64_t free_at = signaled["time_ns"].get<int64_t>() + signaled["grace_ns"].get<int64_t>();
  const nlohmann::json before = Json({"show", "etl", "--at-seq", std::to_string(signaled["seq"].get<uint64_t>())});
  EXPECT_EQ(before["status"], "running");
  EXPECT_EQ(before["deadline_ns"].get<int64_t>(), free_at);

  // Another worker takes it at once, and the dependent task runs after it.
  ExpectDoneByAnotherWorkerAfterOneInterruption("etl", "w2");
  auto third = std::make_unique<Background>(
      std::vector<std::string>{TaskledgerBinary(), "run", "--next", "--worker", "w3", "--", "/bin/true"}, Env(),
      root_ + "/w3.out");
  EXPECT_EQ(third->WaitExit(10s), 0) << third->output();
  EXPECT_EQ(Json({"show", "report"})["status"], "done");
  const auto after = Events("etl");
  EXPECT_GE(First(after, "completed")["time_ns"].get<int64_t>(), free_at);
  EXPECT_EQ(Count(after, "completed"), 1);
  EXPECT_EQ(Json({"verify"})["ok"], true);
}

// `run --grace 0s`: no grace. The ledger records grace 0 (not the default), so the lease
// ends at the signal, and the supervisor kills the group at once.
TEST_F(ServerTest, RunWithZeroGraceEndsTheLeaseAtTheSignal) {
  Ok({"create", "etl", "--title", "ETL"});
  ASSERT_NO_FATAL_FAILURE(SigtermASupervisorWhoseChildIgnoresIt("etl", "w1", "0s"));

  const auto events = Events("etl");
  const nlohmann::json& signaled = First(events, "signaled");
  ASSERT_FALSE(signaled.is_null());
  EXPECT_EQ(signaled["grace_ns"], 0);
  const nlohmann::json at_signal =
      Json({"show", "etl", "--at-seq", std::to_string(signaled["seq"].get<uint64_t>())});
  EXPECT_EQ(at_signal["status"], "ready") << at_signal;
  ExpectDoneByAnotherWorkerAfterOneInterruption("etl", "w2");
  EXPECT_EQ(Json({"verify"})["ok"], true);
}

// `signal --grace 0s` through the server: the grace travels as given, 0 included.
TEST_F(ServerTest, SignalGraceZeroTravelsThroughTheServer) {
  Ok({"create", "a", "--title", "A"});
  Ok({"create", "b", "--title", "B"});
  const std::string token_a = std::to_string(Json({"claim", "a", "--worker", "w1", "--ttl", "1h"})["token"].get<uint64_t>());
  const std::string token_b = std::to_string(Json({"claim", "b", "--worker", "w1", "--ttl", "1h"})["token"].get<uint64_t>());
  EXPECT_EQ(Json({"signal", "a", "--token", token_a, "--signal", "TERM", "--grace", "0s"})["status"], "ready");
  EXPECT_EQ(First(Events("a"), "signaled")["grace_ns"], 0);
  EXPECT_EQ(Json({"signal", "b", "--token", token_b, "--signal", "TERM"})["status"], "running");
  EXPECT_EQ(First(Events("b"), "signaled")["grace_ns"], 10'000'000'000);
  EXPECT_EQ(Json({"claim", "a", "--worker", "w2"})["task"], "a");
}

// Story 2: a supervisor frozen past its ttl. Another worker re-claims and completes; after
// SIGCONT the old holder's heartbeat and completion are refused and recorded, it stops its
// child and exits 3. The task is completed exactly once.
TEST_F(ServerTest, FrozenSupervisorIsFencedOutAfterItWakes) {
  Ok({"create", "a", "--title", "A"});
  auto frozen = Supervise("a", "w1", "1s", "2s",
                          "trap '\"$TL\" complete \"$TASKLEDGER_TASK\" --token \"$TASKLEDGER_TOKEN\"; exit 0' TERM; "
                          "echo $$ > \"$MARKER\"; while :; do sleep 0.05; done");
  const pid_t child = WaitForChild();
  ASSERT_GT(child, 0);
  frozen->Signal(SIGSTOP);

  std::string token;
  ASSERT_TRUE(WaitUntil(
      [&] {
        const ProcessResult claim = Run({"--json", "claim", "a", "--worker", "w2", "--ttl", "30s"});
        if (claim.exit_code != 0) return false;
        token = std::to_string(nlohmann::json::parse(claim.out)["token"].get<uint64_t>());
        return true;
      },
      10s));
  Ok({"complete", "a", "--token", token, "--result", "by w2"});
  frozen->Signal(SIGCONT);

  EXPECT_EQ(frozen->WaitExit(10s), 3) << frozen->output();
  EXPECT_NE(frozen->output().find("lease lost"), std::string::npos) << frozen->output();
  EXPECT_TRUE(WaitUntil([&] { return GroupIsGone(child); }, 5s));
  const auto events = Events("a");
  EXPECT_EQ(Count(events, "completed"), 1);
  EXPECT_EQ(First(events, "completed")["actor"], "w2");
  int refused_heartbeats = 0, refused_completions = 0;
  for (const auto& e : events) {
    if (e["kind"] != "rejected" || e["actor"] != "w1") continue;
    refused_heartbeats += e["command"] == "heartbeat";
    refused_completions += e["command"] == "complete";
  }
  EXPECT_GE(refused_heartbeats, 1);
  EXPECT_EQ(refused_completions, 1);
  EXPECT_EQ(Json({"show", "a"})["result"], "by w2");
  EXPECT_EQ(Json({"verify"})["ok"], true);
}

// Story 3: a supervisor killed outright says nothing; the lease lapses at its deadline
// and the task is re-claimed. Its child dies with it.
TEST_F(ServerTest, KilledSupervisorsLeaseLapsesAtItsDeadline) {
  Ok({"create", "a", "--title", "A"});
  auto killed = Supervise("a", "w1", "1s", "1s", "echo $$ > \"$MARKER\"; while :; do sleep 0.05; done");
  const pid_t child = WaitForChild();
  ASSERT_GT(child, 0);
  killed->Signal(SIGKILL);
  EXPECT_EQ(killed->WaitExit(5s), 128 + SIGKILL);
  EXPECT_TRUE(WaitUntil([&] { return ProcessIsGone(child); }, 5s));  // parent-death signal

  auto second = Supervise("a", "w2", "30s", "1s", "exit 0");
  ASSERT_TRUE(WaitUntil(
      [&] {
        if (!second->Poll()) return false;
        if (second->WaitExit(0ms) == 0) return true;
        second = Supervise("a", "w2", "30s", "1s", "exit 0");  // not claimable yet: try again
        return false;
      },
      15s));
  const auto events = Events("a");
  const nlohmann::json a = Json({"show", "a"});
  EXPECT_EQ(a["status"], "done");
  EXPECT_EQ(a["expiries"], 1);
  EXPECT_EQ(a["failures"], 1);  // an unexplained silence is a failure
  // The second claim came after the first lease's deadline, never before it.
  int64_t first_claim = 0, second_claim = 0, ttl = 0;
  for (const auto& e : events) {
    if (e["kind"] != "claimed") continue;
    (first_claim == 0 ? first_claim : second_claim) = e["time_ns"].get<int64_t>();
    if (ttl == 0) ttl = e["ttl_ns"].get<int64_t>();
  }
  EXPECT_GE(second_claim, first_claim + ttl);
  EXPECT_EQ(Json({"verify"})["ok"], true);
}

// Many workers through one server: every task claimed exactly once.
TEST_F(ServerTest, ConcurrentClaimsNeverHandOutATaskTwice) {
  constexpr int kTasks = 200;
  constexpr int kClients = 16;
  for (int i = 0; i < kTasks; ++i) Ok({"create", "t" + std::to_string(i), "--title", "T", "--ttl", "1h"});
  std::mutex mutex;
  std::multiset<std::string> claimed;
  std::atomic<int> errors{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      for (;;) {
        const ProcessResult r = Run({"claim", "--next", "--worker", "w" + std::to_string(c)});
        if (r.exit_code == 4) return;  // nothing ready
        if (r.exit_code != 0) {
          errors++;
          return;
        }
        std::lock_guard lock(mutex);
        claimed.insert(r.out.substr(0, r.out.find(' ')));
      }
    });
  }
  for (std::thread& t : clients) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(claimed.size(), static_cast<size_t>(kTasks));
  EXPECT_EQ(std::set<std::string>(claimed.begin(), claimed.end()).size(), static_cast<size_t>(kTasks));
  EXPECT_EQ(Json({"verify"})["ok"], true);
}

TEST_F(ServerTest, LogFollowStreamsEventsAsTheyCommit) {
  Ok({"create", "a", "--title", "A"});
  Background follower({TaskledgerBinary(), "--connect", address_, "log", "--follow"}, {}, root_ + "/follow.out");
  ASSERT_TRUE(WaitUntil([&] { return follower.output().find(" a created ") != std::string::npos; }, 5s));
  Ok({"create", "b", "--title", "B"});
  EXPECT_TRUE(WaitUntil([&] { return follower.output().find(" b created ") != std::string::npos; }, 5s))
      << follower.output();
  follower.Signal(SIGINT);
  EXPECT_EQ(follower.WaitExit(5s), 0);
}

TEST_F(ServerTest, EveryVerbGivesTheSameExitCodesThroughTheServer) {
  EXPECT_EQ(Run({"show", "nope"}).exit_code, 4);
  EXPECT_EQ(Run({"create", "a", "--title", "A", "--payload", "{bad"}).exit_code, 2);
  Ok({"create", "a", "--title", "A"});
  EXPECT_EQ(Run({"create", "b", "--title", "B", "--after", "ghost"}).exit_code, 4);
  const std::string token = Ok({"claim", "a", "--worker", "w1"}).substr(2);
  EXPECT_EQ(Run({"claim", "a", "--worker", "w2"}).exit_code, 3);
  EXPECT_EQ(Run({"heartbeat", "a", "--token", "999"}).exit_code, 3);
  EXPECT_EQ(Run({"claim", "--next", "--worker", "w2"}).exit_code, 4);
  EXPECT_EQ(Run({"--connect", "tcp:nowhere", "ls"}).exit_code, 2);
  EXPECT_EQ(Run({"--connect", "unix:" + root_ + "/no.sock", "ls"}).exit_code, 1);
  EXPECT_EQ(Json({"stats"})["tasks"], 1);
}

TEST_F(ServerTest, ReadOnlyVerbsWorkOnTheOwnedLedgerDirectly) {
  Ok({"create", "a", "--title", "A"});
  const std::string db = root_ + "/ledger.db";
  const ProcessResult ls = RunProcess({TaskledgerBinary(), "--db", db, "ls"});
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_NE(ls.out.find("a "), std::string::npos);
  const ProcessResult verify = RunProcess({TaskledgerBinary(), "--db", db, "verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
  const ProcessResult write = RunProcess({TaskledgerBinary(), "--db", db, "create", "b", "--title", "B"});
  EXPECT_EQ(write.exit_code, 1);
  EXPECT_NE(write.err.find("held by another process"), std::string::npos) << write.err;
}

TEST_F(ServerTest, TheSocketIsOwnerOnlyAndASecondServerIsRefused) {
  struct stat st {};
  ASSERT_EQ(::stat((root_ + "/ledger.sock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const ProcessResult second =
      RunProcess({TaskledgerBinary(), "--db", root_ + "/other.db", "serve", "--listen", address_});
  EXPECT_EQ(second.exit_code, 1) << second.err;
  EXPECT_NE(second.err.find("already listening"), std::string::npos) << second.err;
  const ProcessResult remote =
      RunProcess({TaskledgerBinary(), "--db", root_ + "/other.db", "serve", "--listen", "tcp:0.0.0.0:0"});
  EXPECT_EQ(remote.exit_code, 2) << remote.err;
}

}  // namespace
}  // namespace taskledger
