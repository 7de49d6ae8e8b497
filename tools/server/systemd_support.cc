#include "tools/server/systemd_support.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>
#include <cstddef>
#include <cstring>
#include <string_view>

namespace taskledger::server {
namespace {

// The name libsystemd reports for a socket passed without LISTEN_FDNAMES (an older
// systemd, or systemd-socket-activate without --fdname).
constexpr const char* kNoNameGiven = "unknown";

// A name that is not one a unit chose for us: none given, or systemd's default, the socket
// unit's own name (`taskledger.socket` when FileDescriptorName= is not set).
bool IsDefaultName(const std::string& name) {
  constexpr std::string_view kUnitSuffix = ".socket";
  return name == kNoNameGiven ||
         (name.size() > kUnitSuffix.size() && name.compare(name.size() - kUnitSuffix.size(), kUnitSuffix.size(),
                                                           kUnitSuffix) == 0);
}

void Notify(const std::string& state) {
  // A failure matters only under systemd (NOTIFY_SOCKET set; otherwise this returns 0):
  // the unit would wait for READY=1 until its start timeout.
  if (const int r = sd_notify(0, state.c_str()); r < 0) {
    spdlog::warn("cannot notify systemd ({}): {}", state.substr(0, state.find('\n')), std::strerror(-r));
  }
}

// A status for systemd's STATUS=: one line.
std::string OneLine(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

Status CheckListeningStream(int fd) {
  if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0) {
    return Status::InvalidArgument("the socket systemd passed (fd " + std::to_string(fd) +
                                   ") is not a listening stream socket: use ListenStream= in the .socket unit");
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<PassedSocket>> TakePassedSockets() {
  char** names = nullptr;
  // unset_environment=1: the LISTEN_* variables describe this process only.
  const int count = sd_listen_fds_with_names(1, &names);
  if (count < 0) {
    return Status::InvalidArgument(std::string("systemd socket activation: bad LISTEN_FDS/LISTEN_FDNAMES: ") +
                                   std::strerror(-count));
  }
  std::vector<PassedSocket> passed;
  for (int i = 0; i < count; ++i) {
    passed.push_back(PassedSocket{SD_LISTEN_FDS_START + i, names != nullptr && names[i] != nullptr ? names[i] : ""});
  }
  if (names != nullptr) {
    for (int i = 0; i < count; ++i) std::free(names[i]);
    std::free(names);
  }
  return passed;
}

Result<int> ChooseRpcSocket(const std::vector<PassedSocket>& passed) {
  TL_DCHECK(!passed.empty());
  int rpc_fd = -1;
  for (const PassedSocket& socket : passed) {
    if (socket.name == kRpcSocketName) rpc_fd = socket.fd;
  }
  if (rpc_fd < 0 && passed.size() == 1 && IsDefaultName(passed[0].name)) rpc_fd = passed[0].fd;
  if (rpc_fd < 0) {
    std::string names;
    for (const PassedSocket& socket : passed) names += (names.empty() ? "" : ", ") + socket.name;
    return Status::InvalidArgument("systemd passed " + std::to_string(passed.size()) + " socket(s) (" + names +
                                   ") and none named " + kRpcSocketName +
                                   ": set FileDescriptorName=rpc on the RPC socket's unit");
  }
  for (const PassedSocket& socket : passed) {
    if (socket.fd != rpc_fd && socket.name != kHttpSocketName) {
      spdlog::info("leaving the systemd socket {} (fd {}) alone: this server serves only {}", socket.name, socket.fd,
                   kRpcSocketName);
    }
  }
  TL_RETURN_IF_ERROR(CheckListeningStream(rpc_fd));
  return rpc_fd;
}

Result<int> ChooseHttpSocket(const std::vector<PassedSocket>& passed) {
  for (const PassedSocket& socket : passed) {
    if (socket.name != kHttpSocketName) continue;
    TL_RETURN_IF_ERROR(CheckListeningStream(socket.fd));
    return socket.fd;
  }
  return -1;
}

std::string DescribeListeningSocket(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof(storage);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) return "fd " + std::to_string(fd);
  if (storage.ss_family == AF_UNIX) {
    const auto* address = reinterpret_cast<const sockaddr_un*>(&storage);
    const size_t path_bytes = length > offsetof(sockaddr_un, sun_path) ? length - offsetof(sockaddr_un, sun_path) : 0;
    if (path_bytes > 0 && address->sun_path[0] == '\0') {  // abstract: a name, not a file
      return "unix:@" + std::string(address->sun_path + 1, path_bytes - 1);
    }
    return "unix:" + std::string(address->sun_path, strnlen(address->sun_path, path_bytes));
  }
  char host[INET6_ADDRSTRLEN] = {};
  if (storage.ss_family == AF_INET) {
    const auto* address = reinterpret_cast<const sockaddr_in*>(&storage);
    ::inet_ntop(AF_INET, &address->sin_addr, host, sizeof(host));
    return "tcp:" + std::string(host) + ":" + std::to_string(ntohs(address->sin_port));
  }
  if (storage.ss_family == AF_INET6) {
    const auto* address = reinterpret_cast<const sockaddr_in6*>(&storage);
    ::inet_ntop(AF_INET6, &address->sin6_addr, host, sizeof(host));
    return "tcp:[" + std::string(host) + "]:" + std::to_string(ntohs(address->sin6_port));
  }
  return "fd " + std::to_string(fd);
}

void NotifyReady(const std::string& status) { Notify("READY=1\nSTATUS=" + OneLine(status)); }

void NotifyStopping(const std::string& status) { Notify("STOPPING=1\nSTATUS=" + OneLine(status)); }

}  // namespace taskledger::server
