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
#include "tools/cli/audit_queries.h"

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

// ---- explain ----

int RunExplain(Cli& cli, const AuditFlags& flags) {
  if (Status s = ValidateName("task id", flags.explain_id); !s.ok()) return Fail(s);
  Result<Backend*> ledger = cli.Open(true);
  if (!ledger.ok()) return Fail(ledger.status());
  Result<Explanation> explanation = ExplainTask(**ledger, flags.explain_id, flags.explain_at);
  if (!explanation.ok()) return Fail(explanation.status());
  if (cli.json()) PrintJson(ExplanationToJson(*explanation));
  else std::cout << RenderExplanation(*explanation);
  return kExitOk;
}

// ---- timeline ----

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
  TimelineRequest request{flags.timeline_tasks, flags.timeline_since, flags.timeline_until,
                          cli.globals().connect.empty() ? cli.globals().db : cli.globals().connect};
  Result<TimelinePage> page = DrawTimeline(**opened, request);
  if (!page.ok()) return Fail(page.status());
  if (Status s = WriteFileWhole(flags.timeline_out, page->html); !s.ok()) return Fail(s);
  if (cli.json()) {
    PrintJson({{"out", flags.timeline_out}, {"tasks", page->tasks}, {"from", FormatTime(page->from_ns)},
               {"from_ns", page->from_ns}, {"to", FormatTime(page->to_ns)}, {"to_ns", page->to_ns}});
  } else {
    std::cout << "wrote " << flags.timeline_out << ": " << page->tasks << " tasks, " << FormatTime(page->from_ns)
              << " to " << FormatTime(page->to_ns) << '\n';
  }
  return kExitOk;
}

// ---- stats ----

int RunStats(Cli& cli, const AuditFlags& flags) {
  Result<Backend*> opened = cli.Open(true);
  if (!opened.ok()) return Fail(opened.status());
  Result<LedgerStats> stats = ComputeLedgerStats(**opened, flags.stats_since);
  if (!stats.ok()) return Fail(stats.status());
  if (cli.json()) PrintJson(StatsToJson(*stats));
  else std::cout << RenderStats(*stats);
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
