// `taskledger serve` under systemd's protocols, with this test playing systemd: socket
// activation (the listening socket as fd 3, LISTEN_FDS, LISTEN_FDNAMES and LISTEN_PID set
// in the child before exec, as systemd does) and readiness notification (a datagram
// socket as NOTIFY_SOCKET). packaging/systemd/ has the units that use them.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "tests/support/http_client.h"
#include "tests/support/process.h"
#include "tests/support/server.h"  // RawConnect, CountOf
#include "tests/support/temp_dir.h"

extern char** environ;

namespace taskledger {
namespace {

using namespace test;

// The first descriptor systemd passes (SD_LISTEN_FDS_START).
constexpr int kFirstPassedFd = 3;

// A unix socket of `type` bound at `path` (listening, for a stream); -1 on failure.
int BoundUnixSocket(const std::string& path, int type) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) return -1;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  const int fd = ::socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      (type == SOCK_STREAM && ::listen(fd, 64) != 0)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

bool IsSocketFile(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// One socket to pass, and its FileDescriptorName=.
struct Passed {
  int fd;
  std::string name;
};

// `taskledger args...` started the way systemd starts a socket-activated service: the
// `passed` sockets become fds 3, 4, ..., and LISTEN_FDS, LISTEN_FDNAMES (their names, colon
// separated) and LISTEN_PID (its own pid) are set. stdout and stderr go to `out_path`.
// Killed and reaped when it goes, if still running.
class ActivatedProcess {
 public:
  ActivatedProcess(const std::vector<std::string>& args, int passed, const std::string& fd_name,
                   const std::string& out_path)
      : ActivatedProcess(args, std::vector<Passed>{{passed, fd_name}}, out_path) {}

  ActivatedProcess(const std::vector<std::string>& args, const std::vector<Passed>& passed,
                   const std::string& out_path)
      : out_path_(out_path) {
    // Everything the child needs is built before fork: after it, only async-signal-safe
    // calls (no allocation).
    std::vector<std::string> argv = {TaskledgerBinary()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string entry(*e);
      if (entry.rfind("LISTEN_", 0) != 0 && entry.rfind("NOTIFY_SOCKET=", 0) != 0) env.push_back(entry);
    }
    std::string names;
    for (const Passed& p : passed) names += (names.empty() ? "" : ":") + p.name;
    env.push_back("LISTEN_FDS=" + std::to_string(passed.size()));
    env.push_back("LISTEN_FDNAMES=" + names);
    env.push_back("LISTEN_PID=0000000000");  // its digits are written in the child
    std::vector<char*> argv_pointers, env_pointers;
    for (std::string& a : argv) argv_pointers.push_back(a.data());
    argv_pointers.push_back(nullptr);
    for (std::string& e : env) env_pointers.push_back(e.data());
    env_pointers.push_back(nullptr);
    char* listen_pid_digits = env.back().data() + std::strlen("LISTEN_PID=");
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    const int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);

    pid_ = ::fork();
    if (pid_ == 0) {
      WriteDecimal(::getpid(), listen_pid_digits);
      ::dup2(null, 0);
      ::dup2(out, 1);
      ::dup2(out, 2);
      // Out of the way first (a passed fd may sit where another one goes), then in place;
      // dup2 clears close-on-exec on the copy.
      int moved[8];
      const size_t count = std::min<size_t>(passed.size(), 8);
      for (size_t i = 0; i < count; ++i) moved[i] = ::fcntl(passed[i].fd, F_DUPFD_CLOEXEC, 64);
      for (size_t i = 0; i < count; ++i) ::dup2(moved[i], kFirstPassedFd + static_cast<int>(i));
      ::execve(argv_pointers[0], argv_pointers.data(), env_pointers.data());
      ::_exit(127);
    }
    ::close(out);
    ::close(null);
  }
  ~ActivatedProcess() {
    if (pid_ > 0 && exit_code_ < 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  ActivatedProcess(const ActivatedProcess&) = delete;
  ActivatedProcess& operator=(const ActivatedProcess&) = delete;

  std::string output() const { return ReadFile(out_path_); }
  void Signal(int signal) const { ::kill(pid_, signal); }
  bool Poll() {
    int status = 0;
    if (exit_code_ < 0 && ::waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return exit_code_ >= 0;
  }
  // The exit code, or -1 if it is still running after `limit`.
  int WaitExit(std::chrono::milliseconds limit) {
    WaitUntil([&] { return Poll(); }, limit);
    return exit_code_;
  }
  bool WaitListening(std::chrono::milliseconds limit) {
    return WaitUntil([&] { return Poll() || output().find("listening on") != std::string::npos; }, limit) && !Poll();
  }

 private:
  // `value` in decimal over the ten placeholder digits (async-signal-safe).
  static void WriteDecimal(pid_t value, char* digits) {
    char reversed[16];
    int n = 0;
    do {
      reversed[n++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value > 0);
    for (int i = 0; i < n; ++i) digits[i] = reversed[n - 1 - i];
    digits[n] = '\0';
  }

  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::string out_path_;
};

// The datagrams that arrive on `fd` until one contains `wanted` or `limit` passes, joined.
std::string ReceiveUntil(int fd, const std::string& wanted, std::chrono::milliseconds limit) {
  std::string received;
  const auto give_up = std::chrono::steady_clock::now() + limit;
  while (received.find(wanted) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd readable{fd, POLLIN, 0};
    if (::poll(&readable, 1, static_cast<int>(left.count())) <= 0) continue;
    char buffer[4096];
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n > 0) received.append(buffer, static_cast<size_t>(n)).append("\n");
  }
  return received;
}

size_t LineCount(const std::string& text) { return CountOf(text, "\n") + (!text.empty() && text.back() != '\n'); }

class SystemdTest : public ::testing::Test {
 protected:
  TempDir dir_{"taskledger-systemd"};
  std::string root_ = dir_.path();
  std::string db_ = root_ + "/ledger.db";
  std::string socket_path_ = root_ + "/activated.sock";
};

TEST_F(SystemdTest, ServesTheSocketSystemdPassedAndLeavesItsPathInPlace) {
  const int listening = BoundUnixSocket(socket_path_, SOCK_STREAM);
  ASSERT_GE(listening, 0) << std::strerror(errno);
  ActivatedProcess server({"--db", db_, "serve"}, listening, "rpc", root_ + "/server.out");
  ::close(listening);  // the server has its own copy, as a service has systemd's
  ASSERT_TRUE(server.WaitListening(20s)) << server.output();
  EXPECT_NE(server.output().find("listening on unix:" + socket_path_), std::string::npos) << server.output();

  const std::string address = "unix:" + socket_path_;
  const ProcessResult created = RunProcess({TaskledgerBinary(), "--connect", address, "create", "t1", "--title", "T"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_EQ(created.out, "t1\n");
  const ProcessResult shown = RunProcess({TaskledgerBinary(), "--connect", address, "show", "t1", "--json"});
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.out.find("\"ready\""), std::string::npos) << shown.out;

  server.Signal(SIGTERM);
  EXPECT_EQ(server.WaitExit(10s), 0) << server.output();
  EXPECT_TRUE(IsSocketFile(socket_path_)) << "the server unlinked the socket systemd owns";
}

TEST_F(SystemdTest, NotifiesReadyOnceServingAndStoppingOnSigterm) {
  const std::string notify_path = root_ + "/notify.sock";
  const int notify = BoundUnixSocket(notify_path, SOCK_DGRAM);
  ASSERT_GE(notify, 0) << std::strerror(errno);
  Background notified({TaskledgerBinary(), "--db", db_, "serve", "--listen", "unix:" + root_ + "/notified.sock"},
                      {"NOTIFY_SOCKET=" + notify_path}, root_ + "/notified.out");

  const std::string ready = ReceiveUntil(notify, "READY=1", 20s);
  ASSERT_NE(ready.find("READY=1"), std::string::npos) << notified.output();
  EXPECT_NE(ready.find("STATUS=serving ledger " + db_), std::string::npos) << ready;
  // Ready means accepting: a client may connect the moment systemd says so.
  const int client = RawConnect(root_ + "/notified.sock");
  EXPECT_GE(client, 0);
  if (client >= 0) ::close(client);

  notified.Signal(SIGTERM);
  const std::string stopping = ReceiveUntil(notify, "STOPPING=1", 10s);
  EXPECT_NE(stopping.find("STOPPING=1"), std::string::npos) << notified.output();
  EXPECT_EQ(notified.WaitExit(10s), 0) << notified.output();
  ::close(notify);
}

// serve refused to start: exit 2, one line on stderr naming what was wrong.
void ExpectOneLineRefusal(ActivatedProcess& server, const std::string& says) {
  EXPECT_EQ(server.WaitExit(10s), 2) << server.output();
  const std::string err = server.output();
  EXPECT_EQ(LineCount(err), 1u) << err;
  EXPECT_NE(err.find(says), std::string::npos) << err;
}

TEST_F(SystemdTest, RefusesListenWhenSystemdPassedASocket) {
  const int listening = BoundUnixSocket(socket_path_, SOCK_STREAM);
  ASSERT_GE(listening, 0) << std::strerror(errno);
  ActivatedProcess server({"--db", db_, "serve", "--listen", "unix:" + root_ + "/other.sock"}, listening, "rpc",
                          root_ + "/server.out");
  ::close(listening);
  ExpectOneLineRefusal(server, "drop --listen");
  EXPECT_FALSE(IsSocketFile(root_ + "/other.sock"));
}

TEST_F(SystemdTest, ServesHttpOnThePassedSocketNamedHttp) {
  const std::string http_path = root_ + "/http.sock";
  const int rpc = BoundUnixSocket(socket_path_, SOCK_STREAM);
  const int http = BoundUnixSocket(http_path, SOCK_STREAM);
  ASSERT_GE(rpc, 0) << std::strerror(errno);
  ASSERT_GE(http, 0) << std::strerror(errno);
  ActivatedProcess server({"--db", db_, "serve"}, {{rpc, "rpc"}, {http, "http"}}, root_ + "/server.out");
  ::close(rpc);
  ::close(http);
  ASSERT_TRUE(server.WaitListening(20s)) << server.output();
  EXPECT_NE(server.output().find("http on unix:" + http_path), std::string::npos) << server.output();
  EXPECT_EQ(server.output().find("leaving the systemd socket"), std::string::npos) << server.output();

  const HttpResponse health = HttpOverUnix(http_path, "GET", "/healthz");
  EXPECT_EQ(health.status, 200) << health.error;
  const ProcessResult created =
      RunProcess({TaskledgerBinary(), "--connect", "unix:" + socket_path_, "create", "t1", "--title", "T"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  const HttpResponse metrics = HttpOverUnix(http_path, "GET", "/metrics");
  EXPECT_NE(metrics.body.find("\ntaskledger_commands_total{kind=\"create\",outcome=\"ok\"} 1\n"), std::string::npos)
      << metrics.body;

  server.Signal(SIGTERM);
  EXPECT_EQ(server.WaitExit(10s), 0) << server.output();
  EXPECT_TRUE(IsSocketFile(http_path)) << "the server unlinked the HTTP socket systemd owns";
}

TEST_F(SystemdTest, RefusesHttpFlagWhenSystemdPassedAnHttpSocket) {
  const int rpc = BoundUnixSocket(socket_path_, SOCK_STREAM);
  const int http = BoundUnixSocket(root_ + "/http.sock", SOCK_STREAM);
  ASSERT_GE(rpc, 0) << std::strerror(errno);
  ASSERT_GE(http, 0) << std::strerror(errno);
  ActivatedProcess server({"--db", db_, "serve", "--http", "unix:" + root_ + "/other.sock"},
                          {{rpc, "rpc"}, {http, "http"}}, root_ + "/server.out");
  ::close(rpc);
  ::close(http);
  ExpectOneLineRefusal(server, "drop --http");
  EXPECT_FALSE(IsSocketFile(root_ + "/other.sock"));
}

TEST_F(SystemdTest, RefusesSocketsOfOtherNamesWithoutAnRpcOne) {
  const int listening = BoundUnixSocket(socket_path_, SOCK_STREAM);
  ASSERT_GE(listening, 0) << std::strerror(errno);
  ActivatedProcess server({"--db", db_, "serve"}, listening, "http", root_ + "/server.out");
  ::close(listening);
  ExpectOneLineRefusal(server, "FileDescriptorName=rpc");
}

TEST_F(SystemdTest, RefusesAPassedSocketThatIsNotListening) {
  const int datagram = BoundUnixSocket(socket_path_, SOCK_DGRAM);
  ASSERT_GE(datagram, 0) << std::strerror(errno);
  ActivatedProcess server({"--db", db_, "serve"}, datagram, "rpc", root_ + "/server.out");
  ::close(datagram);
  ExpectOneLineRefusal(server, "not a listening stream socket");
}

}  // namespace
}  // namespace taskledger
