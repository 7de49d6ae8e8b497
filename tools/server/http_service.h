// The HTTP side of `taskledger serve --http ADDR`, served by kj-http in the server's event
// loop: the JSON API under /v1/ (http_api.h, docs/http.md), its event stream, GET /metrics
// (Prometheus text format, metrics.h) and GET /healthz. This file is the plumbing: body
// limits, timeouts, the cross-site rules of a TCP listener, and the streams.
#pragma once

#include <kj/async-io.h>
#include <kj/compat/http.h>

#include <functional>
#include <string>

#include "ledger/ledger.h"
#include "tools/server/http_api.h"
#include "tools/server/listener.h"
#include "tools/server/metrics.h"

namespace taskledger::server {

// A slow or idle HTTP client is dropped: the whole request head must arrive within
// kHttpHeaderTimeout; a kept-alive connection waits kHttpPipelineTimeout for the next one.
inline constexpr kj::Duration kHttpHeaderTimeout = 10 * kj::SECONDS;
inline constexpr kj::Duration kHttpPipelineTimeout = 30 * kj::SECONDS;
// The largest request body: a create at its limits (a 1 MiB payload) with room for its
// escapes; a batch of many small commands.
inline constexpr size_t kHttpMaxBodyBytes = size_t{4} << 20;

// What the endpoint serves from: the server's ledger (reads), its command path, its
// metrics. All must outlive the endpoint.
struct HttpSources {
  Ledger* ledger = nullptr;
  SubmitCommands submit;
  ServerMetrics* metrics = nullptr;
  std::function<ScrapeGauges()> gauges;
  std::string title;  // names the ledger on pages
};

// Serves `listener` from construction until destruction (which stops accepting, ends open
// HTTP connections and removes a socket file the server made). Lives in the event loop's
// thread.
class HttpEndpoint {
 public:
  HttpEndpoint(kj::Timer& timer, Listener listener, HttpSources sources);
  ~HttpEndpoint();
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  const std::string& shown() const { return listener_.shown; }

  // Stops accepting connections and new requests, ends the event streams; resolves when
  // the requests in flight have been answered.
  kj::Promise<void> Drain();

 private:
  class Service;
  class CountingErrors;

  kj::HttpHeaderTable::Builder table_builder_;
  kj::HttpHeaderId allow_;
  kj::HttpHeaderId origin_;
  kj::HttpHeaderId cache_control_;
  kj::Own<kj::HttpHeaderTable> table_;
  kj::Own<Service> service_;
  kj::Own<CountingErrors> errors_;
  kj::Own<kj::HttpServer> server_;
  Listener listener_;
  kj::Promise<void> listening_ = nullptr;
};

}  // namespace taskledger::server
