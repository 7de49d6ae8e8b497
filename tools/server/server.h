// `taskledger serve`: one process owns the ledger; clients speak schemas/rpc.capnp.
#pragma once

#include <cstdint>
#include <string>

#include "projections/event.h"
#include "projections/status.h"

namespace taskledger::server {

// An idle client is dropped after this long by default: long enough for any pause of a
// script between two verbs, short enough that abandoned connections do not pile up.
inline constexpr int64_t kDefaultIdleTimeoutNs = 300 * kNanosPerSecond;

struct ServeOptions {
  std::string db_path;
  std::string listen = "unix:./taskledger.sock";  // or tcp:HOST:PORT
  // --listen was given. Under socket activation (systemd passed the listening socket) that
  // is refused: the .socket unit says where to listen.
  bool listen_given = false;
  // TCP on a non-loopback address only when this is set (--allow-remote).
  bool allow_remote = false;
  bool sync = true;
  // A connection that has received no bytes for this long, with no call in flight and no
  // `follow` stream open, is closed (--idle-timeout). 0: never.
  int64_t idle_timeout_ns = kDefaultIdleTimeoutNs;
  // --http: where to serve GET /metrics and /healthz (unix:PATH or tcp:HOST:PORT, the
  // rules of --listen); empty: no HTTP listener, unless systemd passed one named `http`.
  std::string http;
  // --cluster: the cluster config's path (tools/server/cluster_config.h); empty: a single
  // node. In a cluster `db_path` is this server's local view of the partition's log, and
  // the server listens on its address in the config unless --listen says otherwise.
  std::string cluster_config;
  // What taskledger_build_info reports: the CLI's --version.
  std::string version;
  std::string revision;
};

// Serves the socket systemd passed when socket-activated (the one named `rpc`), otherwise
// `listen`; and HTTP (metrics) on the passed socket named `http`, otherwise on `http` if
// set. Tells systemd READY=1 once serving and STOPPING=1 when it stops
// (systemd_support.h; both no-ops outside systemd).
// Runs until SIGTERM or SIGINT, then stops accepting, commits and acknowledges what is in
// flight and closes the ledger. Returns the process exit code.
int Serve(const ServeOptions& options);

}  // namespace taskledger::server
