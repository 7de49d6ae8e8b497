#include "projections/board_import.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <sstream>

#include "projections/board_mapper.h"
#include "projections/board_rows.h"
#include "projections/limits.h"
#include "projections/time_text.h"
#include "projections/validate.h"

namespace taskledger {
namespace board {

using nlohmann::json;

void Mapper::Anomaly(std::string text) {
  ++summary_.anomalies_total;
  if (summary_.anomalies.size() < kBoardAnomaliesListedMax) summary_.anomalies.push_back(std::move(text));
}

Status Mapper::Append(Event e) {
  ++summary_.ledger_events;
  if (e.kind == EventKind::kAnnotated) ++summary_.annotations;
  return sink_(e);
}

Result<bool> Mapper::TryAppend(TaskIn& t, Event e, int64_t board_s) {
  e.seq = seq_ + 1;
  e.time_ns = std::max(board_s * kNanosPerSecond, last_ns_ + 1);
  e.task_id = t.id;
  if (e.actor.empty()) e.actor = kBoardActor;
  e.meta.wall_time_ns = board_s * kNanosPerSecond;  // the board writer's own clock
  if (e.kind == EventKind::kClaimed) {
    e.token = e.seq;
    // As Replay checks: a claim needs every dependency done.
    for (const std::string& parent : t.after) {
      if (OwnStatus(tasks_[task_index_.at(parent)].record, e.time_ns) != TaskStatus::kDone) {
        early_claims_.emplace(parent, t.id);
      }
    }
  }
  if (!ApplyEvent(&t.record, e).ok()) return false;
  ++seq_;
  last_ns_ = e.time_ns;
  TL_RETURN_IF_ERROR(Append(std::move(e)));
  return true;
}

Status Mapper::Annotate(TaskIn& t, int64_t board_s, const std::string& kind, const std::string& source,
                        const json& row) {
  Event e;
  e.kind = EventKind::kAnnotated;
  e.source_kind = AsName(kind, "unknown");
  e.source_id = source;
  e.text = RowText(row);
  Result<bool> appended = TryAppend(t, std::move(e), board_s);
  if (!appended.ok()) return appended.status();
  // Invariant: the rules accept an annotation for any existing task.
  if (!*appended) return Status::Internal("an annotation of " + source + " was refused");
  return Status::Ok();
}

Status Mapper::Create(size_t index) {
  TaskIn& t = tasks_[index];
  if (t.created) return Status::Ok();
  for (const std::string& parent : t.after) TL_RETURN_IF_ERROR(Create(task_index_.at(parent)));
  t.created = true;
  const json& row = *t.row;
  Event e;
  e.kind = EventKind::kCreated;
  e.actor = AsName(Text(row, "created_by"), kBoardActor);
  e.spec.title = AsText(Text(row, "title"), kMaxTextBytes);
  json payload = row;
  payload.erase("title");
  if (!t.board_parents.empty()) payload["board_parents"] = t.board_parents;
  e.spec.payload = payload.dump(-1, ' ', false, json::error_handler_t::replace);
  if (e.spec.payload.size() > kMaxPayloadBytes) e.spec.payload = RowText(payload);
  e.spec.after = t.after;
  const std::string assignee = Text(row, "assignee");
  e.spec.queue = assignee.empty() || !ValidateName("queue", assignee).ok() ? kDefaultQueue : assignee;
  e.spec.priority = static_cast<int32_t>(std::clamp<int64_t>(Int(row, "priority").value_or(0), INT32_MIN, INT32_MAX));
  e.spec.lease_ttl_ns = kBoardClaimTtlNs;
  // The board's own breaker decides when it stops; the import never makes a task dead, so
  // every later board claim stays representable. Backoffs of 1 ns: the board had none.
  e.spec.max_attempts = kMaxAttemptsLimit;
  e.spec.backoff_initial_ns = 1;
  e.spec.backoff_max_ns = 1;
  Result<bool> appended = TryAppend(t, std::move(e), *Int(row, "created_at"));
  if (!appended.ok()) return appended.status();
  if (!*appended) return Status::Internal("the created event of task " + t.id + " was refused");
  if (*Int(row, "created_at") * kNanosPerSecond < t.record.created_ns - kNanosPerSecond) {
    Anomaly("tasks row " + t.id + ": created at " + FormatTime(*Int(row, "created_at") * kNanosPerSecond) +
            ", before the events that precede it in board order; imported at " + FormatTime(t.record.created_ns));
  }
  return Status::Ok();
}

Status Mapper::CreateThrough(int64_t board_s) {
  while (next_creation_ < creation_order_.size()) {
    const size_t index = creation_order_[next_creation_];
    if (*Int(*tasks_[index].row, "created_at") > board_s) break;
    TL_RETURN_IF_ERROR(Create(index));
    ++next_creation_;
  }
  return Status::Ok();
}

Status Mapper::Process(const Item& item) {
  TL_RETURN_IF_ERROR(CreateThrough(item.board_s));
  TL_RETURN_IF_ERROR(Create(item.task));
  switch (item.type) {
    case ItemType::kEvent: return OnEvent(item);
    case ItemType::kRunStart: return OnRunStart(item);
    case ItemType::kRunEnd: return OnRunEnd(item);
    case ItemType::kComment: {
      const json& row = board_.task_comments.rows[item.index];
      const std::optional<int64_t> id = Int(row, "id");
      return Annotate(tasks_[item.task], item.board_s, "comment", "task_comments:" + (id ? std::to_string(*id) : "?"),
                      row);
    }
  }
  return Status::Ok();
}

// What the board says of each task against what the import derived.
void Mapper::CheckFinalStates() {
  for (TaskIn& t : tasks_) {
    EndExtensionRun(t);
    const std::string status = Text(*t.row, "status");
    const TaskRecord& r = t.record;
    std::string derived;
    if (status == "done" && !r.done) derived = "not done";
    if (status == "blocked" && !r.blocked) derived = "not blocked";
    if (status == "running" && !r.attempt_open) derived = "not held by any attempt";
    if (!derived.empty()) Anomaly("tasks row " + t.id + ": the board says " + status + ", its events say " + derived);
  }
  for (const auto& [id, run] : runs_) {
    const json& row = *run.row;
    if (IsNull(row, "ended_at")) continue;
    const std::optional<int64_t> pid = Int(row, "worker_pid");
    const std::string lock = Text(row, "claim_lock");
    if ((pid && *pid > 0) || !lock.empty()) {
      Anomaly("task_runs row " + std::to_string(id) + " (task " + Text(row, "task_id") + "): ended at " +
              FormatTime(*Int(row, "ended_at") * kNanosPerSecond) + " as " + Text(row, "outcome") +
              " but still holds " + (pid && *pid > 0 ? "pid " + std::to_string(*pid) : "lock " + lock) +
              " (never reaped: a closed run with a pid)");
    }
  }
}

Result<BoardImportSummary> Mapper::Run() {
  for (const Link& link : dropped_) {
    Anomaly("task_links " + link.first + " -> " + link.second + ": " + link.second + " was claimed before " +
            link.first + " was done; kept in its payload (board_parents), not as a dependency");
  }
  summary_.tasks = board_.tasks.rows.size();
  summary_.runs = board_.task_runs.rows.size();
  summary_.board_events = board_.task_events.rows.size();
  summary_.comments = board_.task_comments.rows.size();
  Index();
  Order();
  PlanClaims();
  for (current_item_ = 0; current_item_ < items_.size(); ++current_item_) {
    TL_RETURN_IF_ERROR(Process(items_[current_item_]));
  }
  TL_RETURN_IF_ERROR(CreateThrough(std::numeric_limits<int64_t>::max()));
  if (out_of_order_ != 0) {
    Anomaly("task_events: " + std::to_string(out_of_order_) +
            " events are timed before an event with a lower id (the worst, row " + std::to_string(out_of_order_worst_) +
            ", by " + FormatDuration(out_of_order_max_s_ * kNanosPerSecond) +
            "); kept in id order, each with the board's time as its client time");
  }
  CheckFinalStates();
  return summary_;
}

}  // namespace board

Result<BoardImportSummary> MapBoard(const Board& board, const std::function<Status(const Event&)>& sink) {
  // A dry run finds the links the board did not wait for (a child claimed before its
  // parent was done: a link added later, an archived parent); the real run keeps them in
  // the child's payload only, so that every claim the board made stays an attempt.
  const std::function<Status(const Event&)> discard = [](const Event&) { return Status::Ok(); };
  board::Mapper dry(board, discard, {});
  Result<BoardImportSummary> dry_summary = dry.Run();
  if (!dry_summary.ok()) return dry_summary.status();
  board::Mapper mapper(board, sink, dry.early_claims());
  return mapper.Run();
}

nlohmann::json BoardImportSummaryToJson(const BoardImportSummary& s) {
  return {{"tasks", s.tasks},
          {"runs", s.runs},
          {"board_events", s.board_events},
          {"comments", s.comments},
          {"events_mapped", s.events_mapped},
          {"annotations", s.annotations},
          {"attempts", s.attempts},
          {"ledger_events", s.ledger_events},
          {"anomalies_total", s.anomalies_total},
          {"anomalies", s.anomalies}};
}

std::string RenderBoardImportSummary(const BoardImportSummary& s) {
  std::ostringstream out;
  out << s.tasks << " tasks, " << s.runs << " runs, " << s.board_events << " board events (" << s.events_mapped
      << " mapped to ledger kinds), " << s.comments << " comments\n";
  out << s.ledger_events << " ledger events: " << s.attempts << " attempts, " << s.annotations << " annotations\n";
  out << s.anomalies_total << (s.anomalies_total == 1 ? " anomaly" : " anomalies") << (s.anomalies_total ? ":" : "")
      << '\n';
  for (const std::string& a : s.anomalies) out << "  " << a << '\n';
  if (s.anomalies_total > s.anomalies.size()) {
    out << "  ... and " << s.anomalies_total - s.anomalies.size() << " more\n";
  }
  return out.str();
}

}  // namespace taskledger
