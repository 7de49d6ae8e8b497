// The verbs that read state and events: ls and show (now, or at a past time or seq) and
// log (the events, optionally followed as they commit). Read-only: they open --db as a
// secondary, so they work beside a server and on a backup copy.
#include <algorithm>
#include <csignal>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "projections/event_json.h"
#include "tools/cli/render.h"
#include "tools/cli/verbs.h"

namespace taskledger::cli {
namespace {

// ---- ls ----

struct LsFlags {
  AtFlags at;
  std::string status, queue;
};

int RunLs(Cli& cli, const LsFlags& flags) {
  std::optional<TaskStatus> status_filter;
  if (!flags.status.empty()) {
    status_filter = TaskStatusFromName(flags.status);
    if (!status_filter) {
      return Usage("--status: unknown status '" + flags.status +
                   "' (waiting, ready, running, blocked, done, dead, cancelled)");
    }
  }
  Result<Backend*> ledger = cli.Open(true);
  if (!ledger.ok()) return Fail(ledger.status());
  Result<int64_t> now = (*ledger)->Now();
  if (!now.ok()) return Fail(now.status());
  Result<PointInTime> at = flags.at.Resolve(*now);
  if (!at.ok()) return Fail(at.status());
  Result<TasksSnapshot> snapshot = (*ledger)->TasksAt(*at);
  if (!snapshot.ok()) return Fail(snapshot.status());
  std::erase_if(snapshot->tasks, [&](const TaskView& v) {
    return (status_filter && v.status != *status_filter) || (!flags.queue.empty() && v.settled.spec.queue != flags.queue);
  });
  if (cli.json()) {
    for (const TaskView& view : snapshot->tasks) PrintJson(TaskViewToJson(view, snapshot->at_ns));
  } else {
    std::cout << TaskTable(*snapshot);
  }
  return kExitOk;
}

// ---- show ----

struct ShowFlags {
  AtFlags at;
  std::string id;
};

int RunShow(Cli& cli, const ShowFlags& flags) {
  Result<Backend*> ledger = cli.Open(true);
  if (!ledger.ok()) return Fail(ledger.status());
  Result<int64_t> now = (*ledger)->Now();
  if (!now.ok()) return Fail(now.status());
  Result<PointInTime> at = flags.at.Resolve(*now);
  if (!at.ok()) return Fail(at.status());
  Result<TaskView> view = (*ledger)->TaskAt(flags.id, *at);
  if (!view.ok()) return Fail(view.status());
  // The moment the view is evaluated at: the time asked for, now, or (at a seq) the time
  // of the task's last event up to it.
  int64_t at_ns = at->kind == PointInTime::Kind::kTime ? at->value : *now;
  if (at->kind == PointInTime::Kind::kSeq) at_ns = std::max(view->settled.last_ns, int64_t{0});
  if (cli.json()) PrintJson(TaskViewToJson(*view, at_ns));
  else std::cout << TaskDetails(*view, at_ns);
  return kExitOk;
}

// ---- log ----

struct LogFlags {
  std::string task, since;
  bool follow = false;
};

// Set by SIGINT or SIGTERM while `log --follow` runs: the one piece of process-wide state
// here, because a signal handler can reach nothing else. Follow polls it.
volatile bool g_follow_stopped = false;
void StopFollowing(int) { g_follow_stopped = true; }

void PrintEvent(const Cli& cli, const Event& e) {
  if (cli.json()) PrintJson(EventToJson(e));
  else std::cout << EventLine(e) << '\n';
}

int RunLog(Cli& cli, const LogFlags& flags) {
  Result<Backend*> opened = cli.Open(true);
  if (!opened.ok()) return Fail(opened.status());
  Backend& ledger = **opened;
  if (!flags.task.empty()) {
    Result<TaskView> task = ledger.TaskAt(flags.task, PointInTime::Now());
    if (!task.ok()) return Fail(task.status());
  }
  Result<uint64_t> since = SinceSeq(ledger, flags.since);
  if (!since.ok()) return Fail(since.status());
  uint64_t from = *since;
  const auto print = [&](const Event& e) {
    PrintEvent(cli, e);
    from = e.seq + 1;
    return true;
  };
  if (Status s = ledger.ForEachEvent(from, flags.task, print); !s.ok()) return Fail(s);
  if (!flags.follow) return kExitOk;
  std::signal(SIGINT, StopFollowing);
  std::signal(SIGTERM, StopFollowing);
  std::cout.flush();
  const auto print_flushed = [&](const Event& e) {
    print(e);
    std::cout.flush();  // a reader of a pipe sees each event as it commits
    return true;
  };
  if (Status s = ledger.Follow(from, flags.task, print_flushed, &g_follow_stopped); !s.ok()) return Fail(s);
  return kExitOk;
}

}  // namespace

void AddReadVerbs(CLI::App& app, Cli& cli, VerbAction& run) {
  auto ls_flags = std::make_shared<LsFlags>();
  auto* ls = app.add_subcommand("ls", "list tasks, now or in the past");
  ls->add_option("--status", ls_flags->status, "only this status");
  ls->add_option("--queue", ls_flags->queue, "only this queue");
  AddAtFlags(ls, &ls_flags->at);
  ls->callback([&run, &cli, ls_flags] { run = [&cli, ls_flags] { return RunLs(cli, *ls_flags); }; });

  auto show_flags = std::make_shared<ShowFlags>();
  auto* show = app.add_subcommand("show", "one task's state, now or in the past");
  show->add_option("id", show_flags->id, "the task")->required();
  AddAtFlags(show, &show_flags->at);
  show->callback([&run, &cli, show_flags] { run = [&cli, show_flags] { return RunShow(cli, *show_flags); }; });

  auto log_flags = std::make_shared<LogFlags>();
  auto* log = app.add_subcommand("log", "the events");
  log->add_option("--task", log_flags->task, "only this task's events");
  log->add_option("--since", log_flags->since, "from this seq, or this time (RFC 3339 or -5m)");
  log->add_flag("--follow", log_flags->follow, "keep printing new events until interrupted");
  log->callback([&run, &cli, log_flags] { run = [&cli, log_flags] { return RunLog(cli, *log_flags); }; });
}

}  // namespace taskledger::cli
