#include "tools/cli/common.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

#include "projections/command_json.h"
#include "projections/limits.h"
#include "projections/time_text.h"
#include "projections/validate.h"
#include "tools/common/writer_meta.h"

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

ClientMeta CallerMeta() {
  return tools::WriterMeta(static_cast<uint32_t>(::getppid()));  // the worker or shell that ran us
}

Result<int64_t> DurationFlag(const std::string& flag, const std::string& text) {
  Result<int64_t> ns = ParseDuration(text);
  if (!ns.ok()) return Status::InvalidArgument(flag + ": " + ns.status().message());
  return ns;
}

bool ReadBoundedLine(std::streambuf& in, size_t max, std::string* line, bool* too_long) {
  line->clear();
  *too_long = false;
  int c = in.sbumpc();
  if (c == std::char_traits<char>::eof()) return false;
  for (; c != std::char_traits<char>::eof() && c != '\n'; c = in.sbumpc()) {
    if (line->size() == max) *too_long = true;
    else line->push_back(static_cast<char>(c));
  }
  return true;
}

bool IsSeq(const std::string& text) {
  // 19 digits always fit in a uint64; a longer number is read as a time (and refused).
  return !text.empty() && text.size() < 20 && text.find_first_not_of("0123456789") == std::string::npos;
}

Result<uint64_t> SinceSeq(Backend& ledger, const std::string& since) {
  if (since.empty()) return uint64_t{1};
  if (IsSeq(since)) return std::max<uint64_t>(std::stoull(since), 1);
  Result<int64_t> now = ledger.Now();
  if (!now.ok()) return now.status();
  Result<int64_t> t = ParseTime(since, *now);
  if (!t.ok()) return Status::InvalidArgument("--since: expected a seq or a time: " + t.status().message());
  return ledger.FirstSeqAtOrAfter(*t);
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
  // The ledger applies the same rules; checked here too so that a bad command opens (and
  // creates) nothing, and so that task_id_given, which the RPC does not carry, counts.
  command.meta = CallerMeta();
  if (Status s = ValidateCommand(command); !s.ok()) return Fail(s);
  Result<Backend*> backend = Open(false);
  if (!backend.ok()) return Fail(backend.status());
  const Outcome outcome = (*backend)->Submit(command);
  if (!outcome.status.ok()) return Fail(outcome.status);
  if (globals_.json) {
    PrintJson(CommandReplyToJson(outcome.reply));
  } else {
    print_text(outcome.reply);
  }
  return kExitOk;
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
