// `taskledger serve`: flags to ServeOptions; the server itself is tools/server.
#include <memory>
#include <string>

#include "tools/cli/verbs.h"
#include "tools/server/server.h"

namespace taskledger::cli {

// tools/cli/version.cmake: what --version prints, reported as taskledger_build_info.
extern const char kVersion[];
extern const char kRevision[];

namespace {

struct ServeFlags {
  server::ServeOptions options;
  bool no_sync = false;
  std::string idle_timeout;
};

int RunServe(const Cli& cli, const CLI::App& verb, ServeFlags& flags) {
  const Globals& globals = cli.globals();
  if (!globals.connect.empty()) return Usage("serve owns a ledger: give --db, not --connect");
  if (verb.count("--idle-timeout") != 0) {
    if (flags.idle_timeout == "0") {  // a bare 0 reads naturally here; durations need a unit
      flags.options.idle_timeout_ns = 0;
    } else {
      Result<int64_t> ns = DurationFlag("--idle-timeout", flags.idle_timeout);
      if (!ns.ok()) return Fail(ns.status());
      flags.options.idle_timeout_ns = *ns;
    }
  }
  flags.options.listen_given = verb.count("--listen") != 0;
  flags.options.db_path = globals.db;
  flags.options.sync = !flags.no_sync;
  flags.options.version = kVersion;
  flags.options.revision = kRevision;
  return server::Serve(flags.options);
}

}  // namespace

void AddServeVerb(CLI::App& app, Cli& cli, VerbAction& run) {
  auto flags = std::make_shared<ServeFlags>();
  auto* verb = app.add_subcommand("serve", "own the ledger and serve clients over Cap'n Proto RPC");
  verb->add_option("--listen", flags->options.listen, "unix:/path (default unix:./taskledger.sock) or tcp:HOST:PORT; "
                   "not with a socket from systemd (socket activation)");
  verb->add_option("--http", flags->options.http, "also serve GET /metrics (Prometheus) and /healthz over HTTP on "
                   "unix:/path or tcp:HOST:PORT; not with a socket named http from systemd");
  verb->add_option("--cluster", flags->options.cluster_config,
                   "serve as one server of a cluster on NATS JetStream, as the JSON file CONFIG says "
                   "(docs/scale-out.md); --db is this server's local view of the partition's log")
      ->type_name("CONFIG");
  verb->add_flag("--allow-remote", flags->options.allow_remote, "let tcp (--listen, --http) bind a non-loopback address");
  verb->add_flag("--no-sync", flags->no_sync, "acknowledge before fsync (benchmarks only: loses data on power cut)");
  verb->add_option("--idle-timeout", flags->idle_timeout,
                   "close a connection that sent nothing this long with no call or follow open (default 5m; 0 disables)");
  verb->callback([&run, &cli, verb, flags] { run = [&cli, verb, flags] { return RunServe(cli, *verb, *flags); }; });
}

}  // namespace taskledger::cli
