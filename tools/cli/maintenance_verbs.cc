// The verbs that check or repair the ledger: verify (replay the log, compare with the
// projection), rebuild (recreate the projection from the log) and sweep (record the lapses
// no command has observed yet).
#include <iostream>
#include <string>

#include "projections/event_json.h"
#include "projections/time_text.h"
#include "tools/cli/verbs.h"

namespace taskledger::cli {
namespace {

int RunVerify(Cli& cli) {
  Result<Backend*> ledger = cli.Open(true);
  if (!ledger.ok()) return Fail(ledger.status());
  Result<VerifyReport> report = (*ledger)->Verify();
  if (!report.ok()) return Fail(report.status());
  if (cli.json()) {
    PrintJson({{"ok", report->problems.empty()},
               {"events", report->events},
               {"tasks", report->tasks},
               {"problems", report->problems}});
  } else if (report->problems.empty()) {
    std::cout << "ok: " << report->events << " events, " << report->tasks
              << " tasks; the projection matches the log\n";
  } else {
    for (const std::string& problem : report->problems) std::cout << "problem: " << problem << '\n';
  }
  if (!report->problems.empty()) {
    return Fail(Status::DataLoss("verify found " + std::to_string(report->problems.size()) +
                                 " problem(s); the first: " + report->problems.front()));
  }
  return kExitOk;
}

int RunRebuild(Cli& cli) {
  Result<Backend*> ledger = cli.Open(false);
  if (!ledger.ok()) return Fail(ledger.status());
  Result<RebuildReport> report = (*ledger)->Rebuild();
  if (!report.ok()) return Fail(report.status());
  if (cli.json()) PrintJson({{"events", report->events}, {"tasks", report->tasks}});
  else std::cout << "rebuilt " << report->tasks << " tasks from " << report->events << " events\n";
  return kExitOk;
}

// Not through Cli::Submit: a sweep's reply is its events, printed one per lapse.
int RunSweep(Cli& cli) {
  Result<Backend*> ledger = cli.Open(false);
  if (!ledger.ok()) return Fail(ledger.status());
  Command sweep;
  sweep.kind = CommandKind::kSweep;
  sweep.meta = CallerMeta();
  const Outcome outcome = (*ledger)->Submit(sweep);
  if (!outcome.status.ok()) return Fail(outcome.status);
  for (const Event& e : outcome.reply.events) {
    if (cli.json()) PrintJson(EventToJson(e));
    else std::cout << e.task_id << " token " << e.token << " lease expired at " << FormatTime(e.deadline_ns) << '\n';
  }
  return kExitOk;
}

}  // namespace

void AddMaintenanceVerbs(CLI::App& app, Cli& cli, VerbAction& run) {
  const auto on = [&run, &cli](CLI::App* verb, int (*action)(Cli&)) {
    verb->callback([&run, &cli, action] { run = [&cli, action] { return action(cli); }; });
  };
  on(app.add_subcommand("verify", "replay the log and check every invariant against the projection"), RunVerify);
  on(app.add_subcommand("rebuild", "recreate the projection and indexes from the log"), RunRebuild);
  on(app.add_subcommand("sweep", "record lease_expired for lapses not yet observed; lists them"), RunSweep);
}

}  // namespace taskledger::cli
