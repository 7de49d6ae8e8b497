// A minimal HTTP/1.1 client over a unix socket, for the tests of `serve --http`: one
// request per connection, the response read by its Content-Length (bounded by a deadline).
#pragma once

#include <chrono>
#include <string>

namespace taskledger::test {

struct HttpResponse {
  int status = 0;        // 0: no response (could not connect, or a malformed one)
  std::string headers;   // the head after the status line, as sent
  std::string body;
  std::string error;     // why status is 0
};

HttpResponse HttpOverUnix(const std::string& socket_path, const std::string& method, const std::string& target,
                          std::chrono::milliseconds limit = std::chrono::seconds(10));
// With a body (sent with its Content-Length) and extra header lines ("Name: value\r\n"
// each); `connect_to` is a unix socket path, or "tcp:PORT" for 127.0.0.1.
HttpResponse HttpRequest(const std::string& connect_to, const std::string& method, const std::string& target,
                         const std::string& body, const std::string& extra_headers = "",
                         std::chrono::milliseconds limit = std::chrono::seconds(10));

}  // namespace taskledger::test
