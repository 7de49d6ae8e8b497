// Commands as JSON (projections/command_json.h), the HTTP API's and batches' input: each
// verb's fields read as its flags are, and anything its flags would refuse is refused.
#include "projections/command_json.h"

#include <gtest/gtest.h>

#include <string>

#include "projections/time_text.h"
#include "test_util.h"

namespace taskledger {
namespace {

using test::kSec;
using test::kT0;

Command ReadOrDie(const std::string& verb, const std::string& text) {
  Result<Command> command = CommandFromJson(verb, nlohmann::json::parse(text), kT0);
  EXPECT_TRUE(command.ok()) << verb << " " << text << ": " << command.status().ToString();
  return command.ok() ? *command : Command{};
}

void ExpectRefused(const std::string& verb, const std::string& text, const std::string& why) {
  Result<Command> command = CommandFromJson(verb, nlohmann::json::parse(text), kT0);
  ASSERT_FALSE(command.ok()) << verb << " " << text << " was accepted";
  EXPECT_EQ(command.status().code(), Code::kInvalidArgument) << text;
  EXPECT_EQ(command.status().message(), why) << text;
}

TEST(CommandJsonTest, ClaimNamesATaskOrAsksForTheNextOne) {
  const Command named = ReadOrDie("claim", R"({"id":"t","worker":"w","ttl":"20s"})");
  EXPECT_EQ(named.kind, CommandKind::kClaim);
  EXPECT_EQ(named.task_id, "t");
  EXPECT_FALSE(named.next);
  EXPECT_EQ(named.actor, "w");
  EXPECT_EQ(named.ttl_ns, 20 * kSec);

  const Command next = ReadOrDie("claim", R"({"next":true,"queue":"mail","worker":"w"})");
  EXPECT_TRUE(next.next);
  EXPECT_EQ(next.queue, "mail");
  EXPECT_EQ(next.ttl_ns, 0) << "no ttl: the task's";

  ExpectRefused("claim", R"({"worker":"w"})", "lacks \"id\"");
  ExpectRefused("claim", R"({"next":true,"id":"t","worker":"w"})", "give \"id\" or \"next\": true, not both");
  ExpectRefused("claim", R"({"id":"t","queue":"q","worker":"w"})", "\"queue\" goes with \"next\": true");
  ExpectRefused("claim", R"({"next":"yes","worker":"w"})", "\"next\" is not true or false");
  ExpectRefused("claim", R"({"id":"t","worker":"w","ttl":"0s"})", "\"ttl\" must be positive");
  ExpectRefused("claim", R"({"id":"t"})", "lacks \"worker\"");
}

TEST(CommandJsonTest, HolderVerbsNeedTheTokenAndTakeTheirText) {
  const Command beat = ReadOrDie("heartbeat", R"({"id":"t","token":7,"worker":"w","note":"half"})");
  EXPECT_EQ(beat.kind, CommandKind::kHeartbeat);
  EXPECT_EQ(beat.token, 7u);
  EXPECT_EQ(beat.text, "half");
  EXPECT_EQ(ReadOrDie("complete", R"({"id":"t","token":7,"result":"ok"})").text, "ok");
  EXPECT_EQ(ReadOrDie("fail", R"({"id":"t","token":7,"error":"boom"})").text, "boom");
  EXPECT_EQ(ReadOrDie("release", R"({"id":"t","token":7,"reason":"later"})").text, "later");
  // A token past 2^53 survives as text (JavaScript's numbers would round it).
  EXPECT_EQ(ReadOrDie("complete", R"({"id":"t","token":"18446744073709551615"})").token, UINT64_MAX);

  ExpectRefused("heartbeat", R"({"id":"t"})", "lacks \"token\"");
  ExpectRefused("heartbeat", R"({"id":"t","token":-3})",
                "\"token\": expected a claim's token (an integer up to 2^64-1)");
  ExpectRefused("heartbeat", R"({"id":"t","token":"7x"})",
                "\"token\": expected a claim's token (an integer up to 2^64-1)");
  ExpectRefused("complete", R"({"id":"t","token":7,"note":"wrong key"})", "has an unknown key \"note\"");
}

TEST(CommandJsonTest, SignalAndExitReadLikeTheirFlags) {
  const Command term = ReadOrDie("signal", R"({"id":"t","token":7,"signal":"TERM","grace":"0s"})");
  EXPECT_EQ(term.signal, "TERM");  // made canonical by the caller (tools/common/signal_names)
  EXPECT_TRUE(term.has_grace) << "a grace of 0s is no grace, not the default";
  EXPECT_EQ(term.grace_ns, 0);
  EXPECT_FALSE(ReadOrDie("signal", R"({"id":"t","token":7,"signal":"TERM"})").has_grace);

  EXPECT_EQ(ReadOrDie("exit", R"({"id":"t","token":7,"code":3})").exit_code, 3);
  EXPECT_EQ(ReadOrDie("exit", R"({"id":"t","token":7,"signal":"SIGKILL"})").signal, "SIGKILL");
  ExpectRefused("exit", R"({"id":"t","token":7})", "give exactly one of \"code\" or \"signal\"");
  ExpectRefused("exit", R"({"id":"t","token":7,"code":1,"signal":"KILL"})",
                "give exactly one of \"code\" or \"signal\"");
  ExpectRefused("signal", R"({"id":"t","token":7,"signal":"TERM","grace":"soon"})",
                "\"grace\": " + ParseDuration("soon").status().message());
}

TEST(CommandJsonTest, OperatorVerbsTakeTheOperatorAndBlockNeedsAReason) {
  const Command block = ReadOrDie("block", R"({"id":"t","reason":"bad input","operator":"ana"})");
  EXPECT_EQ(block.kind, CommandKind::kBlock);
  EXPECT_EQ(block.actor, "ana");
  EXPECT_EQ(block.text, "bad input");
  ExpectRefused("block", R"({"id":"t"})", "lacks \"reason\"");
  EXPECT_EQ(ReadOrDie("unblock", R"({"id":"t"})").kind, CommandKind::kUnblock);
  EXPECT_EQ(ReadOrDie("cancel", R"({"id":"t","reason":"dup"})").text, "dup");
  EXPECT_EQ(ReadOrDie("revive", R"({"id":"t"})").kind, CommandKind::kRevive);
  ExpectRefused("unblock", R"({"id":"t","reason":"x"})", "has an unknown key \"reason\"");
}

TEST(CommandJsonTest, CreateIsACreateFromLineAndUnknownVerbsAreRefused) {
  const Command create = ReadOrDie("create", R"({"id":"t","title":"T","ttl":"45s"})");
  EXPECT_EQ(create.kind, CommandKind::kCreate);
  EXPECT_EQ(create.spec.lease_ttl_ns, 45 * kSec);
  ExpectRefused("frobnicate", R"({})",
                "unknown verb \"frobnicate\" (create, claim, heartbeat, complete, fail, release, signal, exit, "
                "block, unblock, cancel, revive)");
  ExpectRefused("heartbeat", R"([1])", "not a JSON object");
  Result<Command> bad_id = CommandFromJson("heartbeat", nlohmann::json::parse(R"({"id":"bad id","token":1})"), kT0);
  EXPECT_EQ(bad_id.status().code(), Code::kInvalidArgument);
}

TEST(CommandJsonTest, RepliesAreTheCliJson) {
  CommandReply reply;
  reply.task_id = "t";
  reply.status = TaskStatus::kRunning;
  reply.token = 9;
  reply.deadline_ns = kT0 + 30 * kSec;
  Event appended;
  appended.seq = 12;
  reply.events.push_back(appended);
  const nlohmann::json json = CommandReplyToJson(reply);
  EXPECT_EQ(json["task"], "t");
  EXPECT_EQ(json["status"], "running");
  EXPECT_EQ(json["token"], 9);
  EXPECT_EQ(json["deadline_ns"], kT0 + 30 * kSec);
  EXPECT_EQ(json["seq"], 12);
  EXPECT_FALSE(json.contains("existing"));
  EXPECT_EQ(StatusCodeName(Code::kRefused), "refused");
  EXPECT_EQ(StatusCodeName(Code::kNotFound), "not_found");
  EXPECT_EQ(StatusCodeName(Code::kUnknownOutcome), "unknown_outcome");
}

}  // namespace
}  // namespace taskledger
