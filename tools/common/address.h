// Server addresses as users write them (DESIGN §6): `unix:/path` or `tcp:HOST:PORT`. One
// parser for both ends, so that every address `serve --listen` accepts is one `--connect`
// (and TASKLEDGER_ADDR) can reach, and the two refuse the same typos with the same words.
#pragma once

#include <string>
#include <string_view>

#include "projections/status.h"

namespace taskledger::tools {

struct ServerAddress {
  std::string text;       // as given, e.g. `tcp:127.0.0.1:7000`
  std::string unix_path;  // unix: the socket's path; tcp: empty
  std::string host;       // tcp: the host (name, IPv4, or [IPv6]); unix: empty
  // What kj's Network::parseAddress takes: `unix:/path`, or `HOST:PORT` for tcp.
  std::string endpoint;

  bool is_unix() const { return !unix_path.empty(); }
};

// InvalidArgument("expected ...") when `text` is neither form; callers say which flag.
Result<ServerAddress> ParseServerAddress(std::string_view text);

// Whether a tcp host is this machine only: the server binds others on --allow-remote alone.
bool IsLoopbackHost(std::string_view host);

}  // namespace taskledger::tools
