// `whatif`: the recorded history replayed under another lease policy (projections/whatif.h).
// Read-only, like the other audit verbs: embedded on --db (beside a server, or a backup
// copy, or an imported board) or through --connect.
#include <iostream>
#include <memory>

#include "projections/whatif.h"
#include "tools/cli/audit_queries.h"
#include "tools/cli/verbs.h"

namespace taskledger::cli {
namespace {

int RunWhatIf(Cli& cli, const WhatIfRequest& request) {
  Result<Backend*> opened = cli.Open(true);
  if (!opened.ok()) return Fail(opened.status());
  Result<WhatIfReport> report = ReplayUnderPolicy(**opened, request);
  if (!report.ok()) return Fail(report.status());
  if (cli.json()) PrintJson(WhatIfToJson(*report));
  else std::cout << RenderWhatIf(*report);
  return kExitOk;
}

}  // namespace

void AddWhatIfVerb(CLI::App& app, Cli& cli, VerbAction& run) {
  auto flags = std::make_shared<WhatIfRequest>();
  auto* verb = app.add_subcommand("whatif", "replay the history under another lease policy: stalls, duplicate "
                                            "runs, retries, recovery, against the recorded one");
  verb->add_option("--ttl", flags->ttl, "the lease ttl to replay under (required)");
  verb->add_option("--heartbeat-every", flags->heartbeat_every, "the renewal cadence to check the ttl and the record against");
  verb->add_option("--grace", flags->grace, "the grace after a signal (default: each signal's recorded one)");
  verb->add_option("--max-runtime", flags->max_runtime, "cap on one attempt (default: each task's own)");
  verb->add_option("--since", flags->since, "only attempts claimed from this time (RFC 3339 or -5m)");
  verb->add_option("--until", flags->until, "only attempts claimed up to this time");
  verb->add_option("--task", flags->tasks, "only this task (repeatable; default: all)");
  verb->callback([&run, &cli, flags] { run = [&cli, flags] { return RunWhatIf(cli, *flags); }; });
}

}  // namespace taskledger::cli
