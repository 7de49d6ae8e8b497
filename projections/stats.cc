#include "projections/stats.h"

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "projections/time_text.h"

namespace taskledger {
namespace {

// Rejections from a command that named no host are counted under this name.
constexpr char kUnknownHost[] = "(unknown)";

bool IsFailure(AttemptEnd end) {
  return end == AttemptEnd::kFailed || end == AttemptEnd::kExited || end == AttemptEnd::kExpired;
}

// The nearest-rank percentile of sorted values.
int64_t Percentile(const std::vector<int64_t>& sorted, int percent) {
  if (sorted.empty()) return 0;
  const size_t rank = (sorted.size() * static_cast<size_t>(percent) + 99) / 100;
  return sorted[std::max<size_t>(rank, 1) - 1];
}

DurationSummary Summarize(std::vector<int64_t> values) {
  std::sort(values.begin(), values.end());
  DurationSummary out;
  out.count = values.size();
  out.p50_ns = Percentile(values, 50);
  out.p99_ns = Percentile(values, 99);
  out.max_ns = values.empty() ? 0 : values.back();
  return out;
}

// Tallies one task's attempts (those that overlap the window) into the stats.
class Tally {
 public:
  Tally(const StatsInput& input, LedgerStats* stats) : in_(input), s_(*stats) {}

  TaskFigure Task(const TaskHistory& h, TaskStatus status) {
    TaskFigure figure{h.task_id, 0, 0, 0, status};
    for (size_t i = 0; i < h.attempts.size(); ++i) {
      const AttemptStory& a = h.attempts[i];
      const AttemptStory* next = i + 1 < h.attempts.size() ? &h.attempts[i + 1] : nullptr;
      Attempt(a, next, &figure);
      for (const ExplainMark& m : a.marks) Mark(m);
    }
    for (const ExplainMark& m : h.marks) Mark(m);
    return figure;
  }

  std::vector<int64_t>& recoveries() { return recoveries_; }

 private:
  bool InWindow(int64_t t) const { return t >= in_.since_ns; }

  void Attempt(const AttemptStory& a, const AttemptStory* next, TaskFigure* figure) {
    const int64_t end = a.open ? in_.now_ns : a.end_ns;
    if (end < in_.since_ns) return;
    figure->held_ns += end - std::max(a.claimed_ns, in_.since_ns);
    if (InWindow(a.claimed_ns)) {
      s_.attempts++;
      figure->attempts++;
    }
    if (a.open) {
      s_.attempts_by_outcome["running"]++;
      return;
    }
    s_.attempts_by_outcome[std::string(AttemptEndName(a.end))]++;
    if (IsFailure(a.end)) {
      s_.failures++;
      figure->failures++;
    }
    if (a.end == AttemptEnd::kExpired) s_.expiries++;
    if (a.end == AttemptEnd::kInterrupted) s_.interruptions++;
    if (!a.lapsed) return;
    s_.lapses++;
    if (next != nullptr) recoveries_.push_back(next->claimed_ns - a.end_ns);
    else s_.unrecovered++;
  }

  void Mark(const ExplainMark& m) {
    if (!InWindow(m.time_ns)) return;
    if (m.kind == "lease_expired") s_.lapses_observed++;
    if (m.kind == "heartbeat_gap") {
      s_.pauses++;
      s_.pauses_by_worker[m.actor]++;
      s_.longest_pause_ns = std::max(s_.longest_pause_ns, m.value_ns);
    }
    if (m.kind == "clock_skew") {
      int64_t& worst = s_.clock_skew_by_writer[m.actor];
      if (std::abs(m.value_ns) > std::abs(worst)) worst = m.value_ns;
    }
    if (m.kind != "rejected") return;
    s_.rejections++;
    s_.rejections_by_worker[m.actor]++;
    s_.rejections_by_host[m.host.empty() ? kUnknownHost : m.host]++;
  }

  const StatsInput& in_;
  LedgerStats& s_;
  std::vector<int64_t> recoveries_;
};

std::vector<TaskFigure> Top(std::vector<TaskFigure> figures, bool (*better)(const TaskFigure&, const TaskFigure&),
                            bool (*counts)(const TaskFigure&)) {
  std::erase_if(figures, [counts](const TaskFigure& f) { return !counts(f); });
  std::stable_sort(figures.begin(), figures.end(), better);
  if (figures.size() > kStatsTopTasks) figures.resize(kStatsTopTasks);
  return figures;
}

nlohmann::json FiguresToJson(const std::vector<TaskFigure>& figures) {
  nlohmann::json out = nlohmann::json::array();
  for (const TaskFigure& f : figures) {
    out.push_back({{"task", f.task},
                   {"held_ns", f.held_ns},
                   {"attempts", f.attempts},
                   {"failures", f.failures},
                   {"status", std::string(TaskStatusName(f.status))}});
  }
  return out;
}

std::string Tallied(const std::map<std::string, uint64_t>& counts) {
  std::vector<std::pair<std::string, uint64_t>> items(counts.begin(), counts.end());
  std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string out;
  for (const auto& [name, count] : items) out += (out.empty() ? "" : ", ") + name + " " + std::to_string(count);
  return out;
}

}  // namespace

LedgerStats ComputeStats(const StatsInput& input) {
  LedgerStats s;
  s.now_ns = input.now_ns;
  s.since_ns = input.since_ns;
  s.last_seq = input.last_seq;
  s.tasks = input.histories.size();
  for (int i = 0; i < kTaskStatusCount; ++i) s.by_status[std::string(TaskStatusName(static_cast<TaskStatus>(i)))] = 0;
  for (TaskStatus status : input.statuses) s.by_status[std::string(TaskStatusName(status))]++;
  for (int i = 0; i < kEventKindCount; ++i) s.events_by_kind[std::string(EventKindName(static_cast<EventKind>(i)))] = 0;
  for (const auto& [kind, count] : input.events_by_kind) {
    s.events_by_kind[std::string(EventKindName(kind))] += count;
    s.events_in_window += count;
  }
  for (int i = 1; i < kAttemptEndCount; ++i) s.attempts_by_outcome[std::string(AttemptEndName(static_cast<AttemptEnd>(i)))] = 0;
  s.attempts_by_outcome["running"] = 0;

  Tally tally(input, &s);
  std::vector<TaskFigure> figures;
  for (size_t i = 0; i < input.histories.size(); ++i) {
    const TaskStatus status = i < input.statuses.size() ? input.statuses[i] : TaskStatus::kWaiting;
    figures.push_back(tally.Task(input.histories[i], status));
  }
  s.recovery = Summarize(std::move(tally.recoveries()));
  s.longest_running = Top(
      figures, [](const TaskFigure& a, const TaskFigure& b) { return a.held_ns > b.held_ns; },
      [](const TaskFigure& f) { return f.held_ns > 0; });
  s.most_retried = Top(
      figures, [](const TaskFigure& a, const TaskFigure& b) { return a.attempts > b.attempts; },
      [](const TaskFigure& f) { return f.attempts > 1; });
  return s;
}

nlohmann::json StatsToJson(const LedgerStats& s) {
  nlohmann::json out;
  out["tasks"] = s.tasks;
  out["events"] = s.last_seq;
  out["by_status"] = s.by_status;
  out["events_by_kind"] = s.events_by_kind;
  out["attempts"] = s.attempts;
  out["failures"] = s.failures;
  out["expiries"] = s.expiries;
  out["rejections"] = s.rejections;
  out["interruptions"] = s.interruptions;
  out["now"] = FormatTime(s.now_ns);
  out["now_ns"] = s.now_ns;
  if (s.since_ns != 0) {
    out["since"] = FormatTime(s.since_ns);
    out["since_ns"] = s.since_ns;
  }
  out["events_in_window"] = s.events_in_window;
  out["attempts_by_outcome"] = s.attempts_by_outcome;
  out["lapses"] = s.lapses;
  out["lapses_observed"] = s.lapses_observed;
  out["rejections_by_worker"] = s.rejections_by_worker;
  out["rejections_by_host"] = s.rejections_by_host;
  out["pauses"] = {{"count", s.pauses}, {"longest_ns", s.longest_pause_ns}, {"by_worker", s.pauses_by_worker}};
  out["clock_skew"] = {{"bound_ns", kClockSkewBoundNs}, {"by_writer", s.clock_skew_by_writer}};
  out["recovery"] = {{"count", s.recovery.count},
                     {"p50_ns", s.recovery.p50_ns},
                     {"p99_ns", s.recovery.p99_ns},
                     {"max_ns", s.recovery.max_ns},
                     {"unrecovered", s.unrecovered}};
  out["longest_running"] = FiguresToJson(s.longest_running);
  out["most_retried"] = FiguresToJson(s.most_retried);
  return out;
}

std::string RenderStats(const LedgerStats& s) {
  std::ostringstream out;
  out << "tasks " << s.tasks << ", events " << s.last_seq << ", as of " << FormatTime(s.now_ns) << '\n';
  for (const auto& [status, count] : s.by_status) out << "  " << status << ' ' << count << '\n';
  if (s.since_ns != 0) out << "since " << FormatTime(s.since_ns) << ": " << s.events_in_window << " events\n";
  out << "attempts " << s.attempts << ", failures " << s.failures << ", lease expiries " << s.expiries
      << ", rejected (zombie) commands " << s.rejections << ", interrupted " << s.interruptions << '\n';
  std::map<std::string, uint64_t> ended;
  for (const auto& [outcome, count] : s.attempts_by_outcome) {
    if (count != 0) ended[outcome] = count;
  }
  out << "attempts by outcome: " << (ended.empty() ? "none" : Tallied(ended)) << '\n';
  out << "lapses (a lease ran out without word from its holder): " << s.lapses << ", observed by a sweep "
      << s.lapses_observed << '\n';
  if (s.rejections != 0) {
    out << "rejected commands by worker: " << Tallied(s.rejections_by_worker) << "; by host: "
        << Tallied(s.rejections_by_host) << '\n';
  }
  if (s.pauses != 0) {
    out << "pauses (a heartbeat after over half the ttl of silence): " << s.pauses << ", longest "
        << FormatDuration(s.longest_pause_ns) << "; by worker: " << Tallied(s.pauses_by_worker) << '\n';
  }
  if (!s.clock_skew_by_writer.empty()) {
    out << "clocks off the ledger's by more than " << FormatDuration(kClockSkewBoundNs) << ":";
    for (const auto& [writer, skew] : s.clock_skew_by_writer) {
      out << ' ' << writer << ' ' << (skew > 0 ? "+" : "-") << FormatDuration(std::abs(skew));
    }
    out << '\n';
  }
  out << "recovery, from a lapse to the next claim: ";
  if (s.recovery.count == 0) out << "none";
  else out << s.recovery.count << " lapses, p50 " << FormatDuration(s.recovery.p50_ns) << ", p99 "
           << FormatDuration(s.recovery.p99_ns) << ", max " << FormatDuration(s.recovery.max_ns);
  if (s.unrecovered != 0) out << "; " << s.unrecovered << " not claimed again yet";
  out << '\n';
  for (const TaskFigure& f : s.longest_running) {
    out << "longest-running: " << f.task << " held " << FormatDuration(f.held_ns) << " over " << f.attempts
        << " attempts (" << TaskStatusName(f.status) << ")\n";
  }
  for (const TaskFigure& f : s.most_retried) {
    out << "most retried: " << f.task << " " << f.attempts << " attempts, " << f.failures << " failures ("
        << TaskStatusName(f.status) << ")\n";
  }
  return out.str();
}

}  // namespace taskledger
