// The audit verbs as a user runs them: the real binary on ledgers loaded with `import`
// from hand-built logs (explicit times, so every answer is known), embedded on --db,
// through a server (--connect), and on a backup copy; exit codes and one-line errors
// (DESIGN §6); the timeline page as headless Chromium sees it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "ledger/codec.h"
#include "projections/time_text.h"
#include "projections/event_json.h"
#include "tests/audit/ledger_dir.h"
#include "tests/audit/story.h"
#include "tests/support/process.h"
#include "tests/support/server.h"

namespace taskledger::audit_test {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using test::ProcessResult;
using test::TaskledgerBinary;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string JsonLines(const std::vector<Event>& events) {
  std::string out;
  for (const Event& e : events) out += EventToJson(e).dump() + "\n";
  return out;
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

class AuditCliTest : public ::testing::Test {
 protected:
  ProcessResult Run(std::vector<std::string> args, const std::string& db = "") {
    args.insert(args.begin(), {TaskledgerBinary(), "--db", db.empty() ? db_ : db});
    return test::RunProcess(args);
  }
  ProcessResult RunConnected(std::vector<std::string> args) {
    args.insert(args.begin(), {TaskledgerBinary(), "--connect", "unix:" + socket_});
    return test::RunProcess(args);
  }
  std::string Ok(const std::vector<std::string>& args, const std::string& db = "") {
    const ProcessResult r = Run(args, db);
    EXPECT_EQ(r.exit_code, 0) << ::testing::PrintToString(args) << "\nstderr: " << r.err;
    return r.out;
  }
  // The failure must be exactly one line on stderr, naming what was wrong, and no output.
  void ExpectFailure(const ProcessResult& r, int code, const std::string& says) {
    EXPECT_EQ(r.exit_code, code) << r.err;
    EXPECT_EQ(Count(r.err, "\n"), 1u) << r.err;
    EXPECT_THAT(r.err, StartsWith("taskledger: "));
    EXPECT_THAT(r.err, HasSubstr(says));
    EXPECT_EQ(r.out, "");
  }
  std::string WriteFile(const std::string& name, const std::string& content) {
    const std::string path = dir_ / name;
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  void Import(const StoryLog& log, const std::string& db = "") {
    Ok({"import", WriteFile("story.jsonl", JsonLines(log.events()))}, db);
  }
  std::vector<nlohmann::json> JsonOutput(const std::vector<std::string>& args, const std::string& db = "") {
    std::vector<std::string> with_json = args;
    with_json.insert(with_json.begin(), "--json");
    std::istringstream lines(Ok(with_json, db));
    std::vector<nlohmann::json> out;
    for (std::string line; std::getline(lines, line);) out.push_back(nlohmann::json::parse(line));
    return out;
  }

  TempDir dir_;
  std::string db_ = dir_ / "ledger.db";
  std::string socket_ = dir_ / "server.sock";
};

// ---- explain ----

TEST_F(AuditCliTest, ExplainTellsTheSameStoryAsTheLibraryAtATimeAndAtASeq) {
  const StoryLog story = SigtermStory();
  Import(story);
  EXPECT_EQ(Ok({"explain", "etl", "--at", "2023-11-14T22:13:30Z"}), story.ExplainText("etl", kT0 + 10 * kSec));
  EXPECT_EQ(Ok({"explain", "report", "--at", "2023-11-14T22:13:25Z"}), story.ExplainText("report", kT0 + 5 * kSec));
  // seq 5 is w1's SIGTERM at T0+3s: the state as of that event, evaluated at its time.
  EXPECT_EQ(Ok({"explain", "etl", "--at-seq", "5"}), story.ExplainText("etl", kT0 + 3 * kSec));
}

TEST_F(AuditCliTest, ExplainNowSaysWhatHappenedSinceTheLastEvent) {
  Import(SigkillStory());  // 2023: w1's lease lapsed long ago and the backoff is over
  const std::string text = Ok({"explain", "job"});
  EXPECT_THAT(text, HasSubstr("ended 2023-11-14T22:13:34.000Z: expired: the lease lapsed at its deadline, 10s after "
                              "the last heartbeat"));
  EXPECT_THAT(text, HasSubstr("now: ready: claimable now"));
}

TEST_F(AuditCliTest, ExplainJsonIsOneObject) {
  Import(SigstopStory());
  const std::vector<nlohmann::json> out = JsonOutput({"explain", "build", "--at", "2023-11-14T22:14:00Z"});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0]["task"], "build");
  EXPECT_EQ(out[0]["status"], "done");
  EXPECT_EQ(out[0]["attempts"].size(), 2u);
  EXPECT_EQ(out[0]["attempts"][0]["end"], "expired");
  EXPECT_EQ(out[0]["attempts"][0]["marks"].size(), 3u);
}

TEST_F(AuditCliTest, ExplainRefusesUnknownTasksAndBadTimes) {
  Import(SigtermStory());
  ExpectFailure(Run({"explain", "nope"}), 4, "no task nope");
  ExpectFailure(Run({"explain", "etl", "--at", "yesterday"}), 2, "--at");
  ExpectFailure(Run({"explain", "report", "--at", "2023-11-14T22:00:00Z"}), 4, "did not exist");
  ExpectFailure(Run({"explain", "etl", "--at-seq", "99"}), 2, "seq 99");
  ExpectFailure(Run({"explain", "etl", "--at", "-1m", "--at-seq", "3"}), 2, "not both");
}

// ---- ls --at: the state at several points of a scripted history ----

TEST_F(AuditCliTest, LsAtSeveralPointsOfAScriptedHistory) {
  Import(SigtermStory());
  const auto statuses = [&](const std::vector<std::string>& at) {
    std::vector<std::string> args = {"ls"};
    args.insert(args.end(), at.begin(), at.end());
    std::map<std::string, std::string> out;
    for (const nlohmann::json& task : JsonOutput(args)) {
      std::string status = task["status"];
      if (task.contains("holder")) status += " by " + task["holder"].get<std::string>();
      if (task.contains("waiting_for")) status += " for " + task["waiting_for"].get<std::string>();
      out[task["task"]] = status;
    }
    return out;
  };
  using M = std::map<std::string, std::string>;
  EXPECT_EQ(statuses({"--at", "2023-11-14T22:13:20.500Z"}), (M{{"etl", "ready"}, {"report", "waiting for dependency"}}));
  EXPECT_EQ(statuses({"--at", "2023-11-14T22:13:21.500Z"}), (M{{"etl", "running by w1"}, {"report", "waiting for dependency"}}));
  EXPECT_EQ(statuses({"--at", "2023-11-14T22:13:23.999Z"}), (M{{"etl", "running by w1"}, {"report", "waiting for dependency"}}));
  // SIGTERM's 1s grace ran out at +4s: no event, yet the lease is over, and not as a failure.
  EXPECT_EQ(statuses({"--at", "2023-11-14T22:13:24Z"}), (M{{"etl", "ready"}, {"report", "waiting for dependency"}}));
  EXPECT_EQ(statuses({"--at", "2023-11-14T22:13:25Z"}), (M{{"etl", "running by w2"}, {"report", "waiting for dependency"}}));
  EXPECT_EQ(statuses({"--at", "2023-11-14T22:13:26.200Z"}), (M{{"etl", "done"}, {"report", "ready"}}));
  EXPECT_EQ(statuses({"--at", "2023-11-14T22:13:30Z"}), (M{{"etl", "done"}, {"report", "done"}}));
  EXPECT_EQ(statuses({"--at-seq", "6"}), (M{{"etl", "running by w2"}, {"report", "waiting for dependency"}}));
  EXPECT_EQ(statuses({"--at-seq", "1"}), (M{{"etl", "ready"}}));
}

// ---- export and import ----

TEST_F(AuditCliTest, ExportImportExportIsByteIdenticalOnALogOfEveryKind) {
  const std::string file = WriteFile("every.jsonl", JsonLines(EveryKindStory().events()));
  Ok({"import", file});
  const std::string first = Ok({"export"});
  EXPECT_EQ(first, ReadAll(file));
  Ok({"import", WriteFile("first.jsonl", first)}, dir_ / "second.db");
  EXPECT_EQ(Ok({"export"}, dir_ / "second.db"), first);
  EXPECT_THAT(Ok({"verify"}, dir_ / "second.db"), StartsWith("ok: "));
  // export lines are log --json lines
  EXPECT_EQ(Ok({"--json", "log"}), first);
}

TEST_F(AuditCliTest, ExportSinceASeqOrATime) {
  Import(SigtermStory());
  const std::string all = Ok({"export"});
  const std::string since_seq = Ok({"export", "--since", "11"});
  EXPECT_EQ(Count(since_seq, "\n"), 2u);
  EXPECT_EQ(all.substr(all.size() - since_seq.size()), since_seq);
  EXPECT_EQ(Ok({"export", "--since", "2023-11-14T22:13:26.600Z"}), since_seq);
  ExpectFailure(Run({"export", "--since", "soon"}), 2, "--since");
}

TEST_F(AuditCliTest, ImportRefusesABadFileNamingTheLineAndWritesNothing) {
  std::vector<std::string> lines;
  for (const Event& e : SigtermStory().events()) lines.push_back(EventToJson(e).dump());
  const auto file = [&](size_t broken_line, const std::string& replacement) {
    std::string text;
    for (size_t i = 0; i < lines.size(); ++i) text += (i + 1 == broken_line ? replacement : lines[i]) + "\n";
    return WriteFile("bad.jsonl", text);
  };
  const std::string fresh = dir_ / "fresh.db";
  ExpectFailure(Run({"import", file(3, "{not json")}, fresh), 2, "bad.jsonl: line 3: not a JSON object");
  std::string unknown = lines[1];
  unknown.replace(unknown.find("\"created\""), 9, "\"teleported\"");
  ExpectFailure(Run({"import", file(2, unknown)}, fresh), 2, "line 2: event has an unknown kind \"teleported\"");
  ExpectFailure(Run({"import", file(4, "")}, fresh), 2, "line 4: empty line");
  ExpectFailure(Run({"import", file(4, lines[4])}, fresh), 2, "line 4: seq 4 is missing (found seq 5 after seq 3)");
  std::string bad_seq = lines[5];
  bad_seq.replace(bad_seq.find("\"seq\":6"), 7, "\"seq\":0");
  ExpectFailure(Run({"import", file(6, bad_seq)}, fresh), 2, "line 6: seq 6 is missing");
  EXPECT_FALSE(std::filesystem::exists(fresh)) << "a refused import creates no ledger";
  ExpectFailure(Run({"import", dir_ / "absent.jsonl"}, fresh), 2, "not a readable file");
}

TEST_F(AuditCliTest, ImportRefusesANonEmptyLedger) {
  Ok({"create", "mine", "--title", "mine"});
  ExpectFailure(Run({"import", WriteFile("s.jsonl", JsonLines(SigtermStory().events()))}), 3, "is not empty");
  EXPECT_EQ(Count(Ok({"export"}), "\n"), 1u);
}

// ---- verify ----

TEST_F(AuditCliTest, VerifyNamesTheFirstDivergenceAndExitsNonZero) {
  Import(SigtermStory());
  WithRawDb(db_, [&](rocksdb::DB& db, auto& families) {
    std::string bytes;
    ASSERT_TRUE(db.Get(rocksdb::ReadOptions(), families.at("tasks"), "etl", &bytes).ok());
    TaskRecord record = *DecodeTask(bytes);
    record.holder = "mallory";
    ASSERT_TRUE(db.Put(rocksdb::WriteOptions(), families.at("tasks"), "etl", EncodeTask(record)).ok());
  });
  const ProcessResult r = Run({"verify"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(Count(r.err, "\n"), 1u) << r.err;
  EXPECT_THAT(r.err, HasSubstr("the first: seq 9, task etl: the projection differs from the replay of the log in "
                               "field holder (projection \"mallory\", log \"w2\")"));
  const ProcessResult json = Run({"--json", "verify"});
  EXPECT_EQ(json.exit_code, 1);
  EXPECT_EQ(nlohmann::json::parse(json.out)["ok"], false);
}

// ---- stats ----

TEST_F(AuditCliTest, StatsCountsTheZombiesAndRecovery) {
  Import(AllStories());
  const nlohmann::json s = JsonOutput({"stats"}).at(0);
  EXPECT_EQ(s["tasks"], 4);
  EXPECT_EQ(s["events"], AllStories().events().size());
  EXPECT_EQ(s["by_status"]["done"], 3);
  EXPECT_EQ(s["rejections"], 4);
  EXPECT_EQ(s["rejections_by_worker"]["w1"], 4);
  EXPECT_EQ(s["rejections_by_host"]["node-a"], 4);
  EXPECT_EQ(s["attempts_by_outcome"]["expired"], 2);
  EXPECT_EQ(s["recovery"]["count"], 2);
  EXPECT_EQ(s["recovery"]["max_ns"], 3 * kSec);
  const nlohmann::json window = JsonOutput({"stats", "--since", "2023-11-14T22:13:40Z"}).at(0);
  EXPECT_EQ(window["attempts"], 2) << "story 2's second claim (+30s) and story 3's claim (+51s)";
  EXPECT_THAT(Ok({"stats"}), HasSubstr("rejected commands by worker: w1 4; by host: node-a 4"));
}

// ---- timeline ----

bool HaveChromium() { return ::system("command -v chromium >/dev/null 2>&1") == 0; }

// The page as the browser builds it: headless Chromium's serialized DOM.
std::string DumpDom(const TempDir& dir, const std::string& page) {
  const std::string profile = dir / "chromium-profile";
  std::filesystem::create_directories(profile);
  const ProcessResult r = test::RunProcess(
      {"/bin/sh", "-c",
       "exec chromium --headless --no-sandbox --disable-gpu --disable-background-networking "
       "--disable-component-update --disable-sync --no-first-run --disable-dev-shm-usage --user-data-dir='" +
           profile + "' --dump-dom 'file://" + page + "' 2>/dev/null"});
  EXPECT_EQ(r.exit_code, 0);
  return r.out;
}

TEST_F(AuditCliTest, TimelineShowsALanePerTaskInHeadlessChromium) {
  if (!HaveChromium()) GTEST_SKIP() << "chromium is not installed (scripts/install-deps.sh installs it)";
  Import(AllStories());
  const std::string page = dir_ / "stories.html";
  EXPECT_THAT(Ok({"timeline", "--out", page, "--until", "2023-11-14T22:14:30Z"}), HasSubstr("4 tasks"));
  const std::string dom = DumpDom(dir_, page);
  EXPECT_EQ(Count(dom, "<g class=\"lane\""), 4u) << dom.substr(0, 2000);
  for (const char* task : {"etl", "report", "build", "job"}) {
    EXPECT_THAT(dom, HasSubstr("data-task=\"" + std::string(task) + "\"")) << task;
  }
  EXPECT_EQ(Count(dom, "class=\"mark rejected\""), 4u);
  EXPECT_EQ(Count(dom, "class=\"dep\""), 1u);
  EXPECT_THAT(dom, HasSubstr("<title>attempt 1, token 3: w1 pid 4242 on node-a"));
}

TEST_F(AuditCliTest, TimelineOfFiveHundredTasksShowsEveryLane) {
  if (!HaveChromium()) GTEST_SKIP() << "chromium is not installed (scripts/install-deps.sh installs it)";
  StoryLog log;
  for (int i = 0; i < 500; ++i) {
    const std::string id = "t" + std::to_string(i);
    log.Create(kT0 + i * kSec, id, "task " + id, 10 * kSec);
    const uint64_t token = log.Claim(kT0 + i * kSec, id, {"w" + std::to_string(i % 7), 0, ""}, 10 * kSec);
    if (i % 3 != 0) log.Complete(kT0 + i * kSec + 5 * kSec / 10, id, token, {"w", 0, ""}, "ok");
  }
  Import(log);
  const std::string page = dir_ / "many.html";
  Ok({"timeline", "--out", page, "--until", "2023-11-14T22:21:50Z"});
  const std::string dom = DumpDom(dir_, page);
  EXPECT_EQ(Count(dom, "<g class=\"lane\""), 500u);
  EXPECT_THAT(dom, HasSubstr("data-task=\"t499\""));
}

TEST_F(AuditCliTest, TimelineSelectsTasksAndAWindow) {
  Import(AllStories());
  const std::string page = dir_ / "one.html";
  const nlohmann::json reply =
      JsonOutput({"timeline", "--task", "build", "--since", "2023-11-14T22:13:30Z", "--out", page}).at(0);
  EXPECT_EQ(reply["tasks"], 1);
  const std::string html = ReadAll(page);
  EXPECT_EQ(Count(html, "<g class=\"lane\""), 1u);
  EXPECT_THAT(html, HasSubstr("data-task=\"build\""));
  ExpectFailure(Run({"timeline", "--task", "nope", "--out", page}), 4, "no task nope");
  ExpectFailure(Run({"timeline", "--since", "2023-11-14T22:14:00Z", "--until", "2023-11-14T22:13:00Z", "--out", page}),
                2, "--since must be before --until");
  ExpectFailure(Run({"timeline", "--out", dir_ / "no/such/dir/x.html"}), 1, "cannot write");
}

// Drawn years after the work (the stories are from 2023) with no edge given, the page
// fits the work: the right edge is the last thing that happened, not now.
TEST_F(AuditCliTest, TimelineFitsItsDefaultRangeToTheWork) {
  Import(AllStories());
  const std::string page = dir_ / "fit.html";
  const nlohmann::json reply = JsonOutput({"timeline", "--out", page}).at(0);
  EXPECT_EQ(reply["tasks"], 4);
  const int64_t from_ns = reply["from_ns"], to_ns = reply["to_ns"];
  EXPECT_LT(from_ns, kT0);
  EXPECT_GT(to_ns, kT0);
  EXPECT_LT(to_ns - from_ns, 3600 * kSec) << reply.dump();  // minutes of work, not three years
}

// The page's zoom, as the browser runs it: the window in the address (#zoom=FROM,TO in ms)
// stretches the plot, keeps marks their shape, and redraws the axis for that window.
TEST_F(AuditCliTest, TimelineZoomsToTheWindowInItsAddress) {
  if (!HaveChromium()) GTEST_SKIP() << "chromium is not installed (scripts/install-deps.sh installs it)";
  Import(AllStories());
  const std::string page = dir_ / "zoom.html";
  const nlohmann::json reply = JsonOutput({"timeline", "--out", page}).at(0);
  const int64_t from_ns = reply["from_ns"], to_ns = reply["to_ns"];
  const int64_t quarter_ms = (to_ns - from_ns) / 4 / kNanosPerMilli;
  const int64_t a_ms = from_ns / kNanosPerMilli + quarter_ms;
  const std::string window = std::to_string(a_ms) + "," + std::to_string(a_ms + quarter_ms);
  const std::string dom = DumpDom(dir_, page + "#zoom=" + window);
  EXPECT_THAT(dom, HasSubstr("scale(" + std::to_string((to_ns - from_ns) / kNanosPerMilli / quarter_ms)));
  EXPECT_THAT(dom, HasSubstr("class=\"shown\">" + FormatTime(a_ms * kNanosPerMilli)));
  EXPECT_THAT(dom, HasSubstr("--unzoom"));
  EXPECT_EQ(Count(dom, "<g class=\"lane\""), 4u);  // the lanes' fixed parts stay
  // Without a window the page is drawn at its full range.
  EXPECT_THAT(DumpDom(dir_, page), HasSubstr("class=\"shown\">the whole range"));
}

// ---- backup, and every read-only verb on a copy and through a server ----

TEST_F(AuditCliTest, BackupMakesACopyThatVerifiesAndRefusesAUsedDirectory) {
  Import(AllStories());
  EXPECT_THAT(Ok({"backup", dir_ / "copy"}), HasSubstr("the copy verifies"));
  std::filesystem::create_directories(dir_ / "used");
  std::ofstream(dir_ / "used/file") << "x";
  ExpectFailure(Run({"backup", dir_ / "used"}), 2, "exists and is not empty");
  ExpectFailure(Run({"backup", dir_ / "copy2"}, dir_ / "absent.db"), 1, "no ledger");
}

TEST_F(AuditCliTest, ReadOnlyVerbsGiveTheSameAnswersEmbeddedOnABackupAndThroughAServer) {
  Import(AllStories());
  const std::string copy = dir_ / "copy";
  Ok({"backup", copy});
  const std::vector<std::vector<std::string>> verbs = {
      {"explain", "build", "--at", "2023-11-14T22:14:00Z"},
      {"--json", "explain", "etl", "--at-seq", "9"},
      {"export"},
      {"export", "--since", "20"},
      {"verify"}};
  std::vector<std::string> embedded;
  for (const auto& verb : verbs) embedded.push_back(Ok(verb));
  for (size_t i = 0; i < verbs.size(); ++i) EXPECT_EQ(Ok(verbs[i], copy), embedded[i]) << verbs[i][0];

  test::ServerProcess server(db_, socket_, dir_ / "server.out");
  ASSERT_TRUE(server.WaitListening()) << server.output();
  for (size_t i = 0; i < verbs.size(); ++i) {
    const ProcessResult remote = RunConnected(verbs[i]);
    EXPECT_EQ(remote.exit_code, 0) << remote.err;
    EXPECT_EQ(remote.out, embedded[i]) << verbs[i][0];
    // And on --db beside the running server (a RocksDB secondary).
    EXPECT_EQ(Ok(verbs[i]), embedded[i]) << verbs[i][0];
  }
  // stats says when it counted ("now" moves on); the rest must agree.
  nlohmann::json remote_stats = nlohmann::json::parse(RunConnected({"--json", "stats"}).out);
  nlohmann::json beside_stats = JsonOutput({"stats"}).at(0);
  nlohmann::json copy_stats = JsonOutput({"stats"}, copy).at(0);
  for (nlohmann::json* s : {&remote_stats, &beside_stats, &copy_stats}) {
    s->erase("now");
    s->erase("now_ns");
  }
  EXPECT_EQ(remote_stats, copy_stats);
  EXPECT_EQ(beside_stats, copy_stats);
  const std::string page = dir_ / "remote.html";
  EXPECT_EQ(RunConnected({"timeline", "--out", page, "--until", "2023-11-14T22:14:30Z"}).exit_code, 0);
  Ok({"timeline", "--out", dir_ / "local.html", "--until", "2023-11-14T22:14:30Z"}, copy);
  EXPECT_EQ(Count(ReadAll(page), "<g class=\"lane\""), Count(ReadAll(dir_ / "local.html"), "<g class=\"lane\""));
  // import and backup are embedded-only.
  ExpectFailure(RunConnected({"import", dir_ / "story.jsonl"}), 2, "give --db, not --connect");
  ExpectFailure(RunConnected({"backup", dir_ / "copy3"}), 2, "give --db, not --connect");
}


// ---- whatif ----

// The verb on a ledger: the projection's figures (tests/audit/whatif_test.cc) as JSON, and
// a text that names the policy, what changes and the assumptions.
TEST_F(AuditCliTest, WhatIfReplaysTheLogUnderAnotherTtl) {
  Import(SigstopStory());
  const nlohmann::json j = JsonOutput({"whatif", "--ttl", "4s"}).at(0);
  EXPECT_EQ(j.at("tasks"), 1);
  EXPECT_EQ(j.at("recorded").at("stall_ns"), 10 * kSec);
  EXPECT_EQ(j.at("whatif").at("stall_ns"), 8 * kSec);
  EXPECT_EQ(j.at("extra_retries"), 1);
  const std::string text = Ok({"whatif", "--ttl", "4s", "--heartbeat-every", "1s", "--task", "build"});
  EXPECT_THAT(text, StartsWith("what if: ttl 4s, heartbeat every 1s; 1 tasks, 2 attempts"));
  EXPECT_THAT(text, HasSubstr("task build:\n  attempt 1 (w1, token 2): would lapse at"));
  EXPECT_THAT(text, HasSubstr("assumptions:\n  - "));
}

TEST_F(AuditCliTest, WhatIfRefusesBadPolicies) {
  Import(SigstopStory());
  ExpectFailure(Run({"whatif"}), 2, "give --ttl");
  ExpectFailure(Run({"whatif", "--ttl", "0s"}), 2, "--ttl");
  ExpectFailure(Run({"whatif", "--ttl", "soon"}), 2, "--ttl");
  ExpectFailure(Run({"whatif", "--ttl", "5s", "--grace", "-1s"}), 2, "--grace");
  ExpectFailure(Run({"whatif", "--ttl", "5s", "--since", "-1m", "--until", "-2m"}), 2, "--since must be before");
  ExpectFailure(Run({"whatif", "--ttl", "5s", "--task", "nope"}), 4, "nope");
}

}  // namespace
}  // namespace taskledger::audit_test
