// `run` on an embedded ledger (--db, no server): the process opens RocksDB, whose
// background threads exist before the supervisor starts its child. The child's SIGCHLD and
// an operator's SIGTERM must still reach the supervisor's signalfd: a child that exits is
// seen at once (not heartbeated forever), and SIGTERM is recorded as `signaled` and
// forwarded (tools/common/supervision_signals.h). Before the signals were blocked ahead of
// the ledger's threads, 8 runs of `true` in 10 never ended.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace taskledger {
namespace {

using test::ProcessResult;

class EmbeddedRunTest : public ::testing::Test {
 protected:
  std::vector<std::string> Args(std::vector<std::string> args) const {
    args.insert(args.begin(), {test::TaskledgerBinary(), "--db", db_});
    return args;
  }
  ProcessResult Run(const std::vector<std::string>& args) { return test::RunProcess(Args(args)); }
  std::string Log(const std::string& task) { return Run({"log", "--task", task}).out; }

  test::TempDir dir_{"taskledger-embedded-run"};
  std::string db_ = dir_ / "ledger.db";
};

TEST_F(EmbeddedRunTest, AChildThatExitsAtOnceIsSeenEveryTime) {
  for (int i = 0; i < 10; ++i) {
    const std::string task = "t" + std::to_string(i);
    ASSERT_EQ(Run({"create", task, "--title", "quick"}).exit_code, 0);
    test::Background run(Args({"run", task, "--worker", "w1", "--ttl", "30s", "--", "true"}), {},
                         dir_ / ("run-" + task + ".out"));
    // The lease is 30 s and heartbeats come every 10 s: an exit not seen would keep it.
    const int code = run.WaitExit(std::chrono::seconds(8));
    ASSERT_EQ(code, 0) << "run " << task << " did not end (-1) or failed: " << run.output();
    EXPECT_NE(Log(task).find("completed"), std::string::npos) << Log(task);
  }
}

TEST_F(EmbeddedRunTest, AWorkerSeesItsChildrenExitToo) {
  for (int i = 0; i < 6; ++i) ASSERT_EQ(Run({"create", "w" + std::to_string(i), "--title", "quick"}).exit_code, 0);
  test::Background worker(Args({"worker", "--queue", "default", "--concurrency", "3", "--worker", "w1", "--ttl",
                                "30s", "--exit-when-idle", "--", "true"}),
                          {}, dir_ / "worker.out");
  ASSERT_EQ(worker.WaitExit(std::chrono::seconds(20)), 0) << worker.output();
  const ProcessResult ls = Run({"--json", "ls"});
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  size_t done = 0;
  for (size_t at = 0; (at = ls.out.find("\"status\":\"done\"", at)) != std::string::npos; ++at) ++done;
  EXPECT_EQ(done, 6u) << ls.out;
}

TEST_F(EmbeddedRunTest, SigtermIsRecordedAndForwarded) {
  ASSERT_EQ(Run({"create", "slow", "--title", "slow"}).exit_code, 0);
  const std::string marker = dir_ / "started";
  test::Background run(Args({"run", "slow", "--worker", "w1", "--ttl", "30s", "--grace", "5s", "--", "sh", "-c",
                             "touch " + marker + "; exec sleep 30"}),
                       {}, dir_ / "run-slow.out");
  ASSERT_TRUE(test::WaitUntil([&] { return ::access(marker.c_str(), F_OK) == 0; },
                              std::chrono::seconds(10)))
      << run.output();
  run.Signal(SIGTERM);
  EXPECT_EQ(run.WaitExit(std::chrono::seconds(15)), 128 + SIGTERM) << run.output();
  const std::string log = Log("slow");
  EXPECT_NE(log.find("signaled"), std::string::npos) << log;
  EXPECT_NE(log.find("exited"), std::string::npos) << log;
}


// Every command of a supervisor and of a worker says where it comes from: its host and its
// writer's wall time (explain and stats flag a clock off the ledger's by them).
TEST_F(EmbeddedRunTest, SupervisorsAndWorkersStampHostAndWallTime) {
  ASSERT_EQ(Run({"create", "r", "--title", "by run"}).exit_code, 0);
  ASSERT_EQ(Run({"create", "w", "--title", "by worker"}).exit_code, 0);
  ASSERT_EQ(Run({"run", "r", "--worker", "sup", "--", "true"}).exit_code, 0);
  test::Background worker(Args({"worker", "--queue", "default", "--concurrency", "1", "--worker", "wrk", "--",
                                "true"}),
                          {}, dir_ / "worker.out");
  for (int i = 0; i < 200 && Run({"--json", "show", "w"}).out.find("\"status\":\"done\"") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // polling the task's end, bounded
  }
  ::kill(worker.pid(), SIGTERM);
  worker.WaitExit(std::chrono::seconds(10));
  for (const std::string task : {"r", "w"}) {
    const ProcessResult log = Run({"--json", "log", "--task", task});
    ASSERT_EQ(log.exit_code, 0) << log.err;
    size_t holder_events = 0;
    std::istringstream lines(log.out);
    for (std::string line; std::getline(lines, line);) {
      const nlohmann::json e = nlohmann::json::parse(line);
      if (e.at("kind") == "created") continue;
      ++holder_events;
      EXPECT_TRUE(e.contains("host") && !e.at("host").get<std::string>().empty()) << line;
      ASSERT_TRUE(e.contains("client_time_ns")) << line;
      // Same machine, same clock: within a second of the ledger's.
      EXPECT_LT(std::abs(e.at("client_time_ns").get<int64_t>() - e.at("time_ns").get<int64_t>()), 1'000'000'000) << line;
    }
    EXPECT_GE(holder_events, 3u) << log.out;  // claimed, completed, exited
  }
}

}  // namespace
}  // namespace taskledger
