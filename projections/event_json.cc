#include "projections/event_json.h"

#include "projections/time_text.h"

namespace taskledger {
namespace {

void PutTime(nlohmann::json& out, const std::string& key, int64_t ns) {
  out[key] = FormatTime(ns);
  out[key + "_ns"] = ns;
}

nlohmann::json SpecToJson(const TaskSpec& spec) {
  nlohmann::json out;
  out["title"] = spec.title;
  if (!spec.payload.empty()) {
    out["payload"] = nlohmann::json::parse(spec.payload, nullptr, /*allow_exceptions=*/false);
  } else {
    out["payload"] = nullptr;
  }
  out["after"] = spec.after;
  out["queue"] = spec.queue;
  out["priority"] = spec.priority;
  out["ttl_ns"] = spec.lease_ttl_ns;
  out["max_attempts"] = spec.max_attempts;
  out["max_runtime_ns"] = spec.max_runtime_ns;
  out["not_before_ns"] = spec.not_before_ns;
  out["idempotency_key"] = spec.idempotency_key;
  out["backoff_initial_ns"] = spec.backoff_initial_ns;
  out["backoff_max_ns"] = spec.backoff_max_ns;
  return out;
}

}  // namespace

nlohmann::json EventToJson(const Event& e) {
  nlohmann::json out;
  out["seq"] = e.seq;
  PutTime(out, "time", e.time_ns);
  out["task"] = e.task_id;
  out["kind"] = std::string(EventKindName(e.kind));
  out["actor"] = e.actor;
  if (e.meta.pid != 0) out["pid"] = e.meta.pid;
  if (!e.meta.host.empty()) out["host"] = e.meta.host;
  if (e.meta.wall_time_ns != 0) out["client_time_ns"] = e.meta.wall_time_ns;
  switch (e.kind) {
    case EventKind::kCreated:
      out["spec"] = SpecToJson(e.spec);
      break;
    case EventKind::kClaimed:
      out["token"] = e.token;
      out["ttl_ns"] = e.ttl_ns;
      break;
    case EventKind::kHeartbeat:
      out["token"] = e.token;
      out["note"] = e.text;
      break;
    case EventKind::kSignaled:
      out["token"] = e.token;
      out["signal"] = e.signal;
      out["grace_ns"] = e.grace_ns;
      break;
    case EventKind::kExited:
      out["token"] = e.token;
      if (e.exit_code) out["code"] = *e.exit_code;
      else out["signal"] = e.signal;
      break;
    case EventKind::kCompleted:
      out["token"] = e.token;
      out["result"] = e.text;
      break;
    case EventKind::kFailed:
      out["token"] = e.token;
      out["error"] = e.text;
      break;
    case EventKind::kReleased:
      out["token"] = e.token;
      out["reason"] = e.text;
      break;
    case EventKind::kBlocked:
    case EventKind::kCancelled:
      out["reason"] = e.text;
      break;
    case EventKind::kUnblocked:
    case EventKind::kRevived:
      break;
    case EventKind::kLeaseExpired:
      out["token"] = e.token;
      PutTime(out, "deadline", e.deadline_ns);
      break;
    case EventKind::kRejected:
      out["command"] = std::string(HolderCommandName(e.rejected_command));
      out["token"] = e.token;
      out["current_token"] = e.current_token;
      out["reason"] = e.reason;
      out["note"] = e.text;
      break;
  }
  return out;
}

nlohmann::json TaskViewToJson(const TaskView& view, int64_t at_ns) {
  const TaskRecord& r = view.settled;
  nlohmann::json out;
  out["task"] = r.id;
  out["status"] = std::string(TaskStatusName(view.status));
  PutTime(out, "at", at_ns);
  out["title"] = r.spec.title;
  out["queue"] = r.spec.queue;
  out["priority"] = r.spec.priority;
  out["after"] = r.spec.after;
  out["attempts"] = r.attempts;
  out["failures"] = r.failures;
  out["max_attempts"] = r.spec.max_attempts;
  out["token"] = r.last_token;
  if (view.status == TaskStatus::kRunning) {
    out["holder"] = r.holder;
    PutTime(out, "deadline", r.deadline_ns);
    PutTime(out, "claimed", r.claimed_ns);
    if (!r.signal.empty()) out["signal"] = r.signal;
  }
  if (view.status == TaskStatus::kWaiting) {
    out["waiting_for"] = std::string(WaitReasonName(view.wait));
    if (view.until_ns != 0) PutTime(out, "until", view.until_ns);
  }
  if (!view.dependency.empty()) {
    out["dependency"] = view.dependency;
    out["dependency_status"] = std::string(TaskStatusName(view.dependency_status));
  }
  if (r.blocked) out["block_reason"] = r.block_reason;
  if (r.last_end != AttemptEnd::kNone) {
    out["last_attempt_end"] = std::string(AttemptEndName(r.last_end));
    PutTime(out, "last_attempt_ended", r.last_end_ns);
  }
  if (!r.last_error.empty()) out["last_error"] = r.last_error;
  if (r.done) out["result"] = r.result;
  out["expiries"] = r.expiries;
  out["rejections"] = r.rejections;
  out["interruptions"] = r.interruptions;
  if (!r.spec.payload.empty()) out["payload"] = nlohmann::json::parse(r.spec.payload, nullptr, false);
  PutTime(out, "created", r.created_ns);
  out["last_seq"] = r.last_seq;
  return out;
}

}  // namespace taskledger
