#include "tools/cli/verbs.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "ledger/ledger.h"
#include "projections/event_json.h"
#include "projections/explain.h"
#include "projections/stats.h"
#include "projections/time_text.h"
#include "projections/timeline.h"

namespace taskledger::cli {
namespace {

// One export line at most: an event at its limits (a 1 MiB payload twice, as text and
// parsed, with JSON escapes) fits with room to spare. Longer lines are refused unread.
constexpr size_t kImportLineBytesMax = 16 << 20;
// Export output is written in chunks of about this size.
constexpr size_t kExportChunkBytes = 1 << 20;

// The flags of every audit verb. Owned by the callbacks (CLI11 keeps references to them).
struct AuditFlags {
  std::string explain_id;
  AtFlags explain_at;
  std::vector<std::string> timeline_tasks;
  std::string timeline_since, timeline_until, timeline_out;
  std::string stats_since;
  std::string export_since;
  std::string import_file;
  std::string backup_dir;
};

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

// A time flag (RFC 3339, -5m, or a seq meaning that event's time); 0 when not given.
Result<int64_t> TimeFlag(Backend& ledger, const std::string& flag, const std::string& text, int64_t now_ns) {
  if (text.empty()) return int64_t{0};
  if (IsSeq(text)) return TimeOfSeq(ledger, std::stoull(text));
  Result<int64_t> t = ParseTime(text, now_ns);
  if (!t.ok()) return Status::InvalidArgument(flag + ": expected a time or a seq: " + t.status().message());
  return t;
}

// ---- explain ----

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

int RunExplain(Cli& cli, const AuditFlags& flags) {
  if (Status s = ValidateName("task id", flags.explain_id); !s.ok()) return Fail(s);
  Result<Backend*> ledger = cli.Open(true);
  if (!ledger.ok()) return Fail(ledger.status());
  Result<int64_t> now = (*ledger)->Now();
  if (!now.ok()) return Fail(now.status());
  Result<PointInTime> at = flags.explain_at.Resolve(*now);
  if (!at.ok()) return Fail(at.status());
  Result<ExplainInput> input = GatherExplainInput(**ledger, flags.explain_id, *at, *now);
  if (!input.ok()) return Fail(input.status());
  Result<Explanation> explanation = Explain(*input);
  if (!explanation.ok()) return Fail(explanation.status());
  if (cli.json()) PrintJson(ExplanationToJson(*explanation));
  else std::cout << RenderExplanation(*explanation);
  return kExitOk;
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

// ---- timeline ----

// Whether a task's life (creation to its last event, or on if it is not finished)
// touches the window.
bool InWindow(const TaskHistory& h, int64_t from_ns, int64_t to_ns) {
  const int64_t end = h.record.terminal() ? h.record.last_ns : to_ns;
  return h.created_ns <= to_ns && end >= from_ns;
}

Status WriteFileWhole(const std::string& path, const std::string& content) {
  const std::string temporary = path + ".tmp-" + std::to_string(::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << content;
    out.flush();
    if (!out) {
      std::error_code ignored;
      std::filesystem::remove(temporary, ignored);
      return Status::IOError("cannot write " + path);
    }
  }
  std::error_code error;
  std::filesystem::rename(temporary, path, error);
  if (error) {
    std::filesystem::remove(temporary, error);
    return Status::IOError("cannot write " + path + ": " + error.message());
  }
  return Status::Ok();
}

int RunTimeline(Cli& cli, const AuditFlags& flags) {
  if (flags.timeline_out.empty()) return Usage("timeline: give --out FILE.html");
  for (const std::string& id : flags.timeline_tasks) {
    if (Status s = ValidateName("--task", id); !s.ok()) return Fail(s);
  }
  Result<Backend*> opened = cli.Open(true);
  if (!opened.ok()) return Fail(opened.status());
  Backend& ledger = **opened;
  Result<int64_t> now = ledger.Now();
  if (!now.ok()) return Fail(now.status());
  Result<int64_t> until = TimeFlag(ledger, "--until", flags.timeline_until, *now);
  Result<int64_t> since = until.ok() ? TimeFlag(ledger, "--since", flags.timeline_since, *now) : until;
  if (!since.ok()) return Fail(since.status());
  // The lanes are settled at --until, or now; the picture's edges are fitted to them
  // unless given (FitTimelineRange).
  const int64_t at_ns = *until != 0 ? *until : *now;
  if (*since != 0 && *since >= at_ns) return Usage("timeline: --since must be before --until (or now)");
  for (const std::string& id : flags.timeline_tasks) {
    if (Result<TaskView> found = ledger.TaskAt(id, PointInTime::Now()); !found.ok()) return Fail(found.status());
  }
  std::vector<std::string> tasks;  // each once, in the order given
  for (const std::string& id : flags.timeline_tasks) {
    if (std::find(tasks.begin(), tasks.end(), id) == tasks.end()) tasks.push_back(id);
  }
  Result<Histories> histories = ReadHistories(ledger, UINT64_MAX, at_ns, 0, tasks);
  if (!histories.ok()) return Fail(histories.status());
  std::vector<TimelineLane> lanes;
  for (size_t i = 0; i < histories->tasks.size(); ++i) {
    if (InWindow(histories->tasks[i], *since, at_ns)) {
      lanes.push_back({std::move(histories->tasks[i]), histories->statuses[i]});
    }
  }
  if (lanes.size() > kTimelineLanesMax) {
    return Usage("timeline: " + std::to_string(lanes.size()) + " tasks in the window; one page draws at most " +
                 std::to_string(kTimelineLanesMax) + ": narrow it with --task, --since or --until");
  }
  const auto [from_ns, to_ns] = FitTimelineRange(lanes, at_ns, *since, *until);
  const std::string title = cli.globals().connect.empty() ? cli.globals().db : cli.globals().connect;
  if (Status s = WriteFileWhole(flags.timeline_out, RenderTimelineHtml(lanes, {from_ns, to_ns, title})); !s.ok()) {
    return Fail(s);
  }
  if (cli.json()) {
    PrintJson({{"out", flags.timeline_out}, {"tasks", lanes.size()}, {"from", FormatTime(from_ns)},
               {"from_ns", from_ns}, {"to", FormatTime(to_ns)}, {"to_ns", to_ns}});
  } else {
    std::cout << "wrote " << flags.timeline_out << ": " << lanes.size() << " tasks, " << FormatTime(from_ns) << " to "
              << FormatTime(to_ns) << '\n';
  }
  return kExitOk;
}

// ---- stats ----

int RunStats(Cli& cli, const AuditFlags& flags) {
  Result<Backend*> opened = cli.Open(true);
  if (!opened.ok()) return Fail(opened.status());
  Backend& ledger = **opened;
  Result<TasksSnapshot> snapshot = ledger.TasksAt(PointInTime::Now());
  if (!snapshot.ok()) return Fail(snapshot.status());
  Result<int64_t> since = TimeFlag(ledger, "--since", flags.stats_since, snapshot->at_ns);
  if (!since.ok()) return Fail(since.status());
  // The snapshot fixes the moment: its events, evaluated at its time.
  Result<Histories> histories = ReadHistories(ledger, snapshot->seq, snapshot->at_ns, *since, {});
  if (!histories.ok()) return Fail(histories.status());
  StatsInput input;
  input.now_ns = snapshot->at_ns;
  input.last_seq = snapshot->seq;
  input.since_ns = *since;
  input.events_by_kind = std::move(histories->events_by_kind);
  input.histories = std::move(histories->tasks);
  input.statuses = std::move(histories->statuses);
  const LedgerStats stats = ComputeStats(input);
  if (cli.json()) PrintJson(StatsToJson(stats));
  else std::cout << RenderStats(stats);
  return kExitOk;
}

// ---- export and import ----

int RunExport(Cli& cli, const AuditFlags& flags) {
  Result<Backend*> opened = cli.Open(true);
  if (!opened.ok()) return Fail(opened.status());
  Result<uint64_t> from = SinceSeq(**opened, flags.export_since);
  if (!from.ok()) return Fail(from.status());
  std::string chunk;
  bool written = true;
  const auto flush = [&] {
    written = written && std::fwrite(chunk.data(), 1, chunk.size(), stdout) == chunk.size();
    chunk.clear();
  };
  Status read = (*opened)->ForEachEvent(*from, "", [&](const Event& e) {
    chunk += EventToJson(e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    chunk += '\n';
    if (chunk.size() >= kExportChunkBytes) flush();
    return written;
  });
  flush();
  if (std::fflush(stdout) != 0 || !written) return Fail(Status::IOError("cannot write the export to stdout"));
  if (!read.ok()) return Fail(read);
  return kExitOk;
}

Status ImportLine(const std::string& line, const EventSink& sink) {
  if (line.empty()) return Status::InvalidArgument("empty line (one event per line)");
  const nlohmann::json object = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded()) return Status::InvalidArgument("not a JSON object");
  Result<Event> event = EventFromJson(object);
  if (!event.ok()) return event.status();
  return sink(*event);
}

// An export file as an import source: every failure names its line.
EventSource FileSource(const std::string& path) {
  return [path](const EventSink& sink) -> Status {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::InvalidArgument("cannot open " + path);
    std::string line;
    bool too_long = false;
    for (uint64_t number = 1; ReadBoundedLine(*in.rdbuf(), kImportLineBytesMax, &line, &too_long); ++number) {
      const std::string where = path + ": line " + std::to_string(number) + ": ";
      if (too_long) {
        return Status::InvalidArgument(where + "longer than " + std::to_string(kImportLineBytesMax) + " bytes");
      }
      TL_RETURN_IF_ERROR(ImportLine(line, sink).Prefixed(where));
    }
    if (in.bad()) return Status::IOError("cannot read " + path);
    return Status::Ok();
  };
}

int RunImport(Cli& cli, const AuditFlags& flags) {
  const Globals& globals = cli.globals();
  if (!globals.connect.empty()) return Usage("import writes a ledger's files itself: give --db, not --connect");
  if (!std::filesystem::is_regular_file(flags.import_file)) {
    return Usage("import: " + flags.import_file + " is not a readable file");
  }
  // A new ledger is created only for a file that would be accepted: check it first.
  if (!std::filesystem::exists(globals.db + "/CURRENT")) {
    Result<ImportReport> checked = Ledger::CheckLog(FileSource(flags.import_file));
    if (!checked.ok()) return Fail(checked.status());
  }
  LedgerOptions options;
  options.path = globals.db;
  Result<std::unique_ptr<Ledger>> ledger = Ledger::Open(options, &cli.clock());
  if (!ledger.ok()) return Fail(ledger.status());
  Result<ImportReport> report = (*ledger)->Import(FileSource(flags.import_file));
  if (!report.ok()) return Fail(report.status());
  if (cli.json()) {
    PrintJson({{"events", report->events}, {"tasks", report->tasks}, {"last_seq", report->last_seq}});
  } else {
    std::cout << "imported " << report->events << " events of " << report->tasks << " tasks into " << globals.db
              << '\n';
  }
  return kExitOk;
}

// ---- backup ----

// Opening the source failed: say so for a backup (which cannot go through a server).
Status SourceError(const Status& s) {
  if (s.code() != Code::kBusy) return s;
  std::string message = s.message();
  message = message.substr(0, message.find("; stop it"));
  return Status::Busy(message + "; backup opens the ledger as its owner: stop that process first");
}

int RunBackup(Cli& cli, const AuditFlags& flags) {
  const Globals& globals = cli.globals();
  if (!globals.connect.empty()) return Usage("backup copies a ledger's files itself: give --db, not --connect");
  LedgerOptions options;
  options.path = globals.db;
  options.create_if_missing = false;
  Result<std::unique_ptr<Ledger>> source = Ledger::Open(options, &cli.clock());
  if (!source.ok()) return Fail(SourceError(source.status()));
  if (Status s = (*source)->Backup(flags.backup_dir); !s.ok()) return Fail(s);
  source->reset();
  options.path = flags.backup_dir;
  options.read_only = true;
  Result<std::unique_ptr<Ledger>> copy = Ledger::Open(options, &cli.clock());
  if (!copy.ok()) return Fail(copy.status().Prefixed("the backup does not open: "));
  Result<VerifyReport> verified = (*copy)->Verify();
  if (!verified.ok()) return Fail(verified.status());
  if (!verified->problems.empty()) {
    return Fail(Status::DataLoss("the backup in " + flags.backup_dir + " does not verify: " +
                                 verified->problems.front()));
  }
  if (cli.json()) {
    PrintJson({{"backup", flags.backup_dir}, {"events", verified->events}, {"tasks", verified->tasks}, {"ok", true}});
  } else {
    std::cout << "backed up " << verified->events << " events, " << verified->tasks << " tasks into "
              << flags.backup_dir << "; the copy verifies\n";
  }
  return kExitOk;
}

}  // namespace

void AddAuditVerbs(CLI::App& app, Cli& cli, VerbAction& run) {
  auto flags = std::make_shared<AuditFlags>();
  // Each callback holds `flags`, so the options' targets live as long as the app.
  const auto on = [&run, &cli, flags](CLI::App* verb, int (*action)(Cli&, const AuditFlags&)) {
    verb->callback([&run, &cli, flags, action] { run = [&cli, flags, action] { return action(cli, *flags); }; });
  };

  auto* explain = app.add_subcommand("explain", "why a task is in its state: the story of its attempts");
  explain->add_option("id", flags->explain_id, "the task")->required();
  AddAtFlags(explain, &flags->explain_at);
  on(explain, RunExplain);

  auto* timeline = app.add_subcommand("timeline", "draw tasks' attempts as one HTML page (inline SVG)");
  timeline->add_option("--task", flags->timeline_tasks, "only this task (repeatable; default: all)");
  timeline->add_option("--since", flags->timeline_since, "left edge: a time (RFC 3339, -5m) or a seq");
  timeline->add_option("--until", flags->timeline_until, "right edge: a time or a seq (default: now)");
  timeline->add_option("--out", flags->timeline_out, "the HTML file to write")->required();
  on(timeline, RunTimeline);

  auto* stats = app.add_subcommand("stats", "counts by status and outcome, lapses, zombies, recovery times");
  stats->add_option("--since", flags->stats_since, "count only what happened from this time (or seq) on");
  on(stats, RunStats);

  auto* exporter = app.add_subcommand("export", "the log as JSON Lines on stdout (docs/export.md)");
  exporter->add_option("--since", flags->export_since, "from this seq, or this time (RFC 3339 or -5m)");
  on(exporter, RunExport);

  auto* importer = app.add_subcommand("import", "load an export into an empty ledger (--db only)");
  importer->add_option("file", flags->import_file, "a JSON Lines export")->required();
  on(importer, RunImport);

  auto* backup = app.add_subcommand("backup", "a consistent copy of the ledger that opens on its own (--db only)");
  backup->add_option("dir", flags->backup_dir, "a new or empty directory")->required();
  on(backup, RunBackup);
}

}  // namespace taskledger::cli
