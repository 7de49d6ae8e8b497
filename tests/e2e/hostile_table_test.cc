// Hostile input, table-driven: bad inputs across the CLI (through a real server) and the
// RPC interface. Each must get one clear error, the server must stay up, and nothing may
// be written (the log's last seq does not move). hostile_test.cc covers the misbehaving
// connections one by one; this file is the catalogue.
#include <capnp/ez-rpc.h>
#include <capnp/rpc.capnp.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <climits>
#include <fstream>

#include "ledger/wire.h"
#include "tests/support/commands.h"
#include "tests/support/rpc_server.h"

namespace taskledger {
namespace {

using namespace test;

struct CliCase {
  const char* name;
  std::vector<std::string> args;  // after `taskledger`; $T is the claim's token
  int exit_code;                  // DESIGN §6: 2 bad input, 3 refused, 4 not found
  const char* error_mentions;     // a word the one-line error must contain
};

class HostileTableTest : public RpcServerTest {
 protected:
  HostileTableTest() : RpcServerTest("good") {}

  // The raw-wire cases of the RPC catalogue: what no Command struct can express.
  void ExpectTextsWithANulRefused();
  void ExpectUnknownEnumValuesRefused();
  void ExpectTooManyCommandsInOneCallRefused();
};

Command Create(const std::string& id) {
  Command c;
  c.kind = CommandKind::kCreate;
  c.task_id = id;
  c.actor = "dispatcher";
  c.spec.title = "hostile";
  return c;
}

TEST_F(HostileTableTest, EveryBadCliInputGetsOneClearErrorAndWritesNothing) {
  const std::string big_payload_file = root_ + "/big.json";
  {
    std::ofstream out(big_payload_file);
    out << '"' << std::string((1 << 20) + 10, 'p') << '"';
  }
  const std::string T = std::to_string(token_);
  const std::vector<CliCase> cases = {
      {"id over 128 bytes", {"create", std::string(200, 'i'), "--title", "x"}, 2, "task id"},
      {"id with a space", {"create", "a b", "--title", "x"}, 2, "task id"},
      {"id with a control character", {"create", "a\x01z", "--title", "x"}, 2, "task id"},
      {"id that is not UTF-8", {"create", "\xff\xfe", "--title", "x"}, 2, "task id"},
      {"id with a newline", {"create", "a\nb", "--title", "x"}, 2, "task id"},
      {"title with a control character", {"create", "t1", "--title", "bell\x07"}, 2, "title"},
      {"title that is not UTF-8", {"create", "t1", "--title", "caf\xc3"}, 2, "title"},
      {"title over 64 KiB", {"create", "t1", "--title", std::string(70 * 1024, 't')}, 2, "title"},
      {"payload that is not JSON", {"create", "t1", "--title", "x", "--payload", "{nope"}, 2, "payload"},
      {"payload over 1 MiB", {"create", "t1", "--title", "x", "--payload-file", big_payload_file}, 2, "payload"},
      {"payload file that does not exist", {"create", "t1", "--title", "x", "--payload-file", "/nonexistent/p.json"}, 2, "payload"},
      {"negative ttl", {"create", "t1", "--title", "x", "--ttl", "-5s"}, 2, "negative"},
      {"ttl that overflows", {"create", "t1", "--title", "x", "--ttl", "99999999999999999999h"}, 2, "too long"},
      {"ttl of 400 days", {"create", "t1", "--title", "x", "--ttl", "400d"}, 2, "year"},
      {"ttl without a unit", {"create", "t1", "--title", "x", "--ttl", "5"}, 2, "unit"},
      {"ttl in an unknown unit", {"create", "t1", "--title", "x", "--ttl", "5parsecs"}, 2, "unit"},
      {"zero ttl", {"create", "t1", "--title", "x", "--ttl", "0s"}, 2, "positive"},
      {"max runtime of int64 max ns", {"create", "t1", "--title", "x", "--max-runtime", "9223372036854775807ns"}, 2, "year"},
      {"not-before in 1969", {"create", "t1", "--title", "x", "--not-before", "1969-12-31T23:59:59Z"}, 2, "1970"},
      {"not-before in year 10000", {"create", "t1", "--title", "x", "--not-before", "10000-01-01T00:00:00Z"}, 2, "time"},
      {"not-before on February 30", {"create", "t1", "--title", "x", "--not-before", "2024-02-30T00:00:00Z"}, 2, "time"},
      {"not-before at hour 25", {"create", "t1", "--title", "x", "--not-before", "2024-01-01T25:00:00Z"}, 2, "time"},
      {"not-before relative past 1970", {"create", "t1", "--title", "x", "--not-before", "-999999h"}, 2, "time"},
      {"not-before without an offset", {"create", "t1", "--title", "x", "--not-before", "2024-01-01T10:00:00"}, 2, "time"},
      {"priority beyond int32", {"create", "t1", "--title", "x", "--priority", "99999999999"}, 2, "priority"},
      {"negative max attempts", {"create", "t1", "--title", "x", "--max-attempts", "-1"}, 2, "attempts"},
      {"max attempts over the limit", {"create", "t1", "--title", "x", "--max-attempts", "2000000"}, 2, "attempts"},
      {"dependency that does not exist", {"create", "t1", "--title", "x", "--after", "nosuch"}, 4, "nosuch"},
      {"queue with a space", {"create", "t1", "--title", "x", "--queue", "my queue"}, 2, "queue"},
      {"idempotency key with a tab", {"create", "t1", "--title", "x", "--idempotency-key", "k\t1"}, 2, "idempotency"},
      {"unknown status filter", {"ls", "--status", "sleeping"}, 2, "status"},
      {"worker with a space", {"claim", "good", "--worker", "w 1"}, 2, "actor"},
      {"negative claim ttl", {"claim", "good", "--worker", "w2", "--ttl", "-1s"}, 2, "negative"},
      {"claim --queue without --next", {"claim", "good", "--worker", "w2", "--queue", "q"}, 2, "--next"},
      {"token that is not a number", {"heartbeat", "good", "--token", "abc"}, 2, "token"},
      {"token that overflows", {"heartbeat", "good", "--token", "99999999999999999999999"}, 2, "token"},
      {"note that is not UTF-8", {"heartbeat", "good", "--token", T, "--note", "\xc0\xaf"}, 2, "UTF-8"},
      {"note with an escape character", {"heartbeat", "good", "--token", T, "--note", "\x1b[2J"}, 2, "control"},
      {"unknown signal", {"signal", "good", "--token", T, "--signal", "BOGUS"}, 2, "signal"},
      {"negative grace", {"signal", "good", "--token", T, "--signal", "TERM", "--grace", "-1s"}, 2, "negative"},
      {"exit code 300", {"exit", "good", "--token", T, "--code", "300"}, 2, "code"},
      {"exit code and signal", {"exit", "good", "--token", T, "--code", "1", "--signal", "TERM"}, 2, "exactly one"},
      {"exit with neither code nor signal", {"exit", "good", "--token", T}, 2, "exactly one"},
      {"block without a reason", {"block", "good"}, 2, "reason"},
      {"show at a time before 1970", {"show", "good", "--at", "1969-01-01"}, 2, "1970"},
      {"show at a seq past the end", {"show", "good", "--at-seq", "999999"}, 2, "past the end"},
      {"show at both a time and a seq", {"show", "good", "--at", "-1m", "--at-seq", "1"}, 2, "not both"},
      {"log since an unparseable time", {"log", "--since", "yesterday-ish"}, 2, "since"},
      {"unknown log level", {"--log-level", "loud", "ls"}, 2, "log-level"},
      {"unknown verb", {"frobnicate"}, 2, "unknown command 'frobnicate'"},
      {"run without a command", {"run", "good", "--worker", "w2"}, 2, "command"},
      {"show of an unknown task", {"show", "nosuch"}, 4, "nosuch"},
  };
  ASSERT_GE(cases.size(), 40u);
  for (const CliCase& c : cases) {
    SCOPED_TRACE(c.name);
    const uint64_t before = LastSeq();
    const ProcessResult r = Run(c.args);
    EXPECT_EQ(r.exit_code, c.exit_code) << r.err;
    // One clear line on stderr, naming what was wrong.
    EXPECT_EQ(r.err.rfind("taskledger: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(c.error_mentions), std::string::npos) << r.err;
    EXPECT_EQ(LastSeq(), before) << "a bad input wrote something";
  }
  ExpectStillServing();
}

struct RpcCase {
  const char* name;
  Command command;
};

// Commands no client may get written, each a create of "r1" or a command on `task` (claimed
// by w1 with `token`) with one thing wrong.
std::vector<RpcCase> BadRpcCommands(const std::string& task, uint64_t token) {
  std::vector<RpcCase> cases;
  const auto add = [&](const char* name, const std::function<void(Command&)>& edit) {
    Command c = Create("r1");
    edit(c);
    cases.push_back({name, c});
  };
  add("id of 10 KB", [](Command& c) { c.task_id = std::string(10 * 1024, 'x'); });
  add("title not UTF-8", [](Command& c) { c.spec.title = "ok\xff"; });
  add("title with an overlong '/'", [](Command& c) { c.spec.title = "\xc0\xaf"; });
  add("title with a UTF-16 surrogate", [](Command& c) { c.spec.title = "\xed\xa0\x80"; });
  add("title past U+10FFFF", [](Command& c) { c.spec.title = "\xf4\x90\x80\x80"; });
  add("negative ttl", [](Command& c) { c.spec.lease_ttl_ns = -5; });
  add("ttl of int64 max", [](Command& c) { c.spec.lease_ttl_ns = INT64_MAX; });
  add("negative max runtime", [](Command& c) { c.spec.max_runtime_ns = INT64_MIN; });
  add("not-before before 1970", [](Command& c) { c.spec.not_before_ns = -1; });
  add("max attempts of 4 billion", [](Command& c) { c.spec.max_attempts = 4'000'000'000u; });
  add("max backoff below the initial", [](Command& c) {
    c.spec.backoff_initial_ns = 10 * kNanosPerSecond;
    c.spec.backoff_max_ns = 1 * kNanosPerSecond;
  });
  add("payload over 1 MiB", [](Command& c) { c.spec.payload = "\"" + std::string((1 << 20) + 1, 'p') + "\""; });
  add("2000 dependencies", [&](Command& c) { c.spec.after.assign(2000, task); });
  add("actor with a space", [](Command& c) { c.actor = "evil actor"; });
  add("text over 64 KiB", [](Command& c) { c.text = std::string(65 * 1024, 'n'); });
  add("claim ttl negative", [&](Command& c) { c = ClaimCmd(task, "w2", -1); });
  add("claim --next in a queue with a space", [](Command& c) { c = ClaimNextCmd("w2", "q x"); });
  add("signal with grace int64 min", [&](Command& c) {
    c = HolderCmd(CommandKind::kSignal, task, token, "w1");  // SIGTERM
    c.grace_ns = INT64_MIN;
  });
  add("signal without a name", [&](Command& c) {
    c = HolderCmd(CommandKind::kSignal, task, token, "w1");
    c.signal.clear();
  });
  add("exit with neither code nor signal", [&](Command& c) {
    c = HolderCmd(CommandKind::kExit, task, token, "w1");
    c.exit_code.reset();
  });
  return cases;
}

TEST_F(HostileTableTest, EveryBadRpcCommandIsAnInvalidArgumentAndWritesNothing) {
  const uint64_t before = LastSeq();
  for (const RpcCase& c : BadRpcCommands(task_, token_)) {
    SCOPED_TRACE(c.name);
    const uint64_t before_case = LastSeq();
    const Status s = SubmitOne(c.command);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
    EXPECT_FALSE(s.message().empty());
    EXPECT_EQ(LastSeq(), before_case) << "a bad command wrote something";
  }
  ASSERT_NO_FATAL_FAILURE(ExpectTextsWithANulRefused());
  ASSERT_NO_FATAL_FAILURE(ExpectUnknownEnumValuesRefused());
  ASSERT_NO_FATAL_FAILURE(ExpectTooManyCommandsInOneCallRefused());
  EXPECT_EQ(LastSeq(), before);
  ExpectStillServing();
}

// Texts with a NUL inside (Cap'n Proto Text carries its length; an id must not).
void HostileTableTest::ExpectTextsWithANulRefused() {
  for (const char* field : {"taskId", "actor", "queue"}) {
    SCOPED_TRACE(field);
    auto request = Ledger().submitRequest();
    auto command = request.initCommands(1)[0];
    wire::WriteCommand(Create("nul"), command);
    static const char kWithNul[] = "a\0b";
    const capnp::Text::Reader with_nul(kWithNul, 3);
    if (std::string(field) == "taskId") command.setTaskId(with_nul);
    if (std::string(field) == "actor") command.setActor(with_nul);
    if (std::string(field) == "queue") command.getSpec().setQueue(with_nul);
    auto response = request.send().wait(Wait());
    auto outcome = wire::ReadOutcome(response.getOutcomes()[0]);
    ASSERT_TRUE(outcome.ok());
    EXPECT_EQ(outcome->status.code(), Code::kInvalidArgument) << outcome->status.ToString();
  }
}

// Unknown enum values in commands and queries, and an id no query may name.
void HostileTableTest::ExpectUnknownEnumValuesRefused() {
  {
    auto request = Ledger().submitRequest();
    request.initCommands(1)[0].setKind(255);
    auto outcome = wire::ReadOutcome(request.send().wait(Wait()).getOutcomes()[0]);
    ASSERT_TRUE(outcome.ok());
    EXPECT_EQ(outcome->status.code(), Code::kInvalidArgument);
  }
  for (const auto& [kind, value] : std::vector<std::pair<uint8_t, int64_t>>{{9, 0}, {1, -5}, {255, 1}}) {
    auto request = Ledger().tasksAtRequest();
    request.initAt().setKind(kind);
    request.getAt().setValue(value);
    EXPECT_EQ(wire::ReadError(request.send().wait(Wait()).getError()).code(), Code::kInvalidArgument);
  }
  {
    auto request = Ledger().taskAtRequest();
    request.setId("bad\x01id");
    EXPECT_EQ(wire::ReadError(request.send().wait(Wait()).getError()).code(), Code::kInvalidArgument);
  }
  {
    auto request = Ledger().eventsRequest();
    request.setTaskId(std::string(300, 'x'));
    request.setLimit(UINT32_MAX);
    EXPECT_EQ(wire::ReadError(request.send().wait(Wait()).getError()).code(), Code::kInvalidArgument);
  }
}

// More commands in one call than the server takes.
void HostileTableTest::ExpectTooManyCommandsInOneCallRefused() {
  auto request = Ledger().submitRequest();
  auto commands = request.initCommands(1025);
  for (unsigned i = 0; i < 1025; ++i) wire::WriteCommand(Create("many" + std::to_string(i)), commands[i]);
  auto response = request.send().wait(Wait());
  auto outcomes = response.getOutcomes();
  ASSERT_EQ(outcomes.size(), 1025u);
  EXPECT_EQ(wire::ReadError(outcomes[0].getError()).code(), Code::kInvalidArgument);
}

TEST_F(HostileTableTest, MalformedMessagesEndTheirCallOrConnectionNotTheServer) {
  const uint64_t before = LastSeq();
  auto ledger = Ledger();
  // An unknown method and an unknown interface: "unimplemented", not a crash.
  EXPECT_ANY_THROW(ledger.typelessRequest(capnp::typeId<rpc::Ledger>(), 99, nullptr).send().wait(Wait()));
  EXPECT_ANY_THROW(ledger.typelessRequest(0x1234567890abcdefull, 0, nullptr).send().wait(Wait()));
  {
    // Parameters nested 200 structs deep where a list of commands belongs.
    auto request = ledger.typelessRequest(capnp::typeId<rpc::Ledger>(), 0, nullptr);
    capnp::AnyStruct::Builder level = request.initAsAnyStruct(0, 1);
    for (int depth = 0; depth < 200; ++depth) {
      level = level.getPointerSection()[0].initAsAnyStruct(0, 1);
    }
    EXPECT_ANY_THROW(request.send().wait(Wait()));
  }
  // Raw frames on fresh connections: a message whose root points at itself (a cycle), one
  // that announces 2^28 words and sends 8 bytes, and a segment table of 2^31 segments.
  const std::vector<std::vector<uint32_t>> frames = {
      // 1 segment of 2 words; word 0: struct pointer to itself (offset -1, 1 data word,
      // 1 pointer); word 1: a struct pointer back to word 0 (offset -2).
      {0, 2, 0xfffffffc, 0x00010001, 0xfffffff8, 0x00010001},
      {0, 1u << 28, 1, 2},
      {0x7fffffff, 1},
  };
  std::vector<int> hanging;
  for (const auto& frame : frames) {
    const int fd = RawConnect();
    ASSERT_GE(fd, 0);
    const size_t bytes = frame.size() * sizeof(uint32_t);
    ASSERT_EQ(::write(fd, frame.data(), bytes), static_cast<ssize_t>(bytes));
    hanging.push_back(fd);  // and never say more
  }
  ExpectStillServing();
  // A client that sends half a call and hangs does not stall anyone.
  ExpectStillServing();
  for (int fd : hanging) ::close(fd);
  ExpectStillServing();
  EXPECT_EQ(LastSeq(), before + 3);  // the three probes, nothing else
  EXPECT_EQ(Json({"verify"})["ok"], true);
}

TEST_F(HostileTableTest, ThousandsOfIdleConnectionsDoNotStopService) {
  const uint64_t files = RaiseOpenFileLimit();
  if (files < 3200) GTEST_SKIP() << "needs 3200 open files; the limit is " << files;
  const uint64_t before = LastSeq();
  std::vector<int> fds;
  for (int i = 0; i < 3000; ++i) {
    const int fd = RawConnect();
    if (fd >= 0) fds.push_back(fd);
    if (i % 2 == 0 && fd >= 0) (void)!::write(fd, "\0\0\0\0", 4);  // half a segment table
  }
  EXPECT_GE(fds.size(), 2000u);
  ExpectStillServing();
  for (int fd : fds) ::close(fd);
  ExpectStillServing();
  EXPECT_EQ(LastSeq(), before + 2);
}

}  // namespace
}  // namespace taskledger
