// systemd's service protocols, for `taskledger serve` run as a unit
// (packaging/systemd/): socket activation (sd_listen_fds(3): LISTEN_FDS, LISTEN_FDNAMES,
// LISTEN_PID) and readiness notification (sd_notify(3): NOTIFY_SOCKET). Both are inert
// outside systemd: without the variables nothing is taken and nothing is sent.
// Not thread-safe: TakePassedSockets unsets the LISTEN_* variables, so call it from the main
// thread before any other thread exists.
#pragma once

#include <string>
#include <vector>

#include "projections/status.h"

namespace taskledger::server {

// The name the .socket unit gives the RPC socket (FileDescriptorName=rpc).
inline constexpr const char* kRpcSocketName = "rpc";
// The name of the HTTP socket (GET /metrics, /healthz), when the unit passes one.
inline constexpr const char* kHttpSocketName = "http";

// One socket systemd passed this process.
struct PassedSocket {
  int fd = -1;
  std::string name;  // FileDescriptorName=; systemd's default is the socket unit's name
};

// The sockets systemd passed (checked against LISTEN_PID by libsystemd); empty when this
// process was not socket-activated. Unsets the LISTEN_* variables. An error only when they
// are malformed.
Result<std::vector<PassedSocket>> TakePassedSockets();

// Of the passed sockets, the one to serve RPC on: the one named `rpc`, or the only one when
// it carries no name of its own. It must be a listening stream socket. The others are
// logged and left open (but for the one named `http`: ChooseHttpSocket). InvalidArgument (one line, naming the unit setting) otherwise.
// REQUIRES: !passed.empty().
Result<int> ChooseRpcSocket(const std::vector<PassedSocket>& passed);

// Of the passed sockets, the one named `http` (-1 if none). It must be a listening stream
// socket: InvalidArgument (one line) otherwise.
Result<int> ChooseHttpSocket(const std::vector<PassedSocket>& passed);

// Where a listening socket listens, as --listen spells it (unix:/path, tcp:HOST:PORT).
std::string DescribeListeningSocket(int fd);

// READY=1 with `status` (one line) as the unit's status: the ledger is open and the
// listener accepts. systemd orders units after this one only from here on.
void NotifyReady(const std::string& status);

// STOPPING=1 with `status`: the server has stopped accepting and drains what is in flight.
void NotifyStopping(const std::string& status);

}  // namespace taskledger::server
