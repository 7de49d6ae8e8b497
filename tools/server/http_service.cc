#include "tools/server/http_service.h"

#include <kj/compat/url.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string_view>

#include "tools/common/follow.h"
#include "tools/server/dashboard/dashboard_page.h"

namespace taskledger::server {
namespace {

// An event stream with nothing to say writes an empty line this often: a client that has
// gone is noticed (the write fails) and proxies do not time the stream out.
constexpr auto kStreamKeepAlive = std::chrono::seconds(15);
// Events read per look of a stream.
constexpr size_t kStreamPage = 1000;

using SteadyClock = std::chrono::steady_clock;

bool StartsWith(kj::StringPtr text, std::string_view prefix) {
  return text.size() >= prefix.size() && std::string_view(text.cStr(), prefix.size()) == prefix;
}

}  // namespace

class HttpEndpoint::Service final : public kj::HttpService {
 public:
  Service(kj::Timer& timer, const kj::HttpHeaderTable& table, kj::HttpHeaderId allow, kj::HttpHeaderId origin,
          kj::HttpHeaderId cache_control, HttpSources sources, bool tcp)
      : timer_(timer),
        table_(table),
        allow_(allow),
        origin_(origin),
        cache_control_(cache_control),
        metrics_(*sources.metrics),
        gauges_(std::move(sources.gauges)),
        api_(sources.ledger, std::move(sources.submit), std::move(sources.title)),
        tcp_(tcp),
        stop_(kj::newPromiseAndFulfiller<void>()),
        stopping_(stop_.promise.fork()) {}

  kj::Promise<void> request(kj::HttpMethod method, kj::StringPtr url, const kj::HttpHeaders& headers,
                            kj::AsyncInputStream& body, Response& response) override {
    kj::Maybe<kj::Url> parsed = kj::Url::tryParse(url, kj::Url::HTTP_REQUEST);
    kj::Url* target = nullptr;
    KJ_IF_MAYBE(u, parsed) { target = u; }
    if (target == nullptr) return Reply(response, HttpApi::Error(400, "invalid_argument", "a malformed URL"));
    ApiRequest request;
    for (const kj::String& segment : target->path) request.path.emplace_back(segment.cStr(), segment.size());
    for (const kj::Url::QueryParam& param : target->query) {
      request.query.emplace_back(std::string(param.name.cStr(), param.name.size()),
                                 std::string(param.value.cStr(), param.value.size()));
    }
    const bool read = method == kj::HttpMethod::GET || method == kj::HttpMethod::HEAD;
    request.post = method == kj::HttpMethod::POST;
    const std::vector<std::string>& path = request.path;

    if (path.size() == 1 && (path[0] == "healthz" || path[0] == "metrics")) {
      if (!read) return Reply(response, NotAllowed("/" + path[0], "GET, HEAD", method));
      // The endpoint exists only once the ledger is open (Serve), so it is healthy here.
      if (path[0] == "healthz") return Reply(response, ApiReply{200, "ok\n", "text/plain; charset=utf-8"});
      metrics_.HttpRequest(200);  // counted before rendering: a scrape sees itself
      return Send(response, ApiReply{200, metrics_.Render(gauges_()), "text/plain; version=0.0.4; charset=utf-8"});
    }
    if (path.empty()) {  // GET /: the live dashboard (tools/server/dashboard/dashboard.html)
      if (!read) return Reply(response, NotAllowed("/", "GET, HEAD", method));
      return Reply(response, ApiReply{200, std::string(DashboardPage()), "text/html; charset=utf-8"});
    }
    std::string shown_path;  // the path as asked, without its query
    for (const std::string& segment : path) shown_path += "/" + segment;
    if (path.empty() || path[0] != "v1") {
      return Reply(response, HttpApi::Error(404, "not_found", "no such path: " + (shown_path.empty() ? "/" : shown_path)));
    }
    if (!read && !request.post) return Reply(response, NotAllowed(shown_path, "GET, HEAD, POST", method));
    if (request.post) {
      if (Result<bool> allowed = CrossSiteRules(headers); !allowed.ok()) {
        const unsigned code = allowed.status().message().find("Content-Type") != std::string::npos ? 415 : 403;
        return Reply(response, HttpApi::Error(code, "invalid_argument", allowed.status().message()));
      }
      KJ_IF_MAYBE(length, body.tryGetLength()) {
        if (*length > kHttpMaxBodyBytes) return Reply(response, TooLarge());
      }
      auto reader = kj::heap<BodyReader>(body);
      BodyReader& r = *reader;
      return ReadBody(r)
          .then([this, &r, &response, request = std::move(request)](bool whole) mutable -> kj::Promise<void> {
            if (!whole) return Reply(response, TooLarge());
            request.body = std::move(r.data);
            return api_.Handle(request).then([this, &response](ApiReply reply) { return Reply(response, reply); });
          })
          .attach(kj::mv(reader));
    }
    if (path.size() == 3 && path[1] == "events" && path[2] == "stream") {
      for (const auto& [key, value] : request.query) {
        if (key != "since" && key != "task") {
          return Reply(response, HttpApi::Error(Status::InvalidArgument("unknown query parameter \"" + key + "\"")));
        }
      }
      Result<HttpApi::StreamStart> start = HttpApi::ReadStreamQuery(request);
      if (!start.ok()) return Reply(response, HttpApi::Error(start.status()));
      return Stream(*start, response);
    }
    return api_.Handle(request).then([this, &response](ApiReply reply) { return Reply(response, reply); });
  }

  // Ends every event stream (the server is stopping).
  void Stop() { stop_.fulfiller->fulfill(); }

 private:
  struct BodyReader {
    explicit BodyReader(kj::AsyncInputStream& in_) : in(in_) {}
    kj::AsyncInputStream& in;
    std::string data;
    kj::byte buffer[64 * 1024];
  };

  // Reads the whole body; false once it passes kHttpMaxBodyBytes (the rest is not read).
  static kj::Promise<bool> ReadBody(BodyReader& r) {
    return r.in.tryRead(r.buffer, 1, sizeof(r.buffer)).then([&r](size_t n) -> kj::Promise<bool> {
      if (n == 0) return true;
      r.data.append(reinterpret_cast<const char*>(r.buffer), n);
      if (r.data.size() > kHttpMaxBodyBytes) return false;
      return ReadBody(r);
    });
  }

  // On TCP, every local process — and every web page a local browser shows — can reach
  // the port. A state-changing request must say it is JSON (a cross-site form cannot,
  // without a CORS preflight we never answer) and must not come from a foreign page.
  Result<bool> CrossSiteRules(const kj::HttpHeaders& headers) const {
    if (!tcp_) return true;
    kj::StringPtr type = headers.get(kj::HttpHeaderId::CONTENT_TYPE).orDefault("");
    if (!StartsWith(type, "application/json")) {
      return Status::InvalidArgument("POST over TCP needs Content-Type: application/json");
    }
    KJ_IF_MAYBE(origin, headers.get(origin_)) {
      kj::StringPtr host = headers.get(kj::HttpHeaderId::HOST).orDefault("");
      if (*origin != kj::str("http://", host)) {
        return Status::InvalidArgument(std::string("refused a request from another site (Origin ") + origin->cStr() +
                                       ")");
      }
    }
    return true;
  }

  static ApiReply TooLarge() {
    return HttpApi::Error(413, "invalid_argument",
                          "the body is larger than " + std::to_string(kHttpMaxBodyBytes >> 20) + " MiB");
  }

  static ApiReply NotAllowed(const std::string& path, const char* allow, kj::HttpMethod method) {
    ApiReply reply = HttpApi::Error(405, "invalid_argument", path + " takes " + allow + ", not " + kj::str(method).cStr());
    reply.allow = allow;
    return reply;
  }

  struct StreamState {
    kj::Own<kj::AsyncOutputStream> out;
    uint64_t next_seq;
    std::string task_id;
    SteadyClock::time_point last_write = SteadyClock::now();
  };

  // GET /v1/events/stream: the events from `since` as JSON Lines, then each as it commits
  // (`log --follow --json`), until the client goes or the server stops.
  kj::Promise<void> Stream(const HttpApi::StreamStart& start, Response& response) {
    metrics_.HttpRequest(200);
    kj::HttpHeaders out(table_);
    out.set(kj::HttpHeaderId::CONTENT_TYPE, "application/x-ndjson");
    out.set(cache_control_, "no-store");
    auto state = kj::heap<StreamState>(StreamState{response.send(200, "OK", out), start.from_seq, start.task_id});
    StreamState& s = *state;
    return StreamLoop(s).exclusiveJoin(stopping_.addBranch()).attach(kj::mv(state));
  }

  kj::Promise<void> StreamLoop(StreamState& s) {
    std::string lines;
    uint64_t next_seq = s.next_seq;
    Status read = api_.EventLines(s.next_seq, s.task_id, kStreamPage, &lines, &next_seq);
    if (!read.ok()) {
      // The headers are sent: the error goes as the stream's last line.
      lines = HttpApi::Error(read).body;
      auto owned = kj::heapString(lines.data(), lines.size());
      auto written = s.out->write(owned.begin(), owned.size());
      return written.attach(kj::mv(owned));
    }
    if (lines.empty() && SteadyClock::now() - s.last_write >= kStreamKeepAlive) lines = "\n";
    if (lines.empty()) {
      return timer_.afterDelay(tools::kFollowPollInterval.count() * kj::MILLISECONDS).then([this, &s] {
        return StreamLoop(s);
      });
    }
    s.next_seq = next_seq;
    s.last_write = SteadyClock::now();
    auto owned = kj::heapString(lines.data(), lines.size());
    auto written = s.out->write(owned.begin(), owned.size());
    return written.attach(kj::mv(owned)).then([this, &s] { return StreamLoop(s); });
  }

  kj::Promise<void> Reply(Response& response, const ApiReply& reply) {
    metrics_.HttpRequest(reply.code);
    return Send(response, reply);
  }

  kj::Promise<void> Send(Response& response, const ApiReply& reply) {
    kj::HttpHeaders out(table_);
    out.set(kj::HttpHeaderId::CONTENT_TYPE, reply.type);
    out.set(cache_control_, "no-store");  // every answer is of this moment
    if (!reply.allow.empty()) out.set(allow_, reply.allow);
    // A kj::String: its bytes stay where they are while the write is in flight.
    kj::String owned = kj::heapString(reply.body.data(), reply.body.size());
    auto stream = response.send(reply.code, StatusText(reply.code), out, uint64_t{owned.size()});
    auto written = stream->write(owned.begin(), owned.size());
    return written.attach(kj::mv(stream), kj::mv(owned));
  }

  static kj::StringPtr StatusText(unsigned code) {
    switch (code) {
      case 200: return "OK";
      case 400: return "Bad Request";
      case 403: return "Forbidden";
      case 404: return "Not Found";
      case 405: return "Method Not Allowed";
      case 409: return "Conflict";
      case 413: return "Payload Too Large";
      case 415: return "Unsupported Media Type";
      case 503: return "Service Unavailable";
      case 504: return "Gateway Timeout";
      default: return "Internal Server Error";
    }
  }

  kj::Timer& timer_;
  const kj::HttpHeaderTable& table_;
  const kj::HttpHeaderId allow_;
  const kj::HttpHeaderId origin_;
  const kj::HttpHeaderId cache_control_;
  ServerMetrics& metrics_;
  std::function<ScrapeGauges()> gauges_;
  HttpApi api_;
  const bool tcp_;
  kj::PromiseFulfillerPair<void> stop_;
  kj::ForkedPromise<void> stopping_;
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

HttpEndpoint::HttpEndpoint(kj::Timer& timer, Listener listener, HttpSources sources)
    : allow_(table_builder_.add("Allow")),
      origin_(table_builder_.add("Origin")),
      cache_control_(table_builder_.add("Cache-Control")),
      table_(table_builder_.build()),
      errors_(kj::heap<CountingErrors>(*sources.metrics)),
      listener_(std::move(listener)) {
  // Anything but a unix socket counts as TCP (an adopted systemd socket included).
  const bool tcp = listener_.shown.rfind("unix:", 0) != 0;
  service_ = kj::heap<Service>(timer, *table_, allow_, origin_, cache_control_, std::move(sources), tcp);
  server_ = kj::heap<kj::HttpServer>(timer, *table_, *service_, Settings(*errors_));
  listening_ = server_->listenHttp(*listener_.receiver).eagerlyEvaluate([](kj::Exception&& e) {
    spdlog::error("HTTP listener failed: {}", e.getDescription().cStr());
  });
}

kj::Promise<void> HttpEndpoint::Drain() {
  listening_ = nullptr;
  service_->Stop();
  return server_->drain();
}

HttpEndpoint::~HttpEndpoint() {
  // The accept loop first (it uses the receiver), then the connections, then the socket.
  listening_ = nullptr;
  server_ = nullptr;
  listener_.Close();
}

}  // namespace taskledger::server
