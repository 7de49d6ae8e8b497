#include "projections/command_json.h"

#include <charconv>
#include <string>

#include "projections/create_fields.h"
#include "projections/json_object_reader.h"
#include "projections/task.h"
#include "projections/time_text.h"
#include "projections/validate.h"

namespace taskledger {
namespace {

// A duration key given as text; absent leaves *ns alone. positive: 0 is refused (where 0
// would silently mean "the default"); else 0 is a real value (a grace of none).
Status ReadDuration(ObjectReader& in, const char* key, bool positive, int64_t* ns, bool* given = nullptr) {
  std::string text;
  const bool present = in.Find(key, false) != nullptr;
  in.String(key, &text, false);
  TL_RETURN_IF_ERROR(in.status());
  if (!present) return Status::Ok();
  const std::string name = std::string("\"") + key + "\"";
  Result<int64_t> parsed = positive ? PositiveDuration(name, text) : ParseDuration(text);
  if (!parsed.ok()) {
    return positive ? parsed.status() : Status::InvalidArgument(name + ": " + parsed.status().message());
  }
  *ns = *parsed;
  if (given != nullptr) *given = true;
  return Status::Ok();
}

// A claim's fencing token: a JSON integer, or its decimal text (for clients whose numbers
// are doubles and would round a token past 2^53).
Status ReadToken(ObjectReader& in, uint64_t* token) {
  const nlohmann::json* value = in.Find("token", true);
  TL_RETURN_IF_ERROR(in.status());
  if (value->is_number_unsigned()) {
    *token = value->get<uint64_t>();
    return Status::Ok();
  }
  if (value->is_string()) {
    const std::string text = value->get<std::string>();
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), *token);
    if (error == std::errc() && end == text.data() + text.size() && !text.empty()) return Status::Ok();
  }
  return Status::InvalidArgument("\"token\": expected a claim's token (an integer up to 2^64-1)");
}

struct Verb {
  std::string_view name;
  CommandKind kind;
  const char* text_key;  // the key of the command's text (note, result...), or null
};

constexpr Verb kVerbs[] = {
    {"create", CommandKind::kCreate, nullptr},       {"claim", CommandKind::kClaim, nullptr},
    {"heartbeat", CommandKind::kHeartbeat, "note"},  {"complete", CommandKind::kComplete, "result"},
    {"fail", CommandKind::kFail, "error"},           {"release", CommandKind::kRelease, "reason"},
    {"signal", CommandKind::kSignal, nullptr},       {"exit", CommandKind::kExit, nullptr},
    {"block", CommandKind::kBlock, "reason"},        {"unblock", CommandKind::kUnblock, nullptr},
    {"cancel", CommandKind::kCancel, "reason"},      {"revive", CommandKind::kRevive, nullptr},
};

}  // namespace

Result<Command> CommandFromJson(std::string_view verb_name, const nlohmann::json& fields, int64_t now_ns) {
  const Verb* verb = nullptr;
  for (const Verb& v : kVerbs) {
    if (v.name == verb_name) verb = &v;
  }
  if (verb == nullptr) {
    return Status::InvalidArgument("unknown verb \"" + std::string(verb_name) +
                                   "\" (create, claim, heartbeat, complete, fail, release, signal, exit, block, "
                                   "unblock, cancel, revive)");
  }
  if (verb->kind == CommandKind::kCreate) return CreateCommandFromJson(fields, now_ns);
  if (!fields.is_object()) return Status::InvalidArgument("not a JSON object");

  Command command;
  command.kind = verb->kind;
  ObjectReader in(fields, "");
  const std::string verb_text(verb_name);
  if (verb->kind == CommandKind::kClaim) {
    bool next = false;
    if (const nlohmann::json* n = in.Find("next", false); n != nullptr) {
      if (!n->is_boolean()) return Status::InvalidArgument("\"next\" is not true or false");
      next = n->get<bool>();
    }
    command.next = next;
    in.String("id", &command.task_id, /*required=*/!next);
    in.String("queue", &command.queue, false);
    in.String("worker", &command.actor);
    TL_RETURN_IF_ERROR(in.status());
    if (next && fields.contains("id")) return Status::InvalidArgument("give \"id\" or \"next\": true, not both");
    if (!next && fields.contains("queue")) return Status::InvalidArgument("\"queue\" goes with \"next\": true");
    TL_RETURN_IF_ERROR(ReadDuration(in, "ttl", /*positive=*/true, &command.ttl_ns));
  } else {
    in.String("id", &command.task_id);
  }
  if (HolderCommandOf(verb->kind)) {
    TL_RETURN_IF_ERROR(ReadToken(in, &command.token));
    in.String("worker", &command.actor, false);
  } else if (verb->kind != CommandKind::kClaim) {
    in.String("operator", &command.actor, false);
  }
  if (verb->text_key != nullptr) in.String(verb->text_key, &command.text, /*required=*/verb->kind == CommandKind::kBlock);
  if (verb->kind == CommandKind::kSignal) {
    in.String("signal", &command.signal);
    TL_RETURN_IF_ERROR(ReadDuration(in, "grace", /*positive=*/false, &command.grace_ns, &command.has_grace));
  }
  if (verb->kind == CommandKind::kExit) {
    const bool has_code = fields.contains("code"), has_signal = fields.contains("signal");
    if (has_code == has_signal) return Status::InvalidArgument("give exactly one of \"code\" or \"signal\"");
    int64_t code = 0;
    in.Integer("code", &code, false);
    in.String("signal", &command.signal, false);
    TL_RETURN_IF_ERROR(in.status());
    if (has_code) {
      TL_RETURN_IF_ERROR(ValidateExitCode(code));
      command.exit_code = static_cast<int32_t>(code);
    }
  }
  TL_RETURN_IF_ERROR(in.Finish());
  TL_RETURN_IF_ERROR(ValidateCommand(command));
  return command;
}

nlohmann::json CommandReplyToJson(const CommandReply& reply) {
  nlohmann::json out;
  out["task"] = reply.task_id;
  out["status"] = std::string(TaskStatusName(reply.status));
  out["token"] = reply.token;
  if (reply.deadline_ns != 0) {
    out["deadline"] = FormatTime(reply.deadline_ns);
    out["deadline_ns"] = reply.deadline_ns;
  }
  if (reply.existing) out["existing"] = true;
  if (!reply.events.empty()) out["seq"] = reply.events.back().seq;
  return out;
}

std::string_view StatusCodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kRefused: return "refused";
    case Code::kNotFound: return "not_found";
    case Code::kBusy: return "busy";
    case Code::kIOError: return "io_error";
    case Code::kDataLoss: return "data_loss";
    case Code::kInternal: return "internal";
    case Code::kUnknownOutcome: return "unknown_outcome";
  }
  return "internal";
}

}  // namespace taskledger
