// The JSON API of `serve --http` (docs/http.md): every command is the same command as over
// RPC (the CLI sees what HTTP did, and the other way round), replies and reads have the
// CLI's --json shapes, the exit-code classes map to HTTP statuses, bad input writes
// nothing, and a TCP listener refuses cross-site writes.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/server.h"

namespace taskledger {
namespace {

using namespace test;
using nlohmann::json;

class HttpApiTest : public ServerTest {
 protected:
  std::vector<std::string> ExtraServeArgs() const override { return {"--http", "unix:" + http_path_}; }

  HttpResponse Post(const std::string& target, const std::string& body) const {
    return HttpRequest(http_path_, "POST", target, body);
  }
  HttpResponse Get(const std::string& target) const { return HttpOverUnix(http_path_, "GET", target); }

  // The body of a response that must have `status`, as JSON.
  static json Expect(const HttpResponse& response, int status) {
    EXPECT_EQ(response.status, status) << response.error << response.body;
    json body = json::parse(response.body, nullptr, false);
    EXPECT_FALSE(body.is_discarded()) << response.body;
    return body;
  }

  uint64_t LastSeq() { return Expect(Get("/v1/now"), 200)["last_seq"].get<uint64_t>(); }

  std::string http_path_ = root_ + "/http.sock";
};

TEST_F(HttpApiTest, ATasksLifeOverHttpIsTheSameLifeTheCliSees) {
  const json created = Expect(Post("/v1/tasks", R"({"id":"etl","title":"nightly ETL","ttl":"30s"})"), 200);
  EXPECT_EQ(created["task"], "etl");
  EXPECT_EQ(created["status"], "ready");
  Expect(Post("/v1/tasks", R"({"id":"report","title":"report","after":["etl"]})"), 200);

  const json claimed = Expect(Post("/v1/claim", R"({"worker":"w1","ttl":"20s"})"), 200);
  EXPECT_EQ(claimed["task"], "etl");
  EXPECT_EQ(claimed["status"], "running");
  ASSERT_TRUE(claimed.contains("deadline_ns")) << claimed;
  const uint64_t token = claimed["token"].get<uint64_t>();

  const json beat = Expect(Post("/v1/tasks/etl/heartbeat",
                                R"({"worker":"w1","note":"half","token":)" + std::to_string(token) + "}"),
                           200);
  EXPECT_GE(beat["deadline_ns"].get<int64_t>(), claimed["deadline_ns"].get<int64_t>());

  // GET /v1/tasks/ID is `show --json`, key for key (times aside: evaluated a moment apart).
  json over_http = Expect(Get("/v1/tasks/etl"), 200);
  json over_cli = Json({"show", "etl"});
  for (json* view : {&over_http, &over_cli}) view->erase("at"), view->erase("at_ns");
  EXPECT_EQ(over_http, over_cli);

  Expect(Post("/v1/tasks/etl/complete", R"({"worker":"w1","result":"42 rows","token":)" + std::to_string(token) + "}"),
         200);
  EXPECT_EQ(Json({"show", "etl"})["status"], "done");
  EXPECT_EQ(Json({"show", "report"})["status"], "ready");

  // The log is the CLI's log.
  const json events = Expect(Get("/v1/tasks/etl/events"), 200)["events"];
  ASSERT_EQ(events.size(), 4u) << events;  // created, claimed, heartbeat, completed
  EXPECT_EQ(events[3]["kind"], "completed");
  EXPECT_EQ(events, json(Events("etl")));
}

TEST_F(HttpApiTest, StatusesFollowTheExitCodeClassesAndRefusalsAreRecorded) {
  Expect(Post("/v1/tasks", R"({"id":"t","title":"t","ttl":"30s"})"), 200);
  // Nothing ready in another queue: not found.
  const json none = Expect(Post("/v1/claim", R"({"worker":"w1","queue":"empty"})"), 404);
  EXPECT_EQ(none["code"], "not_found");
  EXPECT_EQ(none["error"], "no task is ready in queue empty");

  const json claimed = Expect(Post("/v1/tasks/t/claim", R"({"worker":"w1"})"), 200);
  const uint64_t token = claimed["token"].get<uint64_t>();
  // A second claim, and a zombie's heartbeat with a token that is not the holder's: 409,
  // and the refusal is in the log (the evidence).
  EXPECT_EQ(Expect(Post("/v1/tasks/t/claim", R"({"worker":"w2"})"), 409)["code"], "refused");
  const json stale = Expect(Post("/v1/tasks/t/heartbeat", R"({"worker":"w0","pid":4242,"host":"node-7","token":)" +
                                                             std::to_string(token - 1) + "}"),
                            409);
  EXPECT_NE(stale["error"].get<std::string>().find("heartbeat refused"), std::string::npos) << stale;
  EXPECT_EQ(Count(Events("t"), "rejected", "w0"), 1);
  // The sender's pid and host, in its own words, are on the evidence.
  const std::vector<json> events = Events("t");
  const json& rejected = First(events, "rejected");
  EXPECT_EQ(rejected["pid"], 4242) << rejected;
  EXPECT_EQ(rejected["host"], "node-7") << rejected;

  EXPECT_EQ(Expect(Get("/v1/tasks/nope"), 404)["code"], "not_found");
  EXPECT_EQ(Expect(Post("/v1/tasks/nope/heartbeat", R"({"token":1})"), 404)["code"], "not_found");
  EXPECT_EQ(Expect(Get("/v1/nowhere"), 404)["error"], "no such path: /v1/nowhere");

  const HttpResponse wrong_method = Get("/v1/tasks/t/complete");
  EXPECT_EQ(Expect(wrong_method, 405)["error"], "/v1/tasks/t/complete takes POST, not GET");
  EXPECT_NE(wrong_method.headers.find("Allow: POST"), std::string::npos) << wrong_method.headers;
  EXPECT_EQ(Expect(Post("/v1/stats", "{}"), 405)["error"], "/v1/stats takes GET, HEAD, not POST");
}

TEST_F(HttpApiTest, BadInputIsRefusedWithOneLineAndWritesNothing) {
  Expect(Post("/v1/tasks", R"({"id":"t","title":"t"})"), 200);
  const uint64_t before = LastSeq();
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"/v1/tasks", R"({"title":"x","colour":"red"})"},           // unknown key
      {"/v1/tasks", R"({"title":7})"},                            // wrong type
      {"/v1/tasks", R"({"title":"x","ttl":"0s"})"},               // a ttl of nothing
      {"/v1/tasks", R"({"title":"x")"},                           // malformed JSON
      {"/v1/tasks", R"(["title"])"},                              // not an object
      {"/v1/tasks/t/claim", R"({"worker":"w","id":"u"})"},        // two task ids
      {"/v1/tasks/t/heartbeat", R"({"token":-1})"},               // not a token
      {"/v1/tasks/t/heartbeat", R"({})"},                         // no token
      {"/v1/tasks/t/signal", R"({"token":1,"signal":"NOPE"})"},   // unknown signal
      {"/v1/tasks/t/exit", R"({"token":1,"code":1,"signal":"KILL"})"},
      {"/v1/tasks/t/block", R"({})"},                             // block needs a reason
      {"/v1/claim", R"({"worker":"w","id":"t"})"},                // claim next names no task
      {"/v1/commands", R"({"commands":[{"verb":"create","title":"ok"},{"verb":"frobnicate"}]})"},
      {"/v1/commands", R"({"commands":[]})"},
      {"/v1/tasks?x=1", R"({"title":"x"})"},                      // commands take no query
      {"/v1/tasks/t/heartbeat", R"({"token":1,"pid":"me"})"},     // a pid is a number
  };
  for (const auto& [target, body] : bad) {
    const json reply = Expect(Post(target, body), 400);
    EXPECT_EQ(reply["code"], "invalid_argument") << target << " " << body;
    const std::string error = reply["error"].get<std::string>();
    EXPECT_FALSE(error.empty());
    EXPECT_EQ(error.find('\n'), std::string::npos) << error;
  }
  EXPECT_EQ(LastSeq(), before) << "a refused request wrote something";
  EXPECT_EQ(Expect(Get("/v1/tasks?colour=red"), 400)["error"], "unknown query parameter \"colour\"");
  EXPECT_EQ(Expect(Get("/v1/tasks?status=sleeping"), 400)["code"], "invalid_argument");
}

TEST_F(HttpApiTest, ABatchCommitsEachCommandWithItsOwnOutcome) {
  Expect(Post("/v1/tasks", R"({"id":"a","title":"a"})"), 200);
  const json token = Expect(Post("/v1/tasks/a/claim", R"({"worker":"w"})"), 200)["token"];
  const json batch = json{{"commands",
                           {{{"verb", "complete"}, {"id", "a"}, {"token", token}, {"worker", "w"}},
                            {{"verb", "heartbeat"}, {"id", "a"}, {"token", token}},
                            {{"verb", "create"}, {"id", "b"}, {"title", "b"}},
                            {{"verb", "claim"}, {"next", true}, {"worker", "w"}},
                            {{"verb", "signal"}, {"id", "b"}, {"token", 1}, {"signal", "TERM"}}}}};
  const json outcomes = Expect(Post("/v1/commands", batch.dump()), 200)["outcomes"];
  ASSERT_EQ(outcomes.size(), 5u) << outcomes;
  EXPECT_EQ(outcomes[0]["status"], "done");
  EXPECT_EQ(outcomes[1]["code"], "refused");  // the task is done: no lease to renew
  EXPECT_EQ(outcomes[2]["task"], "b");
  EXPECT_EQ(outcomes[3]["task"], "b");
  EXPECT_EQ(outcomes[3]["status"], "running");
  EXPECT_EQ(outcomes[4]["code"], "refused");  // a stale token
  EXPECT_EQ(Json({"show", "b"})["holder"], "w");
}

TEST_F(HttpApiTest, ReadsAreTheAuditVerbsOutputs) {
  Expect(Post("/v1/tasks", R"({"id":"q1","title":"one","queue":"mail"})"), 200);
  Expect(Post("/v1/tasks", R"({"id":"q2","title":"two"})"), 200);
  Expect(Post("/v1/tasks/q1/claim", R"({"worker":"w"})"), 200);

  const json listed = Expect(Get("/v1/tasks?queue=mail"), 200);
  ASSERT_EQ(listed["tasks"].size(), 1u) << listed;
  EXPECT_EQ(listed["tasks"][0]["task"], "q1");
  EXPECT_EQ(Expect(Get("/v1/tasks?status=ready"), 200)["tasks"][0]["task"], "q2");
  EXPECT_EQ(Expect(Get("/v1/tasks?at_seq=1"), 200)["tasks"].size(), 1u);

  json explained = Expect(Get("/v1/tasks/q1/explain"), 200);
  json cli_explained = Json({"explain", "q1"});
  for (json* e : {&explained, &cli_explained}) e->erase("at"), e->erase("at_ns");
  EXPECT_EQ(explained["summary"], cli_explained["summary"]);
  EXPECT_EQ(explained["attempts"].size(), cli_explained["attempts"].size());

  const json stats = Expect(Get("/v1/stats"), 200);
  EXPECT_EQ(stats["tasks"], Json({"stats"})["tasks"]);
  const json verified = Expect(Get("/v1/verify"), 200);
  EXPECT_EQ(verified["ok"], true);
  EXPECT_EQ(verified["events"], 3);

  const HttpResponse page = Get("/v1/timeline?task=q1");
  EXPECT_EQ(page.status, 200);
  EXPECT_NE(page.headers.find("Content-Type: text/html"), std::string::npos) << page.headers;
  EXPECT_NE(page.body.find("q1"), std::string::npos);
  EXPECT_EQ(Expect(Get("/v1/timeline?task=nope"), 404)["code"], "not_found");

  const json first = Expect(Get("/v1/events?limit=2"), 200);
  ASSERT_EQ(first["events"].size(), 2u);
  EXPECT_EQ(first["next_seq"], 3);
  const json rest = Expect(Get("/v1/events?since=3"), 200);
  ASSERT_EQ(rest["events"].size(), 1u);
  EXPECT_EQ(rest["events"][0]["kind"], "claimed");
  EXPECT_EQ(rest["next_seq"], 4);
  EXPECT_EQ(Expect(Get("/v1/events?since=99"), 200)["next_seq"], 99);
  EXPECT_EQ(Expect(Get("/v1/events?limit=0"), 400)["code"], "invalid_argument");
}

TEST_F(HttpApiTest, WhatIfSweepAndRebuildAnswerAsTheirVerbs) {
  Expect(Post("/v1/tasks", R"({"id":"w","title":"w"})"), 200);
  Expect(Post("/v1/tasks/w/claim", R"({"worker":"w1","ttl":"1ms"})"), 200);
  // The 1 ms lease lapses at once; sweep records it (polled, bounded: the ledger's clock
  // must have passed the deadline).
  json swept;
  for (int i = 0; i < 200 && (swept.is_null() || swept["events"].empty()); ++i) {
    swept = Expect(Post("/v1/sweep", ""), 200);
  }
  ASSERT_EQ(swept["events"].size(), 1u) << swept;
  EXPECT_EQ(swept["events"][0]["kind"], "lease_expired");
  EXPECT_EQ(swept["events"][0]["task"], "w");
  EXPECT_EQ(Expect(Post("/v1/sweep", "{}"), 200)["events"].size(), 0u) << "a lapse is recorded once";
  EXPECT_EQ(Expect(Post("/v1/sweep", R"({"all":true})"), 400)["code"], "invalid_argument");

  json over_http = Expect(Get("/v1/whatif?ttl=30s&task=w"), 200);
  json over_cli = Json({"whatif", "--ttl", "30s", "--task", "w"});
  for (json* report : {&over_http, &over_cli}) report->erase("at"), report->erase("at_ns");
  EXPECT_EQ(over_http, over_cli);
  EXPECT_EQ(Expect(Get("/v1/whatif"), 400)["error"], "whatif: give --ttl D, the lease ttl to replay the history under");
  EXPECT_EQ(Expect(Get("/v1/whatif?ttl=30s&task=nope"), 404)["code"], "not_found");

  const json rebuilt = Expect(Post("/v1/rebuild", ""), 200);
  EXPECT_EQ(rebuilt["tasks"], 1);
  EXPECT_EQ(rebuilt["events"], Expect(Get("/v1/verify"), 200)["events"]);
}

TEST_F(HttpApiTest, TheStreamSendsTheLogThenEachEventAsItCommits) {
  Expect(Post("/v1/tasks", R"({"id":"s1","title":"one"})"), 200);
  const int fd = test::RawConnect(http_path_);
  ASSERT_GE(fd, 0);
  const std::string request = "GET /v1/events/stream?since=1 HTTP/1.1\r\nHost: localhost\r\n\r\n";
  ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()));
  const auto read_until = [fd](const std::string& wanted) {
    std::string received;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (received.find(wanted) == std::string::npos && std::chrono::steady_clock::now() < give_up) {
      pollfd readable{fd, POLLIN, 0};
      if (::poll(&readable, 1, 100) <= 0) continue;
      char buffer[4096];
      const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      received.append(buffer, static_cast<size_t>(n));
    }
    return received;
  };
  const std::string head = read_until("\"task\":\"s1\"");
  EXPECT_NE(head.find("Content-Type: application/x-ndjson"), std::string::npos) << head;
  EXPECT_NE(head.find("\"kind\":\"created\""), std::string::npos) << head;
  Ok({"create", "s2", "--title", "two"});  // through the RPC: the stream sees it too
  EXPECT_NE(read_until("\"task\":\"s2\"").find("\"seq\":2"), std::string::npos);
  ::close(fd);
  ExpectStillServing();
}

class HttpOverTcpTest : public ServerTest {
 protected:
  std::vector<std::string> ExtraServeArgs() const override { return {"--http", "tcp:127.0.0.1:0"}; }
  void SetUp() override {
    ServerTest::SetUp();
    std::smatch port;
    const std::string output = server_->output();
    ASSERT_TRUE(std::regex_search(output, port, std::regex("http on tcp:127\\.0\\.0\\.1:([0-9]+)"))) << output;
    address_tcp_ = "tcp:" + port[1].str();
  }
  std::string address_tcp_;
};

TEST_F(HttpOverTcpTest, RefusesCrossSiteWritesButServesItsOwnPage) {
  const std::string body = R"({"id":"t","title":"t"})";
  const HttpResponse untyped = HttpRequest(address_tcp_, "POST", "/v1/tasks", body);
  EXPECT_EQ(untyped.status, 415) << untyped.body;
  const HttpResponse form =
      HttpRequest(address_tcp_, "POST", "/v1/tasks", body, "Content-Type: application/x-www-form-urlencoded\r\n");
  EXPECT_EQ(form.status, 415) << form.body;
  const HttpResponse foreign = HttpRequest(address_tcp_, "POST", "/v1/tasks", body,
                                           "Content-Type: application/json\r\nOrigin: http://evil.example\r\n");
  EXPECT_EQ(foreign.status, 403) << foreign.body;
  EXPECT_EQ(Run({"show", "t"}).exit_code, 4) << "a refused write created the task";

  const std::string own_origin = "http://127.0.0.1:" + address_tcp_.substr(4);
  const HttpResponse own = HttpRequest(address_tcp_, "POST", "/v1/tasks", body,
                                       "Content-Type: application/json\r\nOrigin: " + own_origin + "\r\n");
  EXPECT_EQ(own.status, 200) << own.body;
  const HttpResponse plain =
      HttpRequest(address_tcp_, "POST", "/v1/tasks", R"({"title":"u"})", "Content-Type: application/json\r\n");
  EXPECT_EQ(plain.status, 200) << plain.body;
  EXPECT_EQ(HttpRequest(address_tcp_, "GET", "/v1/tasks/t", "").status, 200);
}

}  // namespace
}  // namespace taskledger
