#include "tools/common/address.h"

namespace taskledger::tools {
namespace {

constexpr std::string_view kUnixScheme = "unix:";
constexpr std::string_view kTcpScheme = "tcp:";

}  // namespace

Result<ServerAddress> ParseServerAddress(std::string_view text) {
  ServerAddress address;
  address.text = std::string(text);
  if (text.starts_with(kUnixScheme) && text.size() > kUnixScheme.size()) {
    address.unix_path = std::string(text.substr(kUnixScheme.size()));
    address.endpoint = address.text;  // kj parses `unix:/path` itself
    return address;
  }
  if (text.starts_with(kTcpScheme)) {
    const std::string_view host_port = text.substr(kTcpScheme.size());
    // The last colon: an IPv6 host ([::1]:7000) has colons of its own.
    const size_t colon = host_port.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return Status::InvalidArgument("expected tcp:HOST:PORT");
    address.host = std::string(host_port.substr(0, colon));
    address.endpoint = std::string(host_port);
    return address;
  }
  return Status::InvalidArgument("expected unix:/path or tcp:HOST:PORT");
}

bool IsLoopbackHost(std::string_view host) {
  return host == "localhost" || host.starts_with("127.") || host == "[::1]" || host == "::1";
}

}  // namespace taskledger::tools
