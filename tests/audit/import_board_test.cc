// import-board: kanban boards (SQLite, written here from the documented schema, in several
// generations) loaded into an empty ledger by the real binary; then explain, stats, verify
// and whatif on the result. The board is only ever read: its bytes and mtime stay as they
// were, even while another connection holds a write transaction on it (WAL mode). A
// malformed board, or a non-empty ledger, is refused in one line and nothing is written.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace taskledger::audit_test {
namespace {

using test::ProcessResult;
using test::TaskledgerBinary;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;

// 2025-11-29T07:06:40Z: board times are epoch seconds.
constexpr int64_t kBoardT0 = 1764400000;

// The tables of hermes-board.md §1, in the columns every generation has; a generation's
// extra columns are added by the test that needs them.
constexpr char kTasksTable[] =
    "CREATE TABLE tasks (id TEXT PRIMARY KEY, title TEXT NOT NULL, body TEXT, assignee TEXT, status TEXT NOT NULL, "
    "priority INTEGER DEFAULT 0, created_by TEXT, created_at INTEGER NOT NULL, started_at INTEGER, "
    "completed_at INTEGER, workspace_kind TEXT NOT NULL DEFAULT 'scratch', result TEXT, claim_lock TEXT, "
    "claim_expires INTEGER, worker_pid INTEGER, last_heartbeat_at INTEGER, max_runtime_seconds INTEGER, "
    "consecutive_failures INTEGER NOT NULL DEFAULT 0, last_failure_error TEXT, max_retries INTEGER";
constexpr char kOtherTables[] =
    "CREATE TABLE task_links (parent_id TEXT NOT NULL, child_id TEXT NOT NULL, PRIMARY KEY (parent_id, child_id));"
    "CREATE TABLE task_comments (id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, author TEXT NOT NULL,"
    " body TEXT NOT NULL, created_at INTEGER NOT NULL);";
constexpr char kEventsWithoutRuns[] =
    "CREATE TABLE task_events (id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, kind TEXT NOT NULL,"
    " payload TEXT, created_at INTEGER NOT NULL);";
constexpr char kEventsWithRuns[] =
    "CREATE TABLE task_events (id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, run_id INTEGER,"
    " kind TEXT NOT NULL, payload TEXT, created_at INTEGER NOT NULL);";
constexpr char kRunsTable[] =
    "CREATE TABLE task_runs (id INTEGER PRIMARY KEY AUTOINCREMENT, task_id TEXT NOT NULL, profile TEXT,"
    " step_key TEXT, status TEXT NOT NULL, claim_lock TEXT, claim_expires INTEGER, worker_pid INTEGER,"
    " max_runtime_seconds INTEGER, last_heartbeat_at INTEGER, started_at INTEGER NOT NULL, ended_at INTEGER,"
    " outcome TEXT, summary TEXT, error TEXT, metadata TEXT";

// A board file written through SQLite, as the dispatcher writes it.
class BoardWriter {
 public:
  BoardWriter(const std::string& path, bool with_runs, const std::string& extra_task_columns = "",
              const std::string& extra_run_columns = "")
      : has_runs_(with_runs) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    std::string schema = std::string(kTasksTable) + ", current_run_id INTEGER" + extra_task_columns + ");" +
                         kOtherTables + (with_runs ? kEventsWithRuns : kEventsWithoutRuns);
    if (with_runs) schema += std::string(kRunsTable) + extra_run_columns + ");";
    Exec(schema);
  }
  ~BoardWriter() { sqlite3_close(db_); }
  BoardWriter(const BoardWriter&) = delete;
  BoardWriter& operator=(const BoardWriter&) = delete;

  void Exec(const std::string& sql) {
    char* error = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error), SQLITE_OK) << (error ? error : "") << "\n"
                                                                                   << sql;
    sqlite3_free(error);
  }
  void Task(const std::string& id, const std::string& title, const std::string& status, int64_t at,
            const std::string& assignee = "coder") {
    Exec("INSERT INTO tasks (id, title, assignee, status, created_by, created_at) VALUES ('" + id + "', '" + title +
         "', '" + assignee + "', '" + status + "', 'alice', " + std::to_string(at) + ")");
  }
  void Link(const std::string& parent, const std::string& child) {
    Exec("INSERT INTO task_links VALUES ('" + parent + "', '" + child + "')");
  }
  // run_id < 0: NULL (or no column at all, on a board from before runs).
  void Event(const std::string& task, const std::string& kind, int64_t at, int64_t run_id = -1,
             const std::string& payload = "") {
    const std::string p = payload.empty() ? "NULL" : "'" + payload + "'";
    if (has_runs_) {
      Exec("INSERT INTO task_events (task_id, run_id, kind, payload, created_at) VALUES ('" + task + "', " +
           (run_id < 0 ? "NULL" : std::to_string(run_id)) + ", '" + kind + "', " + p + ", " + std::to_string(at) + ")");
    } else {
      Exec("INSERT INTO task_events (task_id, kind, payload, created_at) VALUES ('" + task + "', '" + kind + "', " + p +
           ", " + std::to_string(at) + ")");
    }
  }
  void Run(int64_t id, const std::string& task, const std::string& lock, int64_t pid, int64_t started, int64_t ended,
           const std::string& outcome, bool still_holds = false) {
    has_runs_ = true;
    Exec(
        "INSERT INTO task_runs (id, task_id, profile, status, claim_lock, worker_pid, started_at, ended_at, outcome)"
        " VALUES (" +
        std::to_string(id) + ", '" + task + "', 'coder', '" + (outcome.empty() ? "running" : outcome) + "', " +
        (ended == 0 || still_holds ? "'" + lock + "'" : "NULL") + ", " +
        (ended == 0 || still_holds ? std::to_string(pid) : "NULL") + ", " + std::to_string(started) + ", " +
        (ended == 0 ? "NULL" : std::to_string(ended)) + ", " + (outcome.empty() ? "NULL" : "'" + outcome + "'") + ")");
  }
  void set_has_runs(bool has) { has_runs_ = has; }
  sqlite3* db() { return db_; }

 private:
  sqlite3* db_ = nullptr;
  bool has_runs_ = false;
};

// hermes-board.md §8 and DESIGN §1, the reported story: the worker of t_0000000a is
// SIGTERM'd after two heartbeats; its pid still answers kill(pid, 0), so the dispatcher
// extends the claim every tick (60 s) for three hours; t_0000000b, which depends on it,
// never starts; an operator blocks the task by hand. The closed run still holds the pid.
void WriteReportedStory(BoardWriter& board) {
  board.set_has_runs(true);
  board.Task("t_0000000a", "index the corpus", "blocked", kBoardT0);
  board.Task("t_0000000b", "summarize the index", "todo", kBoardT0 + 1);
  board.Link("t_0000000a", "t_0000000b");
  board.Run(1, "t_0000000a", "host-a:4242", 777, kBoardT0 + 10, kBoardT0 + 3 * 3600 + 900, "blocked", true);
  board.Event("t_0000000a", "created", kBoardT0);
  board.Event("t_0000000b", "created", kBoardT0 + 1);
  board.Event("t_0000000a", "promoted", kBoardT0 + 2);
  board.Event("t_0000000a", "claimed", kBoardT0 + 10, 1, R"({"lock":"host-a:4242","expires":1764400910,"run_id":1})");
  board.Event("t_0000000a", "spawned", kBoardT0 + 11, 1, R"({"pid":777})");
  board.Event("t_0000000a", "heartbeat", kBoardT0 + 100, 1);
  board.Event("t_0000000a", "heartbeat", kBoardT0 + 550, 1);
  board.Exec("BEGIN");
  // SIGTERM at +600 s; from the claim's expiry on (+910 s), one extension per tick for 3 h.
  for (int64_t t = kBoardT0 + 910; t <= kBoardT0 + 910 + 3 * 3600 - 60; t += 60) {
    board.Event("t_0000000a", "claim_extended", t, 1,
                R"({"reason":"pid alive","worker_pid":777,"claim_lock":"host-a:4242","last_heartbeat_at":1764400550})");
  }
  board.Exec("COMMIT");
  board.Event("t_0000000a", "blocked", kBoardT0 + 3 * 3600 + 900, 1,
              R"({"reason":"stuck for hours: blocking by hand","kind":"manual","source_status":"running"})");
  board.Exec(
      "INSERT INTO task_comments (task_id, author, body, created_at) VALUES ('t_0000000a', 'bob', "
      "'worker looks like a zombie', " +
      std::to_string(kBoardT0 + 3 * 3600 + 901) + ")");
}

class ImportBoardTest : public ::testing::Test {
 protected:
  ProcessResult Run(std::vector<std::string> args, const std::string& db = "") {
    args.insert(args.begin(), {TaskledgerBinary(), "--db", db.empty() ? db_ : db});
    return test::RunProcess(args);
  }
  std::string Ok(const std::vector<std::string>& args, const std::string& db = "") {
    const ProcessResult r = Run(args, db);
    EXPECT_EQ(r.exit_code, 0) << ::testing::PrintToString(args) << "\nstderr: " << r.err;
    return r.out;
  }
  // What issue 15 asks of every fixture generation: after import-board, the audit verbs
  // (explain, timeline, stats, verify, whatif) all answer on the imported ledger.
  void ExpectEveryAuditVerbWorks(const std::string& task) {
    EXPECT_THAT(Ok({"explain", task}), HasSubstr(task));
    const std::string page = dir_ / "timeline.html";
    EXPECT_THAT(Ok({"timeline", "--out", page}), StartsWith("wrote "));
    EXPECT_THAT(Ok({"--json", "stats"}), HasSubstr("\"tasks\""));
    EXPECT_THAT(Ok({"verify"}), StartsWith("ok: "));
    EXPECT_THAT(Ok({"--json", "whatif", "--ttl", "30s"}), HasSubstr("\"whatif\""));
  }
  void ExpectOneLineFailure(const ProcessResult& r, int code, const std::string& says) {
    EXPECT_EQ(r.exit_code, code) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_THAT(r.err, StartsWith("taskledger: "));
    EXPECT_THAT(r.err, HasSubstr(says));
    EXPECT_EQ(r.out, "");
  }

  test::TempDir dir_;
  const std::string board_ = dir_ / "kanban.db";
  const std::string db_ = dir_ / "ledger";
};

TEST_F(ImportBoardTest, TheReportedStoryImportsAndVerifies) {
  {
    BoardWriter board(board_, true);
    WriteReportedStory(board);
  }
  const std::string summary = Ok({"import-board", board_});
  EXPECT_THAT(summary, HasSubstr("2 tasks, 1 runs, 188 board events"));
  EXPECT_THAT(summary, HasSubstr("the claim was extended 180 times over 2h59m with no heartbeat"));
  EXPECT_THAT(summary, HasSubstr("ended at 2025-11-29T10:21:40.000Z as blocked but still holds pid 777"));
  EXPECT_THAT(Ok({"verify"}), StartsWith("ok: "));
  EXPECT_THAT(Ok({"stats"}), Not(::testing::IsEmpty()));
  ExpectEveryAuditVerbWorks("t_0000000a");
}

TEST_F(ImportBoardTest, ExplainSaysTheClaimWasExtendedWithNoHeartbeatAndWhatALeaseWouldHaveDone) {
  {
    BoardWriter board(board_, true);
    WriteReportedStory(board);
  }
  Ok({"import-board", board_});
  const std::string story = Ok({"explain", "t_0000000a"});
  EXPECT_THAT(story, HasSubstr("claimed by host-a:4242 (pid 777 on host-a) at 2025-11-29T07:06:50.000Z"));
  EXPECT_THAT(story, HasSubstr("2 heartbeats, the last at 2025-11-29T07:15:50.000Z"));
  EXPECT_THAT(story, HasSubstr("the board's dispatcher extended the claim 180 times over 2h59m"));
  EXPECT_THAT(story, HasSubstr("with no heartbeat from the worker since 2025-11-29T07:15:50.000Z"));
  EXPECT_THAT(story, HasSubstr("a lease would have expired 15m after the last heartbeat, at 2025-11-29T07:30:50.000Z"));
  EXPECT_THAT(story, HasSubstr("blocked by operator: \"stuck for hours: blocking by hand\""));
  EXPECT_THAT(story, HasSubstr("imported comment (task_comments:1): \"worker looks like a zombie\""));
  const std::string dependent = Ok({"explain", "t_0000000b"});
  EXPECT_THAT(dependent, HasSubstr("waiting for dependency t_0000000a"));
  const nlohmann::json j = nlohmann::json::parse(Ok({"--json", "explain", "t_0000000a"}));
  EXPECT_EQ(j["attempts"][0]["claim_extensions_without_heartbeat"]["count"], 180);
}

TEST_F(ImportBoardTest, WhatIfWithAThirtySecondLeaseShowsTheStallEnding) {
  {
    BoardWriter board(board_, true);
    WriteReportedStory(board);
  }
  Ok({"import-board", board_});
  const ProcessResult r = Run({"--json", "whatif", "--ttl", "30s"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out.substr(0, r.out.find('\n')));
  EXPECT_FALSE(j.is_discarded());
}

TEST_F(ImportBoardTest, TheJsonSummaryCountsTasksRunsAnnotationsAndAnomalies) {
  {
    BoardWriter board(board_, true);
    WriteReportedStory(board);
  }
  const nlohmann::json j = nlohmann::json::parse(Ok({"--json", "import-board", board_}));
  EXPECT_EQ(j["tasks"], 2);
  EXPECT_EQ(j["runs"], 1);
  EXPECT_EQ(j["board_events"], 188);
  EXPECT_EQ(j["comments"], 1);
  EXPECT_EQ(j["attempts"], 1);
  // claim_extended x180, promoted, spawned and the comment have no equivalent.
  EXPECT_EQ(j["annotations"], 183);
  EXPECT_EQ(j["anomalies_total"], 2);
  EXPECT_EQ(j["ledger_events"].get<int>(), 2 + 4 + 183);
}

TEST_F(ImportBoardTest, ABoardFromBeforeRunsExistedGivesOneAttemptPerClaim) {
  {
    BoardWriter board(board_, false);
    board.Task("t_00000001", "old style", "done", kBoardT0);
    board.Exec("UPDATE tasks SET result = 'all good' WHERE id = 't_00000001'");
    board.Event("t_00000001", "claimed", kBoardT0 + 5, -1, R"({"lock":"old-host:99","expires":1764400905})");
    board.Event("t_00000001", "crashed", kBoardT0 + 50, -1, R"({"pid":100,"claimer":"old-host:99"})");
    board.Event("t_00000001", "claimed", kBoardT0 + 60, -1, R"({"lock":"old-host:99","expires":1764400960})");
    board.Event("t_00000001", "heartbeat", kBoardT0 + 70);
    board.Event("t_00000001", "completed", kBoardT0 + 80, -1, R"({"result_len":8})");
  }
  const nlohmann::json j = nlohmann::json::parse(Ok({"--json", "import-board", board_}));
  EXPECT_EQ(j["runs"], 0);
  EXPECT_EQ(j["attempts"], 2);
  EXPECT_EQ(j["events_mapped"], 5);
  EXPECT_EQ(j["anomalies_total"], 0) << j.dump();
  const std::string story = Ok({"explain", "t_00000001"});
  EXPECT_THAT(story, HasSubstr("failed: \"crashed"));
  EXPECT_THAT(story, HasSubstr("done at 2025-11-29T07:08:00"));
  EXPECT_THAT(story, HasSubstr("result \"all good\""));
  EXPECT_THAT(Ok({"verify"}), StartsWith("ok: "));
  ExpectEveryAuditVerbWorks("t_00000001");
}

TEST_F(ImportBoardTest, WorkerStartedAtColumnsAreKeptAsOpaqueData) {
  {
    BoardWriter board(board_, true, ", worker_started_at TEXT", ", worker_started_at TEXT");
    board.Task("t_00000002", "fingerprinted", "done", kBoardT0);
    board.Exec("UPDATE tasks SET worker_started_at = '|179000051092' WHERE id = 't_00000002'");
    board.Run(1, "t_00000002", "h:1", 55, kBoardT0 + 1, kBoardT0 + 9, "completed");
    board.Exec("UPDATE task_runs SET worker_started_at = 'unverified' WHERE id = 1");
    board.Event("t_00000002", "claimed", kBoardT0 + 1, 1, R"({"lock":"h:1"})");
    board.Event("t_00000002", "completed", kBoardT0 + 9, 1, R"({"summary":"ok"})");
  }
  Ok({"import-board", board_});
  const std::string log = Ok({"--json", "log"});
  EXPECT_THAT(log, HasSubstr("|179000051092"));
  EXPECT_THAT(Ok({"explain", "t_00000002"}), HasSubstr("completed, result \"ok\""));
  ExpectEveryAuditVerbWorks("t_00000002");
}

TEST_F(ImportBoardTest, TheDivergentFingerprintVariantImportsToo) {
  {
    BoardWriter board(board_, true, ", worker_pid_started_at INTEGER, worker_scope TEXT");
    board.Task("t_00000003", "variant", "ready", kBoardT0);
    board.Exec("UPDATE tasks SET worker_pid_started_at = 12345, worker_scope = 'user' WHERE id = 't_00000003'");
    board.Run(1, "t_00000003", "h:1", 56, kBoardT0 + 1, kBoardT0 + 30, "crashed");
    board.Event("t_00000003", "claimed", kBoardT0 + 1, 1, R"({"lock":"h:1"})");
    board.Event("t_00000003", "crashed", kBoardT0 + 30, 1, R"({"pid":56,"exit_kind":"code","exit_code":3})");
  }
  Ok({"import-board", board_});
  EXPECT_THAT(Ok({"--json", "log"}), HasSubstr("worker_scope"));
  EXPECT_THAT(Ok({"explain", "t_00000003"}), HasSubstr("exited with code 3"));
  ExpectEveryAuditVerbWorks("t_00000003");
}

TEST_F(ImportBoardTest, RenamedKindsMeanTheirNewNames) {
  {
    BoardWriter board(board_, true);
    board.Task("t_00000004", "renamed kinds", "ready", kBoardT0);
    board.Run(1, "t_00000004", "h:1", 57, kBoardT0 + 1, kBoardT0 + 20, "gave_up");
    board.Event("t_00000004", "claimed", kBoardT0 + 1, 1, R"({"lock":"h:1"})");
    board.Event("t_00000004", "spawn_failed", kBoardT0 + 20, 1, R"({"error":"no such binary","failures":1})");
    board.Event("t_00000004", "spawn_auto_blocked", kBoardT0 + 21, -1, R"({"failures":2,"error":"no such binary"})");
    board.Event("t_00000004", "priority", kBoardT0 + 22, -1, R"({"priority":5})");
    board.Event("t_00000004", "ready", kBoardT0 + 23);
  }
  const nlohmann::json j = nlohmann::json::parse(Ok({"--json", "import-board", board_}));
  EXPECT_EQ(j["anomalies_total"], 0) << j.dump();
  const std::string story = Ok({"explain", "t_00000004"});
  EXPECT_THAT(story, HasSubstr("blocked by board: \"gave_up: no such binary\""));  // spawn_auto_blocked
  EXPECT_THAT(story, HasSubstr("unblocked by board"));                             // ready
  EXPECT_THAT(story, HasSubstr("imported priority (task_events:4)"));              // kept under its own name
  EXPECT_THAT(story, HasSubstr("ready: claimable now"));
  ExpectEveryAuditVerbWorks("t_00000004");
}

// A link added after the child ran, or an archived parent: the board did not wait, and a
// ledger dependency would refuse the child's claim. The link stays in the child's payload.
TEST_F(ImportBoardTest, AChildClaimedBeforeItsParentWasDoneKeepsItsAttemptAndTheLinkInItsPayload) {
  {
    BoardWriter board(board_, true);
    board.Task("t_00000010", "parent, never done", "ready", kBoardT0);
    board.Task("t_00000011", "child, ran anyway", "done", kBoardT0 + 1);
    board.Link("t_00000010", "t_00000011");
    board.Run(1, "t_00000011", "h:1", 58, kBoardT0 + 2, kBoardT0 + 9, "completed");
    board.Event("t_00000011", "claimed", kBoardT0 + 2, 1, R"({"lock":"h:1"})");
    board.Event("t_00000011", "completed", kBoardT0 + 9, 1, R"({"summary":"fine"})");
  }
  const nlohmann::json j = nlohmann::json::parse(Ok({"--json", "import-board", board_}));
  EXPECT_EQ(j["attempts"], 1);
  ASSERT_EQ(j["anomalies_total"], 1) << j.dump();
  EXPECT_THAT(j["anomalies"][0].get<std::string>(), HasSubstr("t_00000011 was claimed before t_00000010 was done"));
  EXPECT_THAT(Ok({"explain", "t_00000011"}), HasSubstr("completed, result \"fine\""));
  EXPECT_THAT(Ok({"--json", "log", "--task", "t_00000011"}), HasSubstr("board_parents"));
  EXPECT_THAT(Ok({"verify"}), StartsWith("ok: "));
}

TEST_F(ImportBoardTest, AMalformedBoardIsRefusedNamingTheRowAndNothingIsWritten) {
  {
    BoardWriter board(board_, true);
    board.Task("t_00000005", "fine", "ready", kBoardT0);
    board.Event("t_00000005", "created", kBoardT0);
    board.Event("t_0000dead", "heartbeat", kBoardT0 + 1);
  }
  ExpectOneLineFailure(Run({"import-board", board_}), 2, "task_events row 2: task t_0000dead does not exist");
  EXPECT_FALSE(std::filesystem::exists(db_));
}

TEST_F(ImportBoardTest, ADependencyCycleIsRefused) {
  {
    BoardWriter board(board_, true);
    board.Task("t_00000006", "a", "todo", kBoardT0);
    board.Task("t_00000007", "b", "todo", kBoardT0);
    board.Link("t_00000006", "t_00000007");
    board.Link("t_00000007", "t_00000006");
  }
  ExpectOneLineFailure(Run({"import-board", board_}), 2, "task_links: a dependency cycle");
  EXPECT_FALSE(std::filesystem::exists(db_));
}

TEST_F(ImportBoardTest, ANonEmptyLedgerIsRefused) {
  {
    BoardWriter board(board_, true);
    board.Task("t_00000008", "x", "ready", kBoardT0);
  }
  Ok({"import-board", board_});
  ExpectOneLineFailure(Run({"import-board", board_}), 2, "is not empty");
  EXPECT_THAT(Ok({"verify"}), StartsWith("ok: 1 events"));
}

TEST_F(ImportBoardTest, AFileThatIsNotABoardIsRefused) {
  std::ofstream(board_) << "not a database at all, just text\n";
  const ProcessResult r = Run({"import-board", board_});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(std::filesystem::exists(db_));
  ExpectOneLineFailure(Run({"import-board", dir_ / "missing.db"}), 2, "is not a readable file");
}

std::string Bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

TEST_F(ImportBoardTest, TheBoardIsOnlyReadEvenWhileAWriterHoldsItInWalMode) {
  BoardWriter board(board_, true);
  board.Exec("PRAGMA journal_mode=WAL");
  WriteReportedStory(board);
  board.Exec("PRAGMA wal_checkpoint(TRUNCATE)");
  // Another connection (the live dispatcher) holds a write transaction, uncommitted.
  board.Exec("BEGIN IMMEDIATE");
  board.Task("t_0000000c", "written but not committed", "ready", kBoardT0 + 99999);
  const std::string bytes = Bytes(board_);
  const auto mtime = std::filesystem::last_write_time(board_);

  const nlohmann::json j = nlohmann::json::parse(Ok({"--json", "import-board", board_}));
  EXPECT_EQ(j["tasks"], 2) << "the uncommitted task is not seen";
  EXPECT_EQ(Bytes(board_), bytes);
  EXPECT_EQ(std::filesystem::last_write_time(board_), mtime);
  board.Exec("COMMIT");
  EXPECT_THAT(Ok({"verify"}), StartsWith("ok: "));
}

}  // namespace
}  // namespace taskledger::audit_test
