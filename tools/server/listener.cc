#include "tools/server/listener.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "tools/server/systemd_support.h"

namespace taskledger::server {

Status PrepareUnixSocket(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return Status::Ok();
  if (!S_ISSOCK(st.st_mode)) return Status::InvalidArgument(path + " exists and is not a socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) return Status::InvalidArgument("socket path too long: " + path);
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const bool live = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  if (fd >= 0) ::close(fd);
  if (live) return Status::Busy("a server is already listening on unix:" + path);
  if (::unlink(path.c_str()) != 0) return Status::IOError("cannot remove the stale socket " + path);
  spdlog::info("replaced a stale socket at {}", path);
  return Status::Ok();
}

Result<tools::ServerAddress> BindableAddress(const std::string& flag, const std::string& text, bool allow_remote) {
  Result<tools::ServerAddress> address = tools::ParseServerAddress(text);
  if (!address.ok()) return Status::InvalidArgument(flag + ": " + address.status().message());
  if (!address->is_unix() && !tools::IsLoopbackHost(address->host) && !allow_remote) {
    return Status::InvalidArgument(flag + ": " + address->host +
                                   " is not loopback; pass --allow-remote to accept other machines");
  }
  if (address->is_unix()) TL_RETURN_IF_ERROR(PrepareUnixSocket(address->unix_path));
  return address;
}

void Listener::Close() {
  receiver = nullptr;
  if (!created_unix_path.empty()) ::unlink(created_unix_path.c_str());
  created_unix_path.clear();
}

Result<Listener> Listen(const ListenPlan& plan, const std::string& what, kj::AsyncIoContext& io) {
  Listener listener;
  const tools::ServerAddress& address = plan.address;
  try {
    if (plan.activated_fd >= 0) {
      // systemd made this socket (its path and mode are the .socket unit's) and keeps it open
      // across our restarts: adopt it and never unlink it. libsystemd set FD_CLOEXEC; kj sets
      // O_NONBLOCK itself (systemd passes the socket as it made it).
      listener.shown = DescribeListeningSocket(plan.activated_fd);
      listener.receiver = io.lowLevelProvider->wrapListenSocketFd(
          plan.activated_fd,
          kj::LowLevelAsyncIoProvider::TAKE_OWNERSHIP | kj::LowLevelAsyncIoProvider::ALREADY_CLOEXEC);
      spdlog::info("socket activation: serving {} on the socket systemd passed, {}", what, listener.shown);
      return listener;
    }
    const mode_t old_umask = ::umask(0077);  // the socket is created owner-only
    KJ_DEFER(::umask(old_umask));
    listener.receiver = io.provider->getNetwork().parseAddress(address.endpoint).wait(io.waitScope)->listen();
    if (address.is_unix()) ::chmod(address.unix_path.c_str(), 0600);
  } catch (const kj::Exception& e) {
    const std::string where = plan.activated_fd >= 0 ? "the socket systemd passed" : address.text;
    return Status::IOError("cannot listen (" + what + ") on " + where + ": " + e.getDescription().cStr());
  }
  listener.created_unix_path = address.unix_path;
  listener.shown = address.text;
  if (!address.is_unix()) listener.shown = "tcp:" + address.host + ":" + std::to_string(listener.receiver->getPort());
  return listener;
}

}  // namespace taskledger::server
