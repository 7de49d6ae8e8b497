// A board event or run row as the ledger's claim, heartbeat and end of an attempt, or as
// an annotation and an anomaly when the derivation rules would refuse it. Pure; see
// board_mapper.h.
#include <algorithm>
#include <optional>

#include "projections/board_mapper.h"
#include "projections/board_rows.h"
#include "projections/limits.h"
#include "projections/time_text.h"

namespace taskledger::board {

using nlohmann::json;

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

namespace {

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

}  // namespace

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

Mapper::RunRow Mapper::RunRowOf(const Item& item) {
  const json& row = board_.task_runs.rows[item.index];
  const int64_t run = *Int(row, "id");
  return {row, tasks_[item.task], run, "task_runs:" + std::to_string(run)};
}

Status Mapper::OnRunStart(const Item& item) {
  const auto [row, t, run, source] = RunRowOf(item);
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
  const auto [row, t, run, source] = RunRowOf(item);
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

}  // namespace taskledger::board
