// create --from through the server: more lines than one call carries, so the file goes in
// several calls, in order; a dependency on a line of an earlier call holds; a refusal stops
// the run after its call, and no later call is made.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "tests/support/server.h"

namespace taskledger {
namespace {

using test::ProcessResult;

class CreateFromServerTest : public test::ServerTest {
 protected:
  // `count` tasks c0..c{count-1}, each after the one before.
  std::string ChainFile(int count) {
    const std::string path = root_ + "/chain.jsonl";
    std::ofstream out(path);
    for (int i = 0; i < count; ++i) {
      out << R"({"id": "c)" << i << R"(", "title": "step")";
      if (i > 0) out << R"(, "after": ["c)" << i - 1 << R"("])";
      out << "}\n";
    }
    return path;
  }
  // `count` independent tasks; line `taken` (1-based) names the task "taken".
  std::string FileNaming(int count, int taken) {
    const std::string path = root_ + "/flat.jsonl";
    std::ofstream out(path);
    for (int line = 1; line <= count; ++line) {
      out << R"({"id": ")" << (line == taken ? std::string("taken") : "f" + std::to_string(line))
          << R"(", "title": "step"})" << "\n";
    }
    return path;
  }
  size_t Lines(const std::string& text) { return test::CountOf(text, "\n"); }
};

TEST_F(CreateFromServerTest, AFileLargerThanOneCallGoesInOrderedCalls) {
  const ProcessResult r = Run({"create", "--from", ChainFile(2500)});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Lines(r.out), 2500u);
  EXPECT_EQ(r.out.substr(r.out.size() - 6), "c2499\n");
  const nlohmann::json last = Json({"show", "c2499"});
  EXPECT_NE(last.dump().find("\"c2498\""), std::string::npos) << last.dump();  // its dependency, from an earlier call
  EXPECT_EQ(Lines(Ok({"log"})), 2500u);
}

TEST_F(CreateFromServerTest, ARefusalStopsTheRunAfterItsCall) {
  Ok({"create", "taken", "--title", "here first"});
  // Line 1500 is in the second call (lines 1025-2048): the first two calls are made, the
  // third never is.
  const ProcessResult r = Run({"create", "--from", FileNaming(2500, 1500)});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_EQ(Lines(r.out), 2047u);
  EXPECT_NE(r.err.find(": line 1500: task taken already exists\n"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("1 of the 1024 creates of lines 1025-2048 refused"), std::string::npos) << r.err;
  EXPECT_EQ(Lines(Ok({"log"})), 1u + 2047u);
}

}  // namespace
}  // namespace taskledger
