// The rules of a command hold for every client of the server, not only for the CLI: a
// client speaking the RPC directly gets the same refusal the CLI gives (DESIGN §6: exit
// code 2, nothing written), whatever it sends.
#include <capnp/ez-rpc.h>
#include <gtest/gtest.h>

#include "tests/support/commands.h"
#include "tests/support/rpc_server.h"

namespace taskledger {
namespace {

using namespace test;

class ValidationTest : public RpcServerTest {
 protected:
  ValidationTest() : RpcServerTest("a") {}

  Command Exit(int32_t code) const {
    Command c = HolderCmd(CommandKind::kExit, task_, token_, "w1");
    c.exit_code = code;
    return c;
  }
};

TEST_F(ValidationTest, AnRpcClientCannotRecordExitCode1000) {
  const uint64_t before = LastSeq();
  const Status s = SubmitOne(Exit(1000));
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("exit code must be between 0 and 255"), std::string::npos) << s.message();
  EXPECT_EQ(LastSeq(), before) << "a refused exit wrote something";
  EXPECT_EQ(Json({"show", "a"})["status"], "running") << "the attempt goes on";
  for (const auto& e : Events("a")) EXPECT_NE(e["kind"], "exited") << e.dump();
}

TEST_F(ValidationTest, TheCliThroughTheServerGivesTheSameRefusal) {
  const uint64_t before = LastSeq();
  const ProcessResult r = Run({"exit", "a", "--token", std::to_string(token_), "--code", "1000"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err, "taskledger: exit code must be between 0 and 255\n");
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(LastSeq(), before);
}

TEST_F(ValidationTest, ExitCode255IsStillRecorded) {
  const Status s = SubmitOne(Exit(255));
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(First(Events("a"), "exited")["code"], 255);
}

}  // namespace
}  // namespace taskledger
