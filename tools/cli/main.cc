// taskledger: the command-line tool (DESIGN §6). Main wires the global flags and the verbs
// (verbs.h, one group per file), parses, and runs the one verb given. Rules live in
// projections/, storage in ledger/.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "tools/cli/common.h"
#include "tools/cli/logging.h"
#include "tools/cli/verbs.h"

namespace taskledger::cli {

// The generated taskledger_version.cc (tools/cli/version.cmake).
extern const char kVersion[];
extern const char kRevision[];

namespace {

void AddGlobalFlags(CLI::App& app, Globals& globals) {
  app.add_option("--db", globals.db, "ledger directory (default ./taskledger.db)")->envname("TASKLEDGER_DB");
  app.add_flag("--json", globals.json, "one JSON object per line");
  app.add_option("--connect", globals.connect, "go through the server at unix:/path or tcp:HOST:PORT")
      ->envname("TASKLEDGER_ADDR");
  app.add_option("--log-level", globals.log_level, "trace, debug, info, warn, error or off")
      ->envname("TASKLEDGER_LOG_LEVEL");
  app.add_option("--log-format", globals.log_format, "text (default) or json: one JSON object per log line")
      ->envname("TASKLEDGER_LOG_FORMAT");
  app.set_version_flag("--version", std::string("taskledger ") + kVersion + " (" + kRevision + ")",
                       "print the version and the git revision it was built from");
}

// `run|worker ... -- CMD ARGS...`: what follows `--` is the worker command, verbatim.
// Removes it from `args` and returns it.
std::vector<std::string> SplitWorkerCommand(std::vector<std::string>& args) {
  const auto separator = std::find(args.begin(), args.end(), "--");
  if (separator == args.end()) return {};
  const bool supervising = std::find(args.begin(), separator, "run") != separator ||
                           std::find(args.begin(), separator, "worker") != separator;
  if (!supervising) return {};
  std::vector<std::string> command(separator + 1, args.end());
  args.erase(separator, args.end());
  return command;
}

// A parse error as one line on stderr; --help prints and exits 0.
int ReportParseError(CLI::App& app, const CLI::ParseError& error) {
  if (error.get_exit_code() == 0) return app.exit(error);  // --help
  // No verb matched: the first word left over is the verb the user meant. Name it, rather
  // than CLI11's "A subcommand is required".
  const std::vector<std::string> left = app.remaining();
  if (app.get_subcommands().empty() && !left.empty() && !left.front().empty() && left.front()[0] != '-') {
    std::fprintf(stderr, "taskledger: unknown command '%s' (see taskledger --help)\n", left.front().c_str());
    return kExitUsage;
  }
  std::fprintf(stderr, "taskledger: %s (see taskledger --help)\n", error.what());
  return kExitUsage;
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"taskledger: an event-sourced task ledger where a claim is a lease", "taskledger"};
  app.require_subcommand(1);
  app.fallthrough();
  Globals globals;
  AddGlobalFlags(app, globals);
  Cli cli(globals);
  VerbAction run;

  std::vector<std::string> args(argv + 1, argv + argc);
  std::vector<std::string> worker_command = SplitWorkerCommand(args);
  // In the order of `taskledger --help`.
  AddTaskVerbs(app, cli, run);
  AddReadVerbs(app, cli, run);
  AddAuditVerbs(app, cli, run);
  AddImportBoardVerb(app, cli, run);
  AddWhatIfVerb(app, cli, run);
  AddMaintenanceVerbs(app, cli, run);
  AddServeVerb(app, cli, run);
  AddRunVerb(app, cli, run, worker_command);
  AddWorkerVerb(app, cli, run, std::move(worker_command));

  std::reverse(args.begin(), args.end());  // CLI11 takes the arguments in reverse order
  try {
    app.parse(args);
  } catch (const CLI::ParseError& error) {
    return ReportParseError(app, error);
  }
  if (Status s = SetUpLogging(globals.log_level, globals.log_format); !s.ok()) return Fail(s);
  if (!run) return Usage("no verb given (see taskledger --help)");
  return run();
}

}  // namespace taskledger::cli

int main(int argc, char** argv) { return taskledger::cli::Main(argc, argv); }
