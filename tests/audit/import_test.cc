// Ledger::Import: a whole log into an empty ledger, each event with its own seq and time;
// checked whole before anything is written; export -> import -> export is byte-identical.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "projections/event_json.h"
#include "tests/audit/ledger_dir.h"

namespace taskledger::audit_test {
namespace {

using ::testing::HasSubstr;

class ImportTest : public ::testing::Test {
 protected:
  std::unique_ptr<Ledger> Fresh(const std::string& name) { return OpenLedger(dir_ / name, &clock_); }

  // The ledger must be exactly as empty as it was opened.
  void ExpectEmpty(Ledger& ledger) {
    EXPECT_EQ(ledger.last_seq(), 0u);
    Result<TasksSnapshot> snapshot = ledger.TasksAt(PointInTime::Now());
    ASSERT_TRUE(snapshot.ok());
    EXPECT_TRUE(snapshot->tasks.empty());
    EXPECT_EQ(ExportLines(ledger), "");
  }

  TempDir dir_;
  ManualClock clock_{kT0 + 3600 * kSec};
};

// Lines of text as an import source: what the CLI reads from a file.
EventSource LinesSource(const std::string& text) {
  return [text](const EventSink& sink) -> Status {
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      Result<Event> e = EventFromJson(nlohmann::json::parse(line));
      if (!e.ok()) return e.status();
      TL_RETURN_IF_ERROR(sink(*e));
    }
    return Status::Ok();
  };
}

TEST_F(ImportTest, ExportImportExportIsByteIdenticalForEveryEventKind) {
  const StoryLog story = EveryKindStory();
  std::unique_ptr<Ledger> first = Fresh("first");
  Result<ImportReport> loaded = first->Import(VectorSource(story.events()));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const std::string exported = ExportLines(*first);

  std::unique_ptr<Ledger> second = Fresh("second");
  ASSERT_TRUE(second->Import(LinesSource(exported)).ok());
  EXPECT_EQ(ExportLines(*second), exported);

  std::string expected;
  for (const Event& e : story.events()) expected += EventToJson(e).dump() + "\n";
  EXPECT_EQ(exported, expected) << "the events keep their own seq and time";
}

TEST_F(ImportTest, TheImportedLedgerVerifiesAndMatchesTheReplay) {
  const StoryLog story = EveryKindStory();
  std::unique_ptr<Ledger> ledger = Fresh("l");
  Result<ImportReport> report = ledger->Import(VectorSource(story.events()));
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->events, story.events().size());
  EXPECT_EQ(report->tasks, 2u);
  EXPECT_EQ(ledger->last_seq(), story.events().size());
  Result<VerifyReport> verified = ledger->Verify();
  ASSERT_TRUE(verified.ok());
  EXPECT_THAT(verified->problems, ::testing::IsEmpty());

  const int64_t now = ledger->Now();
  const Replay replay = story.ReplayAt(now);
  Result<TasksSnapshot> snapshot = ledger->TasksAt(PointInTime::Now());
  ASSERT_TRUE(snapshot.ok());
  ASSERT_EQ(snapshot->tasks.size(), 2u);
  for (const TaskView& view : snapshot->tasks) {
    const TaskView expected = replay.View(*replay.Find(view.settled.id), now);
    EXPECT_EQ(view.status, expected.status) << view.settled.id;
    EXPECT_TRUE(view.settled == expected.settled) << view.settled.id;
  }
}

TEST_F(ImportTest, TheImportedLedgerTakesNewCommandsAfterItsLastSeq) {
  std::unique_ptr<Ledger> ledger = Fresh("l");
  const StoryLog story = SigkillStory();
  ASSERT_TRUE(ledger->Import(VectorSource(story.events())).ok());
  const CommandReply reply = MustSubmit(*ledger, Cmd(CommandKind::kClaim, "job", "w2"));
  EXPECT_EQ(reply.token, story.events().size() + 1);
  EXPECT_THAT(ledger->Verify()->problems, ::testing::IsEmpty());
}

TEST_F(ImportTest, RefusesANonEmptyLedger) {
  std::unique_ptr<Ledger> ledger = Fresh("l");
  MustSubmit(*ledger, Cmd(CommandKind::kCreate, "mine"));
  Result<ImportReport> report = ledger->Import(VectorSource(SigkillStory().events()));
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), Code::kRefused);
  EXPECT_THAT(report.status().message(), HasSubstr("is not empty (1 events)"));
  EXPECT_EQ(ledger->last_seq(), 1u);
}

// Each damaged log is refused whole: nothing of it is written.
TEST_F(ImportTest, RefusesAGapAndWritesNothing) {
  std::vector<Event> events = SigtermStory().events();
  events.erase(events.begin() + 3);
  std::unique_ptr<Ledger> ledger = Fresh("l");
  Result<ImportReport> report = ledger->Import(VectorSource(events));
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), Code::kInvalidArgument);
  EXPECT_THAT(report.status().message(), HasSubstr("seq 4 is missing (found seq 5 after seq 3)"));
  ExpectEmpty(*ledger);
}

TEST_F(ImportTest, RefusesAnEventTheRulesRejectAndWritesNothing) {
  std::vector<Event> events = SigstopStory().events();
  events[4].time_ns = kT0 + 16 * kSec;  // w2's claim, moved before w1's lease lapsed
  std::unique_ptr<Ledger> ledger = Fresh("l");
  Result<ImportReport> report = ledger->Import(VectorSource(events));
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(report.status().message(), HasSubstr("seq 5 (claimed of task build): task was not claimable"));
  ExpectEmpty(*ledger);
}

TEST_F(ImportTest, RefusesTimeGoingBackwards) {
  std::vector<Event> events = SigkillStory().events();
  events[2].time_ns = kT0;  // a heartbeat before the claim
  std::unique_ptr<Ledger> ledger = Fresh("l");
  Result<ImportReport> report = ledger->Import(VectorSource(events));
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(report.status().message(), HasSubstr("seq 3 (task job): ledger time goes backwards"));
  ExpectEmpty(*ledger);
}

TEST_F(ImportTest, RefusesASecondTaskWithTheSameIdempotencyKey) {
  StoryLog log;
  log.Create(kT0, "a", "a");
  log.last().spec.idempotency_key = "k";
  log.Create(kT0, "b", "b");
  log.last().spec.idempotency_key = "k";
  std::unique_ptr<Ledger> ledger = Fresh("l");
  Result<ImportReport> report = ledger->Import(VectorSource(log.events()));
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(report.status().message(), HasSubstr("task b reuses the idempotency key of task a"));
  ExpectEmpty(*ledger);
}

TEST_F(ImportTest, ASourceErrorIsPassedOnAndNothingIsWritten) {
  std::unique_ptr<Ledger> ledger = Fresh("l");
  const std::vector<Event> events = SigtermStory().events();
  Result<ImportReport> report = ledger->Import([&](const EventSink& sink) -> Status {
    TL_RETURN_IF_ERROR(sink(events[0]));
    return Status::InvalidArgument("line 2: not JSON");
  });
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().message(), "line 2: not JSON");
  ExpectEmpty(*ledger);
}

TEST_F(ImportTest, ASourceThatChangesBetweenItsReadingsLeavesTheLedgerEmpty) {
  std::unique_ptr<Ledger> ledger = Fresh("l");
  const std::vector<Event> events = SigtermStory().events();
  int readings = 0;
  Result<ImportReport> report = ledger->Import([&](const EventSink& sink) -> Status {
    const size_t count = ++readings == 1 ? events.size() : events.size() - 2;
    for (size_t i = 0; i < count; ++i) TL_RETURN_IF_ERROR(sink(events[i]));
    return Status::Ok();
  });
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(report.status().message(), HasSubstr("changed while it was imported"));
  ExpectEmpty(*ledger);
}

TEST_F(ImportTest, CheckLogWritesNothingAndCountsTheLog) {
  Result<ImportReport> report = Ledger::CheckLog(VectorSource(SigtermStory().events()));
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->events, 12u);
  EXPECT_EQ(report->tasks, 2u);
  EXPECT_EQ(report->last_seq, 12u);
  EXPECT_EQ(report->last_ns, kT0 + 7 * kSec);
}

}  // namespace
}  // namespace taskledger::audit_test
