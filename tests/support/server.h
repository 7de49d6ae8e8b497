// A real `taskledger serve` on a unix socket, and ServerTest: a fixture that runs one in a
// temp dir for each test, with the CLI, supervisors and raw connections aimed at it.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace taskledger::test {

// `taskledger [global_args] --db DB serve --listen unix:SOCKET [serve_args]`, its output
// in `out_path`. Stopped with SIGTERM when it goes (killed if it does not stop in 10 s).
class ServerProcess {
 public:
  ServerProcess(const std::string& db, const std::string& socket_path, const std::string& out_path,
                const std::vector<std::string>& serve_args = {}, const std::vector<std::string>& global_args = {});
  ~ServerProcess();

  // Polls (bounded) until the server says it listens; false if it exited or did not.
  [[nodiscard]] bool WaitListening(std::chrono::milliseconds limit = 20s);
  // SIGTERM, then its exit code (-1 if it did not exit within `limit`).
  int Stop(std::chrono::milliseconds limit = 10s);

  const std::string& address() const { return address_; }
  std::string output() const { return process_.output(); }
  Background& process() { return process_; }

 private:
  std::string address_;
  Background process_;
};

// Connects to a unix socket by hand (for bytes no client would send); -1 on failure.
int RawConnect(const std::string& socket_path);

// Counts the occurrences of `what` in `text`.
size_t CountOf(const std::string& text, const std::string& what);

// The server runs in root_ (ledger.db, ledger.sock, server.out). The CLI runs with
// TASKLEDGER_ADDR pointing at it.
class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Fills the ledger before the server opens it, for fixtures that need that.
  virtual void Prepare(const std::string& db_path) { (void)db_path; }
  // More `serve` flags, for fixtures that need them.
  virtual std::vector<std::string> ExtraServeArgs() const { return {}; }
  // Flags before the verb (e.g. --log-level), for fixtures that need them.
  virtual std::vector<std::string> ExtraGlobalArgs() const { return {}; }

  // TASKLEDGER_ADDR, TL (the binary) and MARKER (a file for a child's pid).
  std::vector<std::string> Env() const;

  // `taskledger args...` through the server.
  ProcessResult Run(std::vector<std::string> args);
  // Runs a command that must succeed; its stdout.
  std::string Ok(const std::vector<std::string>& args);
  nlohmann::json Json(std::vector<std::string> args);
  // The task's events (`log --task --json`), one JSON object each.
  std::vector<nlohmann::json> Events(const std::string& task);
  static int Count(const std::vector<nlohmann::json>& events, const std::string& kind, const std::string& actor = "");
  // The first event of `kind`; null if there is none.
  static const nlohmann::json& First(const std::vector<nlohmann::json>& events, const std::string& kind);

  // A supervisor running `script` (sh) for `task`; the script may write its pid to $MARKER.
  std::unique_ptr<Background> Supervise(const std::string& task, const std::string& worker, const std::string& ttl,
                                        const std::string& grace, const std::string& script);
  // The pid the supervised script wrote to $MARKER (polled, bounded); 0 if none came.
  pid_t WaitForChild();
  // Supervises `task` as `worker` (ttl 30 s, `grace`) with a child that ignores SIGTERM,
  // then SIGTERMs the supervisor: it must kill the child's whole group. Fatal failure if no
  // child came.
  void SigtermASupervisorWhoseChildIgnoresIt(const std::string& task, const std::string& worker,
                                             const std::string& grace);
  // Another supervisor (`worker`) runs `task` to completion after one interrupted attempt:
  // done, no failure, one interruption.
  void ExpectDoneByAnotherWorkerAfterOneInterruption(const std::string& task, const std::string& worker);

  int RawConnect() const { return test::RawConnect(socket_path_); }
  // A create through the server must still succeed.
  void ExpectStillServing();

  TempDir dir_{"taskledger-e2e"};
  std::string root_ = dir_.path();
  std::string socket_path_ = root_ + "/ledger.sock";
  std::string address_ = "unix:" + socket_path_;
  std::unique_ptr<ServerProcess> server_;
  int probes_ = 0;
};

}  // namespace taskledger::test
