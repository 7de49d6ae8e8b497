// The verbs that submit one command on one task: create and claim; the holder's
// heartbeat, complete, fail, release, signal and exit; the operator's block, unblock,
// cancel and revive. Each turns its flags into a Command; Cli::Submit checks its rules
// (projections/validate.h), submits it and prints the reply.
#include <charconv>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "projections/create_fields.h"
#include "projections/limits.h"
#include "projections/time_text.h"
#include "projections/validate.h"
#include "tools/cli/verbs.h"
#include "tools/common/signal_names.h"

namespace taskledger::cli {
namespace {

// ---- create ----

struct CreateFlags {
  Command command;
  std::string ttl, max_runtime, not_before, backoff, backoff_max, payload_file;
  std::string from;  // create --from FILE: every field comes from the file's lines
  // Read wider than the spec's fields, so that an out-of-range value is refused, not cut.
  int64_t priority = 0;
  int64_t max_attempts = 0;
};

// The spec's numbers and durations from their flags; InvalidArgument naming the flag.
// The rules are create_fields.h's, shared with `create --from`.
Status ReadCreateFlags(const CLI::App& verb, Clock& clock, CreateFlags& flags) {
  TaskSpec& spec = flags.command.spec;
  Result<int32_t> priority = Priority("--priority", flags.priority);
  if (!priority.ok()) return priority.status();
  spec.priority = *priority;
  if (verb.count("--max-attempts") != 0) {
    Result<uint32_t> max_attempts = MaxAttempts("--max-attempts", flags.max_attempts);
    if (!max_attempts.ok()) return max_attempts.status();
    spec.max_attempts = *max_attempts;
  }
  if (!flags.payload_file.empty()) {
    Result<std::string> payload = ReadPayloadFile(flags.payload_file);
    if (!payload.ok()) return payload.status();
    spec.payload = std::move(*payload);
  }
  const std::pair<const char*, std::pair<const std::string*, int64_t*>> durations[] = {
      {"--ttl", {&flags.ttl, &spec.lease_ttl_ns}},
      {"--max-runtime", {&flags.max_runtime, &spec.max_runtime_ns}},
      {"--backoff", {&flags.backoff, &spec.backoff_initial_ns}},
      {"--backoff-max", {&flags.backoff_max, &spec.backoff_max_ns}}};
  for (const auto& [flag, target] : durations) {
    if (verb.count(flag) == 0) continue;
    Result<int64_t> ns = PositiveDuration(flag, *target.first);
    if (!ns.ok()) return ns.status();
    *target.second = *ns;
  }
  if (verb.count("--not-before") != 0) {
    Result<int64_t> t = ParseTime(flags.not_before, clock.NowNs());
    if (!t.ok()) return Status::InvalidArgument("--not-before: " + t.status().message());
    spec.not_before_ns = *t;
  }
  return Status::Ok();
}

int RunCreate(Cli& cli, const CLI::App& verb, CreateFlags& flags) {
  if (verb.count("--from") != 0) {
    // One source of fields: flags beside a file would leave unclear which one wins.
    for (const CLI::Option* option : verb.get_options()) {
      if (option->get_name() != "--from" && option->count() != 0 && option->get_name() != "--help") {
        return Usage("create --from takes every field from the file: give no task id and no other create flag");
      }
    }
    return RunCreateFrom(cli, flags.from);
  }
  if (verb.count("--title") == 0) return Usage("create: --title is required (or give --from FILE)");
  if (Status s = ReadCreateFlags(verb, cli.clock(), flags); !s.ok()) return Fail(s);
  // `create ''` names a task (badly); `create` alone asks for a generated id.
  flags.command.task_id_given = verb.count("id") != 0;
  return cli.Submit(flags.command, [](const CommandReply& r) { std::cout << r.task_id << '\n'; });
}

void AddCreate(CLI::App& app, Cli& cli, VerbAction& run) {
  auto flags = std::make_shared<CreateFlags>();
  flags->command.kind = CommandKind::kCreate;
  TaskSpec& spec = flags->command.spec;
  auto* verb = app.add_subcommand("create", "create a task; prints its id");
  verb->add_option("id", flags->command.task_id, "task id (default: generated)");
  verb->add_option("--title", spec.title, "what the task is (required, unless --from)");
  auto* payload = verb->add_option("--payload", spec.payload, "JSON for the worker");
  verb->add_option("--payload-file", flags->payload_file, "read the payload JSON from a file (- for stdin)")
      ->excludes(payload);
  verb->add_option("--after", spec.after, "a task that must be done first (repeatable)");
  verb->add_option("--queue", spec.queue, "queue (default: default)");
  verb->add_option("--priority", flags->priority, "higher is claimed first (default 0)");
  verb->add_option("--ttl", flags->ttl, "lease ttl of each claim (default 30s)");
  verb->add_option("--max-attempts", flags->max_attempts, "failures that make the task dead (default 3)");
  verb->add_option("--max-runtime", flags->max_runtime, "cap on one attempt, however often it heartbeats");
  verb->add_option("--not-before", flags->not_before, "not claimable before this time");
  verb->add_option("--idempotency-key", spec.idempotency_key, "create once per key");
  verb->add_option("--backoff", flags->backoff, "retry backoff after the first failure (default 1s)");
  verb->add_option("--backoff-max", flags->backoff_max, "cap of the doubling backoff (default 5m)");
  verb->add_option("--from", flags->from, "create one task per line of a JSON Lines file (- for stdin)");
  verb->callback([&run, &cli, verb, flags] { run = [&cli, verb, flags] { return RunCreate(cli, *verb, *flags); }; });
}

// ---- claim ----

struct ClaimFlags {
  Command command;
  std::string ttl;
};

int RunClaim(Cli& cli, const CLI::App& verb, ClaimFlags& flags) {
  Command& command = flags.command;
  if (command.task_id.empty() && !command.next) return Usage("claim: give a task id or --next");
  if (!command.next && !command.queue.empty()) return Usage("claim: --queue goes with --next");
  if (verb.count("--ttl") != 0) {
    Result<int64_t> ns = PositiveDuration("--ttl", flags.ttl);  // 0 would mean "the task's ttl"
    if (!ns.ok()) return Fail(ns.status());
    command.ttl_ns = *ns;
  }
  return cli.Submit(command, [](const CommandReply& r) {
    std::cout << r.task_id << ' ' << r.token << ' ' << FormatTime(r.deadline_ns) << '\n';
  });
}

void AddClaim(CLI::App& app, Cli& cli, VerbAction& run) {
  auto flags = std::make_shared<ClaimFlags>();
  Command& command = flags->command;
  command.kind = CommandKind::kClaim;
  auto* verb = app.add_subcommand("claim", "claim a task; prints task id, token, deadline");
  auto* id = verb->add_option("id", command.task_id, "the task to claim");
  auto* next = verb->add_flag("--next", command.next, "the best ready task of the queue");
  id->excludes(next);
  verb->add_option("--queue", command.queue, "with --next (default: default)");
  verb->add_option("--worker", command.actor, "who claims")->required()->envname("TASKLEDGER_WORKER");
  verb->add_option("--ttl", flags->ttl, "lease ttl (default: the task's)");
  verb->callback([&run, &cli, verb, flags] { run = [&cli, verb, flags] { return RunClaim(cli, *verb, *flags); }; });
}

// ---- the holder's verbs ----

// Shared by the holder verbs: one of them runs.
struct HolderFlags {
  Command command;
  // Read as text and parsed exactly: CLI11 saturates an overflowing integer to its max.
  std::string token;
  std::string signal, grace;
  std::optional<int64_t> code;  // wider than an exit code: range-checked before narrowing
};

void PrintStatus(const CommandReply& r) { std::cout << r.task_id << ' ' << TaskStatusName(r.status) << '\n'; }

Status ReadSignalFlags(const CLI::App& verb, HolderFlags& flags) {
  const std::optional<std::string> signal = tools::CanonicalSignalName(flags.signal);
  if (!signal) return Status::InvalidArgument("--signal: unknown signal '" + flags.signal + "' (e.g. TERM, SIGINT, 9)");
  flags.command.signal = *signal;
  if (verb.count("--grace") != 0) {
    Result<int64_t> ns = DurationFlag("--grace", flags.grace);
    if (!ns.ok()) return ns.status();
    flags.command.grace_ns = *ns;
    flags.command.has_grace = true;  // --grace 0s is no grace, not the default
  }
  return Status::Ok();
}

Status ReadExitFlags(const CLI::App& verb, HolderFlags& flags) {
  const bool has_code = verb.count("--code") > 0, has_signal = !flags.signal.empty();
  if (has_code == has_signal) return Status::InvalidArgument("exit: give exactly one of --code N or --signal S");
  if (has_code) {
    TL_RETURN_IF_ERROR(ValidateExitCode(*flags.code));
    flags.command.exit_code = static_cast<int32_t>(*flags.code);
    return Status::Ok();
  }
  const std::optional<std::string> signal = tools::CanonicalSignalName(flags.signal);
  if (!signal) return Status::InvalidArgument("--signal: unknown signal '" + flags.signal + "'");
  flags.command.signal = *signal;
  return Status::Ok();
}

int RunHolderVerb(Cli& cli, const CLI::App& verb, CommandKind kind, HolderFlags& flags) {
  Command& command = flags.command;
  command.kind = kind;
  const std::string& token = flags.token;
  const auto [end, error] = std::from_chars(token.data(), token.data() + token.size(), command.token);
  if (error != std::errc() || end != token.data() + token.size() || token.empty()) {
    return Usage("--token: expected a claim's token (a number up to 2^64-1), got '" + token + "'");
  }
  if (kind == CommandKind::kHeartbeat) {
    return cli.Submit(command, [](const CommandReply& r) { std::cout << FormatTime(r.deadline_ns) << '\n'; });
  }
  if (kind == CommandKind::kSignal) {
    if (Status s = ReadSignalFlags(verb, flags); !s.ok()) return Fail(s);
    return cli.Submit(command, [](const CommandReply& r) {
      if (r.deadline_ns == 0) return PrintStatus(r);
      std::cout << r.task_id << ' ' << TaskStatusName(r.status) << ' ' << FormatTime(r.deadline_ns) << '\n';
    });
  }
  if (kind == CommandKind::kExit) {
    if (Status s = ReadExitFlags(verb, flags); !s.ok()) return Fail(s);
  }
  return cli.Submit(command, PrintStatus);
}

CLI::App* AddHolderVerb(CLI::App& app, Cli& cli, VerbAction& run, const std::shared_ptr<HolderFlags>& flags,
                        const char* name, const char* help, CommandKind kind) {
  auto* verb = app.add_subcommand(name, help);
  verb->add_option("id", flags->command.task_id, "the task")->required();
  verb->add_option("--token", flags->token, "the claim's fencing token")->required()->envname("TASKLEDGER_TOKEN");
  verb->add_option("--worker", flags->command.actor, "who sends it")->envname("TASKLEDGER_WORKER");
  verb->callback([&run, &cli, verb, kind, flags] {
    run = [&cli, verb, kind, flags] { return RunHolderVerb(cli, *verb, kind, *flags); };
  });
  return verb;
}

void AddHolderVerbs(CLI::App& app, Cli& cli, VerbAction& run) {
  auto flags = std::make_shared<HolderFlags>();
  std::string& text = flags->command.text;
  AddHolderVerb(app, cli, run, flags, "heartbeat", "renew a lease; prints the new deadline", CommandKind::kHeartbeat)
      ->add_option("--note", text, "progress note");
  AddHolderVerb(app, cli, run, flags, "complete", "finish the task", CommandKind::kComplete)
      ->add_option("--result", text, "what it produced");
  AddHolderVerb(app, cli, run, flags, "fail", "end the attempt as failed", CommandKind::kFail)
      ->add_option("--error", text, "what went wrong");
  AddHolderVerb(app, cli, run, flags, "release", "give the task back (not a failure)", CommandKind::kRelease)
      ->add_option("--reason", text, "why");
  auto* signal = AddHolderVerb(app, cli, run, flags, "signal", "record a signal sent to the holder", CommandKind::kSignal);
  signal->add_option("--signal", flags->signal, "TERM, INT, HUP...")->required();
  signal->add_option("--grace", flags->grace, "how long the holder may take to stop (default 10s)");
  auto* exit = AddHolderVerb(app, cli, run, flags, "exit", "record how the holder's process ended", CommandKind::kExit);
  exit->add_option("--code", flags->code, "exit code");
  exit->add_option("--signal", flags->signal, "terminating signal");
}

// ---- the operator's verbs ----

CLI::App* AddOperatorVerb(CLI::App& app, Cli& cli, VerbAction& run, const std::shared_ptr<Command>& command,
                          const char* name, const char* help, CommandKind kind) {
  auto* verb = app.add_subcommand(name, help);
  verb->add_option("id", command->task_id, "the task")->required();
  verb->add_option("--operator", command->actor, "who acts (default: operator)");
  verb->callback([&run, &cli, kind, command] {
    run = [&cli, kind, command] {
      command->kind = kind;
      return cli.Submit(*command, PrintStatus);
    };
  });
  return verb;
}

void AddOperatorVerbs(CLI::App& app, Cli& cli, VerbAction& run) {
  auto command = std::make_shared<Command>();
  std::string& reason = command->text;
  AddOperatorVerb(app, cli, run, command, "block", "stop a task from being claimed; ends its attempt",
                  CommandKind::kBlock)
      ->add_option("--reason", reason, "why")
      ->required();
  AddOperatorVerb(app, cli, run, command, "unblock", "make a blocked task claimable again", CommandKind::kUnblock);
  AddOperatorVerb(app, cli, run, command, "cancel", "cancel a task for good", CommandKind::kCancel)
      ->add_option("--reason", reason, "why");
  AddOperatorVerb(app, cli, run, command, "revive", "give a dead or cancelled task a fresh attempt budget",
                  CommandKind::kRevive);
}

}  // namespace

void AddTaskVerbs(CLI::App& app, Cli& cli, VerbAction& run) {
  AddCreate(app, cli, run);
  AddClaim(app, cli, run);
  AddHolderVerbs(app, cli, run);
  AddOperatorVerbs(app, cli, run);
}

}  // namespace taskledger::cli
