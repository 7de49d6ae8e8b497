#include "tests/support/server.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <sstream>

namespace taskledger::test {

namespace {

std::vector<std::string> ServeArgv(const std::string& db, const std::string& address,
                                   const std::vector<std::string>& serve_args,
                                   const std::vector<std::string>& global_args) {
  std::vector<std::string> argv = {TaskledgerBinary()};
  argv.insert(argv.end(), global_args.begin(), global_args.end());
  argv.insert(argv.end(), {"--db", db, "serve", "--listen", address});
  argv.insert(argv.end(), serve_args.begin(), serve_args.end());
  return argv;
}

}  // namespace

ServerProcess::ServerProcess(const std::string& db, const std::string& socket_path, const std::string& out_path,
                             const std::vector<std::string>& serve_args, const std::vector<std::string>& global_args)
    : address_("unix:" + socket_path), process_(ServeArgv(db, address_, serve_args, global_args), {}, out_path) {}

ServerProcess::~ServerProcess() {
  if (!process_.Poll()) Stop();
}

bool ServerProcess::WaitListening(std::chrono::milliseconds limit) {
  return WaitUntil([&] { return process_.Poll() || output().find("listening on") != std::string::npos; }, limit) &&
         !process_.Poll();
}

int ServerProcess::Stop(std::chrono::milliseconds limit) {
  if (!process_.Poll()) process_.Signal(SIGTERM);
  return process_.WaitExit(limit);
}

int RawConnect(const std::string& socket_path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path.c_str(), sizeof(addr.sun_path) - 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

size_t CountOf(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

void ServerTest::SetUp() {
  ASSERT_FALSE(root_.empty());
  Prepare(root_ + "/ledger.db");
  if (HasFatalFailure()) return;
  server_ = std::make_unique<ServerProcess>(root_ + "/ledger.db", socket_path_, root_ + "/server.out",
                                            ExtraServeArgs(), ExtraGlobalArgs());
  ASSERT_TRUE(server_->WaitListening(10s)) << server_->output();
}

void ServerTest::TearDown() {
  if (server_ == nullptr) return;
  EXPECT_EQ(server_->Stop(10s), 0) << server_->output();
}

std::vector<std::string> ServerTest::Env() const {
  return {"TASKLEDGER_ADDR=" + address_, "TL=" + TaskledgerBinary(), "MARKER=" + root_ + "/marker"};
}

ProcessResult ServerTest::Run(std::vector<std::string> args) {
  args.insert(args.begin(), TaskledgerBinary());
  return RunProcess(args, Env());
}

std::string ServerTest::Ok(const std::vector<std::string>& args) {
  const ProcessResult r = Run(args);
  EXPECT_EQ(r.exit_code, 0) << ::testing::PrintToString(args) << ": " << r.err;
  return r.out;
}

nlohmann::json ServerTest::Json(std::vector<std::string> args) {
  args.insert(args.begin(), "--json");
  return nlohmann::json::parse(Ok(args), nullptr, false);
}

std::vector<nlohmann::json> ServerTest::Events(const std::string& task) {
  std::vector<nlohmann::json> events;
  std::istringstream lines(Ok({"--json", "log", "--task", task}));
  std::string line;
  while (std::getline(lines, line)) events.push_back(nlohmann::json::parse(line));
  return events;
}

int ServerTest::Count(const std::vector<nlohmann::json>& events, const std::string& kind, const std::string& actor) {
  int n = 0;
  for (const auto& e : events) n += e["kind"] == kind && (actor.empty() || e["actor"] == actor);
  return n;
}

const nlohmann::json& ServerTest::First(const std::vector<nlohmann::json>& events, const std::string& kind) {
  for (const auto& e : events) {
    if (e["kind"] == kind) return e;
  }
  static const nlohmann::json kNone;
  return kNone;
}

std::unique_ptr<Background> ServerTest::Supervise(const std::string& task, const std::string& worker,
                                                  const std::string& ttl, const std::string& grace,
                                                  const std::string& script) {
  return std::make_unique<Background>(
      std::vector<std::string>{TaskledgerBinary(), "run", task, "--worker", worker, "--ttl", ttl, "--grace", grace,
                               "--", "/bin/sh", "-c", script},
      Env(), root_ + "/" + worker + ".out");
}

pid_t ServerTest::WaitForChild() {
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

void ServerTest::SigtermASupervisorWhoseChildIgnoresIt(const std::string& task, const std::string& worker,
                                                       const std::string& grace) {
  auto zombie = Supervise(task, worker, "30s", grace, "trap '' TERM; echo $$ > \"$MARKER\"; while :; do sleep 0.05; done");
  const pid_t child = WaitForChild();
  ASSERT_GT(child, 0);
  zombie->Signal(SIGTERM);
  // The supervisor forwards TERM, waits the grace, kills the group, reaps it.
  EXPECT_EQ(zombie->WaitExit(10s), 128 + SIGKILL) << zombie->output();
  EXPECT_TRUE(GroupIsGone(child));
}

void ServerTest::ExpectDoneByAnotherWorkerAfterOneInterruption(const std::string& task, const std::string& worker) {
  auto second = Supervise(task, worker, "30s", "1s", "exit 0");
  EXPECT_EQ(second->WaitExit(10s), 0) << second->output();
  const nlohmann::json shown = Json({"show", task});
  EXPECT_EQ(shown["status"], "done");
  EXPECT_EQ(shown["failures"], 0);  // the interrupted attempt is not a failure
  EXPECT_EQ(shown["interruptions"], 1);
}

void ServerTest::ExpectStillServing() {
  const std::string id = "probe" + std::to_string(probes_++);
  EXPECT_EQ(Ok({"create", id, "--title", "still here"}), id + "\n");
}

}  // namespace taskledger::test
