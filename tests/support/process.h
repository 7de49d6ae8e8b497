// Real processes for the tests that run the binaries: the CLI run to completion
// (RunProcess), and servers, supervisors and followers in the background (Background).
// Every wait is bounded polling on an observable condition (WaitUntil); nothing sleeps a
// fixed time to "let things happen".
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace taskledger::test {

using namespace std::chrono_literals;

// The taskledger binary of this build.
const std::string& TaskledgerBinary();

// Polls `condition` every few milliseconds until it holds (true) or `limit` passes (false).
bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds limit);

// The whole file; empty if it cannot be read.
std::string ReadFile(const std::string& path);

// What a finished process printed and how it ended.
struct ProcessResult {
  int exit_code = -1;  // 128+signal if a signal ended it
  std::string out;
  std::string err;
};

// Runs argv[0] (a path) with `env` ("NAME=value") added to this process's environment and
// `input` on its stdin, to completion.
ProcessResult RunProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env = {},
                         const std::string& input = "");

// A process started in the background, stdout and stderr sent to one file, stdin empty.
// Killed (SIGKILL) and reaped when the Background goes, if it has not exited by then.
// Not copyable; not thread-safe.
class Background {
 public:
  Background(const std::vector<std::string>& argv, const std::vector<std::string>& env, const std::string& out_path);
  ~Background();
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  pid_t pid() const { return pid_; }
  std::string output() const { return ReadFile(out_path_); }
  void Signal(int signal) const;

  // The exit code (128+signal if killed), or -1 if it is still running after `limit`.
  int WaitExit(std::chrono::milliseconds limit);
  // True once it has exited (and been reaped).
  bool Poll();

 private:
  pid_t pid_ = -1;
  std::string out_path_;
  std::optional<int> exit_code_;
};

// True if no process of the group is left (not even a zombie).
bool GroupIsGone(pid_t pgid);

// True if the process is gone, or a zombie someone else must reap.
bool ProcessIsGone(pid_t pid);

// Raises this process's soft limit of open files to its hard limit; the limit now.
uint64_t RaiseOpenFileLimit();

}  // namespace taskledger::test
