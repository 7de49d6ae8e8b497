// Errors cross the RPC as the Code's number and the message (ledger/wire.h): every code
// reads back as itself, and a number this build does not know (a newer server's) reads as
// an internal error, not as some other code.
#include <capnp/message.h>
#include <gtest/gtest.h>

#include "ledger/wire.h"

namespace taskledger {
namespace {

Status RoundTrip(const Status& status) {
  capnp::MallocMessageBuilder message;
  auto error = message.initRoot<rpc::Error>();
  wire::WriteError(status, error);
  return wire::ReadError(error.asReader());
}

TEST(WireErrorTest, EveryCodeReadsBackAsItself) {
  const std::vector<Status> all = {Status::InvalidArgument("a"), Status::Refused("b"),  Status::NotFound("c"),
                                   Status::Busy("d"),            Status::IOError("e"),  Status::DataLoss("f"),
                                   Status::Internal("g"),        Status::UnknownOutcome("h")};
  for (const Status& status : all) {
    const Status read = RoundTrip(status);
    EXPECT_EQ(read.code(), status.code()) << status.ToString();
    EXPECT_EQ(read.message(), status.message());
  }
  EXPECT_TRUE(RoundTrip(Status::Ok()).ok());
}

TEST(WireErrorTest, UnknownOutcomeIsNeitherBusyNorRetriedAndExitsOne) {
  const Status unknown = RoundTrip(Status::UnknownOutcome("the writer did not answer"));
  EXPECT_TRUE(unknown.IsUnknownOutcome());
  EXPECT_FALSE(unknown.IsBusy());  // the CLI retries Busy only
  EXPECT_EQ(unknown.ExitCode(), 1);
  EXPECT_EQ(unknown.ToString(), "outcome unknown: the writer did not answer");
}

TEST(WireErrorTest, ACodeFromANewerServerReadsAsInternal) {
  capnp::MallocMessageBuilder message;
  auto error = message.initRoot<rpc::Error>();
  error.setCode(200);
  error.setMessage("something new");
  const Status read = wire::ReadError(error.asReader());
  EXPECT_EQ(read.code(), Code::kInternal);
  EXPECT_EQ(read.message(), "something new");
}

}  // namespace
}  // namespace taskledger
