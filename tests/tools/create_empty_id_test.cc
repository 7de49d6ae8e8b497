// `create ''` (an explicit empty id, e.g. an unset shell variable) is a malformed id like
// any other: exit 2, one line on stderr, nothing written; not a task with a generated id.
// `create` with no id at all still generates one.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace taskledger {
namespace {

using test::ProcessResult;

class CreateEmptyIdTest : public ::testing::Test {
 protected:
  ProcessResult Run(std::vector<std::string> args) {
    args.insert(args.begin(), {test::TaskledgerBinary(), "--db", db_});
    return test::RunProcess(args);
  }

  test::TempDir dir_{"taskledger-empty-id"};
  std::string db_ = dir_ / "ledger.db";
};

TEST_F(CreateEmptyIdTest, AnExplicitEmptyIdIsBadInputAndCreatesNothing) {
  const ProcessResult r = Run({"create", "", "--title", "x"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err, "taskledger: task id is empty\n");
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_FALSE(std::filesystem::exists(db_)) << "a refused create opened (and created) the ledger";
}

TEST_F(CreateEmptyIdTest, AnExplicitEmptyIdWritesNothingToAnExistingLedger) {
  ASSERT_EQ(Run({"create", "a", "--title", "A"}).exit_code, 0);
  const ProcessResult r = Run({"create", "", "--title", "x"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  const ProcessResult log = Run({"log"});
  ASSERT_EQ(log.exit_code, 0) << log.err;
  EXPECT_EQ(std::count(log.out.begin(), log.out.end(), '\n'), 1) << log.out;
}

TEST_F(CreateEmptyIdTest, NoIdAtAllStillGeneratesOne) {
  const ProcessResult r = Run({"create", "--title", "x"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "t-1\n");
}

}  // namespace
}  // namespace taskledger
