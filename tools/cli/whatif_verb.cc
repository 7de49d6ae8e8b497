// `whatif`: the recorded history replayed under another lease policy (projections/whatif.h).
// Read-only, like the other audit verbs: embedded on --db (beside a server, or a backup
// copy, or an imported board) or through --connect.
#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "projections/create_fields.h"
#include "projections/explain.h"
#include "projections/time_text.h"
#include "projections/whatif.h"
#include "tools/cli/verbs.h"

namespace taskledger::cli {
namespace {

struct WhatIfFlags {
  std::string ttl, heartbeat_every, grace, max_runtime, since, until;
  std::vector<std::string> tasks;
};

// Every task's history (or the named ones'), settled at `at_ns`, folded as the events
// stream by.
Result<std::vector<TaskHistory>> ReadTaskHistories(Backend& ledger, int64_t at_ns,
                                                   const std::vector<std::string>& wanted) {
  std::unordered_map<std::string, TaskHistoryBuilder> builders;
  std::vector<std::string> order;  // creation order
  Status folded = Status::Ok();
  const auto take = [&](const Event& e) {
    if (e.time_ns > at_ns) return false;
    folded = builders[e.task_id].Add(e);
    if (e.kind == EventKind::kCreated) order.push_back(e.task_id);
    return folded.ok();
  };
  if (wanted.empty()) {
    TL_RETURN_IF_ERROR(ledger.ForEachEvent(1, "", take));
  } else {
    for (const std::string& id : wanted) TL_RETURN_IF_ERROR(ledger.ForEachEvent(1, id, take));
  }
  TL_RETURN_IF_ERROR(folded);
  std::vector<TaskHistory> out;
  out.reserve(order.size());
  for (const std::string& id : order) out.push_back(builders.at(id).Finish(at_ns));
  return out;
}

// A duration flag that must be positive when given; `unset` when not.
Result<int64_t> OptionalDuration(const std::string& flag, const std::string& text, int64_t unset, bool positive) {
  if (text.empty()) return unset;
  Result<int64_t> ns = positive ? PositiveDuration(flag, text) : DurationFlag(flag, text);
  return ns;
}

int RunWhatIf(Cli& cli, const WhatIfFlags& flags) {
  if (flags.ttl.empty()) return Usage("whatif: give --ttl D, the lease ttl to replay the history under");
  WhatIfInput input;
  Result<int64_t> ttl = PositiveDuration("--ttl", flags.ttl);
  if (!ttl.ok()) return Fail(ttl.status());
  input.policy.ttl_ns = *ttl;
  Result<int64_t> every = OptionalDuration("--heartbeat-every", flags.heartbeat_every, 0, true);
  if (!every.ok()) return Fail(every.status());
  input.policy.heartbeat_every_ns = *every;
  Result<int64_t> grace = OptionalDuration("--grace", flags.grace, -1, false);
  if (!grace.ok()) return Fail(grace.status());
  input.policy.grace_ns = *grace;
  Result<int64_t> max_runtime = OptionalDuration("--max-runtime", flags.max_runtime, -1, true);
  if (!max_runtime.ok()) return Fail(max_runtime.status());
  input.policy.max_runtime_ns = *max_runtime;
  for (const std::string& id : flags.tasks) {
    if (Status s = ValidateName("--task", id); !s.ok()) return Fail(s);
  }

  Result<Backend*> opened = cli.Open(true);
  if (!opened.ok()) return Fail(opened.status());
  Backend& ledger = **opened;
  Result<int64_t> now = ledger.Now();
  if (!now.ok()) return Fail(now.status());
  for (const auto& [flag, text, out] : {std::tuple{"--since", &flags.since, &input.since_ns},
                                        std::tuple{"--until", &flags.until, &input.until_ns}}) {
    if (text->empty()) continue;
    Result<int64_t> t = ParseTime(*text, *now);
    if (!t.ok()) return Fail(Status::InvalidArgument(std::string(flag) + ": " + t.status().message()));
    *out = *t;
  }
  if (input.since_ns != 0 && input.until_ns != 0 && input.since_ns >= input.until_ns) {
    return Usage("whatif: --since must be before --until");
  }
  std::vector<std::string> tasks;  // each once
  for (const std::string& id : flags.tasks) {
    if (Result<TaskView> found = ledger.TaskAt(id, PointInTime::Now()); !found.ok()) return Fail(found.status());
    if (std::find(tasks.begin(), tasks.end(), id) == tasks.end()) tasks.push_back(id);
  }
  input.at_ns = *now;
  Result<std::vector<TaskHistory>> histories = ReadTaskHistories(ledger, input.at_ns, tasks);
  if (!histories.ok()) return Fail(histories.status());
  input.histories = std::move(*histories);
  const WhatIfReport report = WhatIf(input);
  if (cli.json()) PrintJson(WhatIfToJson(report));
  else std::cout << RenderWhatIf(report);
  return kExitOk;
}

}  // namespace

void AddWhatIfVerb(CLI::App& app, Cli& cli, VerbAction& run) {
  auto flags = std::make_shared<WhatIfFlags>();
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
