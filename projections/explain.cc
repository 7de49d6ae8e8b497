#include "projections/explain.h"

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "projections/time_text.h"

namespace taskledger {
namespace {

// Texts (results, errors, notes) are quoted in the narrative up to this many bytes: one
// line of a report, not a dump of the payload. --json carries them whole.
constexpr size_t kQuoteBytesMax = 120;

std::string Quote(const std::string& text) {
  std::string out = "\"";
  size_t used = 0;
  for (char c : text) {
    if (used++ == kQuoteBytesMax) {
      // Never cut inside a UTF-8 sequence: drop continuation bytes already taken.
      while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xc0) == 0x80) out.pop_back();
      if (!out.empty() && static_cast<unsigned char>(out.back()) >= 0xc0) out.pop_back();
      out += "...";
      break;
    }
    if (c == '\n') out += "\\n";
    else if (c == '"') out += "\\\"";
    else out.push_back(c);
  }
  return out + "\"";
}

std::string Count(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// "pid 4242 on node-a": where a command came from, as its client metadata tells it.
std::string Where(uint32_t pid, const std::string& host) {
  std::string where = pid != 0 ? "pid " + std::to_string(pid) : "";
  if (!host.empty()) where += (where.empty() ? "host " : " on ") + host;
  return where;
}

// "w1 (pid 4242 on node-a)".
std::string Who(const std::string& actor, uint32_t pid, const std::string& host) {
  if (pid == 0 && host.empty()) return actor;
  return actor + " (" + Where(pid, host) + ")";
}

std::string ExitWords(const Event& e) {
  return e.exit_code ? "exited with code " + std::to_string(*e.exit_code) : "killed by " + e.signal;
}

std::string CommandNoun(HolderCommand command) {
  switch (command) {
    case HolderCommand::kHeartbeat: return "a heartbeat";
    case HolderCommand::kComplete: return "a completion";
    case HolderCommand::kFail: return "a failure report";
    case HolderCommand::kRelease: return "a release";
    case HolderCommand::kSignal: return "a signal record";
    case HolderCommand::kExit: return "an exit record";
  }
  return "a command";
}

// What an ended failure led to: dead, a backoff, or claimable at once.
std::string Consequence(const TaskRecord& r) {
  const std::string count =
      "; failure " + std::to_string(r.failures) + " of " + std::to_string(r.spec.max_attempts) + " allowed";
  if (r.failures >= r.spec.max_attempts) return count + ": the task is dead";
  if (r.backoff_until_ns > r.last_end_ns) {
    return count + ": claimable again after a " + FormatDuration(r.backoff_until_ns - r.last_end_ns) +
           " backoff, at " + FormatTime(r.backoff_until_ns);
  }
  return count + ": claimable again at once";
}

std::string SinceLastWord(const AttemptStory& a) {
  if (a.heartbeat_ns.empty()) return FormatDuration(a.end_ns - a.claimed_ns) + " after the claim, with no heartbeat";
  return FormatDuration(a.end_ns - a.heartbeat_ns.back()) + " after the last heartbeat";
}

std::string InterruptedWords(const AttemptStory& a, const Event* by) {
  if (by == nullptr) {
    return "the lease lapsed at its deadline, " + FormatDuration(a.end_ns - a.signaled_ns) + " after " + a.signal +
           " (grace " + FormatDuration(a.grace_ns) + "), " + SinceLastWord(a);
  }
  if (by->kind == EventKind::kSignaled) return a.signal + " was recorded with no grace";
  return ExitWords(*by) + " after " + a.signal;
}

// Why an attempt ended, and what followed. `by` is the event that ended it (nullptr: the
// lease lapsed); `r` the record right after.
std::string EndingSentence(const AttemptStory& a, const TaskRecord& r, const Event* by) {
  const std::string detail = a.detail.empty() ? "" : ": " + Quote(a.detail);
  switch (a.end) {
    case AttemptEnd::kCompleted:
      return "completed" + (a.detail.empty() ? "" : ", result " + Quote(a.detail));
    case AttemptEnd::kFailed:
      return "failed" + detail + Consequence(r);
    case AttemptEnd::kExited:
      return "exited: " + ExitWords(*by) + " before completing" + Consequence(r);
    case AttemptEnd::kExpired: {
      std::string s = "expired: the lease lapsed at its deadline, " + SinceLastWord(a);
      if (r.runtime_cap_ns != 0 && a.end_ns == r.runtime_cap_ns) {
        s += "; the deadline was the max-runtime cap (" + FormatDuration(r.spec.max_runtime_ns) + ")";
      }
      return s + Consequence(r);
    }
    case AttemptEnd::kInterrupted:
      return "interrupted: " + InterruptedWords(a, by) + "; not a failure, claimable at once";
    case AttemptEnd::kReleased:
      return "released by " + by->actor + detail + "; not a failure, claimable at once";
    case AttemptEnd::kBlocked:
      return "blocked by " + by->actor + detail + "; not claimable until unblocked";
    case AttemptEnd::kCancelled:
      return "cancelled by " + by->actor + detail;
    case AttemptEnd::kNone:
      break;
  }
  return "";
}

std::string EndDetail(const Event& e) {
  if (e.kind == EventKind::kExited) return e.exit_code ? "code " + std::to_string(*e.exit_code) : e.signal;
  if (e.kind == EventKind::kSignaled) return e.signal;
  return e.text;
}

void AddMark(std::vector<ExplainMark>* marks, const Event& e, std::string kind, std::string text) {
  marks->push_back({e.seq, e.time_ns, std::move(kind), e.actor, e.meta.pid, e.meta.host, std::move(text), std::nullopt});
}

}  // namespace

// ---- TaskHistoryBuilder: each attempt's end is noticed, whether an event or a lapse
// (derived with Settle, exactly as the projection derives it) ended it. ----

Status TaskHistoryBuilder::Add(const Event& e) {
  if (h_.task_id.empty() && e.kind != EventKind::kCreated) {
    return Status::DataLoss("a task's history must start with its created event (seq " + std::to_string(e.seq) +
                            " is " + std::string(EventKindName(e.kind)) + ")");
  }
  if (e.kind != EventKind::kCreated) CloseIfLapsed(e.time_ns);
  const bool was_open = OpenAttempt() != nullptr;
  TL_RETURN_IF_ERROR(ApplyEvent(&r_, e));
  const bool ends_attempt = was_open && !r_.attempt_open;
  Note(e, ends_attempt);
  // Note() adds attempts only on a claim, which never ends one: back() is the one that was open.
  if (ends_attempt) Close(&h_.attempts.back(), r_, &e);
  NoteClockSkew(e);
  h_.last_seq = e.seq;
  return Status::Ok();
}

void TaskHistoryBuilder::Note(const Event& e, bool ends_attempt) {
  switch (e.kind) {
    case EventKind::kCreated:
      h_.task_id = e.task_id;
      h_.spec = e.spec;
      h_.created_by = e.actor;
      h_.created_seq = e.seq;
      h_.created_ns = e.time_ns;
      break;
    case EventKind::kClaimed: OnClaimed(e); break;
    case EventKind::kHeartbeat: OnHeartbeat(e); break;
    case EventKind::kSignaled: OnSignaled(e, ends_attempt); break;
    case EventKind::kExited:
      if (!ends_attempt) OnLateExit(e);
      break;
    case EventKind::kBlocked:
    case EventKind::kCancelled:
      if (!ends_attempt) OnOperator(e);  // else the attempt's ending tells it
      break;
    case EventKind::kUnblocked:
    case EventKind::kRevived: OnOperator(e); break;
    case EventKind::kLeaseExpired: OnLeaseExpired(e); break;
    case EventKind::kRejected: OnRejected(e); break;
    case EventKind::kAnnotated: OnAnnotated(e); break;
    case EventKind::kCompleted:
    case EventKind::kFailed:
    case EventKind::kReleased: break;  // only ever an ending
  }
}

AttemptStory* TaskHistoryBuilder::OpenAttempt() {
  return !h_.attempts.empty() && h_.attempts.back().open ? &h_.attempts.back() : nullptr;
}

AttemptStory* TaskHistoryBuilder::ByToken(uint64_t token) {
  for (AttemptStory& a : h_.attempts) {
    if (a.token == token) return &a;
  }
  return nullptr;
}

void TaskHistoryBuilder::CloseIfLapsed(int64_t t) {
  AttemptStory* a = OpenAttempt();
  if (a == nullptr) return;
  TaskRecord settled = r_;
  Settle(&settled, t);
  if (!settled.attempt_open) Close(a, settled, nullptr);
}

void TaskHistoryBuilder::Close(AttemptStory* a, const TaskRecord& r, const Event* by) {
  a->open = false;
  a->end = r.last_end;
  a->end_ns = r.last_end_ns;
  a->end_seq = by != nullptr ? by->seq : 0;
  a->lapsed = by == nullptr;
  a->deadline_ns = r.deadline_ns;
  a->longest_gap_ns = std::max(a->longest_gap_ns, a->end_ns - last_alive_ns_);
  if (by != nullptr) a->detail = EndDetail(*by);
  if (by != nullptr && by->kind == EventKind::kExited) a->exited_ns = by->time_ns;
  a->ending = EndingSentence(*a, r, by);
}

void TaskHistoryBuilder::OnClaimed(const Event& e) {
  extension_run_ = 0;
  AttemptStory a;
  a.number = static_cast<uint32_t>(h_.attempts.size() + 1);
  a.token = e.token;
  a.claimed_seq = e.seq;
  a.worker = e.actor;
  a.pid = e.meta.pid;
  a.host = e.meta.host;
  a.claimed_ns = e.time_ns;
  a.ttl_ns = e.ttl_ns;
  a.deadline_ns = r_.deadline_ns;
  h_.attempts.push_back(std::move(a));
  last_alive_ns_ = e.time_ns;
}

void TaskHistoryBuilder::OnHeartbeat(const Event& e) {
  AttemptStory& a = *OpenAttempt();
  const int64_t gap = e.time_ns - last_alive_ns_;
  // A supervisor beats every ttl/3: a silence over half the ttl came close to a lapse.
  if (gap * 2 > a.ttl_ns) {
    AddMark(&a.marks, e, "heartbeat_gap",
            "heartbeat after " + FormatDuration(gap) + " of silence (ttl " + FormatDuration(a.ttl_ns) + "), with " +
                FormatDuration(a.deadline_ns - e.time_ns) + " of the lease left");
    a.marks.back().value_ns = gap;
  }
  a.longest_gap_ns = std::max(a.longest_gap_ns, gap);
  a.heartbeat_ns.push_back(e.time_ns);
  a.deadline_ns = r_.deadline_ns;
  last_alive_ns_ = e.time_ns;
  extension_run_ = 0;
}

void TaskHistoryBuilder::OnSignaled(const Event& e, bool ends_attempt) {
  AttemptStory& a = *OpenAttempt();
  a.signal = e.signal;
  a.signaled_ns = e.time_ns;
  a.grace_ns = e.grace_ns;
  const std::string who = Who(e.actor, e.meta.pid, e.meta.host);
  if (ends_attempt) {
    AddMark(&a.marks, e, "signal", e.signal + " recorded by " + who + " with no grace: the lease ends now");
    return;
  }
  a.deadline_ns = r_.deadline_ns;
  AddMark(&a.marks, e, "signal",
          e.signal + " recorded by " + who + " with " + FormatDuration(e.grace_ns) + " grace: the lease ends by " +
              FormatTime(r_.deadline_ns) + " at the latest");
}

void TaskHistoryBuilder::OnLateExit(const Event& e) {
  AttemptStory* a = ByToken(e.token);
  if (a != nullptr) a->exited_ns = e.time_ns;
  std::vector<ExplainMark>* marks = a != nullptr ? &a->marks : &h_.marks;
  AddMark(marks, e, "exit", ExitWords(e) + " recorded by " + Who(e.actor, e.meta.pid, e.meta.host) +
                                " after the completion (no effect)");
}

void TaskHistoryBuilder::OnOperator(const Event& e) {
  const std::string reason = e.text.empty() ? "" : ": " + Quote(e.text);
  const std::string name(EventKindName(e.kind));
  std::string text = name + " by " + e.actor + reason;
  if (e.kind == EventKind::kRevived) text += "; a fresh budget of " + std::to_string(r_.spec.max_attempts) + " attempts";
  AddMark(&h_.marks, e, name, text);
}

void TaskHistoryBuilder::OnLeaseExpired(const Event& e) {
  AttemptStory* a = ByToken(e.token);
  std::vector<ExplainMark>* marks = a != nullptr ? &a->marks : &h_.marks;
  AddMark(marks, e, "lease_expired",
          "the lapse was observed by " + e.actor + ", " + FormatDuration(e.time_ns - e.deadline_ns) +
              " after the deadline " + FormatTime(e.deadline_ns));
}

void TaskHistoryBuilder::OnRejected(const Event& e) {
  AttemptStory* a = ByToken(e.token);
  std::string late;
  if (a == nullptr || a->open) {
    late = "with a token that never held this task (" + e.reason + ")";
  } else if (a->lapsed) {
    late = FormatDuration(e.time_ns - a->end_ns) + " after its lease expired";
  } else {
    late = FormatDuration(e.time_ns - a->end_ns) + " after its attempt ended (" +
           std::string(AttemptEndName(a->end)) + ")";
  }
  std::string text = "zombie: worker " + Who(e.actor, e.meta.pid, e.meta.host) + " token " +
                     std::to_string(e.token) + " sent " + CommandNoun(e.rejected_command) + " " + late + "; refused";
  if (e.current_token != 0 && e.current_token != e.token) {
    text += ", the current token is " + std::to_string(e.current_token);
  }
  std::vector<ExplainMark>* marks = a != nullptr ? &a->marks : &h_.marks;
  AddMark(marks, e, "rejected", text);
  marks->back().refused = e.rejected_command;
}

// An imported fact with no equivalent kind: a mark of the attempt it happened in (or of
// the task). A board's claim extensions with no heartbeat between them are one mark that
// says what they amount to, and what a lease would have done instead.
void TaskHistoryBuilder::OnAnnotated(const Event& e) {
  AttemptStory* a = OpenAttempt();
  if (a != nullptr && e.source_kind == "claim_extended") {
    if (extension_run_ == 0) {
      AddMark(&a->marks, e, "claim_extended", "");
      extension_mark_ = a->marks.size() - 1;
    }
    ExplainMark& m = a->marks[extension_mark_];
    ++extension_run_;
    const int64_t span_ns = e.time_ns - m.time_ns;
    const int64_t ttl_ns = h_.spec.lease_ttl_ns;
    const int64_t lapse_ns = last_alive_ns_ + ttl_ns;
    const bool beat = !a->heartbeat_ns.empty();
    m.value_ns = span_ns;
    m.text = "the board's dispatcher extended the claim " + Count(extension_run_, "time", "times") + " over " +
             FormatDuration(span_ns) + " (until " + FormatTime(e.time_ns) + ") with no heartbeat from the worker" +
             (beat ? " since " + FormatTime(last_alive_ns_) : " since the claim at " + FormatTime(last_alive_ns_)) +
             "; a lease would have expired " + FormatDuration(ttl_ns) + " after the " +
             (beat ? "last heartbeat" : "claim") + ", at " + FormatTime(lapse_ns) +
             ", and the task would have been claimable again";
    if (extension_run_ >= a->silent_extensions) {
      a->silent_extensions = extension_run_;
      a->silent_extensions_first_ns = m.time_ns;
      a->silent_extensions_last_ns = e.time_ns;
      a->silent_since_ns = last_alive_ns_;
    }
    return;
  }
  std::string text = "imported " + e.source_kind + (e.source_id.empty() ? "" : " (" + e.source_id + ")");
  // The original record's own payload or body says what it was; the rest is in --json.
  const nlohmann::json row = nlohmann::json::parse(e.text, nullptr, /*allow_exceptions=*/false);
  for (const char* key : {"payload", "body", "reason"}) {
    if (!row.is_object() || !row.contains(key) || row[key].is_null()) continue;
    text += ": " + Quote(row[key].is_string() ? row[key].get<std::string>() : row[key].dump());
    break;
  }
  AddMark(a != nullptr ? &a->marks : &h_.marks, e, "annotated", text);
}

// A writer's clock off the ledger's by more than the bound: flagged at the first such
// command, and again only when the skew moves by more than the bound (not at every beat).
void TaskHistoryBuilder::NoteClockSkew(const Event& e) {
  if (e.meta.wall_time_ns == 0) return;  // an older client, or an import that had no client time
  const int64_t skew = e.meta.wall_time_ns - e.time_ns;
  if (skew >= -kClockSkewBoundNs && skew <= kClockSkewBoundNs) return;
  const auto flagged = skew_flagged_.find(e.actor);
  if (flagged != skew_flagged_.end() && std::abs(skew - flagged->second) <= kClockSkewBoundNs) return;
  skew_flagged_[e.actor] = skew;
  const std::string text = "the clock of " + Who(e.actor, e.meta.pid, e.meta.host) + " is " +
                           FormatDuration(std::abs(skew)) + (skew > 0 ? " ahead of" : " behind") +
                           " the ledger's: its own times are not to be trusted (the ledger's decide)";
  AttemptStory* a = h_.attempts.empty() ? nullptr : &h_.attempts.back();
  const bool holders = a != nullptr && a->worker == e.actor && (a->open || a->end_seq == e.seq);
  std::vector<ExplainMark>* marks = holders ? &a->marks : &h_.marks;
  AddMark(marks, e, "clock_skew", text);
  marks->back().value_ns = skew;
}

TaskHistory TaskHistoryBuilder::Finish(int64_t at_ns) const {
  TaskHistoryBuilder settled = *this;
  settled.CloseIfLapsed(at_ns);
  Settle(&settled.r_, at_ns);
  settled.h_.record = settled.r_;
  return std::move(settled.h_);
}

namespace {

// ---- What the task is now, and what comes next ----

std::string In(int64_t until_ns, int64_t at_ns) {
  return FormatTime(until_ns) + " (in " + FormatDuration(until_ns - at_ns) + ")";
}

// A dependency's state in a few words.
std::string Brief(const TaskView& v) {
  const TaskRecord& r = v.settled;
  std::string out(TaskStatusName(v.status));
  if (v.status == TaskStatus::kRunning) out += ", held by " + r.holder + " until " + FormatTime(r.deadline_ns);
  if (v.status == TaskStatus::kWaiting && v.wait == WaitReason::kDependency) out += " for " + v.dependency;
  if (v.status == TaskStatus::kWaiting && v.until_ns != 0) out += " until " + FormatTime(v.until_ns);
  return out;
}

std::string DependencyWords(const Explanation& x) {
  const TaskView& v = x.view;
  auto found = x.dependencies.find(v.dependency);
  if (found != x.dependencies.end()) return v.dependency + " (" + Brief(found->second) + ")";
  return v.dependency + " (" + std::string(TaskStatusName(v.dependency_status)) + ")";
}

std::string RunningState(const Explanation& x) {
  const TaskRecord& r = x.view.settled;
  std::string s = "running: held by " + r.holder + " (token " + std::to_string(r.last_token) + ") until " +
                  In(r.deadline_ns, x.at_ns);
  if (!r.signal.empty()) s += "; " + r.signal + " recorded, so no heartbeat moves the deadline past it";
  return s;
}

std::string StateWords(const Explanation& x) {
  const TaskView& v = x.view;
  const TaskRecord& r = v.settled;
  switch (v.status) {
    case TaskStatus::kRunning: return RunningState(x);
    case TaskStatus::kReady: return "ready: claimable now";
    case TaskStatus::kWaiting:
      switch (v.wait) {
        case WaitReason::kDependency: return "waiting for dependency " + DependencyWords(x) + " to be done";
        case WaitReason::kNotBefore: return "waiting: not before " + In(v.until_ns, x.at_ns);
        case WaitReason::kBackoff:
          return "waiting: retry backoff until " + In(v.until_ns, x.at_ns) + ", after failure " +
                 std::to_string(r.failures) + " of " + std::to_string(r.spec.max_attempts) + " allowed";
        case WaitReason::kNone: break;
      }
      return "waiting";
    case TaskStatus::kBlocked:
      if (!v.dependency.empty()) return "blocked: dependency " + DependencyWords(x) + " will never be done";
      return "blocked by an operator" + (r.block_reason.empty() ? "" : ": " + Quote(r.block_reason));
    case TaskStatus::kDone:
      return "done at " + FormatTime(r.last_end_ns) + (r.result.empty() ? "" : ", result " + Quote(r.result));
    case TaskStatus::kDead:
      return "dead: " + Count(r.failures, "failure", "failures") + " of " + std::to_string(r.spec.max_attempts) +
             " allowed" + (r.last_error.empty() ? "" : "; the last: " + Quote(r.last_error));
    case TaskStatus::kCancelled: return "cancelled";
  }
  return "";
}

// What a lapse of the running lease would lead to, as a clause after "the lease lapses at T".
std::string IfItLapses(const TaskRecord& r) {
  if (!r.signal.empty()) return " and the attempt ends as interrupted (not a failure): the task is claimable at once";
  const std::string count = ", failure " + std::to_string(r.failures + 1) + " of " +
                            std::to_string(r.spec.max_attempts) + " allowed";
  if (r.failures + 1 >= r.spec.max_attempts) return count + ": the task becomes dead";
  const int64_t backoff = BackoffNs(r.spec, r.failures + 1);
  return count + ": the task is claimable again after a " + FormatDuration(backoff) + " backoff, at " +
         FormatTime(r.deadline_ns + backoff);
}

std::string RunningNext(const TaskRecord& r) {
  const std::string deadline = FormatTime(r.deadline_ns);
  std::string keep;
  if (!r.signal.empty()) {
    keep = r.holder + " has until " + deadline + " to exit or complete (" + r.signal +
           " was recorded: no heartbeat moves the deadline past it)";
  } else {
    keep = r.holder + " keeps the lease by heartbeating before " + deadline + " (each heartbeat renews it for " +
           FormatDuration(r.ttl_ns) + ")";
  }
  return keep + "; otherwise the lease lapses at " + deadline + IfItLapses(r) +
         ". Commands with any other token are refused";
}

std::string NextWords(const Explanation& x) {
  const TaskView& v = x.view;
  const TaskRecord& r = v.settled;
  const std::string id = r.id;
  switch (v.status) {
    case TaskStatus::kRunning: return RunningNext(r);
    case TaskStatus::kReady:
      return "the next `claim " + id + "` (or `claim --next --queue " + r.spec.queue + "`) starts attempt " +
             std::to_string(r.attempts + 1) + " with a " + FormatDuration(r.spec.lease_ttl_ns) + " lease";
    case TaskStatus::kWaiting:
      if (v.wait == WaitReason::kDependency) return "it becomes claimable once " + v.dependency + " is done";
      return "it becomes claimable at " + FormatTime(v.until_ns);
    case TaskStatus::kBlocked:
      if (!v.dependency.empty()) return "nothing, until " + v.dependency + " is revived and done";
      return "nothing, until an operator runs `taskledger unblock " + id + "`";
    case TaskStatus::kDone: return "nothing: the task is finished";
    case TaskStatus::kDead:
    case TaskStatus::kCancelled: return "nothing, until an operator runs `taskledger revive " + id + "`";
  }
  return "";
}

// ---- Rendering ----

std::string SpecWords(const TaskSpec& s) {
  std::string out = "queue " + s.queue + ", priority " + std::to_string(s.priority) + ", lease ttl " +
                    FormatDuration(s.lease_ttl_ns) + ", max attempts " + std::to_string(s.max_attempts);
  if (s.max_runtime_ns != 0) out += ", max runtime " + FormatDuration(s.max_runtime_ns);
  if (s.not_before_ns != 0) out += ", not before " + FormatTime(s.not_before_ns);
  if (!s.after.empty()) {
    out += ", after ";
    for (size_t i = 0; i < s.after.size(); ++i) out += (i == 0 ? "" : ", ") + s.after[i];
  }
  return out;
}

std::string HeartbeatWords(const AttemptStory& a) {
  if (a.heartbeat_ns.empty()) return "no heartbeats";
  std::string out = Count(a.heartbeat_ns.size(), "heartbeat", "heartbeats") + ", the last at " +
                    FormatTime(a.heartbeat_ns.back());
  if (a.heartbeat_ns.size() > 1) out += "; the longest silence " + FormatDuration(a.longest_gap_ns);
  return out;
}

void RenderMark(std::ostringstream& out, const ExplainMark& m, const char* indent) {
  out << indent << FormatTime(m.time_ns) << "  " << m.text << '\n';
}

void RenderAttempt(std::ostringstream& out, const AttemptStory& a) {
  out << "attempt " << a.number << ", token " << a.token << ": claimed by " << Who(a.worker, a.pid, a.host) << " at "
      << FormatTime(a.claimed_ns) << " with a " << FormatDuration(a.ttl_ns) << " lease\n";
  out << "  " << HeartbeatWords(a) << '\n';
  // The ending sits among the marks by (time, seq); a lapse has no event, so seq 0 puts it
  // before whatever happened at the same moment.
  bool ended = false;
  for (const ExplainMark& m : a.marks) {
    if (!a.open && !ended && std::pair(a.end_ns, a.end_seq) < std::pair(m.time_ns, m.seq)) {
      out << "  ended " << FormatTime(a.end_ns) << ": " << a.ending << '\n';
      ended = true;
    }
    RenderMark(out, m, "  ");
  }
  if (!a.open && !ended) out << "  ended " << FormatTime(a.end_ns) << ": " << a.ending << '\n';
  if (a.open) out << "  still open: the lease runs until " << FormatTime(a.deadline_ns) << '\n';
}

}  // namespace

Result<TaskHistory> BuildHistory(const std::vector<Event>& events, int64_t at_ns) {
  if (events.empty()) return Status::DataLoss("a task's history must start with its created event");
  TaskHistoryBuilder builder;
  for (const Event& e : events) TL_RETURN_IF_ERROR(builder.Add(e));
  return builder.Finish(std::max(at_ns, events.back().time_ns));
}

Result<Explanation> Explain(const ExplainInput& input) {
  Result<TaskHistory> history = BuildHistory(input.events, input.at_ns);
  if (!history.ok()) return history.status();
  Explanation x;
  x.history = std::move(*history);
  x.view = input.view;
  x.at_ns = input.at_ns;
  x.dependencies = input.dependencies;
  x.state = StateWords(x);
  x.next = NextWords(x);
  return x;
}

std::string RenderExplanation(const Explanation& x) {
  const TaskHistory& h = x.history;
  std::ostringstream out;
  out << "task " << h.task_id;
  if (!h.spec.title.empty()) out << ' ' << Quote(h.spec.title);
  out << ": " << TaskStatusName(x.view.status) << ", as of " << FormatTime(x.at_ns) << '\n';
  out << "created " << FormatTime(h.created_ns) << " by " << h.created_by << ": " << SpecWords(h.spec) << '\n';
  // Attempts and the task's own moments, in the order they happened.
  size_t next_mark = 0;
  for (const AttemptStory& a : h.attempts) {
    for (; next_mark < h.marks.size() && h.marks[next_mark].seq < a.claimed_seq; ++next_mark) {
      RenderMark(out, h.marks[next_mark], "");
    }
    RenderAttempt(out, a);
  }
  for (; next_mark < h.marks.size(); ++next_mark) RenderMark(out, h.marks[next_mark], "");
  out << "now: " << x.state << '\n';
  out << "next: " << x.next << '\n';
  return out.str();
}

namespace {

void PutTime(nlohmann::json& out, const std::string& key, int64_t ns) {
  out[key] = FormatTime(ns);
  out[key + "_ns"] = ns;
}

nlohmann::json MarksToJson(const std::vector<ExplainMark>& marks) {
  nlohmann::json out = nlohmann::json::array();
  for (const ExplainMark& m : marks) {
    nlohmann::json j = {{"seq", m.seq}, {"kind", m.kind}, {"actor", m.actor}, {"text", m.text}};
    if (m.pid != 0) j["pid"] = m.pid;
    if (!m.host.empty()) j["host"] = m.host;
    if (m.value_ns != 0) {
      j[m.kind == "clock_skew" ? "skew_ns" : m.kind == "claim_extended" ? "span_ns" : "gap_ns"] = m.value_ns;
    }
    PutTime(j, "time", m.time_ns);
    out.push_back(std::move(j));
  }
  return out;
}

nlohmann::json AttemptToJson(const AttemptStory& a) {
  nlohmann::json j = {{"number", a.number},       {"token", a.token},     {"worker", a.worker},
                      {"ttl_ns", a.ttl_ns},       {"heartbeats", a.heartbeat_ns.size()},
                      {"longest_silence_ns", a.longest_gap_ns},           {"open", a.open},
                      {"marks", MarksToJson(a.marks)}};
  if (a.pid != 0) j["pid"] = a.pid;
  if (!a.host.empty()) j["host"] = a.host;
  PutTime(j, "claimed", a.claimed_ns);
  PutTime(j, "deadline", a.deadline_ns);
  if (!a.heartbeat_ns.empty()) PutTime(j, "last_heartbeat", a.heartbeat_ns.back());
  if (!a.signal.empty()) {
    j["signal"] = a.signal;
    j["grace_ns"] = a.grace_ns;
    PutTime(j, "signaled", a.signaled_ns);
  }
  if (a.exited_ns != 0) PutTime(j, "exited", a.exited_ns);
  if (a.silent_extensions != 0) {
    nlohmann::json ext = {{"count", a.silent_extensions},
                          {"span_ns", a.silent_extensions_last_ns - a.silent_extensions_first_ns}};
    PutTime(ext, "first", a.silent_extensions_first_ns);
    PutTime(ext, "last", a.silent_extensions_last_ns);
    PutTime(ext, "last_sign_of_life", a.silent_since_ns);
    j["claim_extensions_without_heartbeat"] = std::move(ext);
  }
  if (!a.open) {
    j["end"] = std::string(AttemptEndName(a.end));
    PutTime(j, "ended", a.end_ns);
    j["ended_seq"] = a.end_seq;
    j["lapsed"] = a.lapsed;
    j["detail"] = a.detail;
    j["ending"] = a.ending;
  }
  return j;
}

}  // namespace

nlohmann::json ExplanationToJson(const Explanation& x) {
  const TaskHistory& h = x.history;
  const TaskView& v = x.view;
  nlohmann::json out;
  out["task"] = h.task_id;
  out["title"] = h.spec.title;
  out["status"] = std::string(TaskStatusName(v.status));
  PutTime(out, "at", x.at_ns);
  out["last_seq"] = h.last_seq;
  out["state"] = x.state;
  out["next"] = x.next;
  nlohmann::json created = {{"seq", h.created_seq}, {"by", h.created_by}, {"queue", h.spec.queue},
                            {"priority", h.spec.priority}, {"ttl_ns", h.spec.lease_ttl_ns},
                            {"max_attempts", h.spec.max_attempts}, {"after", h.spec.after}};
  PutTime(created, "time", h.created_ns);
  out["created"] = std::move(created);
  out["attempts"] = nlohmann::json::array();
  for (const AttemptStory& a : h.attempts) out["attempts"].push_back(AttemptToJson(a));
  out["marks"] = MarksToJson(h.marks);
  out["failures"] = v.settled.failures;
  out["max_attempts"] = v.settled.spec.max_attempts;
  if (v.status == TaskStatus::kWaiting) {
    out["waiting_for"] = std::string(WaitReasonName(v.wait));
    if (v.until_ns != 0) PutTime(out, "until", v.until_ns);
  }
  if (v.status == TaskStatus::kRunning) PutTime(out, "deadline", v.settled.deadline_ns);
  if (!v.dependency.empty()) {
    out["dependency"] = v.dependency;
    out["dependency_status"] = std::string(TaskStatusName(v.dependency_status));
  }
  return out;
}

}  // namespace taskledger
