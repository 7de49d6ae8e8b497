// The whole board checked before anything is written (import-board): a malformed board is
// refused naming the table, the row and the reason.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "projections/board_import.h"
#include "projections/board_rows.h"
#include "projections/validate.h"

namespace taskledger {
namespace {

using nlohmann::json;
using board::Bad;
using board::Int;
using board::IsNull;
using board::Text;

Status CheckTasks(const Board& board, std::set<std::string>* ids) {
  if (!board.tasks.present) return Status::InvalidArgument("the board has no tasks table (is it a kanban.db?)");
  for (const json& row : board.tasks.rows) {
    const auto id = row.find("id");
    if (id == row.end() || !id->is_string()) return Bad("tasks", row, "id is not text");
    const std::string name = id->get<std::string>();
    if (Status s = ValidateName("task id", name); !s.ok()) return Bad("tasks", row, s.message());
    if (!ids->insert(name).second) return Bad("tasks", row, "task " + name + " appears twice");
    const auto title = row.find("title");
    if (title == row.end() || title->is_null()) return Bad("tasks", row, "task " + name + " has no title");
    if (!Int(row, "created_at")) return Bad("tasks", row, "task " + name + ": created_at is not an integer");
  }
  return Status::Ok();
}

// Kahn's algorithm over the links: a cycle is a malformed board (no order can create it).
Status CheckLinks(const Board& board, const std::set<std::string>& ids) {
  std::map<std::string, std::vector<std::string>> children;
  std::map<std::string, size_t> parents;
  for (const json& row : board.task_links.rows) {
    const std::string parent = Text(row, "parent_id"), child = Text(row, "child_id");
    if (!ids.count(parent)) return Bad("task_links", row, "parent " + parent + " is not a task");
    if (!ids.count(child)) return Bad("task_links", row, "child " + child + " is not a task");
    if (parent == child) return Bad("task_links", row, "task " + parent + " depends on itself");
    children[parent].push_back(child);
    parents[child]++;
  }
  std::vector<std::string> ready;
  for (const std::string& id : ids) {
    if (!parents.count(id)) ready.push_back(id);
  }
  size_t seen = 0;
  while (!ready.empty()) {
    const std::string id = ready.back();
    ready.pop_back();
    ++seen;
    for (const std::string& child : children[id]) {
      if (--parents[child] == 0) ready.push_back(child);
    }
  }
  if (seen != ids.size()) {
    for (const auto& [id, left] : parents) {
      if (left != 0) return Status::InvalidArgument("task_links: a dependency cycle runs through task " + id);
    }
  }
  return Status::Ok();
}

Status CheckRuns(const Board& board, const std::set<std::string>& ids, std::map<int64_t, std::string>* runs) {
  for (const json& row : board.task_runs.rows) {
    const std::optional<int64_t> id = Int(row, "id");
    if (!id) return Bad("task_runs", row, "id is not an integer");
    const std::string task = Text(row, "task_id");
    if (!ids.count(task)) return Bad("task_runs", row, "task " + task + " does not exist");
    if (!Int(row, "started_at")) return Bad("task_runs", row, "started_at is not an integer");
    if (!IsNull(row, "ended_at") && !Int(row, "ended_at")) return Bad("task_runs", row, "ended_at is not an integer");
    if (!runs->emplace(*id, task).second) return Bad("task_runs", row, "run id appears twice");
  }
  return Status::Ok();
}

Status CheckEvents(const Board& board, const std::set<std::string>& ids, const std::map<int64_t, std::string>& runs) {
  std::set<int64_t> seen;
  for (const json& row : board.task_events.rows) {
    const std::optional<int64_t> id = Int(row, "id");
    if (!id) return Bad("task_events", row, "id is not an integer");
    if (!seen.insert(*id).second) return Bad("task_events", row, "event id appears twice");
    const std::string task = Text(row, "task_id");
    if (!ids.count(task)) return Bad("task_events", row, "task " + task + " does not exist");
    if (Status s = ValidateName("kind", Text(row, "kind")); !s.ok()) return Bad("task_events", row, s.message());
    if (!Int(row, "created_at")) return Bad("task_events", row, "created_at is not an integer");
    const std::string payload = Text(row, "payload");
    if (!payload.empty() && !json::accept(payload)) return Bad("task_events", row, "payload is not JSON");
    if (!IsNull(row, "run_id")) {
      const std::optional<int64_t> run = Int(row, "run_id");
      if (!run) return Bad("task_events", row, "run_id is not an integer");
      if (board.task_runs.present) {
        const auto found = runs.find(*run);
        if (found == runs.end()) return Bad("task_events", row, "run " + std::to_string(*run) + " does not exist");
        if (found->second != task) {
          return Bad("task_events", row, "run " + std::to_string(*run) + " belongs to task " + found->second);
        }
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Status CheckBoard(const Board& board) {
  std::set<std::string> ids;
  TL_RETURN_IF_ERROR(CheckTasks(board, &ids));
  TL_RETURN_IF_ERROR(CheckLinks(board, ids));
  std::map<int64_t, std::string> runs;
  TL_RETURN_IF_ERROR(CheckRuns(board, ids, &runs));
  TL_RETURN_IF_ERROR(CheckEvents(board, ids, runs));
  for (const json& row : board.task_comments.rows) {
    if (!ids.count(Text(row, "task_id")))
      return Bad("task_comments", row, "task " + Text(row, "task_id") + " does not exist");
    if (!Int(row, "created_at")) return Bad("task_comments", row, "created_at is not an integer");
  }
  return Status::Ok();
}

}  // namespace taskledger
