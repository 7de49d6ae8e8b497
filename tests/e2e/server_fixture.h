// A test fixture that runs a real `taskledger serve` on a unix socket in a temp dir.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/e2e/harness.h"

namespace taskledger::testing {

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/taskledger-e2e-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    root_ = dir;
    address_ = "unix:" + root_ + "/ledger.sock";
    Prepare(root_ + "/ledger.db");
    if (HasFatalFailure()) return;
    std::vector<std::string> serve = {TASKLEDGER_BIN, "--db", root_ + "/ledger.db", "serve", "--listen", address_};
    for (const std::string& arg : ExtraServeArgs()) serve.push_back(arg);
    server_ = std::make_unique<Background>(serve, std::vector<std::string>{}, root_ + "/server.out");
    ASSERT_TRUE(WaitUntil([&] { return server_->output().find("listening on") != std::string::npos; }, 10s))
        << server_->output();
  }

  void TearDown() override {
    if (!server_) {
      std::filesystem::remove_all(root_);
      return;
    }
    server_->Signal(SIGTERM);
    EXPECT_EQ(server_->WaitExit(10s), 0) << server_->output();
    std::filesystem::remove_all(root_);
  }

  // Fills the ledger before the server opens it, for fixtures that need that.
  virtual void Prepare(const std::string& db_path) { (void)db_path; }

  // More `serve` flags, for fixtures that need them.
  virtual std::vector<std::string> ExtraServeArgs() const { return {}; }

  std::vector<std::string> Env() const {
    return {"TASKLEDGER_ADDR=" + address_, "TL=" + std::string(TASKLEDGER_BIN), "MARKER=" + root_ + "/marker"};
  }

  ProcessResult Run(std::vector<std::string> args) {
    args.insert(args.begin(), TASKLEDGER_BIN);
    return RunProcess(args, Env());
  }
  std::string Ok(const std::vector<std::string>& args) {
    const ProcessResult r = Run(args);
    EXPECT_EQ(r.exit_code, 0) << ::testing::PrintToString(args) << ": " << r.err;
    return r.out;
  }
  nlohmann::json Json(std::vector<std::string> args) {
    args.insert(args.begin(), "--json");
    return nlohmann::json::parse(Ok(args), nullptr, false);
  }
  std::vector<nlohmann::json> Events(const std::string& task) {
    std::vector<nlohmann::json> events;
    std::istringstream lines(Ok({"--json", "log", "--task", task}));
    std::string line;
    while (std::getline(lines, line)) events.push_back(nlohmann::json::parse(line));
    return events;
  }
  static int Count(const std::vector<nlohmann::json>& events, const std::string& kind,
                   const std::string& actor = "") {
    int n = 0;
    for (const auto& e : events) n += e["kind"] == kind && (actor.empty() || e["actor"] == actor);
    return n;
  }
  static const nlohmann::json& First(const std::vector<nlohmann::json>& events, const std::string& kind) {
    for (const auto& e : events) {
      if (e["kind"] == kind) return e;
    }
    static const nlohmann::json kNone;
    return kNone;
  }

  // A supervisor running `script` (sh) for `task`; the script writes its pid to $MARKER.
  std::unique_ptr<Background> Supervise(const std::string& task, const std::string& worker, const std::string& ttl,
                                        const std::string& grace, const std::string& script) {
    return std::make_unique<Background>(
        std::vector<std::string>{TASKLEDGER_BIN, "run", task, "--worker", worker, "--ttl", ttl, "--grace", grace, "--",
                                 "/bin/sh", "-c", script},
        Env(), root_ + "/" + worker + ".out");
  }
  pid_t WaitForChild() {
    pid_t pid = 0;
    EXPECT_TRUE(WaitUntil(
        [&] {
          const std::string text = ReadFile(root_ + "/marker");
          if (text.empty() || text.back() != '\n') return false;
          pid = std::stoi(text);
          return true;
        },
        10s));
    return pid;
  }

  std::string root_;
  std::string address_;
  std::unique_ptr<Background> server_;
};

}  // namespace taskledger::testing
