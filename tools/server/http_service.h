// The HTTP side of `taskledger serve --http ADDR`: GET /metrics (Prometheus text format,
// metrics.h) and GET /healthz, served by kj-http in the server's event loop.
#pragma once

#include <kj/async-io.h>
#include <kj/compat/http.h>

#include <functional>
#include <string>

#include "tools/server/listener.h"
#include "tools/server/metrics.h"

namespace taskledger::server {

// A slow or idle HTTP client is dropped: the whole request head must arrive within
// kHttpHeaderTimeout; a kept-alive connection waits kHttpPipelineTimeout for the next one.
inline constexpr kj::Duration kHttpHeaderTimeout = 10 * kj::SECONDS;
inline constexpr kj::Duration kHttpPipelineTimeout = 30 * kj::SECONDS;

// Serves `listener` from construction until destruction (which stops accepting, ends open
// HTTP connections and removes a socket file the server made). Lives in the event loop's
// thread; `metrics` and `gauges` must outlive it.
class HttpEndpoint {
 public:
  HttpEndpoint(kj::Timer& timer, Listener listener, ServerMetrics& metrics, std::function<ScrapeGauges()> gauges);
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  const std::string& shown() const { return listener_.shown; }

 private:
  class Service;
  class CountingErrors;

  kj::HttpHeaderTable::Builder table_builder_;
  kj::HttpHeaderId allow_;
  kj::Own<kj::HttpHeaderTable> table_;
  kj::Own<Service> service_;
  kj::Own<CountingErrors> errors_;
  kj::Own<kj::HttpServer> server_;
  Listener listener_;
  kj::Promise<void> listening_ = nullptr;
};

}  // namespace taskledger::server
