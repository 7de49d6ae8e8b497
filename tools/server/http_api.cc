#include "tools/server/http_api.h"

#include <algorithm>
#include <charconv>
#include <optional>

#include <nlohmann/json.hpp>

#include "projections/command_json.h"
#include "projections/event_json.h"
#include "projections/explain.h"
#include "projections/json_object_reader.h"
#include "projections/limits.h"
#include "projections/stats.h"
#include "projections/time_text.h"
#include "projections/validate.h"
#include "projections/whatif.h"
#include "tools/cli/audit_queries.h"
#include "tools/common/signal_names.h"
#include "tools/server/free_memory.h"

namespace taskledger::server {
namespace {

// GET /v1/events: events per page unless `limit` says fewer; never more than kMaxEventsPage.
constexpr size_t kDefaultEventsPage = 1000;
constexpr size_t kMaxEventsPage = 16384;

std::string Dump(const nlohmann::json& value) {
  // replace: payloads and results are the clients' bytes, maybe not UTF-8.
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

ApiReply Json(const nlohmann::json& value) { return ApiReply{200, Dump(value)}; }

unsigned HttpCode(Code code) {
  switch (code) {
    case Code::kOk: return 200;
    case Code::kInvalidArgument: return 400;
    case Code::kRefused: return 409;
    case Code::kNotFound: return 404;
    case Code::kBusy: return 503;
    case Code::kUnknownOutcome: return 504;  // the writer (or its log) did not answer in time
    default: return 500;
  }
}

// The query's value of `name`; nullopt when absent. Repeated keys: the last one.
std::optional<std::string> QueryValue(const ApiRequest& request, std::string_view name) {
  std::optional<std::string> found;
  for (const auto& [key, value] : request.query) {
    if (key == name) found = value;
  }
  return found;
}

std::vector<std::string> QueryValues(const ApiRequest& request, std::string_view name) {
  std::vector<std::string> values;
  for (const auto& [key, value] : request.query) {
    if (key == name) values.push_back(value);
  }
  return values;
}

// Every query key must be one the path reads: a misspelt filter must not silently list all.
Status OnlyQueryKeys(const ApiRequest& request, std::initializer_list<std::string_view> known) {
  for (const auto& [key, value] : request.query) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return Status::InvalidArgument("unknown query parameter \"" + key + "\"");
    }
  }
  return Status::Ok();
}

Result<uint64_t> QueryUnsigned(const ApiRequest& request, std::string_view name, uint64_t fallback) {
  const std::optional<std::string> text = QueryValue(request, name);
  if (!text) return fallback;
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (error != std::errc() || end != text->data() + text->size() || text->empty()) {
    return Status::InvalidArgument(std::string(name) + ": expected a non-negative integer, got '" + *text + "'");
  }
  return value;
}

// ?at=TIME | ?at_seq=N, as show's and explain's --at / --at-seq.
Result<cli::AtFlags> AtQuery(const ApiRequest& request) {
  cli::AtFlags at;
  if (std::optional<std::string> time = QueryValue(request, "at")) {
    if (time->empty()) return Status::InvalidArgument("at: expected a time");
    at.time = *time;
  }
  if (QueryValue(request, "at_seq")) {
    Result<uint64_t> seq = QueryUnsigned(request, "at_seq", 0);
    if (!seq.ok()) return seq.status();
    at.seq = *seq;
  }
  return at;
}

// The body of a POST: one JSON object ({} when empty, for the commands that need no field).
Result<nlohmann::json> BodyObject(const std::string& body) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) return nlohmann::json::object();
  nlohmann::json object = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded()) return Status::InvalidArgument("the body is not JSON");
  if (!object.is_object()) return Status::InvalidArgument("the body is not a JSON object");
  return object;
}

// A signal's name as the CLI writes it (TERM, 15 and SIGTERM all name SIGTERM).
Status CanonicalSignal(Command& command) {
  if (command.signal.empty()) return Status::Ok();
  const std::optional<std::string> name = tools::CanonicalSignalName(command.signal);
  if (!name) return Status::InvalidArgument("\"signal\": unknown signal '" + command.signal + "' (e.g. TERM, INT, 9)");
  command.signal = *name;
  return Status::Ok();
}

// The command of `verb` on the task the path names (or none: create, claim next, batches).
Result<Command> ReadCommand(std::string_view verb, nlohmann::json fields, const std::string* path_id, int64_t now_ns,
                            std::string_view where) {
  if (path_id != nullptr) {
    if (fields.contains("id")) return Status::InvalidArgument("the path names the task: drop \"id\" from the body");
    fields["id"] = *path_id;
  }
  // Who sent it, in the client's words (as the CLI stamps its own): recorded with the
  // command's events, so that explain and stats can name the process and the host.
  ClientMeta meta;
  if (fields.is_object()) {
    ObjectReader writer(fields, std::string(where) + std::string(verb) + ":");
    writer.Integer("pid", &meta.pid, false);
    writer.String("host", &meta.host, false);
    TL_RETURN_IF_ERROR(writer.status());
    if (!meta.host.empty()) TL_RETURN_IF_ERROR(ValidateName("\"host\"", meta.host).Prefixed(std::string(where)));
    fields.erase("pid");
    fields.erase("host");
  }
  Result<Command> command = CommandFromJson(verb, fields, now_ns);
  // "claim: has an unknown key..." names what was being read; a batch names its index too.
  const std::string prefix = std::string(where) + std::string(verb) + ": ";
  if (!command.ok()) return command.status().Prefixed(prefix);
  if (Status s = CanonicalSignal(*command); !s.ok()) return s.Prefixed(prefix);
  command->meta = std::move(meta);
  return command;
}

bool IsCommandVerb(std::string_view verb) {
  static constexpr std::string_view kVerbs[] = {"claim",   "heartbeat", "complete", "fail",   "release",
                                                "signal",  "exit",      "block",    "unblock", "cancel",
                                                "revive"};
  return std::find(std::begin(kVerbs), std::end(kVerbs), verb) != std::end(kVerbs);
}

Status NoSuchPath(const std::vector<std::string>& p) {
  std::string path;
  for (const std::string& segment : p) path += "/" + segment;
  return Status::NotFound("no such path: " + path);
}

// The paths Read answers (for a 405 rather than a 404 to a POST there).
bool IsReadPath(const std::vector<std::string>& p) {
  if (p.size() == 2) {
    return p[1] == "now" || p[1] == "tasks" || p[1] == "events" || p[1] == "stats" || p[1] == "verify" ||
           p[1] == "timeline" || p[1] == "whatif";
  }
  if (p.size() == 3) return p[1] == "tasks" || (p[1] == "events" && p[2] == "stream");
  return p.size() == 4 && p[1] == "tasks" && (p[3] == "explain" || p[3] == "events");
}

ApiReply MethodNotAllowed(const ApiRequest& request, const char* allow) {
  std::string path;
  for (const std::string& segment : request.path) path += "/" + segment;
  ApiReply reply = HttpApi::Error(405, "invalid_argument",
                                  path + " takes " + allow + ", not " + (request.post ? "POST" : "GET"));
  reply.allow = allow;
  return reply;
}

}  // namespace

HttpApi::HttpApi(Ledger* ledger, SubmitCommands submit, std::string title)
    : ledger_(ledger), reads_(cli::ReadLedger(ledger)), submit_(std::move(submit)), title_(std::move(title)) {}

ApiReply HttpApi::Error(unsigned code, const std::string& class_name, const std::string& message) {
  return ApiReply{code, Dump({{"error", message}, {"code", class_name}})};
}

ApiReply HttpApi::Error(const Status& status) {
  return Error(HttpCode(status.code()), std::string(StatusCodeName(status.code())), status.message());
}

kj::Promise<ApiReply> HttpApi::Handle(const ApiRequest& request) {
  const std::vector<std::string>& p = request.path;
  const bool tasks = p.size() >= 2 && p[1] == "tasks";
  // POST /v1/tasks, /v1/tasks/ID/VERB, /v1/claim, /v1/commands: commands.
  const bool command_path = (tasks && p.size() == 2) || (tasks && p.size() == 4 && IsCommandVerb(p[3])) ||
                            (p.size() == 2 && (p[1] == "claim" || p[1] == "commands" || p[1] == "sweep" ||
                                               p[1] == "rebuild"));
  if (!command_path) {
    if (request.post) {
      if (!IsReadPath(p)) return Error(NoSuchPath(p));
      return MethodNotAllowed(request, "GET, HEAD");
    }
    return Read(request);
  }
  if (!request.post) {
    if (tasks && p.size() == 2) return Read(request);  // GET /v1/tasks: ls
    return MethodNotAllowed(request, "POST");
  }
  if (!request.query.empty()) return Error(Status::InvalidArgument("commands take their fields in the body, not the query"));
  Result<nlohmann::json> body = BodyObject(request.body);
  if (!body.ok()) return Error(body.status());
  if (p[1] == "sweep" || p[1] == "rebuild") {
    if (!body->empty()) return Error(Status::InvalidArgument(p[1] + " takes no fields: send {} or nothing"));
    if (p[1] == "rebuild") {
      // As over RPC: the projection rewritten from the log, by the server's ledger.
      const ReturnFreeMemoryAfterward release;  // a replay of the whole log
      Result<RebuildReport> report = ledger_->Rebuild();
      if (!report.ok()) return Error(report.status());
      return Json({{"events", report->events}, {"tasks", report->tasks}});
    }
    Command sweep;
    sweep.kind = CommandKind::kSweep;
    std::vector<Command> one;
    one.push_back(std::move(sweep));
    // The reply of a sweep is its events, one per lapse it recorded (`sweep --json`).
    return submit_(std::move(one)).then([](std::vector<Outcome> outcomes) {
      const Outcome& outcome = outcomes.front();
      if (!outcome.status.ok()) return Error(outcome.status);
      nlohmann::json events = nlohmann::json::array();
      for (const Event& e : outcome.reply.events) events.push_back(EventToJson(e));
      return Json({{"events", std::move(events)}});
    });
  }
  const int64_t now_ns = ledger_->Now();
  std::vector<Command> commands;
  if (p[1] == "commands") {
    if (body->size() != 1 || !body->contains("commands") || !(*body)["commands"].is_array()) {
      return Error(Status::InvalidArgument("a batch is {\"commands\": [...]}"));
    }
    const nlohmann::json& list = (*body)["commands"];
    if (list.empty()) return Error(Status::InvalidArgument("a batch needs at least one command"));
    if (list.size() > kMaxCommandsPerCall) {
      return Error(Status::InvalidArgument("more than " + std::to_string(kMaxCommandsPerCall) + " commands in one batch"));
    }
    // The batch is refused whole if one command does not read: nothing half-submitted.
    for (size_t i = 0; i < list.size(); ++i) {
      const std::string where = "commands[" + std::to_string(i) + "]: ";
      if (!list[i].is_object() || !list[i].contains("verb") || !list[i]["verb"].is_string()) {
        return Error(Status::InvalidArgument(where + "needs \"verb\" (create, claim, heartbeat, ...)"));
      }
      nlohmann::json fields = list[i];
      const std::string verb = fields["verb"].get<std::string>();
      fields.erase("verb");
      Result<Command> command = ReadCommand(verb, std::move(fields), nullptr, now_ns, where);
      if (!command.ok()) return Error(command.status());
      commands.push_back(std::move(*command));
    }
    return Submit(std::move(commands), /*batch=*/true);
  }
  Result<Command> command = Status::Internal("unreachable");
  if (p[1] == "claim") {
    if (body->contains("next") || body->contains("id")) {
      return Error(Status::InvalidArgument("POST /v1/claim claims the next ready task: drop \"id\" and \"next\""));
    }
    (*body)["next"] = true;
    command = ReadCommand("claim", std::move(*body), nullptr, now_ns, "");
  } else if (p.size() == 2) {
    command = ReadCommand("create", std::move(*body), nullptr, now_ns, "");
  } else {
    command = ReadCommand(p[3], std::move(*body), &p[2], now_ns, "");
  }
  if (!command.ok()) return Error(command.status());
  commands.push_back(std::move(*command));
  return Submit(std::move(commands), /*batch=*/false);
}

kj::Promise<ApiReply> HttpApi::Submit(std::vector<Command> commands, bool batch) {
  return submit_(std::move(commands)).then([batch](std::vector<Outcome> outcomes) {
    if (!batch) {
      const Outcome& outcome = outcomes.front();
      if (!outcome.status.ok()) return Error(outcome.status);
      return Json(CommandReplyToJson(outcome.reply));
    }
    nlohmann::json replies = nlohmann::json::array();
    for (const Outcome& outcome : outcomes) {
      if (outcome.status.ok()) {
        replies.push_back(CommandReplyToJson(outcome.reply));
      } else {
        replies.push_back({{"error", outcome.status.message()},
                           {"code", std::string(StatusCodeName(outcome.status.code()))}});
      }
    }
    return Json({{"outcomes", std::move(replies)}});
  });
}

ApiReply HttpApi::Read(const ApiRequest& request) {
  const std::vector<std::string>& p = request.path;
  const auto fail = [](const Status& s) { return Error(s); };
  if (p.size() == 2 && p[1] == "now") {
    if (Status s = OnlyQueryKeys(request, {}); !s.ok()) return fail(s);
    const int64_t now = ledger_->Now();
    return Json({{"now_ns", now}, {"now", FormatTime(now)}, {"last_seq", ledger_->last_seq()}});
  }
  if (p.size() == 2 && p[1] == "tasks") {  // ls
    if (Status s = OnlyQueryKeys(request, {"at", "at_seq", "status", "queue"}); !s.ok()) return fail(s);
    std::optional<TaskStatus> status;
    if (std::optional<std::string> name = QueryValue(request, "status")) {
      status = TaskStatusFromName(*name);
      if (!status) {
        return fail(Status::InvalidArgument("status: unknown status '" + *name +
                                            "' (waiting, ready, running, blocked, done, dead, cancelled)"));
      }
    }
    const std::optional<std::string> queue = QueryValue(request, "queue");
    Result<cli::AtFlags> at_flags = AtQuery(request);
    if (!at_flags.ok()) return fail(at_flags.status());
    Result<PointInTime> at = at_flags->Resolve(ledger_->Now());
    if (!at.ok()) return fail(at.status());
    const ReturnFreeMemoryAfterward release;  // every view at once
    Result<TasksSnapshot> snapshot = ledger_->TasksAt(*at);
    if (!snapshot.ok()) return fail(snapshot.status());
    nlohmann::json list = nlohmann::json::array();
    for (const TaskView& view : snapshot->tasks) {
      if (status && view.status != *status) continue;
      if (queue && view.settled.spec.queue != *queue) continue;
      list.push_back(TaskViewToJson(view, snapshot->at_ns));
    }
    return Json({{"at_ns", snapshot->at_ns}, {"at", FormatTime(snapshot->at_ns)}, {"seq", snapshot->seq},
                 {"tasks", std::move(list)}});
  }
  if (p.size() >= 3 && p[1] == "tasks") {
    const std::string& id = p[2];
    if (Status s = ValidateName("task id", id); !s.ok()) return fail(s);
    if (p.size() == 3) {  // show
      if (Status s = OnlyQueryKeys(request, {"at", "at_seq"}); !s.ok()) return fail(s);
      Result<cli::AtFlags> at_flags = AtQuery(request);
      if (!at_flags.ok()) return fail(at_flags.status());
      const int64_t now = ledger_->Now();
      Result<PointInTime> at = at_flags->Resolve(now);
      if (!at.ok()) return fail(at.status());
      Result<TaskView> view = ledger_->TaskAt(id, *at);
      if (!view.ok()) return fail(view.status());
      // Evaluated as `show` does: at the time asked for, now, or its last event up to a seq.
      int64_t at_ns = at->kind == PointInTime::Kind::kTime ? at->value : now;
      if (at->kind == PointInTime::Kind::kSeq) at_ns = std::max(view->settled.last_ns, int64_t{0});
      return Json(TaskViewToJson(*view, at_ns));
    }
    if (p.size() == 4 && p[3] == "explain") {
      if (Status s = OnlyQueryKeys(request, {"at", "at_seq"}); !s.ok()) return fail(s);
      Result<cli::AtFlags> at_flags = AtQuery(request);
      if (!at_flags.ok()) return fail(at_flags.status());
      Result<Explanation> explanation = cli::ExplainTask(*reads_, id, *at_flags);
      if (!explanation.ok()) return fail(explanation.status());
      return Json(ExplanationToJson(*explanation));
    }
    if (p.size() == 4 && p[3] == "events") {
      if (Status s = OnlyQueryKeys(request, {}); !s.ok()) return fail(s);
      if (Result<TaskView> found = ledger_->TaskAt(id, PointInTime::Now()); !found.ok()) return fail(found.status());
      nlohmann::json events = nlohmann::json::array();
      Status read = ledger_->ForEachTaskEvent(id, 1, [&](const Event& e) {
        events.push_back(EventToJson(e));
        return true;
      });
      if (!read.ok()) return fail(read);
      return Json({{"events", std::move(events)}});
    }
    return fail(NoSuchPath(p));
  }
  if (p.size() == 2 && p[1] == "events") {
    if (Status s = OnlyQueryKeys(request, {"since", "task", "limit"}); !s.ok()) return fail(s);
    Result<StreamStart> start = ReadStreamQuery(request);
    if (!start.ok()) return fail(start.status());
    Result<uint64_t> limit = QueryUnsigned(request, "limit", kDefaultEventsPage);
    if (!limit.ok()) return fail(limit.status());
    if (*limit == 0 || *limit > kMaxEventsPage) {
      return fail(Status::InvalidArgument("limit: 1 to " + std::to_string(kMaxEventsPage)));
    }
    nlohmann::json events = nlohmann::json::array();
    uint64_t next_seq = start->from_seq;
    const auto take = [&](const Event& e) {
      events.push_back(EventToJson(e));
      next_seq = e.seq + 1;
      return events.size() < *limit;
    };
    Status read = start->task_id.empty() ? ledger_->ForEachEvent(start->from_seq, take)
                                         : ledger_->ForEachTaskEvent(start->task_id, start->from_seq, take);
    if (!read.ok()) return fail(read);
    return Json({{"events", std::move(events)}, {"next_seq", next_seq}});
  }
  if (p.size() == 2 && p[1] == "stats") {
    if (Status s = OnlyQueryKeys(request, {"since"}); !s.ok()) return fail(s);
    Result<LedgerStats> stats = cli::ComputeLedgerStats(*reads_, QueryValue(request, "since").value_or(""));
    if (!stats.ok()) return fail(stats.status());
    return Json(StatsToJson(*stats));
  }
  if (p.size() == 2 && p[1] == "verify") {
    if (Status s = OnlyQueryKeys(request, {}); !s.ok()) return fail(s);
    const ReturnFreeMemoryAfterward release;  // a replay of the whole log
    Result<VerifyReport> report = ledger_->Verify();
    if (!report.ok()) return fail(report.status());
    return Json({{"ok", report->problems.empty()},
                 {"events", report->events},
                 {"tasks", report->tasks},
                 {"problems", report->problems}});
  }
  if (p.size() == 2 && p[1] == "whatif") {
    if (Status s = OnlyQueryKeys(request, {"ttl", "heartbeat_every", "grace", "max_runtime", "since", "until", "task"});
        !s.ok()) {
      return fail(s);
    }
    cli::WhatIfRequest whatif;
    whatif.ttl = QueryValue(request, "ttl").value_or("");
    whatif.heartbeat_every = QueryValue(request, "heartbeat_every").value_or("");
    whatif.grace = QueryValue(request, "grace").value_or("");
    whatif.max_runtime = QueryValue(request, "max_runtime").value_or("");
    whatif.since = QueryValue(request, "since").value_or("");
    whatif.until = QueryValue(request, "until").value_or("");
    whatif.tasks = QueryValues(request, "task");
    Result<WhatIfReport> report = cli::ReplayUnderPolicy(*reads_, whatif);
    if (!report.ok()) return fail(report.status());
    return Json(WhatIfToJson(*report));
  }
  if (p.size() == 2 && p[1] == "timeline") {
    if (Status s = OnlyQueryKeys(request, {"task", "since", "until"}); !s.ok()) return fail(s);
    cli::TimelineRequest timeline{QueryValues(request, "task"), QueryValue(request, "since").value_or(""),
                                  QueryValue(request, "until").value_or(""), title_};
    Result<cli::TimelinePage> page = cli::DrawTimeline(*reads_, timeline);
    if (!page.ok()) return fail(page.status());
    return ApiReply{200, std::move(page->html), "text/html; charset=utf-8"};
  }
  return fail(NoSuchPath(p));
}

Result<HttpApi::StreamStart> HttpApi::ReadStreamQuery(const ApiRequest& request) {
  StreamStart start;
  Result<uint64_t> since = QueryUnsigned(request, "since", 1);
  if (!since.ok()) return since.status();
  start.from_seq = std::max<uint64_t>(*since, 1);
  start.task_id = QueryValue(request, "task").value_or("");
  if (!start.task_id.empty()) TL_RETURN_IF_ERROR(ValidateName("task", start.task_id));
  return start;
}

Status HttpApi::EventLines(uint64_t from_seq, const std::string& task_id, size_t limit, std::string* lines,
                           uint64_t* next_seq) {
  size_t taken = 0;
  *next_seq = from_seq;
  const auto take = [&](const Event& e) {
    *lines += Dump(EventToJson(e));
    *next_seq = e.seq + 1;
    return ++taken < limit;
  };
  return task_id.empty() ? ledger_->ForEachEvent(from_seq, take) : ledger_->ForEachTaskEvent(task_id, from_seq, take);
}

}  // namespace taskledger::server
