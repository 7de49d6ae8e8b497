// Real processes for end-to-end tests: a server, supervisors, children. Every wait is
// bounded polling on an observable condition; nothing sleeps a fixed time to "let things
// happen".
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/tools/run_process.h"

namespace taskledger::testing {

using namespace std::chrono_literals;

// Polls `condition` every few milliseconds until it holds or `limit` passes.
inline bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds limit) {
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > give_up) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// A process started in the background, its output sent to files.
class Background {
 public:
  Background(const std::vector<std::string>& argv, const std::vector<std::string>& env, const std::string& out_path)
      : out_path_(out_path) {
    pid_ = ::fork();
    if (pid_ == 0) {
      const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(out, 1);
      ::dup2(out, 2);
      const int null = ::open("/dev/null", O_RDONLY);
      ::dup2(null, 0);
      for (const std::string& kv : env) ::putenv(const_cast<char*>(kv.c_str()));
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Background() {
    if (pid_ > 0 && !exit_code_) {
      ::kill(pid_, SIGKILL);
      int status;
      ::waitpid(pid_, &status, 0);
    }
  }
  pid_t pid() const { return pid_; }
  std::string output() const { return ReadFile(out_path_); }
  void Signal(int signal) const { ::kill(pid_, signal); }

  // The exit code (128+signal if killed), or -1 if it is still running after `limit`.
  int WaitExit(std::chrono::milliseconds limit) {
    WaitUntil([&] { return Poll(); }, limit);
    return exit_code_.value_or(-1);
  }
  bool Poll() {
    if (exit_code_) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return false;
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return true;
  }

 private:
  pid_t pid_ = -1;
  std::string out_path_;
  std::optional<int> exit_code_;
};

// True if no process of the group is left (not even a zombie).
inline bool GroupIsGone(pid_t pgid) { return ::kill(-pgid, 0) != 0 && errno == ESRCH; }

// True if the process is gone or a zombie someone else must reap.
inline bool ProcessIsGone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  const size_t close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && (line[close + 2] == 'Z' || line[close + 2] == 'X');
}

}  // namespace taskledger::testing
