// The crash loop (DESIGN §5 invariant 5, §7 story 5): a real `taskledger serve` under load
// from several client processes is killed with SIGKILL at random moments and restarted.
// Clients append a command to their own acknowledgement file only after the ledger
// acknowledged it (the CLI exited 0, or the RPC outcome was ok), with the seq of its
// event. At the end every acknowledged event must be in the log at its seq with its kind
// and task, the log's seqs must be dense, and verify (whose replay refuses a claim while
// another lease is live) must be clean. Prints the counts; exits 1 on any loss.
//
//   taskledger_crash_loop --bin PATH/taskledger --work DIR [--kills N] [--clients N]
//                         [--seed S] [--max-seconds T]
// Clients alternate between the CLI (a process per command, `--connect`, `--json`) and
// raw RPC with several commands per call (which the server commits in groups).
#include <capnp/ez-rpc.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ledger/ledger.h"
#include "ledger/wire.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace taskledger::crash {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string bin;
  std::string work;
  int kills = 20;
  int clients = 4;
  uint64_t seed = 1;
  int max_seconds = 150;
};

std::string Db(const Options& o) { return o.work + "/ledger.db"; }
std::string Socket(const Options& o) { return o.work + "/ledger.sock"; }
std::string Address(const Options& o) { return "unix:" + Socket(o); }

// Clients stop when the driver creates this file (a signal would interrupt their reads of
// the CLI's output).
std::string StopFile(const Options& o) { return o.work + "/stop"; }
bool Stopping(const Options& o) { return ::access(StopFile(o).c_str(), F_OK) == 0; }

// Appends "kind task seq" lines, one write(2) each: complete lines even if we die.
class AckLog {
 public:
  explicit AckLog(const std::string& path) : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) {}
  ~AckLog() { ::close(fd_); }
  void Write(const std::string& kind, const std::string& task, uint64_t seq) {
    const std::string line = kind + " " + task + " " + std::to_string(seq) + "\n";
    if (::write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) std::abort();
  }

 private:
  int fd_;
};

// ---- The CLI client: one process per command ----

struct CliReply {
  int exit_code = -1;
  std::string task;
  uint64_t seq = 0;
};

CliReply Cli(const Options& o, std::vector<std::string> args) {
  args.insert(args.begin(), {o.bin, "--json", "--connect", Address(o)});
  const test::ProcessResult r = test::RunProcess(args);
  CliReply reply;
  reply.exit_code = r.exit_code;
  if (r.exit_code == 0) {
    const nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
    if (j.is_object() && j.contains("seq") && j.contains("task")) {
      reply.seq = j["seq"].get<uint64_t>();
      reply.task = j["task"].get<std::string>();
    } else {
      std::fprintf(stderr, "crash loop: unexpected CLI output: %s\n", r.out.c_str());
      reply.exit_code = -2;
    }
  }
  return reply;
}

void CliClient(const Options& o, int index, AckLog& acks) {
  std::mt19937_64 random(o.seed * 7919 + static_cast<uint64_t>(index));
  const std::string me = std::to_string(index);
  const std::string worker = "cli" + me;
  for (uint64_t n = 0; !Stopping(o); ++n) {
    const std::string id = "c" + me + "-" + std::to_string(n);
    CliReply r = Cli(o, {"create", id, "--title", "crash loop", "--ttl", "60s"});
    if (r.exit_code == 0) {
      acks.Write("created", id, r.seq);
      r = Cli(o, {"claim", id, "--worker", worker});
      if (r.exit_code == 0) {
        acks.Write("claimed", id, r.seq);
        const std::string token = std::to_string(r.seq);
        if (random() % 2 == 0) {
          r = Cli(o, {"heartbeat", id, "--token", token, "--note", "busy"});
          if (r.exit_code == 0) acks.Write("heartbeat", id, r.seq);
        }
        r = Cli(o, {"complete", id, "--token", token, "--result", "done"});
        if (r.exit_code == 0) acks.Write("completed", id, r.seq);
      }
    }
    // The shared queue: short leases that lapse across crashes and are taken over.
    if (n % 3 == 0) {
      const std::string shared = "s" + me + "-" + std::to_string(n);
      r = Cli(o, {"create", shared, "--title", "shared", "--queue", "shared", "--ttl", "400ms"});
      if (r.exit_code == 0) acks.Write("created", shared, r.seq);
    }
    r = Cli(o, {"claim", "--next", "--queue", "shared", "--worker", worker, "--ttl", "300ms"});
    if (r.exit_code == 0) {
      acks.Write("claimed", r.task, r.seq);
      if (random() % 3 != 0) {
        const std::string task = r.task;
        r = Cli(o, {"complete", task, "--token", std::to_string(r.seq)});
        if (r.exit_code == 0) acks.Write("completed", task, r.seq);
      }
    }
  }
}

// ---- The RPC client: several commands per call ----

const char* AckKind(CommandKind kind) {
  switch (kind) {
    case CommandKind::kCreate: return "created";
    case CommandKind::kClaim: return "claimed";
    case CommandKind::kHeartbeat: return "heartbeat";
    case CommandKind::kComplete: return "completed";
    default: return "other";
  }
}

void RpcClient(const Options& o, int index, AckLog& acks) {
  std::mt19937_64 random(o.seed * 104729 + static_cast<uint64_t>(index));
  const std::string me = std::to_string(index);
  const std::string worker = "rpc" + me;
  uint64_t n = 0;
  std::vector<std::string> created;             // acknowledged, not yet claimed by us
  std::map<std::string, uint64_t> claimed;      // task -> our token
  while (!Stopping(o)) {
    try {
      capnp::EzRpcClient client(Address(o));
      auto ledger = client.getMain<rpc::Ledger>();
      while (!Stopping(o)) {
        std::vector<Command> batch;
        for (int i = static_cast<int>(random() % 3); i > 0; --i) {
          Command c;
          c.kind = CommandKind::kCreate;
          c.task_id = "r" + me + "-" + std::to_string(n++);
          c.actor = "dispatcher";
          c.spec.title = "crash loop";
          c.spec.lease_ttl_ns = 60 * kNanosPerSecond;
          if (random() % 4 == 0) {
            c.spec.queue = "shared";
            c.spec.lease_ttl_ns = 400 * kNanosPerMilli;
          }
          batch.push_back(c);
        }
        for (size_t i = 0; i < 2 && !created.empty(); ++i) {
          Command c;
          c.kind = CommandKind::kClaim;
          c.task_id = created.back();
          c.actor = worker;
          created.pop_back();
          batch.push_back(c);
        }
        for (size_t i = 0; i < 2 && !claimed.empty(); ++i) {
          Command c;
          c.kind = random() % 4 == 0 ? CommandKind::kHeartbeat : CommandKind::kComplete;
          c.task_id = claimed.begin()->first;
          c.token = claimed.begin()->second;
          c.actor = worker;
          if (c.kind == CommandKind::kComplete) claimed.erase(claimed.begin());
          batch.push_back(c);
        }
        Command next;
        next.kind = CommandKind::kClaim;
        next.next = true;
        next.queue = "shared";
        next.actor = worker;
        next.ttl_ns = 300 * kNanosPerMilli;
        batch.push_back(next);

        auto request = ledger.submitRequest();
        auto list = request.initCommands(static_cast<unsigned>(batch.size()));
        for (size_t i = 0; i < batch.size(); ++i) wire::WriteCommand(batch[i], list[static_cast<unsigned>(i)]);
        auto response = request.send().wait(client.getWaitScope());
        auto outcomes = response.getOutcomes();
        if (outcomes.size() != batch.size()) std::abort();
        for (size_t i = 0; i < batch.size(); ++i) {
          Result<Outcome> outcome = wire::ReadOutcome(outcomes[static_cast<unsigned>(i)]);
          if (!outcome.ok() || !outcome->status.ok() || outcome->reply.events.empty()) continue;
          const Command& c = batch[i];
          const Event& first = outcome->reply.events.front();
          acks.Write(AckKind(c.kind), outcome->reply.task_id, first.seq);
          if (c.kind == CommandKind::kCreate && c.spec.queue.empty()) created.push_back(c.task_id);
          if (c.kind == CommandKind::kClaim && !c.next) claimed[c.task_id] = first.seq;
        }
      }
    } catch (const kj::Exception&) {
      // The server went away (killed): reconnect when it is back.
      std::this_thread::sleep_for(20ms);
    }
  }
}

// ---- The driver ----

pid_t StartServer(const Options& o, int generation) {
  const std::string log = o.work + "/server-" + std::to_string(generation) + ".log";
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::execl(o.bin.c_str(), o.bin.c_str(), "--db", Db(o).c_str(), "serve", "--listen", Address(o).c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

bool Listening(const Options& o) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, Socket(o).c_str(), sizeof(addr.sun_path) - 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

bool WaitListening(const Options& o, pid_t server) {
  const auto give_up = Clock::now() + 30s;
  while (Clock::now() < give_up) {
    if (Listening(o)) return true;
    int status;
    if (::waitpid(server, &status, WNOHANG) == server) return false;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

void Kill9(pid_t pid) {
  ::kill(pid, SIGKILL);
  int status;
  ::waitpid(pid, &status, 0);
}

struct Ack {
  std::string kind, task;
  uint64_t seq;
  std::string file;
};

std::vector<Ack> ReadAcks(const Options& o) {
  std::vector<Ack> acks;
  for (int i = 0; i < o.clients; ++i) {
    const std::string path = o.work + "/acks-" + std::to_string(i) + ".txt";
    std::ifstream in(path);
    Ack a;
    while (in >> a.kind >> a.task >> a.seq) {
      a.file = path;
      acks.push_back(a);
    }
  }
  return acks;
}

// One client process per index, alternating the CLI and raw RPC; each appends to its own
// acknowledgement file until the driver stops it.
std::vector<pid_t> StartClients(const Options& o) {
  std::vector<pid_t> clients;
  for (int i = 0; i < o.clients; ++i) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      AckLog acks(o.work + "/acks-" + std::to_string(i) + ".txt");
      if (i % 2 == 0) CliClient(o, i, acks);
      else RpcClient(o, i, acks);
      ::_exit(0);
    }
    clients.push_back(pid);
  }
  return clients;
}

// Each client finishes the command it is in and exits (killed if it takes over a minute).
void StopClients(const Options& o, const std::vector<pid_t>& clients) {
  std::ofstream(StopFile(o)).put('\n');
  for (pid_t c : clients) {
    const auto give_up = Clock::now() + 60s;
    int status;
    while (::waitpid(c, &status, WNOHANG) != c) {
      if (Clock::now() > give_up) Kill9(c);
      std::this_thread::sleep_for(10ms);
    }
  }
}

// The server of the moment, and what its crashes showed.
struct Server {
  pid_t pid = -1;
  int generation = 0;
  int crashes = 0;
  int verify_failures = 0;  // `taskledger verify` on the ledger exactly as a crash left it
};

// Up to o.kills times (within the time limit): load for a random while, SIGKILL, verify
// before anything recovers the ledger, restart. False if the server did not come back.
bool CrashRepeatedly(const Options& o, Clock::time_point started, std::mt19937_64& random, Server& server) {
  for (int k = 0; k < o.kills; ++k) {
    if (Clock::now() - started > std::chrono::seconds(o.max_seconds)) {
      std::printf("crash loop: time limit reached after %d kills\n", server.crashes);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + random() % 800));  // load, then a random moment
    Kill9(server.pid);
    ++server.crashes;
    const test::ProcessResult verify = test::RunProcess({o.bin, "--db", Db(o), "verify"});
    if (verify.exit_code != 0) {
      ++server.verify_failures;
      std::fprintf(stderr, "crash loop: verify after crash %d failed: %s%s\n", server.crashes, verify.out.c_str(),
                   verify.err.c_str());
    }
    server.pid = StartServer(o, ++server.generation);
    if (!WaitListening(o, server.pid)) {
      std::fprintf(stderr, "crash loop: the server did not restart after crash %d (see %s/server-%d.log)\n",
                   server.crashes, o.work.c_str(), server.generation);
      return false;
    }
  }
  return true;
}

// The ledger after the last crash against what the clients were told.
struct Findings {
  std::vector<Ack> acks;
  std::map<std::string, uint64_t> by_kind;  // acknowledged commands by event kind
  size_t events = 0;
  uint64_t lost = 0;
  bool dense = true;
  bool verified = false;      // the library's verify
  bool cli_verified = false;  // `taskledger verify`
};

// Every acknowledged event is in the log, at its seq, with its kind and task. Nothing if
// the ledger cannot be read (said on stderr).
std::optional<Findings> CheckTheLedger(const Options& o) {
  SystemClock clock;
  LedgerOptions options;
  options.path = Db(o);
  Result<std::unique_ptr<Ledger>> ledger = Ledger::Open(options, &clock);
  if (!ledger.ok()) {
    std::fprintf(stderr, "crash loop: cannot open the ledger after the last crash: %s\n",
                 ledger.status().ToString().c_str());
    return std::nullopt;
  }
  Findings f;
  std::vector<std::pair<std::string, std::string>> log(1);  // by seq: kind, task
  const Status read = (*ledger)->ForEachEvent(1, [&](const Event& e) {
    if (e.seq != log.size()) f.dense = false;
    log.emplace_back(std::string(EventKindName(e.kind)), e.task_id);
    return true;
  });
  if (!read.ok()) {
    std::fprintf(stderr, "crash loop: reading the log failed: %s\n", read.ToString().c_str());
    return std::nullopt;
  }
  f.events = log.size() - 1;
  f.acks = ReadAcks(o);
  for (const Ack& a : f.acks) {
    f.by_kind[a.kind]++;
    if (a.seq >= log.size() || log[a.seq].first != a.kind || log[a.seq].second != a.task) {
      if (++f.lost <= 10) {
        std::fprintf(stderr, "crash loop: LOST: %s %s at seq %llu (acknowledged in %s); the log has %s\n",
                     a.kind.c_str(), a.task.c_str(), static_cast<unsigned long long>(a.seq), a.file.c_str(),
                     a.seq < log.size() ? (log[a.seq].first + " " + log[a.seq].second).c_str() : "no such seq");
      }
    }
  }
  Result<VerifyReport> report = (*ledger)->Verify();
  f.verified = report.ok() && report->problems.empty();
  if (!f.verified) {
    std::fprintf(stderr, "crash loop: final verify: %s\n",
                 report.ok() ? report->problems.front().c_str() : report.status().ToString().c_str());
  }
  ledger->reset();
  const test::ProcessResult cli_verify = test::RunProcess({o.bin, "--db", Db(o), "verify"});
  f.cli_verified = cli_verify.exit_code == 0;
  if (!f.cli_verified) std::fprintf(stderr, "crash loop: taskledger verify: %s\n", cli_verify.err.c_str());
  return f;
}

void PrintSummary(const Server& server, const Findings& f, double seconds) {
  std::printf("crash loop: crashes %d, acknowledged commands %zu (", server.crashes, f.acks.size());
  bool first = true;
  for (const auto& [kind, count] : f.by_kind) {
    std::printf("%s%s %llu", first ? "" : ", ", kind.c_str(), static_cast<unsigned long long>(count));
    first = false;
  }
  std::printf("), events in the log %zu, lost %llu, verify failures after a crash %d, seq dense %s, final verify %s, "
              "%.1f s\n",
              f.events, static_cast<unsigned long long>(f.lost), server.verify_failures, f.dense ? "yes" : "NO",
              f.verified && f.cli_verified ? "clean" : "FAILED", seconds);
}

int Main(const Options& o) {
  std::filesystem::remove_all(o.work);
  std::filesystem::create_directories(o.work);
  std::mt19937_64 random(o.seed);
  const auto started = Clock::now();
  std::printf("crash loop: seed %llu, %d kills, %d clients, work dir %s\n", static_cast<unsigned long long>(o.seed),
              o.kills, o.clients, o.work.c_str());

  Server server;
  server.pid = StartServer(o, server.generation);
  if (!WaitListening(o, server.pid)) {
    std::fprintf(stderr, "crash loop: the server did not start (see %s/server-0.log)\n", o.work.c_str());
    return 1;
  }
  const std::vector<pid_t> clients = StartClients(o);
  if (!CrashRepeatedly(o, started, random, server)) {
    for (pid_t c : clients) Kill9(c);
    return 1;
  }
  // Stop the clients, then one last crash.
  StopClients(o, clients);
  Kill9(server.pid);
  ++server.crashes;

  const std::optional<Findings> f = CheckTheLedger(o);
  if (!f) return 1;
  PrintSummary(server, *f, std::chrono::duration<double>(Clock::now() - started).count());
  const bool ok = f->lost == 0 && f->dense && f->verified && f->cli_verified && server.verify_failures == 0 &&
                  f->acks.size() > 0 && server.crashes > o.kills / 2;
  if (ok) std::filesystem::remove_all(o.work);
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace taskledger::crash

int main(int argc, char** argv) {
  taskledger::crash::Options o;
  // The default work dir: removed by Main on success, kept with its logs on failure.
  std::optional<taskledger::test::TempDir> dir;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "crash loop: %s needs a value\n", arg.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--bin") o.bin = value();
    else if (arg == "--work") o.work = value();
    else if (arg == "--kills") o.kills = std::stoi(value());
    else if (arg == "--clients") o.clients = std::stoi(value());
    else if (arg == "--seed") o.seed = std::stoull(value());
    else if (arg == "--max-seconds") o.max_seconds = std::stoi(value());
    else {
      std::fprintf(stderr, "usage: %s --bin TASKLEDGER [--work DIR] [--kills N] [--clients N] [--seed S] [--max-seconds T]\n",
                   argv[0]);
      return 2;
    }
  }
  if (o.bin.empty()) {
    std::fprintf(stderr, "crash loop: --bin is required\n");
    return 2;
  }
  if (o.work.empty()) {
    dir.emplace("taskledger-crash");
    if (dir->path().empty()) return 1;
    dir->Keep();
    o.work = dir->path();
  }
  if (o.clients < 1) o.clients = 1;
  return taskledger::crash::Main(o);
}
