// `taskledger run`: flags to RunOptions; the supervisor itself is tools/supervisor.
#include <memory>
#include <string>
#include <vector>

#include "projections/create_fields.h"
#include "projections/validate.h"
#include "tools/cli/verbs.h"
#include "tools/common/supervision_signals.h"
#include "tools/supervisor/supervisor.h"

namespace taskledger::cli {
namespace {

struct RunFlags {
  supervisor::RunOptions options;
  std::string ttl, grace;
  bool next = false;
};

int RunSupervised(Cli& cli, const CLI::App& verb, RunFlags& flags) {
  supervisor::RunOptions& options = flags.options;
  if (options.task_id.empty() && !flags.next) return Usage("run: give a task id or --next");
  if (options.command.empty()) return Usage("run: give the worker command after --");
  if (verb.count("--ttl")) {
    Result<int64_t> ns = PositiveDuration("--ttl", flags.ttl);  // 0 would mean "the task's ttl"
    if (!ns.ok()) return Fail(ns.status());
    options.ttl_ns = *ns;
  }
  if (verb.count("--grace")) {
    Result<int64_t> ns = DurationFlag("--grace", flags.grace);
    if (!ns.ok()) return Fail(ns.status());
    options.grace_ns = *ns;
  }
  if (Status s = ValidateName("--worker", options.worker); !s.ok()) return Fail(s);
  options.json = cli.json();
  sigset_t original;
  tools::BlockSupervisionSignals(&original);  // before an embedded ledger starts threads
  Result<Backend*> backend = cli.Open(false);
  if (!backend.ok()) return Fail(backend.status());
  return supervisor::Run(**backend, options);
}

}  // namespace

void AddRunVerb(CLI::App& app, Cli& cli, VerbAction& run, std::vector<std::string> worker_command) {
  auto flags = std::make_shared<RunFlags>();
  flags->options.command = std::move(worker_command);
  auto* verb = app.add_subcommand("run", "claim a task and supervise a worker command for it");
  auto* id = verb->add_option("id", flags->options.task_id, "the task (or --next)");
  verb->add_flag("--next", flags->next, "the best ready task of the queue")->excludes(id);
  verb->add_option("--queue", flags->options.queue, "with --next (default: default)");
  verb->add_option("--worker", flags->options.worker, "who runs it")->required()->envname("TASKLEDGER_WORKER");
  verb->add_option("--ttl", flags->ttl, "lease ttl (default: the task's); heartbeats every ttl/3");
  verb->add_option("--grace", flags->grace, "how long the child may take to stop (default 10s)");
  verb->callback([&run, &cli, verb, flags] { run = [&cli, verb, flags] { return RunSupervised(cli, *verb, *flags); }; });
}

}  // namespace taskledger::cli
