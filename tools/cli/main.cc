// taskledger: the command-line tool (DESIGN §6). Thin wiring: parse, open the ledger,
// submit one command or read, print. Rules live in projections/, storage in ledger/.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <algorithm>
#include <charconv>
#include <map>
#include <memory>
#include <optional>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <string>
#include <thread>
#include <vector>

#include "ledger/clock.h"
#include "ledger/ledger.h"
#include "projections/event_json.h"
#include "projections/limits.h"
#include "projections/time_text.h"
#include "tools/cli/audit_verbs.h"
#include "tools/cli/backend.h"
#include "tools/cli/common.h"
#include "tools/cli/render.h"
#include "tools/cli/worker_verb.h"
#include "tools/server/server.h"
#include "tools/supervisor/supervisor.h"

namespace taskledger::cli {
namespace {

volatile bool g_stop = false;
void OnStopSignal(int) { g_stop = true; }
}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{"taskledger: an event-sourced task ledger where a claim is a lease", "taskledger"};
  app.require_subcommand(1);
  app.fallthrough();
  Globals globals;
  app.add_option("--db", globals.db, "ledger directory (default ./taskledger.db)")->envname("TASKLEDGER_DB");
  app.add_flag("--json", globals.json, "one JSON object per line");
  app.add_option("--connect", globals.connect, "go through the server at unix:/path or tcp:HOST:PORT")
      ->envname("TASKLEDGER_ADDR");
  app.add_option("--log-level", globals.log_level, "trace, debug, info, warn, error or off")
      ->envname("TASKLEDGER_LOG_LEVEL");
  Cli cli(globals);
  std::function<int()> run;

  // ---- create ----
  Command create_cmd;
  create_cmd.kind = CommandKind::kCreate;
  std::string create_ttl, create_runtime, create_not_before, create_backoff, create_backoff_max;
  int64_t create_priority = 0;
  int64_t create_attempts = 0;
  auto* create = app.add_subcommand("create", "create a task; prints its id");
  create->add_option("id", create_cmd.task_id, "task id (default: generated)");
  create->add_option("--title", create_cmd.spec.title, "what the task is")->required();
  std::string create_payload_file;
  auto* payload_opt = create->add_option("--payload", create_cmd.spec.payload, "JSON for the worker");
  create->add_option("--payload-file", create_payload_file, "read the payload JSON from a file (- for stdin)")
      ->excludes(payload_opt);
  create->add_option("--after", create_cmd.spec.after, "a task that must be done first (repeatable)");
  create->add_option("--queue", create_cmd.spec.queue, "queue (default: default)");
  create->add_option("--priority", create_priority, "higher is claimed first (default 0)");
  create->add_option("--ttl", create_ttl, "lease ttl of each claim (default 30s)");
  create->add_option("--max-attempts", create_attempts, "failures that make the task dead (default 3)");
  create->add_option("--max-runtime", create_runtime, "cap on one attempt, however often it heartbeats");
  create->add_option("--not-before", create_not_before, "not claimable before this time");
  create->add_option("--idempotency-key", create_cmd.spec.idempotency_key, "create once per key");
  create->add_option("--backoff", create_backoff, "retry backoff after the first failure (default 1s)");
  create->add_option("--backoff-max", create_backoff_max, "cap of the doubling backoff (default 5m)");
  create->callback([&] {
    run = [&]() -> int {
      if (create_priority < INT32_MIN || create_priority > INT32_MAX) return Usage("--priority is out of range");
      if (create_attempts < 0 || create_attempts > kMaxAttemptsLimit) {
        return Usage("--max-attempts must be between 1 and " + std::to_string(kMaxAttemptsLimit));
      }
      if (create->count("--max-attempts") && create_attempts == 0) return Usage("--max-attempts must be at least 1");
      if (!create_payload_file.empty()) {
        Result<std::string> payload = ReadPayloadFile(create_payload_file);
        if (!payload.ok()) return Fail(payload.status());
        create_cmd.spec.payload = std::move(*payload);
      }
      create_cmd.spec.priority = static_cast<int32_t>(create_priority);
      create_cmd.spec.max_attempts = static_cast<uint32_t>(create_attempts);
      const std::pair<const char*, std::pair<std::string*, int64_t*>> durations[] = {
          {"--ttl", {&create_ttl, &create_cmd.spec.lease_ttl_ns}},
          {"--max-runtime", {&create_runtime, &create_cmd.spec.max_runtime_ns}},
          {"--backoff", {&create_backoff, &create_cmd.spec.backoff_initial_ns}},
          {"--backoff-max", {&create_backoff_max, &create_cmd.spec.backoff_max_ns}}};
      for (const auto& [flag, target] : durations) {
        if (create->count(flag) == 0) continue;
        Result<int64_t> ns = DurationFlag(flag, *target.first);
        if (!ns.ok()) return Fail(ns.status());
        if (*ns == 0) return Usage(std::string(flag) + " must be positive");
        *target.second = *ns;
      }
      if (create->count("--not-before") != 0) {
        Result<int64_t> t = ParseTime(create_not_before, cli.clock().NowNs());
        if (!t.ok()) return Usage("--not-before: " + t.status().message());
        create_cmd.spec.not_before_ns = *t;
      }
      return cli.Submit(create_cmd, [](const CommandReply& r) { std::cout << r.task_id << '\n'; });
    };
  });

  // ---- claim ----
  Command claim_cmd;
  claim_cmd.kind = CommandKind::kClaim;
  std::string claim_ttl;
  auto* claim = app.add_subcommand("claim", "claim a task; prints task id, token, deadline");
  auto* claim_id = claim->add_option("id", claim_cmd.task_id, "the task to claim");
  auto* claim_next = claim->add_flag("--next", claim_cmd.next, "the best ready task of the queue");
  claim_id->excludes(claim_next);
  claim->add_option("--queue", claim_cmd.queue, "with --next (default: default)");
  claim->add_option("--worker", claim_cmd.actor, "who claims")->required()->envname("TASKLEDGER_WORKER");
  claim->add_option("--ttl", claim_ttl, "lease ttl (default: the task's)");
  claim->callback([&] {
    run = [&]() -> int {
      if (claim_cmd.task_id.empty() && !claim_cmd.next) return Usage("claim: give a task id or --next");
      if (!claim_cmd.next && !claim_cmd.queue.empty()) return Usage("claim: --queue goes with --next");
      if (claim->count("--ttl") != 0) {
        Result<int64_t> ns = DurationFlag("--ttl", claim_ttl);
        if (!ns.ok()) return Fail(ns.status());
        if (*ns == 0) return Usage("--ttl must be positive");
        claim_cmd.ttl_ns = *ns;
      }
      return cli.Submit(claim_cmd, [](const CommandReply& r) {
        std::cout << r.task_id << ' ' << r.token << ' ' << FormatTime(r.deadline_ns) << '\n';
      });
    };
  });

  // ---- holder commands ----
  Command holder_cmd;
  std::string holder_grace, holder_signal, holder_token;
  std::optional<int64_t> holder_code;
  const auto print_status = [](const CommandReply& r) {
    std::cout << r.task_id << ' ' << TaskStatusName(r.status) << '\n';
  };
  const auto holder_verb = [&](const char* name, const char* help, CommandKind kind, const char* text_flag,
                               const char* text_help) {
    auto* verb = app.add_subcommand(name, help);
    verb->add_option("id", holder_cmd.task_id, "the task")->required();
    // Read as text and parsed exactly: CLI11 saturates an overflowing integer to its max.
    verb->add_option("--token", holder_token, "the claim's fencing token")->required()->envname("TASKLEDGER_TOKEN");
    verb->add_option("--worker", holder_cmd.actor, "who sends it")->envname("TASKLEDGER_WORKER");
    if (text_flag != nullptr) verb->add_option(text_flag, holder_cmd.text, text_help);
    verb->callback([&, verb, kind] {
      run = [&, verb, kind]() -> int {
        holder_cmd.kind = kind;
        const auto [end, error] =
            std::from_chars(holder_token.data(), holder_token.data() + holder_token.size(), holder_cmd.token);
        if (error != std::errc() || end != holder_token.data() + holder_token.size() || holder_token.empty()) {
          return Usage("--token: expected a claim's token (a number up to 2^64-1), got '" + holder_token + "'");
        }
        if (kind == CommandKind::kHeartbeat) {
          return cli.Submit(holder_cmd, [](const CommandReply& r) { std::cout << FormatTime(r.deadline_ns) << '\n'; });
        }
        if (kind == CommandKind::kSignal) {
          const std::optional<std::string> signal = CanonicalSignal(holder_signal);
          if (!signal) return Usage("--signal: unknown signal '" + holder_signal + "' (e.g. TERM, SIGINT, 9)");
          holder_cmd.signal = *signal;
          if (verb->count("--grace") != 0) {
            Result<int64_t> ns = DurationFlag("--grace", holder_grace);
            if (!ns.ok()) return Fail(ns.status());
            holder_cmd.grace_ns = *ns;
            holder_cmd.has_grace = true;  // --grace 0s is no grace, not the default
          }
        }
        if (kind == CommandKind::kExit) {
          const bool has_code = verb->count("--code") > 0, has_signal = !holder_signal.empty();
          if (has_code == has_signal) return Usage("exit: give exactly one of --code N or --signal S");
          if (has_code) {
            if (*holder_code < 0 || *holder_code > 255) return Usage("--code must be between 0 and 255");
            holder_cmd.exit_code = static_cast<int32_t>(*holder_code);
          } else {
            const std::optional<std::string> signal = CanonicalSignal(holder_signal);
            if (!signal) return Usage("--signal: unknown signal '" + holder_signal + "'");
            holder_cmd.signal = *signal;
          }
        }
        return cli.Submit(holder_cmd, [&](const CommandReply& r) {
          if (kind == CommandKind::kSignal && r.deadline_ns != 0) {
            std::cout << r.task_id << ' ' << TaskStatusName(r.status) << ' ' << FormatTime(r.deadline_ns) << '\n';
          } else {
            print_status(r);
          }
        });
      };
    });
    return verb;
  };
  holder_verb("heartbeat", "renew a lease; prints the new deadline", CommandKind::kHeartbeat, "--note",
              "progress note");
  holder_verb("complete", "finish the task", CommandKind::kComplete, "--result", "what it produced");
  holder_verb("fail", "end the attempt as failed", CommandKind::kFail, "--error", "what went wrong");
  holder_verb("release", "give the task back (not a failure)", CommandKind::kRelease, "--reason", "why");
  auto* signal_verb = holder_verb("signal", "record a signal sent to the holder", CommandKind::kSignal, nullptr, nullptr);
  signal_verb->add_option("--signal", holder_signal, "TERM, INT, HUP...")->required();
  signal_verb->add_option("--grace", holder_grace, "how long the holder may take to stop (default 10s)");
  auto* exit_verb = holder_verb("exit", "record how the holder's process ended", CommandKind::kExit, nullptr, nullptr);
  exit_verb->add_option("--code", holder_code, "exit code");
  exit_verb->add_option("--signal", holder_signal, "terminating signal");

  // ---- operator commands ----
  Command operator_cmd;
  const auto operator_verb = [&](const char* name, const char* help, CommandKind kind) {
    auto* verb = app.add_subcommand(name, help);
    verb->add_option("id", operator_cmd.task_id, "the task")->required();
    verb->add_option("--operator", operator_cmd.actor, "who acts (default: operator)");
    verb->callback([&, kind] {
      run = [&, kind]() -> int {
        operator_cmd.kind = kind;
        return cli.Submit(operator_cmd, print_status);
      };
    });
    return verb;
  };
  operator_verb("block", "stop a task from being claimed; ends its attempt", CommandKind::kBlock)
      ->add_option("--reason", operator_cmd.text, "why")
      ->required();
  operator_verb("unblock", "make a blocked task claimable again", CommandKind::kUnblock);
  operator_verb("cancel", "cancel a task for good", CommandKind::kCancel)->add_option("--reason", operator_cmd.text, "why");
  operator_verb("revive", "give a dead or cancelled task a fresh attempt budget", CommandKind::kRevive);

  // ---- reads ----
  AtFlags ls_at;
  std::string ls_status, ls_queue;
  auto* ls = app.add_subcommand("ls", "list tasks, now or in the past");
  ls->add_option("--status", ls_status, "only this status");
  ls->add_option("--queue", ls_queue, "only this queue");
  AddAtFlags(ls, &ls_at);
  ls->callback([&] {
    run = [&]() -> int {
      std::optional<TaskStatus> status_filter;
      if (!ls_status.empty()) {
        status_filter = TaskStatusFromName(ls_status);
        if (!status_filter) {
          return Usage("--status: unknown status '" + ls_status +
                       "' (waiting, ready, running, blocked, done, dead, cancelled)");
        }
      }
      Result<Backend*> ledger = cli.Open(true);
      if (!ledger.ok()) return Fail(ledger.status());
      Result<int64_t> now = (*ledger)->Now();
      if (!now.ok()) return Fail(now.status());
      Result<PointInTime> at = ls_at.Resolve(*now);
      if (!at.ok()) return Fail(at.status());
      Result<TasksSnapshot> snapshot = (*ledger)->TasksAt(*at);
      if (!snapshot.ok()) return Fail(snapshot.status());
      std::erase_if(snapshot->tasks, [&](const TaskView& v) {
        return (status_filter && v.status != *status_filter) || (!ls_queue.empty() && v.settled.spec.queue != ls_queue);
      });
      if (cli.json()) {
        for (const TaskView& view : snapshot->tasks) PrintJson(TaskViewToJson(view, snapshot->at_ns));
      } else {
        std::cout << TaskTable(*snapshot);
      }
      return kExitOk;
    };
  });

  AtFlags show_at;
  std::string show_id;
  auto* show = app.add_subcommand("show", "one task's state, now or in the past");
  show->add_option("id", show_id, "the task")->required();
  AddAtFlags(show, &show_at);
  show->callback([&] {
    run = [&]() -> int {
      Result<Backend*> ledger = cli.Open(true);
      if (!ledger.ok()) return Fail(ledger.status());
      Result<int64_t> now = (*ledger)->Now();
      if (!now.ok()) return Fail(now.status());
      Result<PointInTime> at = show_at.Resolve(*now);
      if (!at.ok()) return Fail(at.status());
      Result<TaskView> view = (*ledger)->TaskAt(show_id, *at);
      if (!view.ok()) return Fail(view.status());
      int64_t at_ns = at->kind == PointInTime::Kind::kTime ? at->value : *now;
      if (at->kind == PointInTime::Kind::kSeq) at_ns = std::max(view->settled.last_ns, int64_t{0});
      if (cli.json()) PrintJson(TaskViewToJson(*view, at_ns));
      else std::cout << TaskDetails(*view, at_ns);
      return kExitOk;
    };
  });

  std::string log_task, log_since;
  bool log_follow = false;
  auto* log = app.add_subcommand("log", "the events");
  log->add_option("--task", log_task, "only this task's events");
  log->add_option("--since", log_since, "from this seq, or this time (RFC 3339 or -5m)");
  log->add_flag("--follow", log_follow, "keep printing new events until interrupted");
  log->callback([&] {
    run = [&]() -> int {
      Result<Backend*> opened = cli.Open(true);
      if (!opened.ok()) return Fail(opened.status());
      Backend* ledger = *opened;
      if (!log_task.empty()) {
        Result<TaskView> task = ledger->TaskAt(log_task, PointInTime::Now());
        if (!task.ok()) return Fail(task.status());
      }
      uint64_t from = 1;
      if (!log_since.empty()) {
        if (log_since.find_first_not_of("0123456789") == std::string::npos && log_since.size() < 20) {
          from = std::stoull(log_since);
        } else {
          Result<int64_t> now = ledger->Now();
          if (!now.ok()) return Fail(now.status());
          Result<int64_t> t = ParseTime(log_since, *now);
          if (!t.ok()) return Usage("--since: expected a seq or a time: " + t.status().message());
          Result<uint64_t> seq = ledger->FirstSeqAtOrAfter(*t);
          if (!seq.ok()) return Fail(seq.status());
          from = *seq;
        }
      }
      const auto print = [&](const Event& e) {
        if (cli.json()) PrintJson(EventToJson(e));
        else std::cout << EventLine(e) << '\n';
        from = e.seq + 1;
        return true;
      };
      if (Status s = ledger->ForEachEvent(from, log_task, print); !s.ok()) return Fail(s);
      if (!log_follow) return kExitOk;
      std::signal(SIGINT, OnStopSignal);
      std::signal(SIGTERM, OnStopSignal);
      std::cout.flush();
      const auto print_flushed = [&](const Event& e) {
        print(e);
        std::cout.flush();
        return true;
      };
      if (Status s = ledger->Follow(from, log_task, print_flushed, &g_stop); !s.ok()) return Fail(s);
      return kExitOk;
    };
  });

  // explain, timeline, stats, export, import, backup
  AddAuditVerbs(app, cli, run);

  // ---- maintenance ----
  auto* verify = app.add_subcommand("verify", "replay the log and check every invariant against the projection");
  verify->callback([&] {
    run = [&]() -> int {
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
    };
  });

  auto* rebuild = app.add_subcommand("rebuild", "recreate the projection and indexes from the log");
  rebuild->callback([&] {
    run = [&]() -> int {
      Result<Backend*> ledger = cli.Open(false);
      if (!ledger.ok()) return Fail(ledger.status());
      Result<RebuildReport> report = (*ledger)->Rebuild();
      if (!report.ok()) return Fail(report.status());
      if (cli.json()) PrintJson({{"events", report->events}, {"tasks", report->tasks}});
      else std::cout << "rebuilt " << report->tasks << " tasks from " << report->events << " events\n";
      return kExitOk;
    };
  });

  Command sweep_cmd;
  sweep_cmd.kind = CommandKind::kSweep;
  auto* sweep = app.add_subcommand("sweep", "record lease_expired for lapses not yet observed; lists them");
  sweep->callback([&] {
    run = [&]() -> int {
      Result<Backend*> ledger = cli.Open(false);
      if (!ledger.ok()) return Fail(ledger.status());
      sweep_cmd.meta = CallerMeta();
      const Outcome outcome = (*ledger)->Submit(sweep_cmd);
      if (!outcome.status.ok()) return Fail(outcome.status);
      for (const Event& e : outcome.reply.events) {
        if (cli.json()) PrintJson(EventToJson(e));
        else std::cout << e.task_id << " token " << e.token << " lease expired at " << FormatTime(e.deadline_ns) << '\n';
      }
      return kExitOk;
    };
  });

  // ---- server and supervisor ----
  server::ServeOptions serve_options;
  bool serve_no_sync = false;
  std::string serve_idle_timeout;
  auto* serve = app.add_subcommand("serve", "own the ledger and serve clients over Cap'n Proto RPC");
  serve->add_option("--listen", serve_options.listen, "unix:/path (default unix:./taskledger.sock) or tcp:HOST:PORT");
  serve->add_flag("--allow-remote", serve_options.allow_remote, "let tcp bind a non-loopback address");
  serve->add_flag("--no-sync", serve_no_sync, "acknowledge before fsync (benchmarks only: loses data on power cut)");
  serve->add_option("--idle-timeout", serve_idle_timeout,
                    "close a connection that sent nothing this long with no call or follow open (default 5m; 0 disables)");
  serve->callback([&] {
    run = [&]() -> int {
      if (!globals.connect.empty()) return Usage("serve owns a ledger: give --db, not --connect");
      if (serve->count("--idle-timeout") != 0) {
        if (serve_idle_timeout == "0") {
          serve_options.idle_timeout_ns = 0;
        } else {
          Result<int64_t> ns = DurationFlag("--idle-timeout", serve_idle_timeout);
          if (!ns.ok()) return Fail(ns.status());
          serve_options.idle_timeout_ns = *ns;
        }
      }
      serve_options.db_path = globals.db;
      serve_options.sync = !serve_no_sync;
      return server::Serve(serve_options);
    };
  });

  supervisor::RunOptions run_options;
  std::string run_ttl, run_grace;
  bool run_next = false;
  auto* run_verb = app.add_subcommand("run", "claim a task and supervise a worker command for it");
  auto* run_id = run_verb->add_option("id", run_options.task_id, "the task (or --next)");
  run_verb->add_flag("--next", run_next, "the best ready task of the queue")->excludes(run_id);
  run_verb->add_option("--queue", run_options.queue, "with --next (default: default)");
  run_verb->add_option("--worker", run_options.worker, "who runs it")->required()->envname("TASKLEDGER_WORKER");
  run_verb->add_option("--ttl", run_ttl, "lease ttl (default: the task's); heartbeats every ttl/3");
  run_verb->add_option("--grace", run_grace, "how long the child may take to stop (default 10s)");
  // The worker command is everything after `--` (split off before parsing, below).
  run_verb->callback([&] {
    run = [&]() -> int {
      if (run_options.task_id.empty() && !run_next) return Usage("run: give a task id or --next");
      if (run_options.command.empty()) return Usage("run: give the worker command after --");
      if (run_verb->count("--ttl")) {
        Result<int64_t> ns = DurationFlag("--ttl", run_ttl);
        if (!ns.ok()) return Fail(ns.status());
        if (*ns == 0) return Usage("--ttl must be positive");
        run_options.ttl_ns = *ns;
      }
      if (run_verb->count("--grace")) {
        Result<int64_t> ns = DurationFlag("--grace", run_grace);
        if (!ns.ok()) return Fail(ns.status());
        run_options.grace_ns = *ns;
      }
      if (Status s = ValidateName("--worker", run_options.worker); !s.ok()) return Fail(s);
      run_options.json = globals.json;
      Result<Backend*> backend = cli.Open(false);
      if (!backend.ok()) return Fail(backend.status());
      return supervisor::Run(**backend, run_options);
    };
  });

  std::vector<std::string> worker_command;
  AddWorkerVerb(app, cli, run, worker_command);

  // `run|worker ... -- CMD ARGS...`: what follows `--` is the worker's, verbatim.
  std::vector<std::string> args(argv + 1, argv + argc);
  const auto separator = std::find(args.begin(), args.end(), "--");
  if (separator != args.end()) {
    const bool is_run = std::find(args.begin(), separator, "run") != separator;
    const bool is_worker = std::find(args.begin(), separator, "worker") != separator;
    if (is_run || is_worker) {
      (is_run ? run_options.command : worker_command).assign(separator + 1, args.end());
      args.erase(separator, args.end());
    }
  }
  std::reverse(args.begin(), args.end());  // CLI11 takes the arguments in reverse order
  try {
    app.parse(args);
  } catch (const CLI::ParseError& error) {
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
  const auto level = spdlog::level::from_str(globals.log_level);
  if (level == spdlog::level::off && globals.log_level != "off") {
    return Usage("--log-level: unknown level '" + globals.log_level + "'");
  }
  // Logs are for operators and go to stderr; stdout is the verbs' output.
  spdlog::set_default_logger(spdlog::stderr_color_mt("taskledger"));
  spdlog::set_level(level);
  if (!run) return Usage("no verb given (see taskledger --help)");
  return run();
}

}  // namespace taskledger::cli

int main(int argc, char** argv) { return taskledger::cli::Main(argc, argv); }
