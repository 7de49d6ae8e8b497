#include "tools/cli/render.h"

#include <algorithm>
#include <sstream>
#include <vector>

#include "projections/time_text.h"

namespace taskledger::cli {
namespace {

std::string Quoted(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (c == '\n') { out += "\\n"; continue; }
    out.push_back(c);
  }
  return out + "\"";
}

std::string Joined(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

}  // namespace

std::string EventLine(const Event& e) {
  std::ostringstream out;
  out << e.seq << ' ' << FormatTime(e.time_ns) << ' ' << e.task_id << ' ' << EventKindName(e.kind) << ' '
      << e.actor;
  const auto token = [&] { out << " token=" << e.token; };
  switch (e.kind) {
    case EventKind::kCreated:
      out << " queue=" << e.spec.queue << " priority=" << e.spec.priority << " ttl=" << FormatDuration(e.spec.lease_ttl_ns)
          << " max_attempts=" << e.spec.max_attempts;
      if (!e.spec.after.empty()) out << " after=" << Joined(e.spec.after);
      if (e.spec.not_before_ns != 0) out << " not_before=" << FormatTime(e.spec.not_before_ns);
      if (e.spec.max_runtime_ns != 0) out << " max_runtime=" << FormatDuration(e.spec.max_runtime_ns);
      if (!e.spec.title.empty()) out << " title=" << Quoted(e.spec.title);
      break;
    case EventKind::kClaimed:
      token();
      out << " ttl=" << FormatDuration(e.ttl_ns);
      break;
    case EventKind::kHeartbeat:
      token();
      if (!e.text.empty()) out << " note=" << Quoted(e.text);
      break;
    case EventKind::kSignaled:
      token();
      out << " signal=" << e.signal << " grace=" << FormatDuration(e.grace_ns);
      break;
    case EventKind::kExited:
      token();
      if (e.exit_code) out << " code=" << *e.exit_code;
      else out << " signal=" << e.signal;
      break;
    case EventKind::kCompleted:
      token();
      if (!e.text.empty()) out << " result=" << Quoted(e.text);
      break;
    case EventKind::kFailed:
      token();
      if (!e.text.empty()) out << " error=" << Quoted(e.text);
      break;
    case EventKind::kReleased:
      token();
      if (!e.text.empty()) out << " reason=" << Quoted(e.text);
      break;
    case EventKind::kBlocked:
    case EventKind::kCancelled:
      if (!e.text.empty()) out << " reason=" << Quoted(e.text);
      break;
    case EventKind::kUnblocked:
    case EventKind::kRevived:
      break;
    case EventKind::kLeaseExpired:
      token();
      out << " deadline=" << FormatTime(e.deadline_ns);
      break;
    case EventKind::kRejected:
      out << ' ' << HolderCommandName(e.rejected_command) << " token=" << e.token << " current=" << e.current_token
          << " reason=" << Quoted(e.reason);
      break;
    case EventKind::kAnnotated:
      out << " source=" << e.source_kind;
      if (!e.source_id.empty()) out << " id=" << e.source_id;
      break;
  }
  if (e.meta.pid != 0) out << " pid=" << e.meta.pid;
  if (!e.meta.host.empty()) out << " host=" << e.meta.host;
  return out.str();
}

std::string StatusPhrase(const TaskView& view) {
  const TaskRecord& r = view.settled;
  switch (view.status) {
    case TaskStatus::kRunning:
      return "running, held by " + r.holder + " (token " + std::to_string(r.last_token) + ") until " +
             FormatTime(r.deadline_ns) + (r.signal.empty() ? "" : ", signaled " + r.signal);
    case TaskStatus::kWaiting:
      switch (view.wait) {
        case WaitReason::kDependency:
          return "waiting for " + view.dependency + " (" + std::string(TaskStatusName(view.dependency_status)) + ")";
        case WaitReason::kNotBefore: return "waiting: not before " + FormatTime(view.until_ns);
        case WaitReason::kBackoff: return "waiting: retry backoff until " + FormatTime(view.until_ns);
        case WaitReason::kNone: return "waiting";
      }
      return "waiting";
    case TaskStatus::kBlocked:
      if (!view.dependency.empty()) {
        return "blocked: dependency " + view.dependency + " is " + std::string(TaskStatusName(view.dependency_status));
      }
      return "blocked by an operator" + (r.block_reason.empty() ? "" : ": " + r.block_reason);
    case TaskStatus::kDead:
      return "dead after " + std::to_string(r.failures) + " failures" +
             (r.last_error.empty() ? "" : " (last: " + r.last_error + ")");
    default:
      return std::string(TaskStatusName(view.status));
  }
}

std::string TaskTable(const TasksSnapshot& snapshot) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"ID", "STATUS", "QUEUE", "PRI", "ATTEMPTS", "HOLDER", "UNTIL", "TITLE"});
  for (const TaskView& view : snapshot.tasks) {
    const TaskRecord& r = view.settled;
    const bool running = view.status == TaskStatus::kRunning;
    rows.push_back({r.id, std::string(TaskStatusName(view.status)), r.spec.queue, std::to_string(r.spec.priority),
                    std::to_string(r.failures) + "/" + std::to_string(r.spec.max_attempts) + " (" +
                        std::to_string(r.attempts) + ")",
                    running ? r.holder : "-", view.until_ns != 0 ? FormatTime(view.until_ns) : "-", r.spec.title});
  }
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string TaskDetails(const TaskView& view, int64_t at_ns) {
  const TaskRecord& r = view.settled;
  std::ostringstream out;
  const auto row = [&](const char* key, const std::string& value) {
    out << key << std::string(12 - std::min<size_t>(11, std::string(key).size()), ' ') << value << '\n';
  };
  row("task", r.id);
  if (!r.spec.title.empty()) row("title", r.spec.title);
  row("status", StatusPhrase(view));
  row("at", FormatTime(at_ns));
  row("queue", r.spec.queue + ", priority " + std::to_string(r.spec.priority));
  row("attempts", std::to_string(r.attempts) + " claims, " + std::to_string(r.failures) + " of " +
                      std::to_string(r.spec.max_attempts) + " failures allowed used");
  row("lease", "ttl " + FormatDuration(r.spec.lease_ttl_ns) +
                   (r.spec.max_runtime_ns ? ", max runtime " + FormatDuration(r.spec.max_runtime_ns) : ""));
  if (!r.spec.after.empty()) row("after", Joined(r.spec.after));
  if (r.spec.not_before_ns != 0) row("not before", FormatTime(r.spec.not_before_ns));
  if (r.last_token != 0) row("token", std::to_string(r.last_token));
  if (r.last_end != AttemptEnd::kNone) {
    row("last end", std::string(AttemptEndName(r.last_end)) + " at " + FormatTime(r.last_end_ns) +
                        (r.last_error.empty() ? "" : ": " + r.last_error));
  }
  if (r.done && !r.result.empty()) row("result", r.result);
  if (r.expiries || r.rejections || r.interruptions) {
    row("incidents", std::to_string(r.expiries) + " expiries, " + std::to_string(r.rejections) + " rejected, " +
                         std::to_string(r.interruptions) + " interrupted");
  }
  if (!r.spec.payload.empty()) row("payload", r.spec.payload);
  row("created", FormatTime(r.created_ns) + " (seq " + std::to_string(r.created_seq) + ")");
  return out.str();
}

}  // namespace taskledger::cli
