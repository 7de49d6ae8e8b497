#include "tools/cli/audit_queries.h"

#include <algorithm>
#include <map>
#include <optional>
#include <tuple>
#include <unordered_map>

#include "projections/create_fields.h"
#include "projections/replay.h"
#include "projections/time_text.h"
#include "projections/timeline.h"
#include "projections/validate.h"

namespace taskledger::cli {
namespace {

// The ledger time of event `seq` (NotFound past the end of the log).
Result<int64_t> TimeOfSeq(Backend& ledger, uint64_t seq) {
  std::optional<int64_t> time;
  TL_RETURN_IF_ERROR(ledger.ForEachEvent(seq, "", [&](const Event& e) {
    if (e.seq == seq) time = e.time_ns;
    return false;
  }));
  if (!time) return Status::InvalidArgument("seq " + std::to_string(seq) + " is not in the log");
  return *time;
}

}  // namespace

// A time flag (RFC 3339, -5m, or a seq meaning that event's time); 0 when not given.
Result<int64_t> TimeFlag(Backend& ledger, const std::string& flag, const std::string& text, int64_t now_ns) {
  if (text.empty()) return int64_t{0};
  if (IsSeq(text)) return TimeOfSeq(ledger, std::stoull(text));
  Result<int64_t> t = ParseTime(text, now_ns);
  if (!t.ok()) return Status::InvalidArgument(flag + ": expected a time or a seq: " + t.status().message());
  return t;
}

namespace {

// The task's events as of the view (its last folded seq bounds them exactly).
Result<std::vector<Event>> TaskEventsUpTo(Backend& ledger, const std::string& id, uint64_t last_seq) {
  std::vector<Event> events;
  TL_RETURN_IF_ERROR(ledger.ForEachEvent(1, id, [&](const Event& e) {
    if (e.seq > last_seq) return false;
    events.push_back(e);
    return true;
  }));
  return events;
}

Result<ExplainInput> GatherExplainInput(Backend& ledger, const std::string& id, PointInTime at, int64_t now_ns) {
  ExplainInput input;
  // "Now" is read once and used for everything, so the view and the events agree.
  const bool now = at.kind == PointInTime::Kind::kNow;
  if (now) at = PointInTime::AtTime(now_ns);
  if (at.kind == PointInTime::Kind::kSeq) {
    Result<int64_t> t = TimeOfSeq(ledger, static_cast<uint64_t>(at.value));
    if (!t.ok()) return t.status();
    input.at_ns = *t;
  } else {
    input.at_ns = at.value;
  }
  Result<TaskView> view = ledger.TaskAt(id, at);
  if (now && view.status().IsNotFound()) return Status::NotFound("no task " + id);
  if (!view.ok()) return view.status();
  input.view = std::move(*view);
  Result<std::vector<Event>> events = TaskEventsUpTo(ledger, id, input.view.settled.last_seq);
  if (!events.ok()) return events.status();
  input.events = std::move(*events);
  for (const std::string& dep : input.view.settled.spec.after) {
    Result<TaskView> dep_view = ledger.TaskAt(dep, at);
    if (dep_view.ok()) input.dependencies[dep] = std::move(*dep_view);
  }
  return input;
}

// ---- reading histories, for timeline and stats ----

struct Histories {
  std::vector<TaskHistory> tasks;  // in creation order
  std::vector<TaskStatus> statuses;
  std::map<EventKind, uint64_t> events_by_kind;  // events at or after `since`
};

// Folds the events up to `last_seq` into one history per task, settled at `at_ns`, as
// they stream by: the log is never held whole (a ledger may hold millions of events).
// `wanted` (if not empty) names the only tasks to read.
Result<Histories> ReadHistories(Backend& ledger, uint64_t last_seq, int64_t at_ns, int64_t since_ns,
                                const std::vector<std::string>& wanted) {
  std::unordered_map<std::string, TaskHistoryBuilder> builders;
  std::vector<std::string> order;  // creation order
  Replay replay;                   // statuses, dependencies included (whole log only)
  Histories out;
  Status folded = Status::Ok();
  const auto take = [&](const Event& e) {
    if (e.seq > last_seq || e.time_ns > at_ns) return false;
    if (wanted.empty()) folded = replay.Apply(e);
    if (folded.ok()) folded = builders[e.task_id].Add(e);
    if (e.kind == EventKind::kCreated) order.push_back(e.task_id);
    if (e.time_ns >= since_ns) out.events_by_kind[e.kind]++;
    return folded.ok();
  };
  if (wanted.empty()) {
    TL_RETURN_IF_ERROR(ledger.ForEachEvent(1, "", take));
  } else {
    for (const std::string& id : wanted) TL_RETURN_IF_ERROR(ledger.ForEachEvent(1, id, take));
  }
  TL_RETURN_IF_ERROR(folded);
  for (const std::string& id : order) {
    out.tasks.push_back(builders.at(id).Finish(at_ns));
    if (wanted.empty()) {
      out.statuses.push_back(replay.View(*replay.Find(id), at_ns).status);
      continue;
    }
    Result<TaskView> view = ledger.TaskAt(id, PointInTime::AtTime(at_ns));
    if (!view.ok()) return view.status();
    out.statuses.push_back(view->status);
  }
  return out;
}

// Whether a task's life (creation to its last event, or on if it is not finished)
// touches the window.
bool InWindow(const TaskHistory& h, int64_t from_ns, int64_t to_ns) {
  const int64_t end = h.record.terminal() ? h.record.last_ns : to_ns;
  return h.created_ns <= to_ns && end >= from_ns;
}

// Every task's history (or the named ones'), settled at `at_ns`, folded as the events
// stream by.
Result<std::vector<TaskHistory>> ReadTaskHistories(Backend& ledger, int64_t at_ns,
                                                   const std::vector<std::string>& wanted) {
  std::unordered_map<std::string, TaskHistoryBuilder> builders;
  std::vector<std::string> order;  // creation order
  Status folded = Status::Ok();
  const auto take = [&](const Event& e) {
    if (e.time_ns > at_ns) return false;
    folded = builders[e.task_id].Add(e);
    if (e.kind == EventKind::kCreated) order.push_back(e.task_id);
    return folded.ok();
  };
  if (wanted.empty()) {
    TL_RETURN_IF_ERROR(ledger.ForEachEvent(1, "", take));
  } else {
    for (const std::string& id : wanted) TL_RETURN_IF_ERROR(ledger.ForEachEvent(1, id, take));
  }
  TL_RETURN_IF_ERROR(folded);
  std::vector<TaskHistory> out;
  out.reserve(order.size());
  for (const std::string& id : order) out.push_back(builders.at(id).Finish(at_ns));
  return out;
}

// A duration flag that must be positive when given; `unset` when not.
Result<int64_t> OptionalDuration(const std::string& flag, const std::string& text, int64_t unset, bool positive) {
  if (text.empty()) return unset;
  Result<int64_t> ns = positive ? PositiveDuration(flag, text) : DurationFlag(flag, text);
  return ns;
}

}  // namespace

Result<Explanation> ExplainTask(Backend& ledger, const std::string& id, const AtFlags& at_flags) {
  TL_RETURN_IF_ERROR(ValidateName("task id", id));
  Result<int64_t> now = ledger.Now();
  if (!now.ok()) return now.status();
  Result<PointInTime> at = at_flags.Resolve(*now);
  if (!at.ok()) return at.status();
  Result<ExplainInput> input = GatherExplainInput(ledger, id, *at, *now);
  if (!input.ok()) return input.status();
  return Explain(*input);
}

Result<LedgerStats> ComputeLedgerStats(Backend& ledger, const std::string& since_text) {
  Result<TasksSnapshot> snapshot = ledger.TasksAt(PointInTime::Now());
  if (!snapshot.ok()) return snapshot.status();
  Result<int64_t> since = TimeFlag(ledger, "--since", since_text, snapshot->at_ns);
  if (!since.ok()) return since.status();
  // The snapshot fixes the moment: its events, evaluated at its time.
  Result<Histories> histories = ReadHistories(ledger, snapshot->seq, snapshot->at_ns, *since, {});
  if (!histories.ok()) return histories.status();
  StatsInput input;
  input.now_ns = snapshot->at_ns;
  input.last_seq = snapshot->seq;
  input.since_ns = *since;
  input.events_by_kind = std::move(histories->events_by_kind);
  input.histories = std::move(histories->tasks);
  input.statuses = std::move(histories->statuses);
  return ComputeStats(input);
}

Result<TimelinePage> DrawTimeline(Backend& ledger, const TimelineRequest& request) {
  for (const std::string& id : request.tasks) TL_RETURN_IF_ERROR(ValidateName("--task", id));
  Result<int64_t> now = ledger.Now();
  if (!now.ok()) return now.status();
  Result<int64_t> until = TimeFlag(ledger, "--until", request.until, *now);
  if (!until.ok()) return until.status();
  Result<int64_t> since = TimeFlag(ledger, "--since", request.since, *now);
  if (!since.ok()) return since.status();
  // The lanes are settled at --until, or now; the picture's edges are fitted to them
  // unless given (FitTimelineRange).
  const int64_t at_ns = *until != 0 ? *until : *now;
  if (*since != 0 && *since >= at_ns) return Status::InvalidArgument("timeline: --since must be before --until (or now)");
  for (const std::string& id : request.tasks) {
    if (Result<TaskView> found = ledger.TaskAt(id, PointInTime::Now()); !found.ok()) return found.status();
  }
  std::vector<std::string> tasks;  // each once, in the order given
  for (const std::string& id : request.tasks) {
    if (std::find(tasks.begin(), tasks.end(), id) == tasks.end()) tasks.push_back(id);
  }
  Result<Histories> histories = ReadHistories(ledger, UINT64_MAX, at_ns, 0, tasks);
  if (!histories.ok()) return histories.status();
  std::vector<TimelineLane> lanes;
  for (size_t i = 0; i < histories->tasks.size(); ++i) {
    if (InWindow(histories->tasks[i], *since, at_ns)) {
      lanes.push_back({std::move(histories->tasks[i]), histories->statuses[i]});
    }
  }
  if (lanes.size() > kTimelineLanesMax) {
    return Status::InvalidArgument("timeline: " + std::to_string(lanes.size()) +
                                   " tasks in the window; one page draws at most " + std::to_string(kTimelineLanesMax) +
                                   ": narrow it with --task, --since or --until");
  }
  const auto [from_ns, to_ns] = FitTimelineRange(lanes, at_ns, *since, *until);
  TimelinePage page;
  page.html = RenderTimelineHtml(lanes, {from_ns, to_ns, request.title});
  page.tasks = lanes.size();
  page.from_ns = from_ns;
  page.to_ns = to_ns;
  return page;
}

Result<WhatIfReport> ReplayUnderPolicy(Backend& ledger, const WhatIfRequest& request) {
  if (request.ttl.empty()) return Status::InvalidArgument("whatif: give --ttl D, the lease ttl to replay the history under");
  WhatIfInput input;
  Result<int64_t> ttl = PositiveDuration("--ttl", request.ttl);
  if (!ttl.ok()) return ttl.status();
  input.policy.ttl_ns = *ttl;
  Result<int64_t> every = OptionalDuration("--heartbeat-every", request.heartbeat_every, 0, true);
  if (!every.ok()) return every.status();
  input.policy.heartbeat_every_ns = *every;
  Result<int64_t> grace = OptionalDuration("--grace", request.grace, -1, false);
  if (!grace.ok()) return grace.status();
  input.policy.grace_ns = *grace;
  Result<int64_t> max_runtime = OptionalDuration("--max-runtime", request.max_runtime, -1, true);
  if (!max_runtime.ok()) return max_runtime.status();
  input.policy.max_runtime_ns = *max_runtime;
  for (const std::string& id : request.tasks) TL_RETURN_IF_ERROR(ValidateName("--task", id));

  Result<int64_t> now = ledger.Now();
  if (!now.ok()) return now.status();
  for (const auto& [flag, text, out] : {std::tuple{"--since", &request.since, &input.since_ns},
                                        std::tuple{"--until", &request.until, &input.until_ns}}) {
    if (text->empty()) continue;
    Result<int64_t> t = ParseTime(*text, *now);
    if (!t.ok()) return Status::InvalidArgument(std::string(flag) + ": " + t.status().message());
    *out = *t;
  }
  if (input.since_ns != 0 && input.until_ns != 0 && input.since_ns >= input.until_ns) {
    return Status::InvalidArgument("whatif: --since must be before --until");
  }
  std::vector<std::string> tasks;  // each once
  for (const std::string& id : request.tasks) {
    if (Result<TaskView> found = ledger.TaskAt(id, PointInTime::Now()); !found.ok()) return found.status();
    if (std::find(tasks.begin(), tasks.end(), id) == tasks.end()) tasks.push_back(id);
  }
  input.at_ns = *now;
  Result<std::vector<TaskHistory>> histories = ReadTaskHistories(ledger, input.at_ns, tasks);
  if (!histories.ok()) return histories.status();
  input.histories = std::move(*histories);
  return WhatIf(input);
}

}  // namespace taskledger::cli
