#include "tools/cli/verbs.h"

#include <unistd.h>

#include <cstdio>
#include <memory>

#include "projections/create_fields.h"
#include "projections/decide.h"
#include "tools/common/supervision_signals.h"
#include "tools/worker/worker.h"

namespace taskledger::cli {
namespace {

struct WorkerFlags {
  worker::WorkerOptions options;
  std::string ttl, grace, idle_poll;
  int64_t concurrency = 1;
  int64_t max_tasks = 0;
};

// host-pid: unique among the live workers of a fleet, and a valid name.
std::string DefaultWorkerId() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') std::snprintf(host, sizeof(host), "worker");
  return std::string(host) + "-" + std::to_string(::getpid());
}

int PrintSummary(const Cli& cli, const worker::WorkerOptions& options, const worker::WorkerSummary& s) {
  if (cli.json()) {
    PrintJson({{"worker", options.worker},
               {"claimed", s.claimed},
               {"completed", s.completed},
               {"failed", s.failed},
               {"interrupted", s.interrupted},
               {"lease_lost", s.lease_lost}});
  } else {
    std::printf("worker %s: %llu claimed, %llu completed, %llu failed, %llu interrupted, %llu lease lost\n",
                options.worker.c_str(), static_cast<unsigned long long>(s.claimed),
                static_cast<unsigned long long>(s.completed), static_cast<unsigned long long>(s.failed),
                static_cast<unsigned long long>(s.interrupted), static_cast<unsigned long long>(s.lease_lost));
  }
  return 0;
}

// Checks the flags and fills the options; returns an exit code, or 0 to go on.
int ReadFlags(CLI::App& verb, WorkerFlags& flags) {
  worker::WorkerOptions& options = flags.options;
  if (options.command.empty()) return Usage("worker: give the worker command after --");
  if (flags.concurrency < 1 || flags.concurrency > worker::kConcurrencyMax) {
    return Usage("--concurrency must be 1.." + std::to_string(worker::kConcurrencyMax));
  }
  options.concurrency = static_cast<int>(flags.concurrency);
  if (flags.max_tasks < 0) return Usage("--max-tasks must not be negative");
  options.max_tasks = static_cast<uint64_t>(flags.max_tasks);
  if (verb.count("--ttl")) {
    Result<int64_t> ns = PositiveDuration("--ttl", flags.ttl);
    if (!ns.ok()) return Fail(ns.status());
    options.ttl_ns = *ns;
  }
  if (verb.count("--grace")) {
    Result<int64_t> ns = DurationFlag("--grace", flags.grace);
    if (!ns.ok()) return Fail(ns.status());
    options.grace_ns = *ns;
  }
  if (verb.count("--idle-poll")) {
    Result<int64_t> ns = PositiveDuration("--idle-poll", flags.idle_poll);
    if (!ns.ok()) return Fail(ns.status());
    options.idle_poll_ns = *ns;
  }
  if (options.worker.empty()) options.worker = DefaultWorkerId();
  if (Status s = ValidateName("--worker", options.worker); !s.ok()) return Fail(s);
  if (!options.queue.empty()) {
    if (Status s = ValidateName("--queue", options.queue); !s.ok()) return Fail(s);
  }
  return 0;
}

}  // namespace

void AddWorkerVerb(CLI::App& app, Cli& cli, VerbAction& run, std::vector<std::string> worker_command) {
  auto flags = std::make_shared<WorkerFlags>();
  flags->options.command = std::move(worker_command);
  auto* verb = app.add_subcommand("worker", "supervise up to N worker commands at once, one task each, until stopped");
  verb->add_option("--queue", flags->options.queue, "the queue to take tasks from (default: default)");
  verb->add_option("--concurrency", flags->concurrency, "children at once (default 1)");
  verb->add_option("--worker", flags->options.worker, "who runs them (default: HOST-PID)")->envname("TASKLEDGER_WORKER");
  verb->add_option("--ttl", flags->ttl, "lease ttl (default: the task's); renewals every ttl/3, batched");
  verb->add_option("--grace", flags->grace, "how long a child may take to stop (default 10s)");
  verb->add_option("--max-tasks", flags->max_tasks, "stop claiming after this many tasks (default: no limit)");
  verb->add_flag("--exit-when-idle", flags->options.exit_when_idle, "exit once nothing is ready and no child runs");
  verb->add_option("--idle-poll", flags->idle_poll, "how often to look for work when none is ready (default 200ms)");
  verb->callback([&cli, &run, flags, verb] {
    run = [&cli, flags, verb]() -> int {
      if (const int code = ReadFlags(*verb, *flags); code != 0) return code;
      flags->options.json = cli.json();
      sigset_t original;
      tools::BlockSupervisionSignals(&original);  // before an embedded ledger starts threads
      Result<Backend*> backend = cli.Open(false);
      if (!backend.ok()) return Fail(backend.status());
      worker::WorkerSummary summary;
      const int code = worker::Run(**backend, flags->options, &summary);
      PrintSummary(cli, flags->options, summary);
      return code;
    };
  });
}

}  // namespace taskledger::cli
