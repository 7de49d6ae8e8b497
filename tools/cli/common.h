// What every CLI verb shares: the global flags, opening the ledger (embedded or through
// the server), printing, and the parsing of common flag values.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "ledger/clock.h"
#include "tools/cli/backend.h"

namespace taskledger::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 2;

struct Globals {
  std::string db = "./taskledger.db";
  std::string connect;
  bool json = false;
  std::string log_level = "warn";
  std::string log_format = "text";
};

// Prints one error line on stderr and returns its exit code.
int Fail(const Status& status);
int Usage(const std::string& message);
// One JSON object on one line of stdout.
void PrintJson(const nlohmann::json& object);
// Facts about the caller recorded with its commands (pid of our parent, host, wall time).
ClientMeta CallerMeta();
Result<int64_t> DurationFlag(const std::string& flag, const std::string& text);
// Whether a SEQ|TIME flag holds a seq: digits only, short enough for a uint64.
bool IsSeq(const std::string& text);
// --since SEQ|TIME (log, export) as the first seq it names; 1 when not given.
Result<uint64_t> SinceSeq(Backend& ledger, const std::string& since);
Result<std::string> ReadPayloadFile(const std::string& path);
// Reads one line (without its newline) into `line`, keeping at most `max` bytes; a longer
// line sets too_long and is read to its end. False at the end of input.
bool ReadBoundedLine(std::streambuf& in, size_t max, std::string* line, bool* too_long);

class Cli {
 public:
  explicit Cli(const Globals& globals) : globals_(globals) {}

  // The ledger: through the server when --connect is given, else embedded on --db
  // (read-only verbs open it as a secondary, beside any owner).
  Result<Backend*> Open(bool read_only);
  // Checks the command's rules (ValidateCommand, before anything is opened), submits it
  // and prints its reply (JSON, or print_text); returns the exit code.
  int Submit(Command command, const std::function<void(const CommandReply&)>& print_text);

  bool json() const { return globals_.json; }
  const Globals& globals() const { return globals_; }
  Clock& clock() { return clock_; }

 private:
  const Globals& globals_;
  SystemClock clock_;
  std::unique_ptr<Backend> backend_;
};

// --at TIME | --at-seq N
struct AtFlags {
  std::string time;
  std::optional<uint64_t> seq;
  Result<PointInTime> Resolve(int64_t now_ns) const;
};
void AddAtFlags(CLI::App* verb, AtFlags* at);

}  // namespace taskledger::cli
