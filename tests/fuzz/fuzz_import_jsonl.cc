// Fuzz target: the JSON Lines importer on arbitrary text. Each line is parsed as the
// importer parses it (nlohmann::json without exceptions, then EventFromJson) and the
// lines feed Ledger::CheckLog, the whole-log check `import` runs before writing. Whatever
// EventFromJson accepts must survive EventToJson and back unchanged; whatever CheckLog
// accepts must import into an empty ledger, read back event for event, and verify clean.
#include <rocksdb/env.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/clock.h"
#include "ledger/ledger.h"
#include "projections/event_json.h"
#include "tests/fuzz/fuzz_check.h"

namespace {

using namespace taskledger;
using fuzz::Check;

// As tools/cli's import reads a line: one JSON object, one event.
Status ImportLine(std::string_view line, const EventSink& sink) {
  if (line.empty()) return Status::InvalidArgument("empty line");
  const nlohmann::json object = nlohmann::json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded()) return Status::InvalidArgument("not a JSON object");
  Result<Event> event = EventFromJson(object);
  if (!event.ok()) return event.status();
  Result<Event> again = EventFromJson(EventToJson(*event));
  Check(again.ok() && *again == *event);
  return sink(*event);
}

EventSource Lines(std::string_view text) {
  return [text](const EventSink& sink) -> Status {
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string_view::npos) end = text.size();
      TL_RETURN_IF_ERROR(ImportLine(text.substr(start, end - start), sink));
      start = end + 1;
    }
    return Status::Ok();
  };
}

rocksdb::Env* MemEnv() {
  static rocksdb::Env* const env = rocksdb::NewMemEnv(rocksdb::Env::Default());
  return env;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = fuzz::AsText(data, size);
  Result<ImportReport> checked = Ledger::CheckLog(Lines(text));
  if (!checked.ok()) return 0;

  static uint64_t generation = 0;
  ManualClock clock(1'700'000'000LL * kNanosPerSecond);
  LedgerOptions options;
  options.path = "/import-" + std::to_string(generation++);
  options.env = MemEnv();
  options.sync = false;
  Result<std::unique_ptr<Ledger>> ledger = Ledger::Open(options, &clock);
  Check(ledger.ok());
  Result<ImportReport> imported = (*ledger)->Import(Lines(text));
  Check(imported.ok() && imported->events == checked->events && imported->last_seq == checked->last_seq);
  std::vector<Event> expected;
  Check(Lines(text)([&](const Event& e) {
          expected.push_back(e);
          return Status::Ok();
        }).ok());
  size_t next = 0;
  Check((*ledger)->ForEachEvent(1, [&](const Event& e) {
                   Check(next < expected.size() && e == expected[next++]);
                   return true;
                 }).ok());
  Check(next == expected.size());
  Result<VerifyReport> report = (*ledger)->Verify();
  Check(report.ok() && report->problems.empty());
  ledger->reset();
  std::vector<std::string> children;
  if (MemEnv()->GetChildren(options.path, &children).ok()) {
    for (const std::string& child : children) (void)MemEnv()->DeleteFile(options.path + "/" + child);
  }
  return 0;
}
