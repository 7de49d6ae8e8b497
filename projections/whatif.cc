#include "projections/whatif.h"

#include <algorithm>
#include <limits>
#include <sstream>

#include "projections/time_text.h"

namespace taskledger {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

// Whether the holder itself ended the attempt (its supervisor's exit record included).
bool EndedByHolder(const AttemptStory& a) {
  if (a.open || a.lapsed) return false;
  switch (a.end) {
    case AttemptEnd::kCompleted:
    case AttemptEnd::kFailed:
    case AttemptEnd::kReleased:
    case AttemptEnd::kExited:
    case AttemptEnd::kInterrupted:
      return true;
    default:
      return false;
  }
}

bool EndedByOperator(const AttemptStory& a) {
  return !a.open && (a.end == AttemptEnd::kBlocked || a.end == AttemptEnd::kCancelled);
}

// The holder's commands refused after it lost the lease: it was alive then, and under a
// lease that still held they would have been accepted.
struct LateCommand {
  int64_t time_ns = 0;
  HolderCommand command = HolderCommand::kHeartbeat;
};
std::vector<LateCommand> LateCommands(const AttemptStory& a) {
  std::vector<LateCommand> out;
  for (const ExplainMark& m : a.marks) {
    if (m.kind == "rejected" && m.refused) out.push_back({m.time_ns, *m.refused});
  }
  return out;
}

// Whether the command would end the attempt (a signal does not: it is a fact recorded by
// the holder's supervisor, the attempt goes on through the grace).
bool Ends(HolderCommand command) {
  return command != HolderCommand::kHeartbeat && command != HolderCommand::kSignal;
}

// The last of the claim and the accepted heartbeats at or before `t`.
int64_t LastRenewalAtOrBefore(const AttemptStory& a, int64_t t) {
  int64_t last = a.claimed_ns;
  for (int64_t hb : a.heartbeat_ns) {
    if (hb <= t) last = std::max(last, hb);
  }
  return last;
}

struct Derived {
  bool open = false;       // still held at the evaluation time
  bool by_holder = false;  // the holder ended it
  bool lapsed = false;     // its lease ended it (ttl, max runtime or grace)
  int64_t end_ns = 0;      // when it ended (the evaluation time while open)
  int64_t last_life_ns = 0;  // the holder's last renewal before the end
  int64_t alive_after_ns = 0;  // the holder's last sign of life after a lapse (0: none)
};

// The record, as it happened.
Derived Recorded(const AttemptStory& a, int64_t at_ns) {
  Derived d;
  d.open = a.open;
  d.by_holder = EndedByHolder(a);
  d.lapsed = !a.open && a.lapsed;
  d.end_ns = a.open ? at_ns : a.end_ns;
  d.last_life_ns = LastRenewalAtOrBefore(a, d.end_ns);
  if (d.lapsed) {
    for (const LateCommand& late : LateCommands(a)) {
      if (late.time_ns > d.end_ns) d.alive_after_ns = std::max(d.alive_after_ns, late.time_ns);
    }
  }
  return d;
}

// The same signs of life under `policy`.
Derived Replayed(const AttemptStory& a, const TaskHistory& h, const LeasePolicy& policy, int64_t at_ns) {
  const int64_t max_runtime = policy.max_runtime_ns >= 0 ? policy.max_runtime_ns : h.spec.max_runtime_ns;
  const int64_t grace = policy.grace_ns >= 0 ? policy.grace_ns : a.grace_ns;
  int64_t cap = kNever;
  if (max_runtime > 0) cap = a.claimed_ns + max_runtime;
  if (a.signaled_ns > 0) cap = std::min(cap, a.signaled_ns + grace);
  const auto capped = [cap](int64_t t) { return std::min(t, cap); };

  // The holder's words in time order: renewals (accepted heartbeats, and refused ones that
  // a lease still holding would have accepted) and its own end of the attempt (recorded,
  // or refused but acceptable).
  struct Word {
    int64_t time_ns;
    bool ends;
  };
  std::vector<Word> words;
  for (int64_t hb : a.heartbeat_ns) words.push_back({hb, false});
  const bool holder_end = EndedByHolder(a);
  if (holder_end) words.push_back({a.end_ns, true});
  for (const LateCommand& late : LateCommands(a)) words.push_back({late.time_ns, Ends(late.command)});
  std::stable_sort(words.begin(), words.end(), [](const Word& x, const Word& y) { return x.time_ns < y.time_ns; });

  Derived d;
  int64_t deadline = capped(a.claimed_ns + policy.ttl_ns);
  int64_t last_renewal = a.claimed_ns;
  bool cut = false;
  for (const Word& w : words) {
    if (w.time_ns > deadline) {
      cut = true;
      break;
    }
    if (w.ends) {
      d.by_holder = true;
      d.end_ns = w.time_ns;
      d.last_life_ns = last_renewal;
      return d;
    }
    deadline = capped(w.time_ns + policy.ttl_ns);
    last_renewal = w.time_ns;
  }
  // The lease would end at `deadline`, unless an operator ended the attempt first or the
  // evaluation time comes first.
  if (EndedByOperator(a) && a.end_ns <= deadline) {
    d.end_ns = a.end_ns;
  } else if (a.open && !cut && deadline > at_ns) {
    d.open = true;
    d.end_ns = at_ns;
  } else {
    d.lapsed = true;
    d.end_ns = deadline;
  }
  d.last_life_ns = std::min(last_renewal, d.end_ns);
  if (d.lapsed) {
    for (const Word& w : words) {
      if (w.time_ns > d.end_ns) d.alive_after_ns = std::max(d.alive_after_ns, w.time_ns);
    }
  }
  return d;
}

void Count(PolicyFigures& f, const Derived& d, const AttemptStory* next, int64_t recorded_end_ns) {
  if (d.lapsed) ++f.lapses;
  if (d.alive_after_ns != 0) {
    ++f.duplicate_runs;
    f.duplicate_overlap_ns += d.alive_after_ns - d.end_ns;
  }
  if (d.by_holder || d.open) return;
  const int64_t stall = d.end_ns - d.last_life_ns;
  if (stall <= 0) return;
  ++f.stalls;
  f.stall_ns += stall;
  // The next claim came as long after the recorded end as it did: the dispatcher's pickup.
  if (next != nullptr) f.recovery_ns.push_back(stall + std::max<int64_t>(0, next->claimed_ns - recorded_end_ns));
}

void Add(PolicyFigures& total, const PolicyFigures& f) {
  total.stall_ns += f.stall_ns;
  total.stalls += f.stalls;
  total.lapses += f.lapses;
  total.duplicate_runs += f.duplicate_runs;
  total.duplicate_overlap_ns += f.duplicate_overlap_ns;
  total.recovery_ns.insert(total.recovery_ns.end(), f.recovery_ns.begin(), f.recovery_ns.end());
}

std::string Who(const AttemptStory& a) {
  return "attempt " + std::to_string(a.number) + " (" + (a.worker.empty() ? "?" : a.worker) + ", token " +
         std::to_string(a.token) + ")";
}

std::string Note(const AttemptStory& a, const Derived& was, const Derived& would) {
  std::string text = Who(a) + ": ";
  if (was.lapsed == would.lapsed && was.end_ns == would.end_ns) return "";
  if (would.lapsed) {
    text += "would lapse at " + FormatTime(would.end_ns) + ", " + FormatDuration(would.end_ns - would.last_life_ns) +
            " after its last renewal";
    if (would.alive_after_ns != 0) {
      text += ", while its holder was still alive " + FormatDuration(would.alive_after_ns - would.end_ns) +
              " later: a second holder could run it alongside";
    }
    if (!was.by_holder && !was.open && was.end_ns > would.end_ns) {
      text += "; recorded: held " + FormatDuration(was.end_ns - was.last_life_ns) + " after its last renewal";
    }
    return text;
  }
  if (was.lapsed) {
    if (would.by_holder) return text + "would not lapse: its holder ended it at " + FormatTime(would.end_ns);
    return text + "would not lapse by " + FormatTime(was.end_ns);
  }
  return "";
}

int64_t Percentile(std::vector<int64_t> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t index = static_cast<size_t>(p * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(index, values.size() - 1)];
}

nlohmann::json FiguresToJson(const PolicyFigures& f) {
  return {{"stall_ns", f.stall_ns},
          {"stalls", f.stalls},
          {"lapses", f.lapses},
          {"duplicate_runs", f.duplicate_runs},
          {"duplicate_overlap_ns", f.duplicate_overlap_ns},
          {"recoveries", f.recovery_ns.size()},
          {"recovery_p50_ns", Percentile(f.recovery_ns, 0.5)},
          {"recovery_max_ns", f.recovery_ns.empty() ? 0 : *std::max_element(f.recovery_ns.begin(), f.recovery_ns.end())}};
}

std::string FiguresLine(const PolicyFigures& f) {
  std::ostringstream out;
  if (f.stalls == 0) out << "no stall";
  else out << "stalled " << FormatDuration(f.stall_ns) << " in " << f.stalls << " attempts";
  out << ", " << f.lapses << " lapses, " << f.duplicate_runs << " duplicate runs";
  if (!f.recovery_ns.empty()) {
    out << ", recovery p50 " << FormatDuration(Percentile(f.recovery_ns, 0.5)) << " max "
        << FormatDuration(*std::max_element(f.recovery_ns.begin(), f.recovery_ns.end()));
  }
  return out.str();
}

}  // namespace

WhatIfReport WhatIf(const WhatIfInput& input) {
  WhatIfReport report;
  report.policy = input.policy;
  report.at_ns = input.at_ns;
  report.since_ns = input.since_ns;
  report.until_ns = input.until_ns;
  const LeasePolicy& policy = input.policy;
  int64_t ttl_min = kNever, ttl_max = 0;

  for (const TaskHistory& h : input.histories) {
    TaskWhatIf task;
    task.task = h.task_id;
    for (size_t i = 0; i < h.attempts.size(); ++i) {
      const AttemptStory& a = h.attempts[i];
      if (input.since_ns != 0 && a.claimed_ns < input.since_ns) continue;
      if (input.until_ns != 0 && a.claimed_ns > input.until_ns) continue;
      ++task.attempts;
      ttl_min = std::min(ttl_min, a.ttl_ns);
      ttl_max = std::max(ttl_max, a.ttl_ns);
      const AttemptStory* next = i + 1 < h.attempts.size() ? &h.attempts[i + 1] : nullptr;
      const Derived was = Recorded(a, input.at_ns);
      const Derived would = Replayed(a, h, policy, input.at_ns);
      Count(task.recorded, was, next, was.end_ns);
      Count(task.whatif, would, next, was.end_ns);
      task.extra_retries += static_cast<int64_t>(would.lapsed) - static_cast<int64_t>(was.lapsed);
      if (std::string note = Note(a, was, would); !note.empty()) task.notes.push_back(std::move(note));
      if (policy.heartbeat_every_ns > 0) {
        int64_t previous = a.claimed_ns;
        for (int64_t hb : a.heartbeat_ns) {
          if (hb - previous > policy.heartbeat_every_ns) ++report.recorded_gaps_over_heartbeat;
          previous = hb;
        }
      }
    }
    if (task.attempts == 0) continue;
    ++report.tasks;
    report.attempts += task.attempts;
    Add(report.recorded, task.recorded);
    Add(report.whatif, task.whatif);
    report.extra_retries += task.extra_retries;
    report.by_task.push_back(std::move(task));
  }

  std::vector<std::string>& a = report.assumptions;
  a.push_back("each attempt's recorded signs of life are kept as they happened: its claim, its heartbeats, its "
              "own end, and the commands it sent after losing its lease (accepted if the lease would still hold)");
  a.push_back("heartbeats that were never recorded are not invented: a lease lapses at the first renewal that "
              "came later than the ttl allows");
  a.push_back("operators' blocks and cancels happen when they happened; later attempts are kept as recorded, even "
              "where the policy would still have the earlier holder's lease");
  a.push_back("after a lapse the next claim comes as long after the task became claimable as it did in the record");
  if (report.attempts != 0) {
    a.push_back("the recorded policy is each attempt's own ttl (" + FormatDuration(ttl_min) +
                (ttl_max != ttl_min ? " to " + FormatDuration(ttl_max) : std::string()) + ")");
  }
  if (policy.heartbeat_every_ns > 0) {
    if (policy.ttl_ns < 2 * policy.heartbeat_every_ns) {
      report.warnings.push_back("--ttl " + FormatDuration(policy.ttl_ns) + " is less than two renewals of --heartbeat-every " +
                                FormatDuration(policy.heartbeat_every_ns) +
                                ": one late heartbeat loses the lease (a ttl of 3 heartbeats is usual)");
    }
  }
  return report;
}

nlohmann::json WhatIfToJson(const WhatIfReport& r) {
  nlohmann::json policy = {{"ttl_ns", r.policy.ttl_ns}};
  if (r.policy.heartbeat_every_ns > 0) policy["heartbeat_every_ns"] = r.policy.heartbeat_every_ns;
  if (r.policy.grace_ns >= 0) policy["grace_ns"] = r.policy.grace_ns;
  if (r.policy.max_runtime_ns >= 0) policy["max_runtime_ns"] = r.policy.max_runtime_ns;
  nlohmann::json out = {{"policy", policy},
                        {"at", FormatTime(r.at_ns)},
                        {"at_ns", r.at_ns},
                        {"assumptions", r.assumptions},
                        {"warnings", r.warnings},
                        {"tasks", r.tasks},
                        {"attempts", r.attempts},
                        {"recorded", FiguresToJson(r.recorded)},
                        {"whatif", FiguresToJson(r.whatif)},
                        {"extra_retries", r.extra_retries}};
  if (r.since_ns != 0) out["since_ns"] = r.since_ns;
  if (r.until_ns != 0) out["until_ns"] = r.until_ns;
  if (r.policy.heartbeat_every_ns > 0) out["recorded_gaps_over_heartbeat"] = r.recorded_gaps_over_heartbeat;
  out["by_task"] = nlohmann::json::array();
  for (const TaskWhatIf& t : r.by_task) {
    out["by_task"].push_back({{"task", t.task},
                              {"attempts", t.attempts},
                              {"recorded", FiguresToJson(t.recorded)},
                              {"whatif", FiguresToJson(t.whatif)},
                              {"extra_retries", t.extra_retries},
                              {"notes", t.notes}});
  }
  return out;
}

std::string RenderWhatIf(const WhatIfReport& r) {
  std::ostringstream out;
  out << "what if: ttl " << FormatDuration(r.policy.ttl_ns);
  if (r.policy.heartbeat_every_ns > 0) out << ", heartbeat every " << FormatDuration(r.policy.heartbeat_every_ns);
  if (r.policy.grace_ns >= 0) out << ", grace " << FormatDuration(r.policy.grace_ns);
  if (r.policy.max_runtime_ns >= 0) out << ", max runtime " << FormatDuration(r.policy.max_runtime_ns);
  out << "; " << r.tasks << " tasks, " << r.attempts << " attempts, as of " << FormatTime(r.at_ns) << '\n';
  for (const std::string& w : r.warnings) out << "warning: " << w << '\n';
  for (const TaskWhatIf& t : r.by_task) {
    if (t.notes.empty()) continue;
    out << "task " << t.task << ":\n";
    for (const std::string& note : t.notes) out << "  " << note << '\n';
  }
  out << "recorded: " << FiguresLine(r.recorded) << '\n';
  out << "what if:  " << FiguresLine(r.whatif) << '\n';
  out << "extra retries: " << r.extra_retries << '\n';
  if (r.policy.heartbeat_every_ns > 0) {
    out << "recorded renewal gaps longer than " << FormatDuration(r.policy.heartbeat_every_ns) << ": "
        << r.recorded_gaps_over_heartbeat << '\n';
  }
  out << "assumptions:\n";
  for (const std::string& a : r.assumptions) out << "  - " << a << '\n';
  return out.str();
}

}  // namespace taskledger
