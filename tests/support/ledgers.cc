#include "tests/support/ledgers.h"

#include "projections/event_json.h"

namespace taskledger::test {

std::unique_ptr<Ledger> OpenLedgerAt(const std::string& path, Clock* clock, bool read_only) {
  LedgerOptions options;
  options.path = path;
  options.read_only = read_only;
  options.sync = false;
  Result<std::unique_ptr<Ledger>> ledger = Ledger::Open(options, clock);
  EXPECT_TRUE(ledger.ok()) << ledger.status().ToString();
  return ledger.ok() ? std::move(*ledger) : nullptr;
}

CommandReply MustSubmit(Ledger& ledger, const Command& command) {
  Outcome outcome = ledger.Submit(command);
  EXPECT_TRUE(outcome.status.ok()) << outcome.status.ToString();
  return outcome.reply;
}

std::vector<Event> EventsOf(Ledger& ledger, uint64_t from) {
  std::vector<Event> out;
  const Status s = ledger.ForEachEvent(from, [&](const Event& e) {
    out.push_back(e);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  return out;
}

void ExpectVerifyClean(Ledger& ledger, const std::string& when) {
  Result<VerifyReport> report = ledger.Verify();
  ASSERT_TRUE(report.ok()) << when << ": " << report.status().ToString();
  for (const std::string& p : report->problems) ADD_FAILURE() << when << ": " << p;
  EXPECT_EQ(report->events, ledger.last_seq()) << when;
}

std::string ExportLines(Ledger& ledger) {
  std::string out;
  for (const Event& e : EventsOf(ledger)) out += EventToJson(e).dump() + "\n";
  return out;
}

EventSource VectorSource(const std::vector<Event>& events) {
  return [&events](const EventSink& sink) -> Status {
    for (const Event& e : events) TL_RETURN_IF_ERROR(sink(e));
    return Status::Ok();
  };
}

}  // namespace taskledger::test
