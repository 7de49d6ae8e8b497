// The board mapping (projections/board_import.h), without SQLite: a checked board of any
// shape maps to a log the derivation rules accept whole (Replay), every board row kept;
// a malformed board is refused naming its table, row and reason.
#include "projections/board_import.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "projections/replay.h"

namespace taskledger {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

constexpr int64_t kT0 = 1764400000;

json TaskRow(const std::string& id, int64_t at, const std::string& status = "ready") {
  return {{"id", id}, {"title", "task " + id}, {"status", status}, {"created_at", at}, {"assignee", "coder"}};
}
json EventRow(int64_t id, const std::string& task, const std::string& kind, int64_t at, json run = nullptr,
              json payload = nullptr) {
  return {{"id", id}, {"task_id", task}, {"kind", kind}, {"created_at", at}, {"run_id", run}, {"payload", payload}};
}

std::vector<Event> MapOrFail(const Board& board, BoardImportSummary* summary = nullptr) {
  std::vector<Event> events;
  EXPECT_TRUE(CheckBoard(board).ok()) << CheckBoard(board).ToString();
  Result<BoardImportSummary> mapped = MapBoard(board, [&](const Event& e) {
    events.push_back(e);
    return Status::Ok();
  });
  EXPECT_TRUE(mapped.ok()) << mapped.status().ToString();
  if (summary != nullptr && mapped.ok()) *summary = *mapped;
  return events;
}

// A random board: tasks (parents before children), runs, and events of every kind in a
// random order per task, with run ids right, wrong-run or missing, and times that
// sometimes go backwards. Valid as a board (CheckBoard passes), not sensible as a story.
Board RandomBoard(uint32_t seed) {
  std::mt19937 rng(seed);
  const auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint32_t>(n)); };
  static const std::vector<std::string> kKinds = {"created",
                                                  "claimed",
                                                  "spawned",
                                                  "heartbeat",
                                                  "claim_extended",
                                                  "reclaim_deferred",
                                                  "completed",
                                                  "crashed",
                                                  "timed_out",
                                                  "spawn_failed",
                                                  "stale",
                                                  "reclaimed",
                                                  "reconciled",
                                                  "gave_up",
                                                  "blocked",
                                                  "unblocked",
                                                  "promoted",
                                                  "archived",
                                                  "rate_limited",
                                                  "review_requested",
                                                  "changes_requested",
                                                  "protocol_violation",
                                                  "ready",
                                                  "spawn_auto_blocked",
                                                  "commented",
                                                  "status"};
  Board board;
  board.tasks.present = board.task_events.present = board.task_links.present = true;
  board.task_runs.present = seed % 3 != 0;  // a third from before runs existed
  const int tasks = 1 + pick(6);
  int64_t event_id = 0, run_id = 0, t = kT0;
  for (int i = 0; i < tasks; ++i) {
    const std::string id = "t_" + std::to_string(i);
    board.tasks.rows.push_back(TaskRow(id, kT0 + pick(100), pick(2) ? "running" : "done"));
    if (i > 0 && pick(2))
      board.task_links.rows.push_back({{"parent_id", "t_" + std::to_string(pick(i))}, {"child_id", id}});
  }
  for (int k = 0; k < 10 + pick(60); ++k) {
    const std::string task = "t_" + std::to_string(pick(tasks));
    json run = nullptr;
    if (board.task_runs.present && pick(4) != 0) {
      if (run_id == 0 || pick(3) == 0) {
        ++run_id;
        const bool ended = pick(2);
        board.task_runs.rows.push_back(
            {{"id", run_id},
             {"task_id", task},
             {"status", "x"},
             {"started_at", t},
             {"ended_at", ended ? json(t + pick(50)) : json(nullptr)},
             {"outcome", ended ? json(kKinds[pick(static_cast<int>(kKinds.size()))]) : json(nullptr)},
             {"worker_pid", pick(2) ? json(100 + pick(9)) : json(nullptr)},
             {"claim_lock", "h:" + std::to_string(pick(9))}});
      }
      // A run of this task, if it has one.
      for (const json& r : board.task_runs.rows) {
        if (r["task_id"] == task && pick(2)) run = r["id"];
      }
    }
    t += pick(7) - 1;  // sometimes backwards
    board.task_events.rows.push_back(
        EventRow(++event_id, task, kKinds[pick(static_cast<int>(kKinds.size()))], t, run,
                 pick(3) ? json(R"({"pid": 7, "exit_code": 1, "reason": "r"})") : json(nullptr)));
  }
  if (seed % 2)
    board.task_comments = {true, {{{"id", 1}, {"task_id", "t_0"}, {"author", "a"}, {"body", "b"}, {"created_at", t}}}};
  return board;
}

TEST(BoardImportTest, AnyCheckedBoardMapsToALogTheRulesAcceptWhole) {
  for (uint32_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    const Board board = RandomBoard(seed);
    BoardImportSummary summary;
    const std::vector<Event> events = MapOrFail(board, &summary);
    Replay replay;
    for (const Event& e : events) {
      const Status s = replay.Apply(e);
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
    EXPECT_EQ(summary.ledger_events, events.size());
    EXPECT_EQ(summary.tasks, board.tasks.rows.size());
    // Every board event is kept: mapped, or annotated (or the task's created event).
    EXPECT_GE(summary.events_mapped + summary.annotations, board.task_events.rows.size());
    if (::testing::Test::HasFailure()) return;
  }
}

TEST(BoardImportTest, MappingIsDeterministic) {
  const Board board = RandomBoard(42);
  EXPECT_EQ(MapOrFail(board), MapOrFail(board));
}

TEST(BoardImportTest, ClaimExtendedBecomesAnAnnotationKeepingTheRow) {
  Board board;
  board.tasks = {true, {TaskRow("t_1", kT0, "running")}};
  board.task_events = {true,
                       {EventRow(1, "t_1", "claimed", kT0 + 1, nullptr, R"({"lock":"h:1"})"),
                        EventRow(2, "t_1", "claim_extended", kT0 + 900, nullptr, R"({"worker_pid":7})")}};
  BoardImportSummary summary;
  const std::vector<Event> events = MapOrFail(board, &summary);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[1].kind, EventKind::kClaimed);
  EXPECT_EQ(events[1].actor, "h:1");
  EXPECT_EQ(events[2].kind, EventKind::kAnnotated);
  EXPECT_EQ(events[2].source_kind, "claim_extended");
  EXPECT_EQ(events[2].source_id, "task_events:2");
  EXPECT_THAT(events[2].text, HasSubstr(R"(\"worker_pid\":7)"));
  EXPECT_EQ(events[2].meta.wall_time_ns, (kT0 + 900) * kNanosPerSecond) << "the board's own time";
  EXPECT_EQ(summary.annotations, 1u);
}

TEST(BoardImportTest, TimeNeverDecreasesAndKeepsTheBoardOrder) {
  Board board;
  board.tasks = {true, {TaskRow("t_1", kT0)}};
  board.task_events = {true,
                       {EventRow(1, "t_1", "commented", kT0 + 50), EventRow(2, "t_1", "edited", kT0 + 10),
                        EventRow(3, "t_1", "edited", kT0 + 10)}};
  BoardImportSummary summary;
  const std::vector<Event> events = MapOrFail(board, &summary);
  ASSERT_EQ(events.size(), 4u);
  for (size_t i = 1; i < events.size(); ++i) EXPECT_GT(events[i].time_ns, events[i - 1].time_ns);
  EXPECT_EQ(events[2].source_id, "task_events:2");
  EXPECT_EQ(events[2].meta.wall_time_ns, (kT0 + 10) * kNanosPerSecond);
  ASSERT_EQ(summary.anomalies_total, 1u);
  EXPECT_THAT(summary.anomalies[0], HasSubstr("2 events are timed before an event with a lower id"));
}

TEST(BoardImportTest, AMalformedBoardIsRefusedNamingTableRowAndReason) {
  Board board;
  board.tasks = {true, {TaskRow("t_1", kT0)}};
  board.task_events = {true, {EventRow(7, "t_1", "claimed", kT0, 3)}};
  board.task_runs = {true, {}};
  EXPECT_THAT(CheckBoard(board).message(), HasSubstr("task_events row 7: run 3 does not exist"));
  board.task_runs.present = false;
  board.task_events.rows[0]["payload"] = "{not json";
  EXPECT_THAT(CheckBoard(board).message(), HasSubstr("task_events row 7: payload is not JSON"));
  board.tasks.rows.push_back(TaskRow("t_1", kT0));
  EXPECT_THAT(CheckBoard(board).message(), HasSubstr("task t_1 appears twice"));
  board.tasks.rows.pop_back();
  board.tasks.rows[0].erase("title");
  EXPECT_THAT(CheckBoard(board).message(), HasSubstr("has no title"));
  EXPECT_THAT(CheckBoard(Board{}).message(), HasSubstr("no tasks table"));
}

}  // namespace
}  // namespace taskledger
