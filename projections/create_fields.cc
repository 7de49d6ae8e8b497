#include "projections/create_fields.h"

#include <string>

#include "projections/json_object_reader.h"
#include "projections/limits.h"
#include "projections/time_text.h"
#include "projections/validate.h"

namespace taskledger {

Result<int64_t> PositiveDuration(std::string_view name, std::string_view text) {
  Result<int64_t> ns = ParseDuration(text);
  if (!ns.ok()) return Status::InvalidArgument(std::string(name) + ": " + ns.status().message());
  // 0 in a spec means "the default" (or no limit): a 0 someone wrote is a mistake.
  if (*ns == 0) return Status::InvalidArgument(std::string(name) + " must be positive");
  return ns;
}

Result<uint32_t> MaxAttempts(std::string_view name, int64_t n) {
  if (n < 1 || n > kMaxAttemptsLimit) {
    return Status::InvalidArgument(std::string(name) + " must be between 1 and " + std::to_string(kMaxAttemptsLimit));
  }
  return static_cast<uint32_t>(n);
}

Result<int32_t> Priority(std::string_view name, int64_t n) {
  if (n < INT32_MIN || n > INT32_MAX) return Status::InvalidArgument(std::string(name) + " is out of range");
  return static_cast<int32_t>(n);
}

namespace {

// `"key"` as messages name a line's key.
std::string Quoted(const char* key) { return std::string("\"") + key + "\""; }

Status ReadDuration(ObjectReader& in, const char* key, int64_t* ns) {
  const nlohmann::json* value = in.Find(key, false);
  if (value == nullptr) return Status::Ok();
  if (!value->is_string()) return Status::InvalidArgument(Quoted(key) + " is not a duration such as \"30s\"");
  Result<int64_t> parsed = PositiveDuration(Quoted(key), value->get<std::string>());
  if (!parsed.ok()) return parsed.status();
  *ns = *parsed;
  return Status::Ok();
}

Status ReadAfter(ObjectReader& in, std::vector<std::string>* after) {
  const nlohmann::json* list = in.Find("after", false);
  if (list == nullptr) return Status::Ok();
  if (!list->is_array()) return Status::InvalidArgument("\"after\" is not a list of task ids");
  for (const nlohmann::json& dep : *list) {
    if (!dep.is_string()) return Status::InvalidArgument("\"after\" holds something that is not a task id");
    after->push_back(dep.get<std::string>());
  }
  return Status::Ok();
}

}  // namespace

Result<Command> CreateCommandFromJson(const nlohmann::json& line, int64_t now_ns) {
  if (!line.is_object()) return Status::InvalidArgument("not a JSON object");
  Command command;
  command.kind = CommandKind::kCreate;
  TaskSpec& spec = command.spec;
  ObjectReader in(line, "");
  command.task_id_given = in.Find("id", false) != nullptr;
  in.String("id", &command.task_id, /*required=*/false);
  in.String("title", &spec.title);
  in.String("queue", &spec.queue, false);
  in.String("idempotency_key", &spec.idempotency_key, false);
  int64_t priority = 0, max_attempts = 0;
  in.Integer("priority", &priority, false);
  const bool has_max_attempts = in.Find("max_attempts", false) != nullptr;
  in.Integer("max_attempts", &max_attempts, false);
  std::string not_before;
  in.String("not_before", &not_before, false);
  const bool has_not_before = in.Find("not_before", false) != nullptr;
  const nlohmann::json* payload = in.Find("payload", false);
  TL_RETURN_IF_ERROR(in.status());
  TL_RETURN_IF_ERROR(ReadAfter(in, &spec.after));
  TL_RETURN_IF_ERROR(ReadDuration(in, "ttl", &spec.lease_ttl_ns));
  TL_RETURN_IF_ERROR(ReadDuration(in, "max_runtime", &spec.max_runtime_ns));
  TL_RETURN_IF_ERROR(ReadDuration(in, "backoff", &spec.backoff_initial_ns));
  TL_RETURN_IF_ERROR(ReadDuration(in, "backoff_max", &spec.backoff_max_ns));
  TL_RETURN_IF_ERROR(in.Finish());

  Result<int32_t> p = Priority("\"priority\"", priority);
  if (!p.ok()) return p.status();
  spec.priority = *p;
  if (has_max_attempts) {
    Result<uint32_t> m = MaxAttempts("\"max_attempts\"", max_attempts);
    if (!m.ok()) return m.status();
    spec.max_attempts = *m;
  }
  if (has_not_before) {
    Result<int64_t> t = ParseTime(not_before, now_ns);
    if (!t.ok()) return Status::InvalidArgument("\"not_before\": " + t.status().message());
    spec.not_before_ns = *t;
  }
  // A payload is JSON, stored as its text (as create --payload stores what it is given).
  if (payload != nullptr && !payload->is_null()) spec.payload = payload->dump();
  TL_RETURN_IF_ERROR(ValidateCommand(command));
  return command;
}

}  // namespace taskledger
