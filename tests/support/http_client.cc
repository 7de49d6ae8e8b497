#include "tests/support/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <cstring>

#include "tests/support/server.h"

namespace taskledger::test {
namespace {

// The Content-Length in a response head (lower-cased lookup); -1 if absent.
long ContentLength(const std::string& head) {
  std::string lower = head;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const size_t at = lower.find("\r\ncontent-length:");
  if (at == std::string::npos) return -1;
  return std::strtol(head.c_str() + at + std::strlen("\r\ncontent-length:"), nullptr, 10);
}

// A connected TCP socket to 127.0.0.1:port; -1 if none.
int ConnectTcp(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

HttpResponse HttpOverUnix(const std::string& socket_path, const std::string& method, const std::string& target,
                          std::chrono::milliseconds limit) {
  return HttpRequest(socket_path, method, target, "", "", limit);
}

HttpResponse HttpRequest(const std::string& connect_to, const std::string& method, const std::string& target,
                         const std::string& body, const std::string& extra_headers, std::chrono::milliseconds limit) {
  HttpResponse response;
  const bool tcp = connect_to.rfind("tcp:", 0) == 0;
  const int fd = tcp ? ConnectTcp(std::atoi(connect_to.c_str() + 4)) : RawConnect(connect_to);
  if (fd < 0) {
    response.error = "cannot connect to " + connect_to;
    return response;
  }
  std::string request = method + " " + target + " HTTP/1.1\r\nHost: " +
                        (tcp ? "127.0.0.1:" + connect_to.substr(4) : std::string("localhost")) + "\r\n" + extra_headers;
  if (!body.empty() || method == "POST") request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  request += "\r\n" + body;
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
    ::close(fd);
    response.error = "cannot send the request";
    return response;
  }
  const auto give_up = std::chrono::steady_clock::now() + limit;
  std::string received;
  size_t head_end = std::string::npos;
  long length = -1;
  for (;;) {
    if (head_end == std::string::npos) head_end = received.find("\r\n\r\n");
    if (head_end != std::string::npos) {
      if (length < 0) length = ContentLength(received.substr(0, head_end + 2));
      // HEAD: a length but no body.
      if (method == "HEAD" || (length >= 0 && received.size() >= head_end + 4 + static_cast<size_t>(length))) break;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      response.error = "timed out; received: " + received;
      break;
    }
    pollfd readable{fd, POLLIN, 0};
    if (::poll(&readable, 1, static_cast<int>(left.count())) <= 0) continue;
    char buffer[65536];
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;  // closed: what came is the response
    received.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  if (head_end == std::string::npos || received.rfind("HTTP/1.1 ", 0) != 0) {
    if (response.error.empty()) response.error = "not an HTTP response: " + received;
    return response;
  }
  response.status = std::atoi(received.c_str() + std::strlen("HTTP/1.1 "));
  const size_t line_end = received.find("\r\n");
  response.headers = received.substr(line_end + 2, head_end - line_end);
  response.body = received.substr(head_end + 4);
  return response;
}

}  // namespace taskledger::test
