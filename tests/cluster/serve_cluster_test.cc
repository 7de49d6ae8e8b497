// `taskledger serve --cluster` (tools/server/cluster_member.h): three real server
// processes on one partition's log, on three clustered NATS servers (R3), driven through
// the CLI (and the HTTP API) as a user would. One writes; the others stand by, pass their
// clients' commands on to it, and follow the log. A writer killed -9, or frozen past its
// lease, is replaced; nothing acknowledged is lost, the frozen writer does not write once
// woken (a command it reads late reaches the new writer), a command passed on to it
// unanswered is reported as of unknown outcome (CLI exit 1, HTTP 504), and every server's
// view ends identical and verifies clean.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ledger/jetstream_log.h"
#include "tests/cluster/nats_cluster.h"
#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/server.h"
#include "tests/support/temp_dir.h"

namespace taskledger {
namespace {

using namespace std::chrono_literals;
using test::Background;
using test::HttpRequest;
using test::HttpResponse;
using test::NatsCluster;
using test::ProcessResult;
using test::RunProcess;
using test::ServerProcess;
using test::TaskledgerBinary;
using test::TempDir;
using test::WaitUntil;

constexpr int kServers = 3;

class ServeClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(HasFatalFailure());  // a NATS server that did not start
    nlohmann::json config = {{"nats", nats_.Urls()}, {"replicas", 3}, {"lease_ttl", LeaseTtl()}};
    for (int i = 0; i < kServers; ++i) config["servers"][Name(i)] = "unix:" + Socket(i);
    for (int i = 0; i < kServers; ++i) {
      config["name"] = Name(i);
      std::ofstream(Config(i)) << config.dump();
      Start(i);
    }
    for (int i = 0; i < kServers; ++i) ASSERT_TRUE(servers_[i]->WaitListening(30s)) << servers_[i]->output();
  }

  // 2 s: a holder renews with about 0.9 s to spare, room for a loaded CI machine.
  virtual std::string LeaseTtl() const { return "2s"; }
  static std::string Name(int i) { return "n" + std::to_string(i + 1); }
  std::string Socket(int i) const { return root_.path() + "/" + Name(i) + ".sock"; }
  std::string Config(int i) const { return root_.path() + "/" + Name(i) + ".json"; }
  // Each server's HTTP API (serve --http), which routes commands as the RPC does.
  std::string HttpSocket(int i) const { return root_.path() + "/" + Name(i) + ".http"; }
  void Start(int i) {
    servers_[i] = std::make_unique<ServerProcess>(root_.path() + "/" + Name(i) + ".db", Socket(i),
                                                  root_.path() + "/" + Name(i) + ".out." + std::to_string(++starts_),
                                                  std::vector<std::string>{"--cluster", Config(i), "--http", "unix:" + HttpSocket(i)},
                                                  std::vector<std::string>{"--log-level", "info"});
  }

  ProcessResult Cli(int i, std::vector<std::string> args) {
    args.insert(args.begin(), {TaskledgerBinary(), "--connect", "unix:" + Socket(i)});
    return RunProcess(args);
  }
  // The server (not `except`) whose log says last that it writes the partition, waiting
  // until exactly one does (a writer cut off from NATS says so only once it stands by);
  // -1 if none does within `limit`.
  int Writer(int except = -1, std::chrono::milliseconds limit = 30s) {
    int writer = -1;
    WaitUntil(
        [&] {
          writer = -1;
          int writing_now = 0;
          for (int i = 0; i < kServers; ++i) {
            const std::string out = servers_[i]->output();
            const size_t writing = out.rfind("partition 0: writing");
            const size_t standing = out.rfind("partition 0: standing by");
            if (i != except && writing != std::string::npos && (standing == std::string::npos || standing < writing)) {
              writer = i;
              ++writing_now;
            }
          }
          if (writing_now != 1) writer = -1;
          return writer >= 0;
        },
        limit);
    return writer;
  }
  // The server (not `except`) that first accepts a create of `id`, trying each in turn
  // until one does; -1 if none does within `limit`.
  int CreateSomewhere(const std::string& id, std::chrono::milliseconds limit, int except = -1) {
    int writer = -1;
    WaitUntil(
        [&] {
          for (int i = 0; i < kServers && writer < 0; ++i) {
            if (i != except && Cli(i, {"create", id, "--title", id}).exit_code == 0) writer = i;
          }
          return writer >= 0;
        },
        limit);
    return writer;
  }
  // Every task's events on server i, in log order, as the export prints them (the history
  // that must be identical on every replica).
  std::string History(int i) {
    ProcessResult log = Cli(i, {"log", "--json"});
    EXPECT_EQ(log.exit_code, 0) << log.err;
    return log.out;
  }
  void ExpectVerifyClean(int i) {
    ProcessResult verify = Cli(i, {"verify", "--json"});
    EXPECT_EQ(verify.exit_code, 0) << Name(i) << ": " << verify.out << verify.err;
  }
  // Waits until server i's view holds `history` (it follows the log).
  void ExpectCaughtUp(int i, const std::string& history) {
    EXPECT_TRUE(WaitUntil([&] { return History(i) == history; }, 20s))
        << Name(i) << " did not catch up:\n" << History(i) << "\nexpected:\n" << history;
  }

  TempDir root_{"taskledger-serve-cluster"};
  NatsCluster nats_{root_.path(), 3};
  std::unique_ptr<ServerProcess> servers_[kServers];
  int starts_ = 0;
};

TEST_F(ServeClusterTest, AWriterKilledIsReplacedWithNothingAcknowledgedLost) {
  const int writer = Writer();
  ASSERT_GE(writer, 0) << "no server took the partition";
  ASSERT_EQ(Cli(writer, {"create", "t0", "--title", "t0"}).exit_code, 0);
  for (int t = 1; t < 20; ++t) ASSERT_EQ(Cli(writer, {"create", "t" + std::to_string(t), "--title", "t"}).exit_code, 0);
  ProcessResult claim = Cli(writer, {"claim", "t0", "--worker", "w1", "--ttl", "1h"});
  ASSERT_EQ(claim.exit_code, 0) << claim.err;
  std::string token;  // claim prints: id token deadline
  std::istringstream(claim.out) >> token >> token;

  // A standby passes commands on to the writer (a client may connect to any server), and
  // serves reads from its view, which follows the log.
  const int standby = (writer + 1) % kServers;
  ProcessResult forwarded = Cli(standby, {"create", "forwarded", "--title", "forwarded"});
  EXPECT_EQ(forwarded.exit_code, 0) << forwarded.err;
  EXPECT_EQ(Cli(writer, {"show", "forwarded"}).exit_code, 0) << "the writer does not have what a standby passed on";
  const std::string before = History(writer);
  for (int i = 0; i < kServers; ++i) ExpectCaughtUp(i, before);

  // kill -9 the writer: another takes over once the lease has lapsed (2 s), with every
  // acknowledged command, the lease held on t0 included.
  servers_[writer]->process().Signal(SIGKILL);
  servers_[writer]->process().WaitExit(10s);
  const auto lost = std::chrono::steady_clock::now();
  ASSERT_GE(CreateSomewhere("after-kill", 30s, writer), 0) << "no server took over";
  const int next = Writer(writer);
  ASSERT_GE(next, 0);
  std::cout << "takeover after kill -9: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - lost).count()
            << " ms\n";
  const std::string history = History(next);
  EXPECT_EQ(history.rfind(before, 0), 0u) << "the new writer's log does not begin with the old one's";
  nlohmann::json t0 = nlohmann::json::parse(Cli(next, {"show", "t0", "--json"}).out);
  EXPECT_EQ(t0["holder"], "w1") << t0.dump();
  EXPECT_EQ(std::to_string(t0["token"].get<uint64_t>()), token) << t0.dump();
  EXPECT_EQ(Cli(next, {"claim", "t0", "--worker", "w2"}).exit_code, 3) << "the lease held by w1 was lost";

  // The killed server comes back as a standby and catches up.
  Start(writer);
  ASSERT_TRUE(servers_[writer]->WaitListening(30s)) << servers_[writer]->output();
  const std::string after = History(next);
  for (int i = 0; i < kServers; ++i) {
    ExpectCaughtUp(i, after);
    ExpectVerifyClean(i);
  }
}

// The woken writer's own refusal is not visible from here (its late command is retried by
// the CLI and lands through the new writer); that a writer past its lease cannot append is
// PartitionWriterTest's and PartitionWriterOnNats*'s to show. This shows what a client sees.
TEST_F(ServeClusterTest, AFrozenWriterIsReplacedAndItsLateCommandTakesEffectOnce) {
  const int writer = Writer();
  ASSERT_GE(writer, 0) << "no server took the partition";
  ASSERT_EQ(Cli(writer, {"create", "t0", "--title", "t0"}).exit_code, 0);
  // The standby below knows whom to pass commands on to (else it answers Busy, which the
  // CLI retries and an HTTP client sees).
  const int standby = (writer + 1) % kServers;
  ASSERT_TRUE(WaitUntil(
      [&] { return servers_[standby]->output().find("standing by; its writer is " + Name(writer)) != std::string::npos; },
      20s))
      << servers_[standby]->output();

  // SIGSTOP the writer, and send it a command it will only read once it wakes.
  servers_[writer]->process().Signal(SIGSTOP);
  Background late({TaskledgerBinary(), "--connect", "unix:" + Socket(writer), "create", "late", "--title", "late"}, {},
                  root_.path() + "/late.out");
  // A standby passes a command on to the frozen writer: it is sent, no answer comes, and
  // whether it took effect is unknown. The client is told so (exit 1), not Busy, which the
  // CLI would retry: a retry of a command that took effect could act twice.
  // Over HTTP alike (504, code unknown_outcome), sent at once beside it: both are passed
  // on while the frozen server is still the writer the standby knows.
  Background passed({TaskledgerBinary(), "--connect", "unix:" + Socket(standby), "create", "passed", "--title", "passed"},
                    {}, root_.path() + "/passed.out");
  const HttpResponse over_http =
      HttpRequest(HttpSocket(standby), "POST", "/v1/tasks", R"({"id":"passed-over-http","title":"h"})", "", 20s);
  EXPECT_EQ(over_http.status, 504) << over_http.error << over_http.body;
  EXPECT_NE(over_http.body.find(R"("code":"unknown_outcome")"), std::string::npos) << over_http.body;
  EXPECT_EQ(passed.WaitExit(20s), 1) << passed.output();
  EXPECT_NE(passed.output().find("did not answer in time; whether the commands took effect is unknown"),
            std::string::npos)
      << passed.output();
  ASSERT_GE(CreateSomewhere("t1", 30s, writer), 0) << "no server took over from the frozen writer";
  const int next = Writer(writer);
  ASSERT_GE(next, 0);
  servers_[writer]->process().Signal(SIGCONT);

  // Woken, its lease long lapsed, it must not write: it answers the late create Busy,
  // steps down, and passes the client's retry on to the new writer. So the task is
  // created once, by the new writer.
  EXPECT_EQ(late.WaitExit(30s), 0) << late.output();
  EXPECT_EQ(Cli(next, {"show", "late"}).exit_code, 0);
  // Here the unknown outcome was "not done": the woken writer refused what was passed on
  // (its lease had lapsed), and passed-on commands are not passed on again.
  EXPECT_EQ(Cli(next, {"show", "passed"}).exit_code, 4);
  EXPECT_EQ(Cli(next, {"show", "passed-over-http"}).exit_code, 4);
  // It steps down and follows the new writer.
  ASSERT_EQ(Cli(next, {"create", "t2", "--title", "t2"}).exit_code, 0);
  const std::string history = History(next);
  for (int i = 0; i < kServers; ++i) {
    ExpectCaughtUp(i, history);
    ExpectVerifyClean(i);
  }
  EXPECT_NE(servers_[writer]->output().find("standing by; its writer is " + Name(next)), std::string::npos)
      << servers_[writer]->output();
}

// Clients keep sending commands to every server (creates, and claims of the next ready
// task with a lease of 1 h) while the NATS server leading the stream is killed -9 and
// restarted, the writer is frozen past its lease and woken, and the writer is killed -9
// and restarted. Every command a client was told succeeded is in the final history;
// no task was ever claimed twice (a second claim of a task under a 1 h lease would be a
// second live lease); and every server ends with the same history, verified clean.
TEST_F(ServeClusterTest, UnderLoadKillsAndFreezesLoseNothingAcknowledgedAndLeaseNothingTwice) {
  int writer = Writer();
  ASSERT_GE(writer, 0) << "no server took the partition";

  std::mutex mu;
  std::set<std::string> created;                  // acknowledged creates
  std::map<std::string, std::string> claimed;      // acknowledged claims: task -> token
  std::vector<std::string> claimed_twice;          // an acknowledged claim of a task claimed before
  std::map<int, int> exits;                        // every command's exit code, counted
  std::map<std::string, int> failures;             // what the failed ones said, counted
  std::atomic<bool> stop{false};
  std::atomic<int> acknowledged{0};
  auto load = [&](int client) {
    for (int n = 0; !stop.load(); ++n) {
      const int server = (client + n + n / 3) % kServers;  // creates and claims through every server
      const bool claim = n % 3 == 2;
      const std::string id = "c" + std::to_string(client) + "-" + std::to_string(n);
      const ProcessResult r =
          claim ? Cli(server, {"claim", "--next", "--worker", "w" + std::to_string(client), "--ttl", "1h"})
                : Cli(server, {"create", id, "--title", id});
      std::lock_guard<std::mutex> lock(mu);
      ++exits[r.exit_code];
      if (r.exit_code != 0) {
        ++failures[r.err.substr(0, r.err.find_first_of("(\n"))];
        continue;
      }
      ++acknowledged;
      if (!claim) {
        created.insert(id);
        continue;
      }
      std::string task, token;  // claim prints: id token deadline
      std::istringstream(r.out) >> task >> token;
      if (!claimed.emplace(task, token).second) claimed_twice.push_back(task + " (" + r.out + ")");
    }
  };
  // Waits until the clients have had `more` commands acknowledged since the call.
  auto progress = [&](int more, const std::string& after) {
    const int from = acknowledged.load();
    EXPECT_TRUE(WaitUntil([&] { return acknowledged.load() >= from + more; }, 60s))
        << "no progress after " << after << ": " << acknowledged.load() - from << " acknowledged";
  };
  std::vector<std::thread> clients;
  // Joined however the test ends: a failed ASSERT returns from here, and a thread still
  // joinable when it goes would end the whole binary.
  struct JoinAll {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~JoinAll() {
      stop = true;
      for (std::thread& t : threads) {
        if (t.joinable()) t.join();
      }
    }
  } join_all{stop, clients};
  for (int c = 0; c < 2; ++c) clients.emplace_back(load, c);
  progress(15, "the start");

  // 1. kill -9 the NATS server leading the partition's stream; a new leader is elected
  //    (NATS waits 4 to 9 s to call an election), and the killed server comes back.
  {
    JetStreamLogOptions options;
    options.servers = nats_.Urls();
    options.stream = "TASKLEDGER_P0";
    options.subject = "taskledger.p0";
    options.replicas = 3;
    options.patience = 30s;
    Result<std::unique_ptr<JetStreamLog>> log = JetStreamLog::Open(options);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    Result<std::string> leader = (*log)->Leader();
    ASSERT_TRUE(leader.ok()) << leader.status().ToString();
    const int index = nats_.IndexOf(*leader);
    ASSERT_GE(index, 0) << *leader;
    log->reset();  // its connection would ride the failover too
    nats_.Kill(index);
    progress(10, "the stream leader was killed");
    nats_.Restart(index);
    progress(10, "the stream leader came back");
  }

  // 2. SIGSTOP the writer past its lease (2 s): another takes over; woken, it stands by.
  //    Asked again: the lease may have moved while NATS elected a new leader.
  writer = Writer();
  ASSERT_GE(writer, 0) << "no writer after the NATS failover";
  servers_[writer]->process().Signal(SIGSTOP);
  const int after_freeze = Writer(writer);
  servers_[writer]->process().Signal(SIGCONT);
  ASSERT_GE(after_freeze, 0) << "no server took over from the frozen writer";
  EXPECT_TRUE(WaitUntil(
      [&] {
        return servers_[writer]->output().find("standing by; its writer is " + Name(after_freeze)) != std::string::npos;
      },
      30s))
      << "the woken writer did not stand by:\n" << servers_[writer]->output();
  progress(10, "the writer was frozen and woken");

  // 3. kill -9 the writer; another takes over; the killed one comes back and catches up.
  writer = after_freeze;
  servers_[writer]->process().Signal(SIGKILL);
  servers_[writer]->process().WaitExit(10s);
  progress(10, "the writer was killed");
  Start(writer);
  ASSERT_TRUE(servers_[writer]->WaitListening(30s)) << servers_[writer]->output();
  progress(10, "the killed writer came back");

  stop = true;
  for (std::thread& t : clients) t.join();
  std::ostringstream counts;
  for (const auto& [code, count] : exits) counts << " exit " << code << ": " << count << ";";
  for (const auto& [said, count] : failures) counts << "\n  " << count << " x " << said;
  std::cout << "acknowledged " << created.size() << " creates and " << claimed.size() << " claims;" << counts.str()
            << "\n";

  const int last = Writer();
  ASSERT_GE(last, 0);
  const std::string history = History(last);
  std::set<std::string> in_log;
  std::map<std::string, std::vector<std::string>> claims_in_log;  // task -> tokens
  std::istringstream lines(history);
  for (std::string line; std::getline(lines, line);) {
    const nlohmann::json event = nlohmann::json::parse(line);
    if (event["kind"] == "created") in_log.insert(event["task"].get<std::string>());
    if (event["kind"] == "claimed") {
      claims_in_log[event["task"].get<std::string>()].push_back(std::to_string(event["token"].get<uint64_t>()));
    }
  }
  for (const std::string& id : created) EXPECT_TRUE(in_log.count(id)) << "acknowledged create of " << id << " lost";
  for (const auto& [task, token] : claimed) {
    const auto found = claims_in_log.find(task);
    EXPECT_TRUE(found != claims_in_log.end() && found->second == std::vector<std::string>{token})
        << "the acknowledged claim of " << task << " (token " << token << ") is not the one claim in the log";
  }
  for (const auto& [task, tokens] : claims_in_log) {
    EXPECT_EQ(tokens.size(), 1u) << task << " was claimed " << tokens.size() << " times under a 1 h lease";
  }
  EXPECT_TRUE(claimed_twice.empty()) << claimed_twice.front();
  EXPECT_GT(claimed.size(), 0u);
  for (int i = 0; i < kServers; ++i) {
    ExpectCaughtUp(i, history);
    ExpectVerifyClean(i);
  }
}

// A lease of 10 s: a handover that waited for it to lapse would take longer than the 5 s
// allowed, so only a released lease passes.
class ServeClusterLongLeaseTest : public ServeClusterTest {
 protected:
  std::string LeaseTtl() const override { return "10s"; }
};

TEST_F(ServeClusterLongLeaseTest, AStoppedWriterHandsOverAtOnce) {
  const int writer = Writer();
  ASSERT_GE(writer, 0) << "no server took the partition";
  // SIGTERM: it finishes and releases the lease; a standby takes over without waiting the
  // ttl out.
  ASSERT_EQ(servers_[writer]->Stop(), 0) << servers_[writer]->output();
  EXPECT_NE(servers_[writer]->output().find("writer lease released"), std::string::npos) << servers_[writer]->output();
  const auto stopped = std::chrono::steady_clock::now();
  const int next = CreateSomewhere("t1", 30s, writer);
  ASSERT_GE(next, 0);
  ASSERT_GE(Writer(writer), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, 5s);
  ExpectVerifyClean(next);
}

// A config that cannot be right is refused before anything starts: one line naming the
// file and the field, exit 2 (4 for a file that is not there), no socket left behind.
TEST(ServeClusterConfigTest, ABadConfigIsRefusedWithOneLineNamingTheField) {
  TempDir root("taskledger-cluster-config");
  const std::string good_servers = R"("servers": {"n1": "unix:)" + root.path() + R"(/n1.sock"})";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", "not JSON"},
      {R"({"nats": ["nats://127.0.0.1:4222"], )" + good_servers + "}", "\"name\" (this server's name) is required"},
      {R"({"name": "n1", )" + good_servers + "}", "\"nats\" must list"},
      {R"({"name": "n1", "nats": ["http://x"], )" + good_servers + "}", "expected nats://HOST:PORT"},
      {R"({"name": "n1", "nats": ["nats://127.0.0.1:4222"], "replicas": 2, )" + good_servers + "}",
       "\"replicas\" must be 1 or 3"},
      {R"({"name": "n1", "nats": ["nats://127.0.0.1:4222"], "partitions": 4, )" + good_servers + "}",
       "this version serves one partition"},
      {R"({"name": "n1", "nats": ["nats://127.0.0.1:4222"], "lease_ttl": "10ms", )" + good_servers + "}",
       "\"lease_ttl\" must be from 100ms to 1m"},
      {R"({"name": "n1", "nats": ["nats://127.0.0.1:4222"], "servers": {"n2": "unix:/tmp/x.sock"}})",
       "\"servers\" does not name this server"},
      {R"({"name": "n1", "nats": ["nats://127.0.0.1:4222"], "servers": {"n1": "udp:1"}})", "\"servers\": n1:"},
      {R"({"name": "n1", "nats": ["nats://127.0.0.1:4222"], "lease": "2s", )" + good_servers + "}",
       "unknown field \"lease\""},
  };
  int i = 0;
  for (const auto& [config, error] : cases) {
    const std::string path = root.path() + "/c" + std::to_string(++i) + ".json";
    std::ofstream(path) << config;
    ProcessResult serve = RunProcess({TaskledgerBinary(), "--db", root.path() + "/db", "serve", "--cluster", path});
    EXPECT_EQ(serve.exit_code, 2) << config << "\n" << serve.err;
    EXPECT_EQ(serve.err.rfind("taskledger: " + path + ": cluster config: ", 0), 0u) << serve.err;
    EXPECT_NE(serve.err.find(error), std::string::npos) << config << "\n" << serve.err;
    EXPECT_EQ(std::count(serve.err.begin(), serve.err.end(), '\n'), 1) << serve.err;
  }
  ProcessResult missing =
      RunProcess({TaskledgerBinary(), "--db", root.path() + "/db", "serve", "--cluster", root.path() + "/none.json"});
  EXPECT_EQ(missing.exit_code, 4) << missing.err;
  EXPECT_NE(missing.err.find("none.json: cannot be read"), std::string::npos) << missing.err;
  EXPECT_FALSE(std::ifstream(root.path() + "/n1.sock").good()) << "a refused server left its socket";
}

}  // namespace
}  // namespace taskledger
