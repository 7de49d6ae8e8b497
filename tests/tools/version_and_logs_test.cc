// `taskledger --version` (the project version and the git revision it was built from) and
// `--log-format json` (one JSON object per log line on stderr, for log collectors).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace taskledger {
namespace {

using test::ProcessResult;

ProcessResult Taskledger(std::vector<std::string> args, const std::vector<std::string>& env = {}) {
  args.insert(args.begin(), test::TaskledgerBinary());
  return test::RunProcess(args, env);
}

TEST(VersionTest, NamesTheVersionAndTheRevision) {
  const ProcessResult r = Taskledger({"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // "taskledger 0.1.0 (0123456789ab)", "(...-modified)" for a tree with changes, or
  // "(unknown)" outside git.
  EXPECT_TRUE(std::regex_match(r.out, std::regex(R"(taskledger \d+\.\d+\.\d+ \(([0-9a-f]{7,40}(-modified)?|unknown)\)\n)")))
      << r.out;
  EXPECT_EQ(r.err, "");
}

class LogFormatTest : public ::testing::Test {
 protected:
  test::TempDir dir_{"taskledger-log-format"};
  std::string db_ = dir_ / "ledger.db";
};

TEST_F(LogFormatTest, JsonLogLinesAreJsonObjects) {
  ASSERT_EQ(Taskledger({"--db", db_, "create", "a", "--title", "quotes \" and \\ in a title"}).exit_code, 0);
  // The supervisor logs its claim at info.
  const ProcessResult r =
      Taskledger({"--db", db_, "--log-format", "json", "--log-level", "info", "run", "a", "--worker", "w\"1", "--",
                  "true"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  size_t lines = 0;
  for (size_t begin = 0, end; (end = r.err.find('\n', begin)) != std::string::npos; begin = end + 1, ++lines) {
    const nlohmann::json line = nlohmann::json::parse(r.err.substr(begin, end - begin), nullptr, false);
    ASSERT_TRUE(line.is_object()) << r.err.substr(begin, end - begin);
    for (const char* key : {"time", "level", "msg"}) EXPECT_TRUE(line.contains(key)) << line.dump();
    EXPECT_EQ(line["level"], "info") << line.dump();
  }
  EXPECT_GE(lines, 1u) << r.err;
  EXPECT_NE(r.err.find("claimed a token"), std::string::npos) << r.err;
}

TEST_F(LogFormatTest, AnUnknownFormatIsAUsageError) {
  const ProcessResult r = Taskledger({"--db", db_, "--log-format", "xml", "ls"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "taskledger: --log-format: unknown format 'xml' (text or json)\n");
  const ProcessResult env = Taskledger({"--db", db_, "ls"}, {"TASKLEDGER_LOG_FORMAT=yaml"});
  EXPECT_EQ(env.exit_code, 2);
}

}  // namespace
}  // namespace taskledger
