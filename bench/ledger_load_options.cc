// ledger_load, the command line: every option, its checks, and the address the clients
// connect to (bench/ledger_load.cc describes the program).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>
#include <string>

#include "bench/ledger_load.h"

namespace taskledger::bench {
namespace {

// capnp::EzRpcClient's address for `address` (unix:/path, or tcp:HOST:PORT as HOST:PORT);
// nullopt if it is neither.
std::optional<std::string> EndpointOf(const std::string& address) {
  if (address.rfind("unix:", 0) == 0 && address.size() > 5) return address;
  if (address.rfind("tcp:", 0) == 0 && address.find(':', 4) != std::string::npos) return address.substr(4);
  return std::nullopt;
}

}  // namespace

std::optional<int> ParseOptions(int argc, char** argv, Config* options) {
  Config& config = *options;
  CLI::App app("Drive full task cycles against a taskledger server", "ledger_load");
  app.add_option("--connect", config.address, "the server: unix:/path or tcp:HOST:PORT")
      ->required()
      ->envname("TASKLEDGER_ADDR");
  app.add_option("--clients", config.clients, "client threads, one connection each")->check(CLI::Range(1, 4096));
  app.add_option("--tasks", config.tasks, "task cycles in all, shared among the clients");
  app.add_option("--heartbeats", config.heartbeats, "heartbeats per task")->check(CLI::Range(0, 10000));
  app.add_option("--queue", config.queue, "queue the tasks go to (default load)");
  app.add_option("--ping-calls", config.ping_calls, "`now` calls per client before the load (default 200; 0: none)");
  app.add_option("--max-seconds", config.max_seconds, "stop starting new tasks after this long (default: no limit)");
  app.add_option("--inflight", config.inflight, "task cycles in flight per connection (default 1: one call at a time)")
      ->check(CLI::Range(1, 4096));
  app.add_flag("--no-create", config.no_create,
               "create the tasks before the load (not timed); cycles are claim --next, heartbeats, complete");
  app.add_option("--slots", config.inflight, "--pattern worker: leases held per connection (the same as --inflight)")
      ->check(CLI::Range(1, 1000));
  app.add_option("--lanes", config.lanes,
                 "--pattern worker: split each connection's leases into this many lanes, each with its own call "
                 "in flight (default 1: one call at a time)")
      ->check(CLI::Range(1, 1000));
  std::string pattern = "percommand";
  app.add_option("--pattern", pattern,
                 "percommand (default): one command per call, F cycles in flight per connection; worker: one "
                 "worker per connection holding F leases, batched calls (needs --no-create)")
      ->check(CLI::IsMember({"percommand", "worker"}));
  app.add_flag("--no-verify", [&](int64_t) { config.verify = false; },
               "--pattern worker: skip reading the ledger back after the load");
  app.add_flag("--json", config.json, "one JSON object");
  try {  // as CLI11_PARSE, which returns from an int function
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  config.worker = pattern == "worker";
  if (config.worker && !config.no_create) {
    std::fprintf(stderr, "ledger_load: --pattern worker needs --no-create (tasks created before the load)\n");
    return 2;
  }
  if (config.worker && 2 * static_cast<size_t>(config.inflight) > 1024) {
    std::fprintf(stderr, "ledger_load: --pattern worker: at most 512 slots (a call carries up to 2 x F commands)\n");
    return 2;
  }
  std::optional<std::string> endpoint = EndpointOf(config.address);
  if (!endpoint) {
    std::fprintf(stderr, "ledger_load: --connect: expected unix:/path or tcp:HOST:PORT, not '%s'\n",
                 config.address.c_str());
    return 2;
  }
  config.endpoint = *endpoint;
  return std::nullopt;
}

}  // namespace taskledger::bench
