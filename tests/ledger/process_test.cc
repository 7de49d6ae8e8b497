// Another process owning the ledger: a second writer is told who holds it (Busy, with the
// holder's pid), and a read-only ledger follows the owner's writes beside it (DESIGN §6).
//
// The owner is this same test binary, re-executed with TASKLEDGER_TEST_HOLDER=PATH: a
// global test environment notices the variable, owns the ledger at PATH, and answers on
// stdout ("ready SEQ") each line it reads on stdin, until stdin closes. No sleeping: the
// two processes wait on each other through pipes.
#include <fcntl.h>
#include <signal.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ledger/clock.h"
#include "ledger/ledger.h"
#include "ledger_fixture.h"
#include "test_util.h"
#include "tests/support/temp_dir.h"

extern char** environ;

namespace taskledger {
namespace {

using test::CreateCmd;
using test::kT0;

constexpr char kHolderVariable[] = "TASKLEDGER_TEST_HOLDER";

Result<std::unique_ptr<Ledger>> OpenAt(const std::string& path, Clock* clock, bool read_only, bool sync = false) {
  LedgerOptions options;
  options.path = path;
  options.sync = sync;
  options.read_only = read_only;
  return Ledger::Open(options, clock);
}

// The owner's side: runs before any test when the variable is set, then exits.
class HolderEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    const char* path = std::getenv(kHolderVariable);
    if (path == nullptr) return;
    ManualClock clock(kT0);
    Result<std::unique_ptr<Ledger>> opened = OpenAt(path, &clock, false, /*sync=*/true);
    if (!opened.ok()) {
      std::printf("error %s\n", opened.status().ToString().c_str());
      std::fflush(stdout);
      std::_Exit(1);
    }
    std::unique_ptr<Ledger> ledger = std::move(*opened);
    int created = 0;
    char line[64] = "more";
    do {
      // "more": one task; "burst": a hundred commands, each acknowledged before the next.
      const int commands = std::strncmp(line, "burst", 5) == 0 ? 100 : 1;
      for (int i = 0; i < commands; ++i) {
        const std::string id = "held-" + std::to_string(++created);
        Outcome out = ledger->Submit(CreateCmd(id));
        if (out.status.ok() && i % 2 == 1) out = ledger->Submit(test::ClaimCmd(id));
        if (!out.status.ok()) {
          std::printf("error %s\n", out.status.ToString().c_str());
          std::fflush(stdout);
          std::_Exit(1);
        }
      }
      std::printf("ready %llu\n", static_cast<unsigned long long>(ledger->last_seq()));
      std::fflush(stdout);
    } while (std::fgets(line, sizeof(line), stdin) != nullptr);
    ledger.reset();
    std::_Exit(0);
  }
};
[[maybe_unused]] const ::testing::Environment* const kHolder = ::testing::AddGlobalTestEnvironment(new HolderEnvironment);

// The test's side of a running owner process.
class Holder {
 public:
  bool Start(const std::string& path) {
    int to_child[2], from_child[2];
    if (::pipe2(to_child, O_CLOEXEC) != 0 || ::pipe2(from_child, O_CLOEXEC) != 0) return false;
    const std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
    // Everything the child needs is built before fork: only exec-safe calls after it.
    // Environments are set up only when some test is selected: select this one.
    std::vector<std::string> args = {exe, "--gtest_filter=LedgerProcessTest.*"};
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, kHolderVariable, std::strlen(kHolderVariable)) != 0) env.emplace_back(*e);
    }
    env.push_back(std::string(kHolderVariable) + "=" + path);
    std::vector<char*> argv, envp;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      ::dup2(to_child[0], 0);
      ::dup2(from_child[1], 1);
      ::execve(exe.c_str(), argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    to_child_ = to_child[1];
    from_child_ = ::fdopen(from_child[0], "r");
    return from_child_ != nullptr;
  }

  // The seq the owner reports after its next write; 0 if it failed or exited.
  uint64_t WaitReady() {
    char line[512];
    while (std::fgets(line, sizeof(line), from_child_) != nullptr) {
      if (std::strncmp(line, "ready ", 6) == 0) return std::strtoull(line + 6, nullptr, 10);
      if (std::strncmp(line, "error ", 6) == 0) {
        ADD_FAILURE() << "owner process: " << line;
        return 0;
      }
    }
    return 0;
  }
  bool WriteMore() { return ::write(to_child_, "more\n", 5) == 5; }
  bool WriteBurst() { return ::write(to_child_, "burst\n", 6) == 6; }
  // kill -9, and reap it.
  int Kill() {
    if (pid_ > 0) ::kill(pid_, SIGKILL);
    return Stop();
  }

  // Closes the owner's stdin and reaps it; its exit status.
  int Stop() {
    if (to_child_ >= 0) ::close(to_child_);
    to_child_ = -1;
    int status = -1;
    if (pid_ > 0) ::waitpid(pid_, &status, 0);
    pid_ = -1;
    if (from_child_ != nullptr) std::fclose(from_child_);
    from_child_ = nullptr;
    return status;
  }
  ~Holder() { Stop(); }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int to_child_ = -1;
  FILE* from_child_ = nullptr;
};

TEST(LedgerProcessTest, AnotherProcessOwningTheLedgerIsNamedAndCanBeReadBeside) {
  test::TempDir dir("taskledger-proc");
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir / "db";
  ManualClock clock(kT0);
  {
    Holder holder;
    ASSERT_TRUE(holder.Start(path));
    ASSERT_EQ(holder.WaitReady(), 1u);

    // A second writer: Busy, naming the holder's pid, in one line.
    const Result<std::unique_ptr<Ledger>> writer = OpenAt(path, &clock, false);
    ASSERT_FALSE(writer.ok());
    EXPECT_EQ(writer.status().code(), Code::kBusy) << writer.status().ToString();
    EXPECT_NE(writer.status().message().find("pid " + std::to_string(holder.pid())), std::string::npos)
        << writer.status().message();
    EXPECT_EQ(writer.status().message().find('\n'), std::string::npos);

    // A reader beside it sees what the owner wrote, and follows it with Refresh().
    Result<std::unique_ptr<Ledger>> reader = OpenAt(path, &clock, true);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    Ledger& ro = **reader;
    EXPECT_EQ(ro.last_seq(), 1u);
    Result<std::optional<TaskRecord>> held = ro.GetTask("held-1");
    ASSERT_TRUE(held.ok() && held->has_value());
    ASSERT_TRUE(holder.WriteMore());
    ASSERT_EQ(holder.WaitReady(), 2u);
    TL_ASSERT_OK(ro.Refresh());
    EXPECT_EQ(ro.last_seq(), 2u);
    held = ro.GetTask("held-2");
    ASSERT_TRUE(held.ok() && held->has_value());
    Result<VerifyReport> report = ro.Verify();
    ASSERT_TRUE(report.ok()) << report.status().ToString();
    EXPECT_TRUE(report->problems.empty());
    EXPECT_EQ(report->events, 2u);
    EXPECT_FALSE(ro.Submit(CreateCmd("x")).status.ok());  // the reader never writes

    const int status = holder.Stop();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  // Once the owner is gone the ledger opens for writing, with everything it wrote.
  Result<std::unique_ptr<Ledger>> writer = OpenAt(path, &clock, false);
  ASSERT_TRUE(writer.ok()) << writer.status().ToString();
  EXPECT_EQ((*writer)->last_seq(), 2u);
}

TEST(LedgerProcessTest, AcknowledgedCommandsSurviveAKillDashNine) {
  test::TempDir dir("taskledger-kill");
  ASSERT_FALSE(dir.path().empty());
  const std::string path = dir / "db";
  uint64_t acknowledged = 0;
  {
    Holder holder;
    ASSERT_TRUE(holder.Start(path));
    ASSERT_EQ(holder.WaitReady(), 1u);
    ASSERT_TRUE(holder.WriteBurst());
    acknowledged = holder.WaitReady();
    ASSERT_EQ(acknowledged, 151u);  // 1 + 100 creates + 50 claims
    ASSERT_TRUE(holder.WriteBurst());  // killed in the middle of this one, or just after
    const int status = holder.Kill();
    EXPECT_TRUE(WIFSIGNALED(status) || WIFEXITED(status)) << status;
  }
  ManualClock clock(kT0);
  Result<std::unique_ptr<Ledger>> reopened = OpenAt(path, &clock, false);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  Ledger& ledger = **reopened;
  // Invariant 5: every acknowledged command is in the log; invariant 6: whatever else made
  // it is whole, and the projection matches the log.
  EXPECT_GE(ledger.last_seq(), acknowledged);
  for (int i = 1; i <= 101; ++i) {
    Result<std::optional<TaskRecord>> r = ledger.GetTask("held-" + std::to_string(i));
    ASSERT_TRUE(r.ok() && r->has_value()) << i;
  }
  test::ExpectVerifyClean(ledger);
}

}  // namespace
}  // namespace taskledger
