// The board's rows indexed and put in the order the mapping writes them (board event id,
// with comments and event-less run rows placed by time), and each attempt's lease planned
// from what the board did after its claim. Pure; see board_mapper.h.
#include <algorithm>
#include <optional>

#include "projections/board_mapper.h"
#include "projections/board_rows.h"

namespace taskledger::board {

using nlohmann::json;

bool IsClaim(const std::string& kind) { return kind == "claimed"; }

std::string CanonicalKind(const std::string& kind) {
  if (kind == "ready") return "promoted";
  if (kind == "priority") return "reprioritized";
  if (kind == "spawn_auto_blocked") return "gave_up";
  return kind;
}

bool IsRunEnd(const std::string& kind) {
  static const std::set<std::string> kEnds = {"completed",
                                              "crashed",
                                              "protocol_violation",
                                              "rate_limited",
                                              "timed_out",
                                              "spawn_failed",
                                              "stale",
                                              "reclaimed",
                                              "reconciled",
                                              "gave_up",
                                              "blocked",
                                              "review_requested",
                                              "changes_requested",
                                              "scheduled"};
  return kEnds.count(kind) != 0;
}

bool IsHolderKind(const std::string& kind) {
  static const std::set<std::string> kHolder = {"heartbeat",    "completed",  "crashed",        "protocol_violation",
                                                "rate_limited", "timed_out",  "spawn_failed",   "stale",
                                                "reclaimed",    "reconciled", "claim_extended", "spawned"};
  return kHolder.count(kind) != 0;
}

void Mapper::Index() {
  for (const json& row : board_.tasks.rows) {
    TaskIn t;
    t.row = &row;
    t.id = Text(row, "id");
    task_index_[t.id] = tasks_.size();
    tasks_.push_back(std::move(t));
  }
  for (const json& row : board_.task_links.rows) {
    const Link link(Text(row, "parent_id"), Text(row, "child_id"));
    tasks_[task_index_.at(link.second)].board_parents.push_back(link.first);
    if (dropped_.count(link)) continue;
    tasks_[task_index_.at(link.second)].after.push_back(link.first);
  }
  for (TaskIn& t : tasks_) std::sort(t.after.begin(), t.after.end());
  for (const json& row : board_.task_runs.rows) runs_[*Int(row, "id")].row = &row;
  for (size_t i = 0; i < board_.task_events.rows.size(); ++i) {
    const json& row = board_.task_events.rows[i];
    const int64_t id = *Int(row, "id");
    if (IsNull(row, "run_id")) continue;
    auto found = runs_.find(*Int(row, "run_id"));
    if (found == runs_.end()) continue;
    RunIn& run = found->second;
    const std::string kind = CanonicalKind(Text(row, "kind"));
    run.has_claim_event = run.has_claim_event || IsClaim(kind);
    run.has_end_event = run.has_end_event || IsRunEnd(kind);
    run.first_event = std::min(run.first_event, id);
    run.last_event = std::max(run.last_event, id);
  }
  // Tasks in creation order, parents first (the ledger's dependencies must exist).
  std::vector<size_t> by_time(tasks_.size());
  for (size_t i = 0; i < by_time.size(); ++i) by_time[i] = i;
  std::vector<int64_t> created_s(tasks_.size());
  for (size_t i = 0; i < tasks_.size(); ++i) created_s[i] = *Int(*tasks_[i].row, "created_at");
  std::stable_sort(by_time.begin(), by_time.end(), [&](size_t a, size_t b) { return created_s[a] < created_s[b]; });
  std::vector<bool> placed(tasks_.size(), false);
  std::function<void(size_t)> place = [&](size_t i) {
    if (placed[i]) return;
    placed[i] = true;  // no cycles: CheckBoard refused them
    for (const std::string& parent : tasks_[i].after) place(task_index_.at(parent));
    creation_order_.push_back(i);
  };
  for (size_t i : by_time) place(i);
}

int64_t Mapper::PositionOfTime(int64_t board_s) const {
  const auto found = std::upper_bound(prefix_max_s_.begin(), prefix_max_s_.end(), board_s);
  if (found == prefix_max_s_.end()) return std::numeric_limits<int64_t>::max();
  return event_ids_[found - prefix_max_s_.begin()];
}

void Mapper::Order() {
  std::vector<size_t> events(board_.task_events.rows.size());
  for (size_t i = 0; i < events.size(); ++i) events[i] = i;
  const auto& rows = board_.task_events.rows;
  std::vector<int64_t> ids(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) ids[i] = *Int(rows[i], "id");
  std::sort(events.begin(), events.end(), [&](size_t a, size_t b) { return ids[a] < ids[b]; });
  int64_t latest = std::numeric_limits<int64_t>::min();
  for (size_t i : events) {
    latest = std::max(latest, *Int(rows[i], "created_at"));
    event_ids_.push_back(*Int(rows[i], "id"));
    prefix_max_s_.push_back(latest);
    items_.push_back({*Int(rows[i], "id"), 1, *Int(rows[i], "created_at"), ItemType::kEvent, i,
                      task_index_.at(Text(rows[i], "task_id"))});
  }
  for (size_t i = 0; i < board_.task_comments.rows.size(); ++i) {
    const json& row = board_.task_comments.rows[i];
    const int64_t s = *Int(row, "created_at");
    items_.push_back({PositionOfTime(s), 0, s, ItemType::kComment, i, task_index_.at(Text(row, "task_id"))});
  }
  for (size_t i = 0; i < board_.task_runs.rows.size(); ++i) {
    const json& row = board_.task_runs.rows[i];
    const RunIn& run = runs_.at(*Int(row, "id"));
    const size_t task = task_index_.at(Text(row, "task_id"));
    const int64_t started = *Int(row, "started_at");
    const std::optional<int64_t> ended = Int(row, "ended_at");
    const bool has_events = run.first_event != std::numeric_limits<int64_t>::max();
    if (!run.has_claim_event) {
      items_.push_back(
          {has_events ? run.first_event : PositionOfTime(started), 0, started, ItemType::kRunStart, i, task});
    }
    if (ended && !run.has_end_event) {
      items_.push_back({has_events ? run.last_event : PositionOfTime(*ended), has_events ? 2 : 0, *ended,
                        ItemType::kRunEnd, i, task});
    }
  }
  std::sort(items_.begin(), items_.end(), [](const Item& a, const Item& b) { return a.Key() < b.Key(); });
}

// Each attempt's claim gets a lease as long as the board held the task (its last event,
// its run's end, or the claim's expiry while it is still open), plus one board claim ttl:
// the imported log keeps the board's attempts as the board ran them. What a lease would
// have done instead is `whatif`'s and `explain`'s to say.
void Mapper::PlanClaims() {
  std::vector<std::vector<size_t>> per_task(tasks_.size());
  for (size_t i = 0; i < items_.size(); ++i) per_task[items_[i].task].push_back(i);
  for (const std::vector<size_t>& list : per_task) {
    for (size_t k = 0; k < list.size(); ++k) {
      const Item& claim = items_[list[k]];
      const bool is_claim =
          claim.type == ItemType::kRunStart ||
          (claim.type == ItemType::kEvent && IsClaim(Text(board_.task_events.rows[claim.index], "kind")));
      if (!is_claim) continue;
      int64_t end_s = claim.board_s;
      uint32_t pid = 0;
      const json* run = nullptr;
      if (claim.type == ItemType::kRunStart) {
        run = &board_.task_runs.rows[claim.index];
      } else {
        const json& row = board_.task_events.rows[claim.index];
        if (!IsNull(row, "run_id") && runs_.count(*Int(row, "run_id"))) run = runs_.at(*Int(row, "run_id")).row;
      }
      for (size_t j = k + 1; j < list.size(); ++j) {
        const Item& next = items_[list[j]];
        if (next.type == ItemType::kRunStart) break;
        if (next.type == ItemType::kEvent) {
          const json& row = board_.task_events.rows[next.index];
          const std::string kind = CanonicalKind(Text(row, "kind"));
          if (IsClaim(kind)) break;
          if (kind == "spawned" && pid == 0) pid = static_cast<uint32_t>(Int(Payload(row), "pid").value_or(0));
        }
        end_s = std::max(end_s, next.board_s);
      }
      if (run != nullptr) {
        end_s = std::max({end_s, Int(*run, "ended_at").value_or(end_s), Int(*run, "claim_expires").value_or(end_s)});
        if (const std::optional<int64_t> worker = Int(*run, "worker_pid"); worker && *worker > 0 && pid == 0) {
          pid = static_cast<uint32_t>(*worker);
        }
      }
      claim_end_s_[list[k]] = end_s;
      claim_pid_[list[k]] = pid;
    }
  }
}

}  // namespace taskledger::board
