#include "projections/event_json.h"

#include <limits>
#include <set>
#include <string>

#include "projections/decide.h"
#include "projections/json_object_reader.h"
#include "projections/time_text.h"
#include "projections/validate.h"

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
  // The parsed form loses the submitted spelling (key order, spaces, number forms); the
  // text keeps it, so that an import restores the event byte for byte.
  out["payload_text"] = spec.payload;
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
    case EventKind::kAnnotated:
      out["source_kind"] = e.source_kind;
      out["source_id"] = e.source_id;
      out["payload"] = e.text;
      break;
  }
  return out;
}

// ---- Reading an event back (export lines, docs/export.md) ----

namespace {

Status ReadSpec(const nlohmann::json& object, TaskSpec* spec) {
  ObjectReader in(object, "spec");
  in.String("title", &spec->title);
  const nlohmann::json* after = in.Find("after", true);
  if (after != nullptr) {
    if (!after->is_array()) return Status::InvalidArgument("spec \"after\" is not a list");
    for (const nlohmann::json& dep : *after) {
      if (!dep.is_string()) return Status::InvalidArgument("spec \"after\" holds a non-string");
      spec->after.push_back(dep.get<std::string>());
    }
  }
  in.String("queue", &spec->queue);
  in.Integer("priority", &spec->priority);
  in.Integer("ttl_ns", &spec->lease_ttl_ns);
  in.Integer("max_attempts", &spec->max_attempts);
  in.Integer("max_runtime_ns", &spec->max_runtime_ns);
  in.Integer("not_before_ns", &spec->not_before_ns);
  in.String("idempotency_key", &spec->idempotency_key);
  in.Integer("backoff_initial_ns", &spec->backoff_initial_ns);
  in.Integer("backoff_max_ns", &spec->backoff_max_ns);
  // payload_text is the payload as submitted; `payload` alone (a hand-written line) is
  // taken in its parsed form.
  const nlohmann::json* parsed = in.Find("payload", false);
  const bool has_text = in.Find("payload_text", false) != nullptr;
  in.String("payload_text", &spec->payload, false);
  TL_RETURN_IF_ERROR(in.Finish());
  if (!has_text && parsed != nullptr && !parsed->is_null()) spec->payload = parsed->dump();
  // The ledger stores specs normalized (defaults filled in, names checked).
  TaskSpec normalized = *spec;
  if (Status s = NormalizeSpec(&normalized); !s.ok()) return Status::InvalidArgument("spec: " + s.message());
  if (!(normalized == *spec)) return Status::InvalidArgument("spec is not normalized (a default is missing)");
  if (has_text && parsed != nullptr) {
    const nlohmann::json expected =
        spec->payload.empty() ? nlohmann::json(nullptr) : nlohmann::json::parse(spec->payload, nullptr, false);
    if (expected != *parsed) return Status::InvalidArgument("spec \"payload\" and \"payload_text\" differ");
  }
  return Status::Ok();
}

void ReadHolderCommand(ObjectReader& in, Event* e) {
  std::string name;
  in.String("command", &name);
  if (name.empty()) return;
  const std::optional<HolderCommand> command = HolderCommandFromName(name);
  if (!command) return in.Check(Status::InvalidArgument("unknown command \"" + name + "\""));
  e->rejected_command = *command;
}

// The body keys of each kind, as EventToJson writes them.
void ReadBody(ObjectReader& in, Event* e) {
  switch (e->kind) {
    case EventKind::kCreated:
      if (const nlohmann::json* spec = in.Find("spec", true)) in.Check(ReadSpec(*spec, &e->spec));
      break;
    case EventKind::kClaimed:
      in.Integer("token", &e->token);
      in.Integer("ttl_ns", &e->ttl_ns);
      break;
    case EventKind::kHeartbeat:
      in.Integer("token", &e->token);
      in.String("note", &e->text);
      break;
    case EventKind::kSignaled:
      in.Integer("token", &e->token);
      in.String("signal", &e->signal);
      in.Integer("grace_ns", &e->grace_ns);
      break;
    case EventKind::kExited: {
      in.Integer("token", &e->token);
      int32_t code = 0;
      const bool has_code = in.Find("code", false) != nullptr;
      in.Integer("code", &code, false);
      in.String("signal", &e->signal, !has_code);
      if (has_code) e->exit_code = code;
      if (has_code && !e->signal.empty()) in.Check(Status::InvalidArgument("give \"code\" or \"signal\", not both"));
      break;
    }
    case EventKind::kCompleted:
      in.Integer("token", &e->token);
      in.String("result", &e->text);
      break;
    case EventKind::kFailed:
      in.Integer("token", &e->token);
      in.String("error", &e->text);
      break;
    case EventKind::kReleased:
      in.Integer("token", &e->token);
      in.String("reason", &e->text);
      break;
    case EventKind::kBlocked:
    case EventKind::kCancelled:
      in.String("reason", &e->text);
      break;
    case EventKind::kUnblocked:
    case EventKind::kRevived:
      break;
    case EventKind::kLeaseExpired:
      in.Integer("token", &e->token);
      in.Integer("deadline_ns", &e->deadline_ns);
      in.TimeText("deadline", e->deadline_ns);
      break;
    case EventKind::kRejected:
      ReadHolderCommand(in, e);
      in.Integer("token", &e->token);
      in.Integer("current_token", &e->current_token);
      in.String("reason", &e->reason);
      in.String("note", &e->text);
      break;
    case EventKind::kAnnotated:
      in.String("source_kind", &e->source_kind);
      in.String("source_id", &e->source_id);
      in.String("payload", &e->text);
      break;
  }
}

// What the ledger checks of every command before it appends an event.
Status CheckStorable(const Event& e) {
  TL_RETURN_IF_ERROR(ValidateName("task id", e.task_id));
  TL_RETURN_IF_ERROR(ValidateName("actor", e.actor));
  TL_RETURN_IF_ERROR(ValidateText("text", e.text));
  TL_RETURN_IF_ERROR(ValidateText("reason", e.reason));
  TL_RETURN_IF_ERROR(ValidateText("host", e.meta.host));
  if (e.kind == EventKind::kAnnotated) {
    TL_RETURN_IF_ERROR(ValidateName("source kind", e.source_kind));
    TL_RETURN_IF_ERROR(ValidateText("source id", e.source_id));
  }
  if (e.kind == EventKind::kSignaled || (e.kind == EventKind::kExited && !e.exit_code)) {
    TL_RETURN_IF_ERROR(ValidateName("signal", e.signal));
  }
  return ValidateEventValues(e);
}

}  // namespace

Result<Event> EventFromJson(const nlohmann::json& object) {
  Event e;
  ObjectReader in(object, "event");
  in.Integer("seq", &e.seq);
  in.Integer("time_ns", &e.time_ns);
  in.TimeText("time", e.time_ns);
  in.String("task", &e.task_id);
  in.String("actor", &e.actor);
  in.Integer("pid", &e.meta.pid, false);
  in.String("host", &e.meta.host, false);
  in.Integer("client_time_ns", &e.meta.wall_time_ns, false);
  std::string kind;
  in.String("kind", &kind);
  if (!in.status().ok()) return in.status();
  const std::optional<EventKind> known = EventKindFromName(kind);
  if (!known) return Status::InvalidArgument("event has an unknown kind \"" + kind + "\"");
  e.kind = *known;
  ReadBody(in, &e);
  TL_RETURN_IF_ERROR(in.Finish());
  if (Status s = CheckStorable(e); !s.ok()) return Status::InvalidArgument("event: " + s.message());
  return e;
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
