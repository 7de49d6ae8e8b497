// Export lines: EventToJson and its inverse EventFromJson are an exact round trip for
// every event kind, and a line the ledger could never have written is refused, naming why.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "projections/event_json.h"
#include "tests/audit/story.h"

namespace taskledger::audit_test {
namespace {

using ::testing::HasSubstr;

TEST(EventJson, EveryKindRoundTripsExactly) {
  const StoryLog log = EveryKindStory();
  std::set<EventKind> kinds;
  for (const Event& e : log.events()) {
    kinds.insert(e.kind);
    const std::string line = EventToJson(e).dump();
    Result<Event> back = EventFromJson(nlohmann::json::parse(line));
    ASSERT_TRUE(back.ok()) << line << "\n" << back.status().ToString();
    EXPECT_TRUE(*back == e) << line;
    EXPECT_EQ(EventToJson(*back).dump(), line);
  }
  EXPECT_EQ(kinds.size(), static_cast<size_t>(kEventKindCount)) << "the story must hold every kind";
}

TEST(EventJson, ThePayloadKeepsItsSpellingAndIsAlsoGivenParsed) {
  const StoryLog log = EveryKindStory();
  const Event& created = log.events().front();
  const nlohmann::json j = EventToJson(created);
  EXPECT_EQ(j["spec"]["payload_text"], "{\"b\": 1, \"a\": [1.50, 2e3]}");
  EXPECT_EQ(j["spec"]["payload"]["b"], 1);
  EXPECT_EQ(EventFromJson(j)->spec.payload, created.spec.payload);
}

TEST(EventJson, AHandWrittenLineMayGiveOnlyTheParsedPayloadAndNoTimeTexts) {
  nlohmann::json j = EventToJson(EveryKindStory().events().front());
  j["spec"].erase("payload_text");
  j.erase("time");
  Result<Event> e = EventFromJson(j);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(e->spec.payload, "{\"a\":[1.5,2000.0],\"b\":1}");
}

// Each case breaks one thing of a valid line; the error must name it.
struct Broken {
  const char* name;
  size_t event;  // index in EveryKindStory
  std::function<void(nlohmann::json&)> breakage;
  const char* says;
};

class EventJsonRefuses : public ::testing::TestWithParam<Broken> {};

TEST_P(EventJsonRefuses, TheLine) {
  nlohmann::json j = EventToJson(EveryKindStory().events().at(GetParam().event));
  GetParam().breakage(j);
  Result<Event> e = EventFromJson(j);
  ASSERT_FALSE(e.ok()) << j.dump();
  EXPECT_EQ(e.status().code(), Code::kInvalidArgument);
  EXPECT_THAT(e.status().message(), HasSubstr(GetParam().says));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, EventJsonRefuses,
    ::testing::Values(
        Broken{"UnknownKind", 2, [](nlohmann::json& j) { j["kind"] = "teleported"; }, "unknown kind \"teleported\""},
        Broken{"MissingSeq", 2, [](nlohmann::json& j) { j.erase("seq"); }, "lacks \"seq\""},
        Broken{"NegativeSeq", 2, [](nlohmann::json& j) { j["seq"] = -1; }, "\"seq\" is not an integer in range"},
        Broken{"FractionalTime", 2, [](nlohmann::json& j) { j["time_ns"] = 1.5; }, "\"time_ns\" is not an integer"},
        Broken{"StringToken", 2, [](nlohmann::json& j) { j["token"] = "3"; }, "\"token\" is not an integer"},
        Broken{"UnknownKey", 2, [](nlohmann::json& j) { j["colour"] = "red"; }, "unknown key \"colour\""},
        Broken{"KeyOfAnotherKind", 2, [](nlohmann::json& j) { j["result"] = "x"; }, "unknown key \"result\""},
        Broken{"TimeTextDisagrees", 2, [](nlohmann::json& j) { j["time_ns"] = j["time_ns"].get<int64_t>() + 1000000; },
               "\"time\" does not match \"time_ns\""},
        Broken{"IdWithSpace", 2, [](nlohmann::json& j) { j["task"] = "a b"; }, "task id must be printable"},
        Broken{"EmptyActor", 2, [](nlohmann::json& j) { j["actor"] = ""; }, "actor is empty"},
        Broken{"PidOutOfRange", 2, [](nlohmann::json& j) { j["pid"] = 1LL << 40; }, "\"pid\" is not an integer"},
        Broken{"NotAnObject", 2, [](nlohmann::json& j) { j = nlohmann::json::array({1, 2}); }, "not a JSON object"},
        Broken{"SpecWithoutDefaults", 0, [](nlohmann::json& j) { j["spec"]["max_attempts"] = 0; },
               "spec is not normalized"},
        Broken{"PayloadTwinsDiffer", 0, [](nlohmann::json& j) { j["spec"]["payload"] = 7; },
               "\"payload\" and \"payload_text\" differ"},
        Broken{"PayloadNotJson", 0, [](nlohmann::json& j) {
                 j["spec"]["payload_text"] = "{nope";
                 j["spec"].erase("payload");
               },
               "payload is not valid JSON"},
        Broken{"ExitWithCodeAndSignal", 5, [](nlohmann::json& j) { j["code"] = 1; }, "not both"},
        Broken{"ExitWithNeither", 5, [](nlohmann::json& j) { j.erase("signal"); }, "lacks \"signal\""},
        Broken{"UnknownRejectedCommand", 12, [](nlohmann::json& j) { j["command"] = "dance"; },
               "unknown command \"dance\""},
        Broken{"DeadlineTextDisagrees", 11, [](nlohmann::json& j) { j["deadline"] = "2020-01-01T00:00:00.000Z"; },
               "\"deadline\" does not match"},
        Broken{"TextNotUtf8", 3, [](nlohmann::json& j) { j["note"] = std::string("\xc3", 1); }, "UTF-8"}),
    [](const ::testing::TestParamInfo<Broken>& info) { return std::string(info.param.name); });

TEST(EventJson, TheStoryIndexesAboveNameTheKindsTheCasesBreak) {
  const StoryLog log = EveryKindStory();
  const std::vector<Event>& events = log.events();
  const auto kind = [&](size_t i) { return std::string(EventKindName(events.at(i).kind)); };
  EXPECT_EQ(kind(0), "created");
  EXPECT_EQ(kind(2), "claimed");
  EXPECT_EQ(kind(3), "heartbeat");
  EXPECT_EQ(kind(5), "exited");
  EXPECT_EQ(kind(11), "lease_expired");
  EXPECT_EQ(kind(12), "rejected");
}

}  // namespace
}  // namespace taskledger::audit_test
