// create --from FILE: one task per JSON line, the whole file checked before anything is
// written, creates submitted in file order, each with its own outcome, and the first
// refused create stopping the run with its line named.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace taskledger {
namespace {

using test::ProcessResult;

class CreateFromTest : public ::testing::Test {
 protected:
  ProcessResult Run(std::vector<std::string> args, const std::string& input = "") {
    args.insert(args.begin(), {test::TaskledgerBinary(), "--db", db_});
    return test::RunProcess(args, {}, input);
  }
  // A file of `lines`, one per line; its path.
  std::string File(const std::vector<std::string>& lines) {
    const std::string path = dir_ / ("tasks-" + std::to_string(++files_) + ".jsonl");
    std::ofstream out(path);
    for (const std::string& line : lines) out << line << '\n';
    return path;
  }
  size_t Events() {
    const ProcessResult log = Run({"log"});
    EXPECT_EQ(log.exit_code, 0) << log.err;
    return static_cast<size_t>(std::count(log.out.begin(), log.out.end(), '\n'));
  }

  test::TempDir dir_{"taskledger-create-from"};
  std::string db_ = dir_ / "ledger.db";
  int files_ = 0;
};

TEST_F(CreateFromTest, CreatesEveryLineInOrderAndPrintsTheirIds) {
  const std::string file = File({R"({"id": "fetch", "title": "fetch sources", "queue": "ci"})",
                                 R"({"id": "build", "title": "build", "after": ["fetch"], "queue": "ci"})",
                                 R"({"title": "notify", "payload": {"to": "ops"}, "ttl": "5s"})"});
  const ProcessResult r = Run({"create", "--from", file});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "fetch\nbuild\nt-3\n");  // a generated id names the seq of its `created`
  EXPECT_EQ(r.err, "");
  const ProcessResult show = Run({"--json", "show", "build"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_NE(show.out.find("\"fetch\""), std::string::npos) << show.out;  // the dependency stands
  EXPECT_EQ(Events(), 3u);
}

TEST_F(CreateFromTest, JsonPrintsOneReplyPerLine) {
  const ProcessResult r = Run({"--json", "create", "--from", File({R"({"id": "a", "title": "A"})",
                                                                   R"({"id": "b", "title": "B"})"})});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> tasks;
  size_t begin = 0;
  for (size_t end; (end = r.out.find('\n', begin)) != std::string::npos; begin = end + 1) {
    tasks.push_back(nlohmann::json::parse(r.out.substr(begin, end - begin)).at("task").get<std::string>());
  }
  EXPECT_EQ(tasks, (std::vector<std::string>{"a", "b"}));
}

TEST_F(CreateFromTest, ReadsStandardInput) {
  const ProcessResult r = Run({"create", "--from", "-"}, "{\"id\": \"s\", \"title\": \"from stdin\"}\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "s\n");
}

TEST_F(CreateFromTest, AMalformedLineAnywhereWritesNothing) {
  struct Case {
    std::vector<std::string> lines;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{R"({"id": "a", "title": "A"})", R"({"id": "b", "title": "B", "ttl": "0s"})"},
       ": line 2: \"ttl\" must be positive\n"},
      {{R"({"id": "a", "title": "A"})", "not json"}, ": line 2: not a JSON object\n"},
      {{R"({"id": "a", "title": "A"})", R"({"id": "a", "title": "again"})"},
       ": line 2: task a is also on line 1\n"},
      {{R"({"id": "a", "title": "A"})", ""}, ": line 2: empty line (one task per line)\n"},
      {{R"({"id": "a", "title": "A", "size": 3})"}, ": line 1: has an unknown key \"size\"\n"},
  };
  for (const Case& c : cases) {
    const std::string file = File(c.lines);
    const ProcessResult r = Run({"create", "--from", file});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(r.err, "taskledger: " + file + c.error);
    EXPECT_EQ(r.out, "");
    EXPECT_FALSE(std::filesystem::exists(db_)) << "a refused file opened (and created) the ledger: " << r.err;
  }
}

TEST_F(CreateFromTest, AnEmptyOrMissingFileIsBadInput) {
  const std::string empty = File({});
  ProcessResult r = Run({"create", "--from", empty});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "taskledger: create --from: " + empty + " holds no tasks\n");
  r = Run({"create", "--from", dir_ / "absent.jsonl"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "taskledger: create --from: cannot open " + (dir_ / "absent.jsonl") + "\n");
  EXPECT_FALSE(std::filesystem::exists(db_));
}

TEST_F(CreateFromTest, OtherCreateFlagsBesideFromAreAUsageError) {
  const std::string file = File({R"({"title": "A"})"});
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"create", "--from", file, "--title", "x"},
        std::vector<std::string>{"create", "x", "--from", file},
        std::vector<std::string>{"create", "--from", file, "--queue", "q"}}) {
    const ProcessResult r = Run(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_EQ(r.err, "taskledger: create --from takes every field from the file: give no task id and no other create flag\n");
  }
  const ProcessResult r = Run({"create"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.err, "taskledger: create: --title is required (or give --from FILE)\n");
  EXPECT_FALSE(std::filesystem::exists(db_));
}

TEST_F(CreateFromTest, ARefusedCreateIsNamedAndStopsTheRun) {
  ASSERT_EQ(Run({"create", "taken", "--title", "already here"}).exit_code, 0);
  // Lines 1 and 3 are fine, line 2 is refused by the ledger (the id is taken): each create
  // keeps its own outcome, and nothing after the call that held the refusal is submitted.
  const ProcessResult r = Run({"create", "--from", File({R"({"id": "a", "title": "A"})",
                                                         R"({"id": "taken", "title": "again"})",
                                                         R"({"id": "c", "title": "C", "after": ["a"]})"})});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(r.out, "a\nc\n");
  EXPECT_NE(r.err.find(": line 2: task taken already exists\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("create --from: 1 of the 3 creates of lines 1-3 refused; stopped there\n"), std::string::npos)
      << r.err;
  EXPECT_EQ(Events(), 3u);  // taken, a, c
}

TEST_F(CreateFromTest, AFileRefusedWholesaleNamesTheFirstTenAndCountsTheRest) {
  std::vector<std::string> lines;
  for (int i = 0; i < 30; ++i) lines.push_back(R"({"id": "t)" + std::to_string(i) + R"(", "title": "T"})");
  const std::string file = File(lines);
  ASSERT_EQ(Run({"create", "--from", file}).exit_code, 0);
  const ProcessResult again = Run({"create", "--from", file});  // no idempotency keys: every id is taken
  EXPECT_EQ(again.exit_code, 3);
  EXPECT_EQ(again.out, "");
  EXPECT_EQ(std::count(again.err.begin(), again.err.end(), '\n'), 11) << again.err;
  EXPECT_NE(again.err.find(": line 10: task t9 already exists\n"), std::string::npos) << again.err;
  EXPECT_NE(again.err.find("30 of the 30 creates of lines 1-30 refused"), std::string::npos) << again.err;
}

TEST_F(CreateFromTest, IdempotencyKeysMakeAFileSafeToSubmitAgain) {
  const std::string file = File({R"({"title": "A", "idempotency_key": "k-a"})",
                                 R"({"title": "B", "idempotency_key": "k-b"})"});
  const ProcessResult first = Run({"create", "--from", file});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  const ProcessResult again = Run({"create", "--from", file});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, first.out);
  EXPECT_EQ(Events(), 2u);
}

}  // namespace
}  // namespace taskledger
