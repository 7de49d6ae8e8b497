// `taskledger worker`, end to end: a real server, one worker process supervising several
// real children at once. Each child is supervised as `run` supervises its one (the
// stories of stories_test.cc), so these tests check what the worker adds: many at once,
// each task exactly once, batched renewals, finish-and-claim-next, the drain on SIGTERM.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "tests/support/server.h"

namespace taskledger {
namespace {

using namespace test;

class WorkerTest : public ServerTest {
 protected:
  std::unique_ptr<Background> StartWorker(const std::vector<std::string>& flags, const std::string& script,
                                          const std::string& name = "w") {
    std::vector<std::string> argv = {TaskledgerBinary(), "--json", "worker", "--worker", name};
    argv.insert(argv.end(), flags.begin(), flags.end());
    for (const std::string& arg : {std::string("--"), std::string("/bin/sh"), std::string("-c"), script}) {
      argv.push_back(arg);
    }
    return std::make_unique<Background>(argv, Env(), root_ + "/" + name + ".out");
  }

  // Lines of the marker file (children append to it).
  std::vector<std::string> MarkerLines() {
    std::vector<std::string> lines;
    std::istringstream in(ReadFile(root_ + "/marker"));
    std::string line;
    while (std::getline(in, line)) lines.push_back(line);
    return lines;
  }

  // The worker's summary: its last line of output that is a JSON object.
  nlohmann::json Summary(const Background& worker) {
    std::istringstream in(worker.output());
    std::string line;
    nlohmann::json last;
    while (std::getline(in, line)) {
      nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object() && j.contains("claimed")) last = j;
    }
    return last;
  }
};

TEST_F(WorkerTest, RunsEveryTaskExactlyOnceWithSeveralChildrenAtOnce) {
  constexpr int kTasks = 24;
  for (int i = 0; i < kTasks; ++i) Ok({"create", "t" + std::to_string(i), "--title", "T", "--queue", "q"});
  auto worker = StartWorker({"--queue", "q", "--concurrency", "4", "--exit-when-idle"},
                            "echo \"$TASKLEDGER_TASK $TASKLEDGER_TOKEN\" >> \"$MARKER\"");
  ASSERT_EQ(worker->WaitExit(60s), 0) << worker->output();

  std::multiset<std::string> ran;
  for (const std::string& line : MarkerLines()) ran.insert(line.substr(0, line.find(' ')));
  EXPECT_EQ(ran.size(), static_cast<size_t>(kTasks));
  for (int i = 0; i < kTasks; ++i) {
    const std::string id = "t" + std::to_string(i);
    EXPECT_EQ(ran.count(id), 1u) << id;
    const auto events = Events(id);
    EXPECT_EQ(Count(events, "claimed", "w"), 1) << id;
    EXPECT_EQ(Count(events, "completed", "w"), 1) << id;
    EXPECT_EQ(Count(events, "exited", "w"), 1) << id;
    EXPECT_EQ(Count(events, "rejected"), 0) << id;
    // `completed` and `exited` in one commit: the same ledger time, consecutive seqs.
    const auto& completed = First(events, "completed");
    const auto& exited = First(events, "exited");
    EXPECT_EQ(exited["seq"].get<uint64_t>(), completed["seq"].get<uint64_t>() + 1) << id;
    EXPECT_EQ(Json({"show", id})["status"], "done");
  }
  const nlohmann::json summary = Summary(*worker);
  EXPECT_EQ(summary["claimed"], kTasks);
  EXPECT_EQ(summary["completed"], kTasks);
  EXPECT_EQ(Json({"verify"})["ok"], true);
}

// The child completes the task itself (with the token in its environment); the worker's
// own end-of-attempt call then records only the exit.
TEST_F(WorkerTest, AChildThatCompletesItselfGetsOnlyItsExitRecorded) {
  Ok({"create", "self", "--title", "T"});
  auto worker = StartWorker({"--exit-when-idle"},
                            "\"$TL\" complete \"$TASKLEDGER_TASK\" --token \"$TASKLEDGER_TOKEN\" --result mine");
  ASSERT_EQ(worker->WaitExit(30s), 0) << worker->output();
  const auto events = Events("self");
  EXPECT_EQ(Count(events, "completed"), 1);
  EXPECT_EQ(Count(events, "exited"), 1);
  EXPECT_EQ(Count(events, "rejected"), 0);
  EXPECT_EQ(First(events, "completed")["result"], "mine");
  EXPECT_EQ(Json({"verify"})["ok"], true);
}

TEST_F(WorkerTest, ExitWhenIdleWaitsForDependentsTheLastEndMadeReady) {
  Ok({"create", "a", "--title", "T"});
  Ok({"create", "b", "--title", "T", "--after", "a"});
  Ok({"create", "c", "--title", "T", "--after", "b"});
  auto worker = StartWorker({"--concurrency", "2", "--exit-when-idle"}, "echo \"$TASKLEDGER_TASK\" >> \"$MARKER\"");
  ASSERT_EQ(worker->WaitExit(30s), 0) << worker->output();
  EXPECT_EQ(MarkerLines(), (std::vector<std::string>{"a", "b", "c"}));
  for (const char* id : {"a", "b", "c"}) EXPECT_EQ(Json({"show", id})["status"], "done") << id;
}

TEST_F(WorkerTest, AChildThatFailsIsRecordedAsItsExitAndTheOthersGoOn) {
  Ok({"create", "good", "--title", "T", "--queue", "q"});
  Ok({"create", "bad", "--title", "T", "--queue", "q", "--max-attempts", "1"});
  auto worker = StartWorker({"--queue", "q", "--concurrency", "2", "--exit-when-idle"},
                            "[ \"$TASKLEDGER_TASK\" = bad ] && exit 7; exit 0");
  ASSERT_EQ(worker->WaitExit(30s), 0) << worker->output();
  EXPECT_EQ(Json({"show", "good"})["status"], "done");
  const nlohmann::json bad = Json({"show", "bad"});
  EXPECT_EQ(bad["status"], "dead");
  const auto exited = First(Events("bad"), "exited");
  EXPECT_EQ(exited["code"], 7);
  EXPECT_EQ(Count(Events("bad"), "completed"), 0);
  const nlohmann::json summary = Summary(*worker);
  EXPECT_EQ(summary["completed"], 1);
  EXPECT_EQ(summary["failed"], 1);
}

TEST_F(WorkerTest, MaxTasksStopsClaimingAfterThatMany) {
  for (int i = 0; i < 5; ++i) Ok({"create", "t" + std::to_string(i), "--title", "T"});
  auto worker = StartWorker({"--concurrency", "2", "--max-tasks", "3"}, "exit 0");
  ASSERT_EQ(worker->WaitExit(30s), 0) << worker->output();
  EXPECT_EQ(Summary(*worker)["claimed"], 3);
  int done = 0;
  for (int i = 0; i < 5; ++i) done += Json({"show", "t" + std::to_string(i)})["status"] == "done";
  EXPECT_EQ(done, 3);
}

// The restart story of the report, for a fleet: SIGTERM to the worker records `signaled`
// for every task it holds, forwards it, waits the grace, kills a child that ignores it, and
// records how each ended; the tasks are claimable again at once (interrupted, no failure).
TEST_F(WorkerTest, SigtermRecordsSignaledForEveryHeldTaskAndDrainsWithinTheGrace) {
  for (const char* id : {"x", "y", "z"}) Ok({"create", id, "--title", "T"});
  // x and y stop on TERM; z ignores it and must be killed after the grace.
  auto worker = StartWorker(
      {"--concurrency", "3", "--ttl", "30s", "--grace", "1s"},
      "[ \"$TASKLEDGER_TASK\" = z ] && trap '' TERM; echo $$ >> \"$MARKER\"; while :; do sleep 0.05; done");
  ASSERT_TRUE(WaitUntil([&] { return MarkerLines().size() == 3; }, 20s)) << worker->output();
  std::vector<pid_t> children;
  for (const std::string& line : MarkerLines()) children.push_back(std::stoi(line));
  worker->Signal(SIGTERM);
  ASSERT_EQ(worker->WaitExit(20s), 0) << worker->output();
  for (pid_t child : children) EXPECT_TRUE(GroupIsGone(child)) << child;

  for (const char* id : {"x", "y", "z"}) {
    const auto events = Events(id);
    const nlohmann::json& signaled = First(events, "signaled");
    ASSERT_FALSE(signaled.is_null()) << id;
    EXPECT_EQ(signaled["signal"], "SIGTERM") << id;
    EXPECT_EQ(signaled["actor"], "w") << id;
    const nlohmann::json& exited = First(events, "exited");
    if (std::string(id) == "z") {
      // Killed when the grace ran out, which is when its lease ended too: the record of
      // its SIGKILL comes at or after the deadline and is refused, kept as evidence.
      const nlohmann::json& late = exited.is_null() ? First(events, "rejected") : exited;
      ASSERT_FALSE(late.is_null()) << id;
      if (exited.is_null()) EXPECT_EQ(late["command"], "exit") << id;
      else EXPECT_EQ(exited["signal"], "SIGKILL") << id;
    } else {
      ASSERT_FALSE(exited.is_null()) << id;
      EXPECT_EQ(exited["signal"], "SIGTERM") << id;
    }
    const nlohmann::json task = Json({"show", id});
    EXPECT_EQ(task["status"], "ready") << id;
    EXPECT_EQ(task["failures"], 0) << id;
    EXPECT_EQ(task["interruptions"], 1) << id;
  }
  EXPECT_EQ(Summary(*worker)["interrupted"], 3);
  EXPECT_EQ(Json({"verify"})["ok"], true);
}

// An operator blocks a task the worker holds: its next renewal is refused (the token is no
// longer current), the worker stops that child alone, its late records are refused and
// kept as evidence, and the worker goes on with the rest.
TEST_F(WorkerTest, ALostLeaseStopsThatChildOnlyAndIsRecordedAsEvidence) {
  Ok({"create", "held", "--title", "T", "--queue", "q"});
  auto worker = StartWorker({"--queue", "q", "--concurrency", "2", "--ttl", "900ms", "--grace", "1s"},
                            "echo $$ >> \"$MARKER\"; [ \"$TASKLEDGER_TASK\" = held ] && exec sleep 60; exit 0");
  ASSERT_TRUE(WaitUntil([&] { return MarkerLines().size() == 1; }, 20s)) << worker->output();
  const pid_t child = std::stoi(MarkerLines()[0]);
  Ok({"block", "held", "--reason", "operator"});
  // The next renewal (every 300 ms) is refused; the child is stopped and reaped.
  ASSERT_TRUE(WaitUntil([&] { return GroupIsGone(child); }, 20s)) << worker->output();
  ASSERT_TRUE(WaitUntil([&] { return Count(Events("held"), "rejected") >= 2; }, 20s)) << worker->output();
  const auto events = Events("held");
  EXPECT_EQ(First(events, "rejected")["command"], "heartbeat");

  // The worker is still there and still runs work.
  Ok({"create", "after", "--title", "T", "--queue", "q"});
  ASSERT_TRUE(WaitUntil([&] { return Json({"show", "after"})["status"] == "done"; }, 20s)) << worker->output();
  worker->Signal(SIGTERM);
  ASSERT_EQ(worker->WaitExit(20s), 0) << worker->output();
  EXPECT_EQ(Summary(*worker)["lease_lost"], 1);
  EXPECT_EQ(Json({"show", "held"})["status"], "blocked");
}

TEST_F(WorkerTest, BadInputIsRefusedBeforeAnythingRuns) {
  const ProcessResult no_command = Run({"worker", "--worker", "w"});
  EXPECT_EQ(no_command.exit_code, 2) << no_command.err;
  const ProcessResult zero = Run({"worker", "--worker", "w", "--concurrency", "0", "--", "/bin/true"});
  EXPECT_EQ(zero.exit_code, 2) << zero.err;
  const ProcessResult bad_queue = Run({"worker", "--worker", "w", "--queue", "no spaces", "--", "/bin/true"});
  EXPECT_EQ(bad_queue.exit_code, 2) << bad_queue.err;
  EXPECT_NE(bad_queue.err.find("queue"), std::string::npos) << bad_queue.err;
  EXPECT_EQ(Ok({"log"}), "");
}

}  // namespace
}  // namespace taskledger
