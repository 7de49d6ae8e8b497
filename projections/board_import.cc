#include "projections/board_import.h"

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <queue>
#include <set>
#include <sstream>
#include <tuple>
#include <unordered_map>

#include "projections/board_rows.h"
#include "projections/limits.h"
#include "projections/task.h"
#include "projections/time_text.h"
#include "projections/validate.h"

namespace taskledger {
namespace {

using nlohmann::json;

// Assigns a Result<bool>'s value to `var`, or returns its error.
#define TL_BOARD_TRY(var, expr)                 \
  bool var = false;                             \
  {                                             \
    Result<bool> result_ = (expr);              \
    if (!result_.ok()) return result_.status(); \
    var = *result_;                             \
  }

constexpr char kBoardActor[] = "board";

using board::AsName;
using board::AsText;
using board::Int;
using board::IsNull;
using board::Payload;
using board::Row;
using board::RowText;
using board::Text;

// ---- The mapping ----

// One thing to write, in board order: a board event, a comment, or the start or end of a
// run the board recorded no event for.
enum class ItemType : uint8_t { kRunStart, kEvent, kComment, kRunEnd };

struct Item {
  int64_t position = 0;  // the board event id it sits at
  int sub = 0;           // before (0), at (1) or after (2) that event
  int64_t board_s = 0;
  ItemType type = ItemType::kEvent;
  size_t index = 0;  // into its table's rows
  size_t task = 0;   // into the task table
  auto Key() const { return std::tuple(position, sub, board_s, type, index); }
};

bool IsClaim(const std::string& kind) { return kind == "claimed"; }

// Kinds renamed in place by board migrations (hermes-board.md §1.7): the old name means
// the new one. The annotation of such a row keeps the name the board wrote.
std::string CanonicalKind(const std::string& kind) {
  if (kind == "ready") return "promoted";
  if (kind == "priority") return "reprioritized";
  if (kind == "spawn_auto_blocked") return "gave_up";
  return kind;
}

// Board kinds that end a run (hermes-board.md §3 "Outcomes").
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

// Kinds only the holder of an open attempt (or the dispatcher ending it) writes.
bool IsHolderKind(const std::string& kind) {
  static const std::set<std::string> kHolder = {"heartbeat",    "completed",  "crashed",        "protocol_violation",
                                                "rate_limited", "timed_out",  "spawn_failed",   "stale",
                                                "reclaimed",    "reconciled", "claim_extended", "spawned"};
  return kHolder.count(kind) != 0;
}

struct TaskIn {
  const json* row = nullptr;
  std::string id;
  std::vector<std::string> after;
  std::vector<std::string> board_parents;  // every task_links parent, dependency or not
  bool created = false;
  TaskRecord record;
  int64_t open_run = -1;  // the board run of the open attempt (-1: none, or no run id)
  std::string holder;
  // The open attempt's run of claim extensions with no heartbeat.
  uint32_t extensions = 0;
  int64_t extensions_first_s = 0, extensions_last_s = 0, alive_s = 0;
};

struct RunIn {
  const json* row = nullptr;
  bool has_claim_event = false;
  bool has_end_event = false;
  int64_t first_event = std::numeric_limits<int64_t>::max();
  int64_t last_event = std::numeric_limits<int64_t>::min();
};

class Mapper {
 public:
  using Link = std::pair<std::string, std::string>;  // parent, child
  // `dropped`: links not made dependencies (a dry run found the child claimed before the
  // parent was done; the ledger's rules would refuse that claim).
  Mapper(const Board& board, const std::function<Status(const Event&)>& sink, std::set<Link> dropped)
      : board_(board), sink_(sink), dropped_(std::move(dropped)) {}
  Result<BoardImportSummary> Run();
  // The links the run found a claim ahead of its parent's completion for.
  const std::set<Link>& early_claims() const { return early_claims_; }

 private:
  void Index();
  void Order();
  void PlanClaims();
  int64_t PositionOfTime(int64_t board_s) const;
  Status CreateThrough(int64_t board_s);
  Status Create(size_t task);
  Status Process(const Item& item);
  Status OnEvent(const Item& item);
  Status OnRunStart(const Item& item);
  Status OnRunEnd(const Item& item);
  Status Claim(TaskIn& t, const Item& item, int64_t run, const std::string& lock, const std::string& source);
  Status End(TaskIn& t, const Item& item, const std::string& kind, const json& payload, const std::string& source);
  Status Annotate(TaskIn& t, int64_t board_s, const std::string& kind, const std::string& source, const json& row);
  // Appends `e` if the derivation rules accept it (true), else writes nothing (false).
  Result<bool> TryAppend(TaskIn& t, Event e, int64_t board_s);
  Status Append(Event e);
  void Anomaly(std::string text);
  void EndExtensionRun(TaskIn& t);
  void CheckFinalStates();

  const Board& board_;
  const std::function<Status(const Event&)>& sink_;
  const std::set<Link> dropped_;
  std::set<Link> early_claims_;
  uint64_t out_of_order_ = 0;  // board events earlier than an event before them by id
  int64_t out_of_order_max_s_ = 0;
  int64_t out_of_order_worst_ = 0;
  BoardImportSummary summary_;
  std::vector<TaskIn> tasks_;
  std::unordered_map<std::string, size_t> task_index_;
  std::map<int64_t, RunIn> runs_;
  std::vector<Item> items_;
  std::vector<int64_t> event_ids_;      // board event ids, ascending
  std::vector<int64_t> prefix_max_s_;   // the latest board time up to each of them
  std::vector<size_t> creation_order_;  // parents first, then by creation time
  size_t next_creation_ = 0;
  std::map<size_t, int64_t> claim_end_s_;  // per claim item (index into items_): the attempt's last board time
  std::map<size_t, uint32_t> claim_pid_;   // per claim item: the worker's pid, when known
  size_t current_item_ = 0;
  uint64_t seq_ = 0;
  int64_t last_ns_ = 0;
  int64_t last_board_s_ = std::numeric_limits<int64_t>::min();
};

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

void Mapper::EndExtensionRun(TaskIn& t) {
  if (t.extensions != 0 && (t.extensions_last_s - t.alive_s) * kNanosPerSecond > kSilentExtensionAnomalyNs) {
    Anomaly("task " + t.id + ": the claim was extended " + std::to_string(t.extensions) + " times over " +
            FormatDuration((t.extensions_last_s - t.extensions_first_s) * kNanosPerSecond) +
            " with no heartbeat since " + FormatTime(t.alive_s * kNanosPerSecond) + "; a " +
            FormatDuration(kBoardClaimTtlNs) + " lease would have expired at " +
            FormatTime(t.alive_s * kNanosPerSecond + kBoardClaimTtlNs));
  }
  t.extensions = 0;
}

Status Mapper::Claim(TaskIn& t, const Item& item, int64_t run, const std::string& lock, const std::string& source) {
  EndExtensionRun(t);
  if (t.record.attempt_open) {
    Event release;
    release.kind = EventKind::kReleased;
    release.actor = t.holder;
    release.token = t.record.last_token;
    release.text = "the board started another attempt (" + source + ") with no end recorded for this one";
    TL_BOARD_TRY(released, TryAppend(t, std::move(release), item.board_s));
    if (released) Anomaly(source + ": task " + t.id + " claimed again while its previous attempt had no recorded end");
  }
  if (t.record.blocked) {
    Event unblock;
    unblock.kind = EventKind::kUnblocked;
    TL_BOARD_TRY(unblocked, TryAppend(t, std::move(unblock), item.board_s));
    if (unblocked) Anomaly(source + ": task " + t.id + " claimed while blocked, with no unblock recorded");
  }
  Event e;
  e.kind = EventKind::kClaimed;
  e.actor = AsName(lock, kBoardActor);
  const size_t colon = lock.rfind(':');
  if (colon != std::string::npos && colon > 0) e.meta.host = AsName(lock.substr(0, colon), "");
  e.meta.pid = claim_pid_[current_item_];
  const int64_t held_ns = (claim_end_s_[current_item_] - item.board_s) * kNanosPerSecond;
  e.ttl_ns = std::clamp<int64_t>(held_ns + kBoardClaimTtlNs, kBoardClaimTtlNs, kMaxDurationNs);
  const std::string actor = e.actor;
  TL_BOARD_TRY(claimed, TryAppend(t, std::move(e), item.board_s));
  if (!claimed) return Status::Ok();
  ++summary_.attempts;
  t.open_run = run;
  t.holder = actor;
  t.alive_s = item.board_s;
  return Status::Ok();
}

// How a board run ended, as the closest ledger kind (hermes-board.md §2, §3).
Event EndEvent(const std::string& kind, const json& payload, const std::string& summary) {
  Event e;
  const std::string error = Text(payload, "error");
  const std::optional<int64_t> code = Int(payload, "exit_code");
  auto with = [&](EventKind k, std::string text) {
    e.kind = k;
    e.text = AsText(text, kMaxTextBytes);
  };
  if (kind == "completed") {
    with(EventKind::kCompleted, summary);
  } else if ((kind == "crashed" || kind == "protocol_violation") && code && *code >= 0 && *code <= 255) {
    e.kind = EventKind::kExited;
    e.exit_code = static_cast<int32_t>(*code);
  } else if (kind == "rate_limited" || kind == "review_requested" || kind == "changes_requested" ||
             kind == "scheduled") {
    with(EventKind::kReleased, kind + (summary.empty() ? "" : ": " + summary));
  } else if (kind == "blocked" || kind == "dependency_wait" || kind == "block_loop_detected" || kind == "gave_up") {
    std::string reason = Text(payload, "reason");
    if (reason.empty()) reason = error;
    // A plain block says its reason; the board's automatic ones say which they were.
    if (kind != "blocked") reason = kind + (reason.empty() ? "" : ": " + reason);
    with(EventKind::kBlocked, reason);
    if (Text(payload, "kind") == "manual") e.actor = "operator";
  } else {  // crashed, timed_out, spawn_failed, stale, reclaimed, reconciled, and outcomes unknown
    std::string detail = error.empty() ? Text(payload, "reason") : error;
    if (detail.empty() && !payload.empty()) detail = payload.dump(-1, ' ', false, json::error_handler_t::replace);
    with(EventKind::kFailed, kind + (detail.empty() ? "" : ": " + detail));
  }
  return e;
}

Status Mapper::End(TaskIn& t, const Item& item, const std::string& kind, const json& payload,
                   const std::string& source) {
  std::string summary = Text(payload, "summary");
  if (summary.empty() && kind == "completed") summary = Text(*t.row, "result");
  Event e = EndEvent(kind, payload, summary);
  const bool holder_side = e.kind != EventKind::kBlocked;
  if (holder_side && !t.record.attempt_open) return Status::Ok();  // caller annotates
  if (holder_side) {
    e.actor = t.holder;
    e.token = t.record.last_token;
  }
  if (e.kind == EventKind::kBlocked && t.record.blocked) return Status::Ok();
  EndExtensionRun(t);
  TL_BOARD_TRY(appended, TryAppend(t, std::move(e), item.board_s));
  if (appended) {
    ++summary_.events_mapped;
    t.open_run = -1;
  } else {
    Anomaly(source + " (" + kind + "): task " + t.id + " could not end its attempt there; kept as an annotation");
  }
  return Status::Ok();
}

Status Mapper::OnEvent(const Item& item) {
  const json& row = board_.task_events.rows[item.index];
  TaskIn& t = tasks_[item.task];
  const std::string board_kind = Text(row, "kind");
  const std::string kind = CanonicalKind(board_kind);
  const std::string source = "task_events:" + std::to_string(*Int(row, "id"));
  const json payload = Payload(row);
  // -1: task-scoped, or from before events had a run (the checked board has no other negative id).
  const int64_t run = IsNull(row, "run_id") ? -1 : Int(row, "run_id").value_or(-1);
  if (item.board_s < last_board_s_) {
    // Reported once, at the end, with the worst case (multi-host boards do this often).
    if (out_of_order_ == 0 || last_board_s_ - item.board_s > out_of_order_max_s_) {
      out_of_order_max_s_ = last_board_s_ - item.board_s;
      out_of_order_worst_ = *Int(row, "id");
    }
    ++out_of_order_;
  }
  last_board_s_ = std::max(last_board_s_, item.board_s);
  const uint64_t events_before = summary_.events_mapped;
  // Events of another run than the open attempt's are the board's business, not the lease's.
  const bool this_attempt = t.record.attempt_open && (run < 0 || t.open_run < 0 || run == t.open_run);
  if (kind == "created") {
    ++summary_.events_mapped;  // the task's created event, from its row
    return Status::Ok();
  }
  if (IsClaim(kind)) {
    std::string lock = Text(payload, "lock");
    const auto found = runs_.find(run);
    if (lock.empty() && found != runs_.end()) lock = Text(*found->second.row, "claim_lock");
    const uint64_t attempts = summary_.attempts;
    TL_RETURN_IF_ERROR(Claim(t, item, run, lock, source));
    if (summary_.attempts != attempts)
      ++summary_.events_mapped;
    else
      Anomaly(source + " (claimed): task " + t.id + " could not be claimed there; kept as an annotation");
  } else if (kind == "heartbeat" && this_attempt) {
    Event e;
    e.kind = EventKind::kHeartbeat;
    e.actor = t.holder;
    e.token = t.record.last_token;
    e.text = AsText(Text(payload, "note"), kMaxTextBytes);
    EndExtensionRun(t);
    TL_BOARD_TRY(appended, TryAppend(t, std::move(e), item.board_s));
    if (appended) {
      ++summary_.events_mapped;
      t.alive_s = item.board_s;
    }
  } else if (IsRunEnd(kind) && (this_attempt || kind == "blocked" || kind == "gave_up" || kind == "dependency_wait" ||
                                kind == "block_loop_detected")) {
    TL_RETURN_IF_ERROR(End(t, item, kind, payload, source));
  } else if ((kind == "unblocked" || kind == "promoted" || kind == "promoted_manual") && t.record.blocked) {
    Event e;
    e.kind = EventKind::kUnblocked;
    e.actor = AsName(Text(payload, "actor"), kBoardActor);
    TL_BOARD_TRY(appended, TryAppend(t, std::move(e), item.board_s));
    if (appended) ++summary_.events_mapped;
  } else if (kind == "archived" && !t.record.terminal()) {
    Event e;
    e.kind = EventKind::kCancelled;
    e.text = "archived on the board";
    TL_BOARD_TRY(appended, TryAppend(t, std::move(e), item.board_s));
    if (appended) ++summary_.events_mapped;
  } else if (kind == "claim_extended" && this_attempt) {
    if (t.extensions == 0) t.extensions_first_s = item.board_s;
    ++t.extensions;
    t.extensions_last_s = item.board_s;
  } else if (IsHolderKind(kind) && !this_attempt) {
    Anomaly(source + " (" + kind + "): task " + t.id + " had no open attempt" +
            (run >= 0 ? " for run " + std::to_string(run) : "") + "; kept as an annotation");
  }
  if (summary_.events_mapped == events_before) return Annotate(t, item.board_s, board_kind, source, row);
  return Status::Ok();
}

Status Mapper::OnRunStart(const Item& item) {
  const json& row = board_.task_runs.rows[item.index];
  TaskIn& t = tasks_[item.task];
  const int64_t run = *Int(row, "id");
  const std::string source = "task_runs:" + std::to_string(run);
  const std::optional<int64_t> ended = Int(row, "ended_at");
  if (ended && *ended <= item.board_s) {
    // A synthesized run (zero length, no claim): a handoff the board recorded as a run.
    return Annotate(t, item.board_s, "synthesized_run", source, row);
  }
  if (t.record.attempt_open && t.open_run < 0) {
    t.open_run = run;  // a run synthesized for a claim from before runs existed: the same attempt
    return Annotate(t, item.board_s, "run_adopted", source, row);
  }
  const uint64_t attempts = summary_.attempts;
  TL_RETURN_IF_ERROR(Claim(t, item, run, Text(row, "claim_lock"), source));
  if (summary_.attempts == attempts) {
    Anomaly(source + ": task " + t.id + " could not be claimed there; kept as an annotation");
    return Annotate(t, item.board_s, "run_started", source, row);
  }
  return Status::Ok();
}

Status Mapper::OnRunEnd(const Item& item) {
  const json& row = board_.task_runs.rows[item.index];
  TaskIn& t = tasks_[item.task];
  const int64_t run = *Int(row, "id");
  const std::string source = "task_runs:" + std::to_string(run);
  if (t.record.attempt_open && t.open_run == run) {
    const uint64_t mapped = summary_.events_mapped;
    json payload = {{"error", "the run ended as " + Text(row, "outcome") + " with no event"}};
    TL_RETURN_IF_ERROR(
        End(t, item, Text(row, "outcome").empty() ? "reclaimed" : Text(row, "outcome"), payload, source));
    if (summary_.events_mapped != mapped) {
      --summary_.events_mapped;  // a run row, not a board event
      return Status::Ok();
    }
  }
  return Annotate(t, item.board_s, "run_ended", source, row);
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

}  // namespace

Result<BoardImportSummary> MapBoard(const Board& board, const std::function<Status(const Event&)>& sink) {
  // A dry run finds the links the board did not wait for (a child claimed before its
  // parent was done: a link added later, an archived parent); the real run keeps them in
  // the child's payload only, so that every claim the board made stays an attempt.
  const std::function<Status(const Event&)> discard = [](const Event&) { return Status::Ok(); };
  Mapper dry(board, discard, {});
  Result<BoardImportSummary> dry_summary = dry.Run();
  if (!dry_summary.ok()) return dry_summary.status();
  Mapper mapper(board, sink, dry.early_claims());
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
