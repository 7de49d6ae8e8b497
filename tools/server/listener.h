// Listening sockets of `taskledger serve`: the RPC one (--listen, or systemd's `rpc`) and
// the HTTP one (--http, or systemd's `http`). Both follow the same rules: tcp on loopback
// unless --allow-remote; a unix socket created owner-only (0600), replacing the stale
// socket of a dead server and refusing the one of a live server.
#pragma once

#include <kj/async-io.h>

#include <string>

#include "projections/status.h"
#include "tools/common/address.h"

namespace taskledger::server {

// A unix socket path left by a server that died is replaced; a live one is refused.
Status PrepareUnixSocket(const std::string& path);

// `text` (the value of `flag`, e.g. --listen) as an address this server may bind: tcp on
// loopback unless `allow_remote`; a unix socket path free (a stale socket is removed).
Result<tools::ServerAddress> BindableAddress(const std::string& flag, const std::string& text, bool allow_remote);

// Where a listener comes from, decided before the ledger opens so that a busy socket or a
// bad unit fails fast: a socket systemd passed (socket activation), or an address.
struct ListenPlan {
  int activated_fd = -1;         // >= 0: systemd's listening socket, adopted as it is
  tools::ServerAddress address;  // otherwise: bound by this server
};

struct Listener {
  kj::Own<kj::ConnectionReceiver> receiver;
  std::string shown;              // where it listens, as --listen spells it
  std::string created_unix_path;  // a socket file this server made, removed when it stops

  // Stops accepting and removes the socket file this server made (none of systemd's).
  void Close();
};

// Binds (or adopts) the plan's socket. `what` names the listener in messages ("RPC", "HTTP").
Result<Listener> Listen(const ListenPlan& plan, const std::string& what, kj::AsyncIoContext& io);

}  // namespace taskledger::server
