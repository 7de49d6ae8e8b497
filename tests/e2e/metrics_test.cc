// `serve --http`: GET /metrics after a scripted story through the RPC, with exact values;
// /healthz, 404 and 405; and the --http addresses serve refuses.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/server.h"

namespace taskledger {
namespace {

using namespace test;

class MetricsTest : public ServerTest {
 protected:
  std::vector<std::string> ExtraServeArgs() const override { return {"--http", "unix:" + http_path_}; }

  HttpResponse Get(const std::string& target, const std::string& method = "GET") const {
    return HttpOverUnix(http_path_, method, target);
  }

  // The value of the sample named exactly `series` (name and labels as rendered); "" if none.
  static std::string Sample(const std::string& metrics, const std::string& series) {
    std::istringstream lines(metrics);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind(series + " ", 0) == 0) return line.substr(series.size() + 1);
    }
    return "";
  }

  std::string http_path_ = root_ + "/http.sock";
};

TEST_F(MetricsTest, CountsAScriptedStory) {
  ASSERT_EQ(Ok({"create", "t1", "--title", "story"}), "t1\n");
  // claim prints: ID TOKEN DEADLINE
  std::istringstream claimed(Ok({"claim", "--next", "--worker", "w1"}));
  std::string id;
  uint64_t token = 0;
  claimed >> id >> token;
  ASSERT_EQ(id, "t1");
  ASSERT_GT(token, 1u);
  Ok({"heartbeat", "t1", "--worker", "w1", "--token", std::to_string(token)});
  // An older token (the create's seq): a zombie's heartbeat, refused and recorded.
  const ProcessResult stale = Run({"heartbeat", "t1", "--worker", "w1", "--token", std::to_string(token - 1)});
  EXPECT_EQ(stale.exit_code, 3) << stale.err;
  Ok({"complete", "t1", "--worker", "w1", "--token", std::to_string(token), "--result", "done"});
  const ProcessResult none = Run({"claim", "--next", "--worker", "w1"});
  EXPECT_EQ(none.exit_code, 4) << none.err;

  const HttpResponse response = Get("/metrics");
  ASSERT_EQ(response.status, 200) << response.error;
  EXPECT_NE(response.headers.find("Content-Type: text/plain; version=0.0.4; charset=utf-8"), std::string::npos)
      << response.headers;
  const std::string& m = response.body;
  EXPECT_EQ(Sample(m, R"(taskledger_commands_total{kind="create",outcome="ok"})"), "1") << m;
  EXPECT_EQ(Sample(m, R"(taskledger_commands_total{kind="claim",outcome="ok"})"), "1") << m;
  EXPECT_EQ(Sample(m, R"(taskledger_commands_total{kind="claim",outcome="not_found"})"), "1") << m;
  EXPECT_EQ(Sample(m, R"(taskledger_commands_total{kind="heartbeat",outcome="ok"})"), "1") << m;
  EXPECT_EQ(Sample(m, R"(taskledger_commands_total{kind="heartbeat",outcome="refused"})"), "1") << m;
  EXPECT_EQ(Sample(m, R"(taskledger_commands_total{kind="complete",outcome="ok"})"), "1") << m;
  EXPECT_EQ(Sample(m, "taskledger_command_duration_seconds_count"), "6") << m;
  EXPECT_EQ(Sample(m, R"(taskledger_command_duration_seconds_bucket{le="+Inf"})"), "6") << m;
  EXPECT_EQ(Sample(m, "taskledger_leases_granted_total"), "1") << m;
  EXPECT_EQ(Sample(m, "taskledger_leases_renewed_total"), "1") << m;
  EXPECT_EQ(Sample(m, "taskledger_leases_expired_total"), "0") << m;
  EXPECT_EQ(Sample(m, R"(taskledger_rejections_total{command="heartbeat",reason="stale_token"})"), "1") << m;
  EXPECT_EQ(Sample(m, R"(taskledger_attempts_ended_total{how="completed"})"), "1") << m;
  EXPECT_EQ(Sample(m, R"(taskledger_attempts_ended_total{how="failed"})"), "0") << m;
  EXPECT_EQ(Sample(m, R"(taskledger_events_appended_total{kind="created"})"), "1") << m;
  EXPECT_EQ(Sample(m, R"(taskledger_events_appended_total{kind="rejected"})"), "1") << m;
  // created, claimed, heartbeat, rejected, completed
  EXPECT_EQ(Sample(m, "taskledger_last_seq"), "5") << m;
  EXPECT_EQ(Sample(m, R"(taskledger_http_requests_total{code="200"})"), "1") << m;
  EXPECT_NE(m.find("taskledger_build_info{version=\""), std::string::npos) << m;
  EXPECT_NE(m.find("# TYPE taskledger_commit_group_size histogram"), std::string::npos) << m;
  EXPECT_NE(Sample(m, "taskledger_fsync_duration_seconds_count"), "0") << m;
  EXPECT_NE(Sample(m, "taskledger_startup_seconds"), "") << m;
}

// Runs `args` until it exits 0 and prints something containing `expected`, for at most
// `limit` (WaitUntil: bounded polling): a lease lapse with a 1 s ttl, then the backoff.
ProcessResult RunUntil(const std::function<ProcessResult()>& run, const std::string& expected,
                       std::chrono::seconds limit) {
  ProcessResult result;
  WaitUntil(
      [&] {
        result = run();
        return result.exit_code == 0 && result.out.find(expected) != std::string::npos;
      },
      limit);
  return result;
}

// The task timings and the scrape-time task counts after a story: a task created, claimed
// and completed; one whose 1 s lease lapses (marked by a sweep) and is claimed again; one
// waiting in another queue.
TEST_F(MetricsTest, TimesWaitsAttemptsAndRecoveriesAndCountsTasks) {
  ASSERT_EQ(Ok({"create", "t1", "--title", "quick"}), "t1\n");
  std::istringstream claimed(Ok({"claim", "--next", "--worker", "w1"}));
  std::string id;
  uint64_t token = 0;
  claimed >> id >> token;
  ASSERT_EQ(id, "t1");
  Ok({"complete", "t1", "--worker", "w1", "--token", std::to_string(token)});

  ASSERT_EQ(Ok({"create", "t2", "--title", "lost", "--ttl", "1s"}), "t2\n");
  std::istringstream lost(Ok({"claim", "--next", "--worker", "w2"}));
  lost >> id;
  ASSERT_EQ(id, "t2");
  const ProcessResult swept = RunUntil([&] { return Run({"sweep"}); }, "t2", std::chrono::seconds(20));
  ASSERT_NE(swept.out.find("t2"), std::string::npos) << swept.out << swept.err;
  // After the lapse the task backs off (1 s by default) before it is ready again.
  const ProcessResult reclaimed = RunUntil(
      [&] { return Run({"claim", "--next", "--worker", "w3", "--ttl", "60s"}); }, "t2", std::chrono::seconds(20));
  ASSERT_EQ(reclaimed.exit_code, 0) << reclaimed.err;
  ASSERT_EQ(reclaimed.out.rfind("t2 ", 0), 0u) << reclaimed.out;

  ASSERT_EQ(Ok({"create", "t3", "--title", "elsewhere", "--queue", "other"}), "t3\n");

  const HttpResponse response = Get("/metrics");
  ASSERT_EQ(response.status, 200) << response.error;
  const std::string& m = response.body;
  // t1's first claim, t2's first claim and its claim after the lapse.
  EXPECT_EQ(Sample(m, "taskledger_queue_wait_seconds_count"), "3") << m;
  EXPECT_EQ(Sample(m, R"(taskledger_attempt_duration_seconds_count{how="completed"})"), "1") << m;
  EXPECT_EQ(Sample(m, R"(taskledger_attempt_duration_seconds_count{how="expired"})"), "1") << m;
  EXPECT_EQ(Sample(m, R"(taskledger_attempt_duration_seconds_count{how="failed"})"), "0") << m;
  // The lapsed attempt ran exactly its 1 s ttl (it ends at its deadline).
  EXPECT_EQ(Sample(m, R"(taskledger_attempt_duration_seconds_sum{how="expired"})"), "1") << m;
  EXPECT_EQ(Sample(m, "taskledger_recovery_seconds_count"), "1") << m;
  // From the deadline to the re-claim: at least the 1 s backoff.
  EXPECT_GE(std::stod(Sample(m, "taskledger_recovery_seconds_sum")), 1.0) << m;
  EXPECT_EQ(Sample(m, "taskledger_leases_expired_total"), "1") << m;

  EXPECT_EQ(Sample(m, R"(taskledger_tasks{queue="default",status="done"})"), "1") << m;
  EXPECT_EQ(Sample(m, R"(taskledger_tasks{queue="default",status="running"})"), "1") << m;
  EXPECT_EQ(Sample(m, R"(taskledger_tasks{queue="default",status="ready"})"), "0") << m;
  EXPECT_EQ(Sample(m, R"(taskledger_tasks{queue="other",status="ready"})"), "1") << m;
  EXPECT_EQ(Sample(m, R"(taskledger_active_leases{queue="default"})"), "1") << m;
  EXPECT_EQ(Sample(m, R"(taskledger_active_leases{queue="other"})"), "0") << m;
  EXPECT_NE(Sample(m, "taskledger_tasks_scan_seconds"), "") << m;
  // No worker ids in any label.
  EXPECT_EQ(m.find("w1"), std::string::npos) << m;
  EXPECT_EQ(m.find("w3"), std::string::npos) << m;
}

TEST_F(MetricsTest, AnswersHealthzAndRefusesOtherPathsAndMethods) {
  const HttpResponse health = Get("/healthz");
  EXPECT_EQ(health.status, 200) << health.error;
  EXPECT_EQ(health.body, "ok\n");

  const HttpResponse missing = Get("/nope?x=1");
  EXPECT_EQ(missing.status, 404) << missing.error;
  EXPECT_EQ(missing.body, "{\"code\":\"not_found\",\"error\":\"no such path: /nope\"}\n");

  const HttpResponse posted = Get("/metrics", "POST");
  EXPECT_EQ(posted.status, 405) << posted.error;
  EXPECT_EQ(posted.body, "{\"code\":\"invalid_argument\",\"error\":\"/metrics takes GET, HEAD, not POST\"}\n");
  EXPECT_NE(posted.headers.find("Allow: GET, HEAD"), std::string::npos) << posted.headers;

  // A method HTTP does not have: kj answers 501 itself, and that is counted too.
  const HttpResponse garbage = Get("/metrics", "BREW");
  EXPECT_EQ(garbage.status, 501) << garbage.error;

  const HttpResponse metrics = Get("/metrics");
  ASSERT_EQ(metrics.status, 200) << metrics.error;
  EXPECT_EQ(Sample(metrics.body, R"(taskledger_http_requests_total{code="501"})"), "1") << metrics.body;
  EXPECT_EQ(Sample(metrics.body, R"(taskledger_http_requests_total{code="404"})"), "1") << metrics.body;
  EXPECT_EQ(Sample(metrics.body, R"(taskledger_http_requests_total{code="405"})"), "1") << metrics.body;
}

TEST_F(MetricsTest, StopsServingHttpOnSigtermAndRemovesItsSocket) {
  ASSERT_EQ(Get("/healthz").status, 200);
  const int stopped = server_->Stop();
  EXPECT_EQ(stopped, 0) << server_->output();
  server_.reset();  // stopped here, not again in TearDown
  EXPECT_LT(test::RawConnect(http_path_), 0);
  EXPECT_NE(::access(http_path_.c_str(), F_OK), 0) << "the server left its HTTP socket behind";
}

TEST_F(MetricsTest, RefusesASecondServerOnALiveHttpSocket) {
  const ProcessResult second =
      RunProcess({TaskledgerBinary(), "--db", root_ + "/other.db", "serve", "--listen", "unix:" + root_ + "/o.sock",
                  "--http", "unix:" + http_path_});
  EXPECT_EQ(second.exit_code, 1) << second.err;
  EXPECT_EQ(second.err, "taskledger: a server is already listening on unix:" + http_path_ + "\n");
}

// Bad --http addresses: one line, non-zero, before the ledger is opened.
TEST(ServeHttpFlag, RefusesBadAddresses) {
  TempDir dir("taskledger-http-flag");
  const std::vector<std::string> serve = {TaskledgerBinary(), "--db", dir.path() + "/ledger.db", "serve",
                                          "--listen", "unix:" + dir.path() + "/rpc.sock", "--http"};
  struct Case {
    std::string address;
    std::string error;
  };
  for (const Case& c : std::vector<Case>{
           {"bogus", "taskledger: --http: "},
           {"tcp:192.0.2.1:9100", "taskledger: --http: 192.0.2.1 is not loopback; pass --allow-remote"}}) {
    std::vector<std::string> argv = serve;
    argv.push_back(c.address);
    const ProcessResult refused = RunProcess(argv);
    EXPECT_EQ(refused.exit_code, 2) << c.address << ": " << refused.err;
    EXPECT_EQ(refused.err.rfind(c.error, 0), 0u) << refused.err;
    EXPECT_EQ(CountOf(refused.err, "\n"), 1u) << refused.err;
  }
}

// An HTTP address that cannot be bound (here: a port in use) stops serve before it serves
// anything, and leaves no RPC socket behind.
TEST(ServeHttpFlag, FailsCleanlyWhenTheHttpPortIsTaken) {
  TempDir dir("taskledger-http-taken");
  const int taken = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(taken, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(::bind(taken, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ASSERT_EQ(::listen(taken, 1), 0);
  ASSERT_EQ(::getsockname(taken, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string port = std::to_string(ntohs(address.sin_port));
  const std::string rpc_path = dir.path() + "/rpc.sock";
  const ProcessResult refused = RunProcess({TaskledgerBinary(), "--db", dir.path() + "/ledger.db", "serve", "--listen",
                                            "unix:" + rpc_path, "--http", "tcp:127.0.0.1:" + port});
  ::close(taken);
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  EXPECT_EQ(refused.err.rfind("taskledger: cannot listen (HTTP) on tcp:127.0.0.1:" + port + ": ", 0), 0u)
      << refused.err;
  EXPECT_EQ(CountOf(refused.err, "\n"), 1u) << refused.err;
  EXPECT_NE(::access(rpc_path.c_str(), F_OK), 0) << "the RPC socket was left behind";
}

}  // namespace
}  // namespace taskledger
