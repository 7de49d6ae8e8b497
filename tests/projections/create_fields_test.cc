// One line of `create --from FILE` (projections/create_fields.h): the keys are create's
// flags, read with the same rules, and a line the CLI would refuse as flags is refused.
#include "projections/create_fields.h"

#include <gtest/gtest.h>

#include <string>

#include "projections/limits.h"
#include "test_util.h"

namespace taskledger {
namespace {

using test::kMin;
using test::kSec;
using test::kT0;

Command ReadOrDie(const std::string& text) {
  Result<Command> command = CreateCommandFromJson(nlohmann::json::parse(text), kT0);
  EXPECT_TRUE(command.ok()) << text << ": " << command.status().ToString();
  return command.ok() ? *command : Command{};
}

void ExpectRefused(const std::string& text, const std::string& why) {
  Result<Command> command = CreateCommandFromJson(nlohmann::json::parse(text), kT0);
  ASSERT_FALSE(command.ok()) << text << " was accepted";
  EXPECT_EQ(command.status().code(), Code::kInvalidArgument) << text;
  EXPECT_EQ(command.status().message(), why) << text;
}

TEST(CreateCommandFromJsonTest, EveryKeyIsACreateFlag) {
  const Command c = ReadOrDie(R"({"id": "build-1", "title": "build", "payload": {"rev": "abc", "n": 2},
      "after": ["fetch"], "queue": "ci", "priority": -5, "ttl": "45s", "max_attempts": 7,
      "max_runtime": "10m", "not_before": "-1m", "idempotency_key": "k1", "backoff": "2s",
      "backoff_max": "1m"})");
  EXPECT_EQ(c.kind, CommandKind::kCreate);
  EXPECT_EQ(c.task_id, "build-1");
  EXPECT_TRUE(c.task_id_given);
  const TaskSpec& s = c.spec;
  EXPECT_EQ(s.title, "build");
  EXPECT_EQ(nlohmann::json::parse(s.payload), nlohmann::json::parse(R"({"rev": "abc", "n": 2})"));
  EXPECT_EQ(s.after, std::vector<std::string>{"fetch"});
  EXPECT_EQ(s.queue, "ci");
  EXPECT_EQ(s.priority, -5);
  EXPECT_EQ(s.lease_ttl_ns, 45 * kSec);
  EXPECT_EQ(s.max_attempts, 7u);
  EXPECT_EQ(s.max_runtime_ns, 10 * kMin);
  EXPECT_EQ(s.not_before_ns, kT0 - kMin);
  EXPECT_EQ(s.idempotency_key, "k1");
  EXPECT_EQ(s.backoff_initial_ns, 2 * kSec);
  EXPECT_EQ(s.backoff_max_ns, kMin);
}

TEST(CreateCommandFromJsonTest, ATitleAloneLeavesEveryDefaultToTheLedger) {
  const Command c = ReadOrDie(R"({"title": "t"})");
  EXPECT_TRUE(c.task_id.empty());
  EXPECT_FALSE(c.task_id_given);  // a generated id, as `create` with no id
  EXPECT_EQ(c.spec.title, "t");
  EXPECT_TRUE(c.spec.payload.empty());
  EXPECT_EQ(c.spec.lease_ttl_ns, 0);
  EXPECT_EQ(c.spec.max_attempts, 0u);
  EXPECT_EQ(c.spec.priority, 0);
}

TEST(CreateCommandFromJsonTest, APayloadIsAnyJsonStoredAsItsText) {
  EXPECT_EQ(ReadOrDie(R"({"title": "t", "payload": "hello"})").spec.payload, R"("hello")");
  EXPECT_EQ(ReadOrDie(R"({"title": "t", "payload": [1, 2]})").spec.payload, "[1,2]");
  EXPECT_TRUE(ReadOrDie(R"({"title": "t", "payload": null})").spec.payload.empty());
}

TEST(CreateCommandFromJsonTest, WhatTheFlagsRefuseTheLineRefuses) {
  struct Case {
    const char* line;
    const char* why;
  };
  const Case cases[] = {
      {R"({"id": "a"})", "lacks \"title\""},
      {R"({"title": "t", "colour": "red"})", "has an unknown key \"colour\""},
      {R"({"title": 5})", "\"title\" is not a string"},
      {R"({"title": "t", "id": ""})", "task id is empty"},
      {R"({"title": "t", "ttl": "0s"})", "\"ttl\" must be positive"},
      {R"({"title": "t", "ttl": 30})", "\"ttl\" is not a duration such as \"30s\""},
      {R"({"title": "t", "backoff_max": "soon"})", "\"backoff_max\": "},
      {R"({"title": "t", "max_attempts": 0})", "\"max_attempts\" must be between 1 and "},
      {R"({"title": "t", "priority": 3000000000})", "\"priority\" is out of range"},
      {R"({"title": "t", "after": "a"})", "\"after\" is not a list of task ids"},
      {R"({"title": "t", "after": [1]})", "\"after\" holds something that is not a task id"},
      {R"({"title": "t", "not_before": "tomorrow"})", "\"not_before\": "},
  };
  for (const Case& c : cases) {
    Result<Command> command = CreateCommandFromJson(nlohmann::json::parse(c.line), kT0);
    ASSERT_FALSE(command.ok()) << c.line << " was accepted";
    EXPECT_EQ(command.status().code(), Code::kInvalidArgument) << c.line;
    EXPECT_EQ(command.status().message().rfind(c.why, 0), 0u)
        << c.line << ": \"" << command.status().message() << "\" does not start with \"" << c.why << "\"";
  }
}

TEST(CreateCommandFromJsonTest, TheCommandRulesApplyToo) {
  // ValidateCommand's rules, as for any create: here a name that is not a printable token.
  Result<Command> command = CreateCommandFromJson(nlohmann::json::parse(R"({"title": "t", "queue": "a b"})"), kT0);
  ASSERT_FALSE(command.ok());
  EXPECT_EQ(command.status().code(), Code::kInvalidArgument);
  ExpectRefused(R"([1, 2])", "not a JSON object");
}

}  // namespace
}  // namespace taskledger
