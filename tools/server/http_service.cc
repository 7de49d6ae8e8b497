#include "tools/server/http_service.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>
#include <string_view>

namespace taskledger::server {

class HttpEndpoint::Service final : public kj::HttpService {
 public:
  Service(const kj::HttpHeaderTable& table, kj::HttpHeaderId allow, ServerMetrics& metrics,
          std::function<ScrapeGauges()> gauges)
      : table_(table), allow_(allow), metrics_(metrics), gauges_(std::move(gauges)) {}

  kj::Promise<void> request(kj::HttpMethod method, kj::StringPtr url, const kj::HttpHeaders& headers,
                            kj::AsyncInputStream& body, Response& response) override {
    (void)headers;
    (void)body;  // GET has none; kj discards what a client sends anyway
    std::string_view path(url.cStr(), url.size());
    path = path.substr(0, path.find('?'));  // a query (e.g. a cache buster) does not matter
    const bool known = path == "/metrics" || path == "/healthz";
    if (!known) return Reply(response, 404, "Not Found", ErrorJson("no such path: " + std::string(path)));
    if (method != kj::HttpMethod::GET && method != kj::HttpMethod::HEAD) {
      return Reply(response, 405, "Method Not Allowed",
                   ErrorJson(std::string(path) + " takes GET, not " + kj::str(method).cStr()));
    }
    // The endpoint exists only once the ledger is open (Serve), so it is healthy here.
    if (path == "/healthz") return Reply(response, 200, "OK", "ok\n", "text/plain; charset=utf-8");
    metrics_.HttpRequest(200);  // counted before rendering: a scrape sees itself
    return Send(response, 200, "OK", metrics_.Render(gauges_()), "text/plain; version=0.0.4; charset=utf-8");
  }

 private:
  static std::string ErrorJson(const std::string& message) {
    // replace: a path is the client's bytes, maybe not UTF-8.
    return nlohmann::json{{"error", message}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }

  kj::Promise<void> Reply(Response& response, unsigned code, kj::StringPtr status_text, const std::string& body,
                          kj::StringPtr type = "application/json") {
    metrics_.HttpRequest(code);
    return Send(response, code, status_text, body, type);
  }

  kj::Promise<void> Send(Response& response, unsigned code, kj::StringPtr status_text, const std::string& body,
                         kj::StringPtr type) {
    kj::HttpHeaders out(table_);
    out.set(kj::HttpHeaderId::CONTENT_TYPE, type);
    if (code == 405) out.set(allow_, "GET, HEAD");
    // A kj::String: its bytes stay where they are while the write is in flight.
    kj::String owned = kj::heapString(body.data(), body.size());
    auto stream = response.send(code, status_text, out, uint64_t{owned.size()});
    auto written = stream->write(owned.begin(), owned.size());
    return written.attach(kj::mv(stream), kj::mv(owned));
  }

  const kj::HttpHeaderTable& table_;
  const kj::HttpHeaderId allow_;
  ServerMetrics& metrics_;
  std::function<ScrapeGauges()> gauges_;
};

// kj's answers to requests that do not parse (400, or 501 for an unknown method), counted
// like ours so that taskledger_http_requests_total shows every response.
class HttpEndpoint::CountingErrors final : public kj::HttpServerErrorHandler {
 public:
  explicit CountingErrors(ServerMetrics& metrics) : metrics_(metrics) {}
  kj::Promise<void> handleClientProtocolError(kj::HttpHeaders::ProtocolError error,
                                              kj::HttpService::Response& response) override {
    metrics_.HttpRequest(error.statusCode);
    return kj::HttpServerErrorHandler::handleClientProtocolError(kj::mv(error), response);
  }

 private:
  ServerMetrics& metrics_;
};

namespace {

kj::HttpServerSettings Settings(kj::HttpServerErrorHandler& errors) {
  kj::HttpServerSettings settings;
  settings.headerTimeout = kHttpHeaderTimeout;
  settings.pipelineTimeout = kHttpPipelineTimeout;
  settings.errorHandler = errors;
  return settings;
}

}  // namespace

HttpEndpoint::HttpEndpoint(kj::Timer& timer, Listener listener, ServerMetrics& metrics,
                           std::function<ScrapeGauges()> gauges)
    : allow_(table_builder_.add("Allow")),
      table_(table_builder_.build()),
      service_(kj::heap<Service>(*table_, allow_, metrics, std::move(gauges))),
      errors_(kj::heap<CountingErrors>(metrics)),
      server_(kj::heap<kj::HttpServer>(timer, *table_, *service_, Settings(*errors_))),
      listener_(std::move(listener)) {
  listening_ = server_->listenHttp(*listener_.receiver).eagerlyEvaluate([](kj::Exception&& e) {
    spdlog::error("HTTP listener failed: {}", e.getDescription().cStr());
  });
}

HttpEndpoint::~HttpEndpoint() {
  // The accept loop first (it uses the receiver), then the connections, then the socket.
  listening_ = nullptr;
  server_ = nullptr;
  listener_.Close();
}

}  // namespace taskledger::server
