// create --from FILE (docs/create-from.md): many tasks from JSON Lines, one create per
// line, read by projections/create_fields.h with the same rules as create's flags.
//
// The whole file is read and checked before anything is opened: a malformed line, an id
// given twice or a file with no lines writes nothing. The creates then go in calls of at
// most kMaxCommandsPerCall commands (and kCallPayloadBytes of payload), in file order, so
// a line may name in `after` a task created on an earlier line. Each create keeps its own
// outcome; at the first call with a refused create no further call is made. The lines
// already created stand (a create is not undone); every refused one is named on stderr,
// and an idempotency_key on each line makes the file safe to submit again.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "projections/command_json.h"
#include "projections/create_fields.h"
#include "projections/limits.h"
#include "tools/cli/verbs.h"

namespace taskledger::cli {
namespace {

// One line: a task at its limits (a 1 MiB payload with JSON escapes) fits.
constexpr size_t kCreateLineBytesMax = 8 << 20;
// Payload bytes in one call: far under the server's 64 MiB request limit.
constexpr size_t kCallPayloadBytes = 16 << 20;
// Refused creates named one by one on stderr; the rest are counted.
constexpr size_t kRefusalsShown = 10;

struct Line {
  uint64_t number = 0;
  Command command;
};

// Every line of the file as a checked create, or the first problem, naming its line.
Result<std::vector<Line>> ReadCreateLines(const std::string& path, int64_t now_ns) {
  std::ifstream file;
  if (path != "-") {
    file.open(path, std::ios::binary);
    if (!file) return Status::InvalidArgument("create --from: cannot open " + path);
  }
  std::streambuf& in = path == "-" ? *std::cin.rdbuf() : *file.rdbuf();
  std::vector<Line> lines;
  std::map<std::string, uint64_t> line_of_id;
  std::string text;
  bool too_long = false;
  for (uint64_t number = 1; ReadBoundedLine(in, kCreateLineBytesMax, &text, &too_long); ++number) {
    const std::string where = path + ": line " + std::to_string(number) + ": ";
    if (too_long) {
      return Status::InvalidArgument(where + "longer than " + std::to_string(kCreateLineBytesMax) + " bytes");
    }
    if (text.empty()) return Status::InvalidArgument(where + "empty line (one task per line)");
    const nlohmann::json object = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (object.is_discarded()) return Status::InvalidArgument(where + "not a JSON object");
    Result<Command> command = CreateCommandFromJson(object, now_ns);
    if (!command.ok()) return Status::InvalidArgument(where + command.status().message());
    if (!command->task_id.empty()) {
      auto [it, added] = line_of_id.emplace(command->task_id, number);
      if (!added) {
        return Status::InvalidArgument(where + "task " + command->task_id + " is also on line " +
                                       std::to_string(it->second));
      }
    }
    lines.push_back({number, std::move(*command)});
  }
  if (file.bad() || (path == "-" && std::cin.bad())) return Status::IOError("create --from: cannot read " + path);
  if (lines.empty()) return Status::InvalidArgument("create --from: " + path + " holds no tasks");
  return lines;
}

// The next call's lines: [begin, end) within both bounds (at least one line).
size_t CallEnd(const std::vector<Line>& lines, size_t begin) {
  size_t end = begin, bytes = 0;
  while (end < lines.size() && end - begin < kMaxCommandsPerCall) {
    bytes += lines[end].command.spec.payload.size();
    if (end > begin && bytes > kCallPayloadBytes) break;
    ++end;
  }
  return end;
}

}  // namespace

int RunCreateFrom(Cli& cli, const std::string& path) {
  Result<std::vector<Line>> lines = ReadCreateLines(path, cli.clock().NowNs());
  if (!lines.ok()) return Fail(lines.status());
  Result<Backend*> backend = cli.Open(false);
  if (!backend.ok()) return Fail(backend.status());
  const ClientMeta meta = CallerMeta();
  for (size_t begin = 0; begin < lines->size();) {
    const size_t end = CallEnd(*lines, begin);
    std::vector<Command> call;
    for (size_t i = begin; i < end; ++i) {
      call.push_back((*lines)[i].command);
      call.back().meta = meta;
    }
    const std::vector<Outcome> outcomes = (*backend)->SubmitGroup(call);
    int exit_code = kExitOk;
    size_t refused = 0;
    for (size_t i = 0; i < outcomes.size(); ++i) {
      const Outcome& outcome = outcomes[i];
      if (!outcome.status.ok()) {
        // The first few name their lines; a file refused wholesale (run twice without
        // idempotency keys) must not bury the summary under a thousand lines.
        const uint64_t number = (*lines)[begin + i].number;
        const Status named = outcome.status.Prefixed(path + ": line " + std::to_string(number) + ": ");
        if (refused++ < kRefusalsShown) Fail(named);
        if (exit_code == kExitOk) exit_code = named.ExitCode();
      } else if (cli.json()) {
        PrintJson(CommandReplyToJson(outcome.reply));
      } else {
        std::cout << outcome.reply.task_id << '\n';
      }
    }
    if (exit_code != kExitOk) {
      std::cout.flush();
      std::fprintf(stderr, "taskledger: create --from: %zu of the %zu creates of lines %llu-%llu refused; stopped there\n",
                   refused, end - begin, static_cast<unsigned long long>((*lines)[begin].number),
                   static_cast<unsigned long long>((*lines)[end - 1].number));
      return exit_code;
    }
    begin = end;
  }
  return kExitOk;
}

}  // namespace taskledger::cli
