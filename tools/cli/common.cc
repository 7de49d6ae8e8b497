#include "tools/cli/common.h"

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>

#include "projections/limits.h"
#include "projections/time_text.h"

namespace taskledger::cli {


// Prints one error line and returns its exit code.
int Fail(const Status& status) {
  std::fprintf(stderr, "taskledger: %s\n", status.message().c_str());
  return status.ExitCode();
}
int Usage(const std::string& message) { return Fail(Status::InvalidArgument(message)); }

void PrintJson(const nlohmann::json& object) {
  std::cout << object.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
}

// Signal names as users write them: TERM, SIGTERM or 15.
std::optional<std::string> CanonicalSignal(const std::string& text) {
  static const std::map<std::string, int> kSignals = {
      {"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"ABRT", SIGABRT}, {"KILL", SIGKILL},
      {"USR1", SIGUSR1}, {"SEGV", SIGSEGV}, {"USR2", SIGUSR2}, {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},
      {"TERM", SIGTERM}, {"STOP", SIGSTOP}, {"CONT", SIGCONT}, {"BUS", SIGBUS},   {"FPE", SIGFPE},
      {"ILL", SIGILL},   {"TRAP", SIGTRAP}, {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ}, {"SYS", SIGSYS}};
  std::string name = text;
  if (name.rfind("SIG", 0) == 0) name = name.substr(3);
  for (const auto& [known, number] : kSignals) {
    if (name == known || name == std::to_string(number)) return "SIG" + known;
  }
  return std::nullopt;
}

ClientMeta CallerMeta() {
  ClientMeta meta;
  meta.pid = static_cast<uint32_t>(::getppid());  // the worker or shell that ran us
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) == 0) meta.host = host;
  meta.wall_time_ns = SystemClock().NowNs();
  return meta;
}



Result<int64_t> DurationFlag(const std::string& flag, const std::string& text) {
  Result<int64_t> ns = ParseDuration(text);
  if (!ns.ok()) return Status::InvalidArgument(flag + ": " + ns.status().message());
  return ns;
}

// Reads at most one byte past the payload limit, so an oversized file is refused by the
// ledger's own check without being read whole.
Result<std::string> ReadPayloadFile(const std::string& path) {
  std::FILE* file = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (file == nullptr) return Status::InvalidArgument("--payload-file: cannot open " + path);
  std::string payload(kMaxPayloadBytes + 1, '\0');
  const size_t read = std::fread(payload.data(), 1, payload.size(), file);
  const bool failed = std::ferror(file) != 0;
  if (file != stdin) std::fclose(file);
  if (failed) return Status::InvalidArgument("--payload-file: cannot read " + path);
  payload.resize(read);
  return payload;
}



void AddAtFlags(CLI::App* verb, AtFlags* at) {
  verb->add_option("--at", at->time, "the state at a past time: RFC 3339 or -5m");
  verb->add_option("--at-seq", at->seq, "the state after the event with this seq");
}

Result<Backend*> Cli::Open(bool read_only) {
  Result<std::unique_ptr<Backend>> backend =
      globals_.connect.empty() ? OpenEmbedded(globals_.db, read_only, &clock_) : ConnectRemote(globals_.connect);
  if (!backend.ok()) return backend.status();
  backend_ = std::move(*backend);
  return backend_.get();
}

int Cli::Submit(Command command, const std::function<void(const CommandReply&)>& print_text) {
  Result<Backend*> backend = Open(false);
  if (!backend.ok()) return Fail(backend.status());
  command.meta = CallerMeta();
  const Outcome outcome = (*backend)->Submit(command);
  if (!outcome.status.ok()) return Fail(outcome.status);
  if (globals_.json) {
    PrintJson(ReplyJson(outcome.reply));
  } else {
    print_text(outcome.reply);
  }
  return kExitOk;
}

nlohmann::json Cli::ReplyJson(const CommandReply& reply) {
  nlohmann::json out;
  out["task"] = reply.task_id;
  out["status"] = std::string(TaskStatusName(reply.status));
  out["token"] = reply.token;
  if (reply.deadline_ns != 0) {
    out["deadline"] = FormatTime(reply.deadline_ns);
    out["deadline_ns"] = reply.deadline_ns;
  }
  if (reply.existing) out["existing"] = true;
  if (!reply.events.empty()) out["seq"] = reply.events.back().seq;
  return out;
}
Result<PointInTime> AtFlags::Resolve(int64_t now_ns) const {
  if (!time.empty() && seq) return Status::InvalidArgument("give --at or --at-seq, not both");
  if (seq) return PointInTime::AtSeq(*seq);
  if (!time.empty()) {
    Result<int64_t> t = ParseTime(time, now_ns);
    if (!t.ok()) return Status::InvalidArgument("--at: " + t.status().message());
    return PointInTime::AtTime(*t);
  }
  return PointInTime::Now();
}

}  // namespace taskledger::cli
