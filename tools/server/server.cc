#include "tools/server/server.h"

#include <kj/async-io.h>
#include <kj/async-unix.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <iostream>
#include <memory>
#include <optional>

#include "ledger/group_commit.h"
#include "tools/common/address.h"
#include "tools/server/cluster_config.h"
#include "tools/server/cluster_member.h"
#include "tools/server/connection.h"
#include "tools/server/forwarder.h"
#include "tools/server/http_service.h"
#include "tools/server/ledger_service.h"
#include "tools/server/listener.h"
#include "tools/server/metrics.h"
#include "tools/server/submit_route.h"
#include "tools/server/systemd_support.h"

namespace taskledger::server {
namespace {

constexpr size_t kMaxConnections = 4096;
// On shutdown, replies in flight get this long to reach their clients.
constexpr auto kDrainReplies = 5 * kj::SECONDS;

// Where the listeners come from: sockets systemd passed (socket activation), or --listen
// and --http. Either way, decided before the ledger opens so that a busy socket or a bad
// unit fails fast.
struct ListenPlans {
  ListenPlan rpc;
  std::optional<ListenPlan> http;  // none: no HTTP listener
};

Result<ListenPlans> PlanListeners(const ServeOptions& options) {
  Result<std::vector<PassedSocket>> passed = TakePassedSockets();
  if (!passed.ok()) return passed.status();
  ListenPlans plans;
  if (passed->empty()) {
    Result<tools::ServerAddress> address = BindableAddress("--listen", options.listen, options.allow_remote);
    if (!address.ok()) return address.status();
    plans.rpc.address = std::move(*address);
  } else {
    if (options.listen_given) {
      return Status::InvalidArgument("serve: systemd passed a listening socket (LISTEN_FDS); drop --listen, "
                                     "the .socket unit says where to listen");
    }
    Result<int> fd = ChooseRpcSocket(*passed);
    if (!fd.ok()) return fd.status();
    plans.rpc.activated_fd = *fd;
  }
  Result<int> http_fd = passed->empty() ? Result<int>(-1) : ChooseHttpSocket(*passed);
  if (!http_fd.ok()) return http_fd.status();
  if (*http_fd >= 0) {
    if (!options.http.empty()) {
      return Status::InvalidArgument("serve: systemd passed a socket named http; drop --http, "
                                     "the .socket unit says where to serve HTTP");
    }
    plans.http = ListenPlan{*http_fd, {}};
  } else if (!options.http.empty()) {
    Result<tools::ServerAddress> address = BindableAddress("--http", options.http, options.allow_remote);
    if (!address.ok()) return address.status();
    plans.http = ListenPlan{-1, std::move(*address)};
  }
  return plans;
}

// The GroupCommitter reporting its groups and fsyncs to `metrics`.
GroupCommitOptions ObservedCommitOptions(ServerMetrics& metrics) {
  const auto seconds = [](std::chrono::nanoseconds took) { return std::chrono::duration<double>(took).count(); };
  GroupCommitOptions commit_options;
  commit_options.on_group_written = [&metrics, seconds](size_t commands, std::chrono::nanoseconds took) {
    metrics.GroupWritten(commands, seconds(took));
  };
  commit_options.on_synced = [&metrics, seconds](std::chrono::nanoseconds took) { metrics.Synced(seconds(took)); };
  return commit_options;
}

// What GET /metrics computes at scrape time. The task counts come from a scan of every
// current task, a page at a time (TaskPages: memory bounded by a page, one consistent
// moment), run on the event loop: it blocks every client for its duration, which grows with
// the number of tasks (taskledger_tasks_scan_seconds shows it; scrape less often on a large
// ledger). A scan that fails leaves the task families without samples and is logged.
ScrapeGauges Scrape(Ledger& ledger) {
  ScrapeGauges gauges;
  gauges.last_seq = ledger.last_seq();
  const SteadyClock::time_point start = SteadyClock::now();
  const auto scan = [&ledger]() -> Result<TaskCounts> {
    Result<std::unique_ptr<TaskPages>> pages = ledger.TaskPagesNow();
    if (!pages.ok()) return pages.status();
    TaskCounts counts;
    std::vector<TaskView> page;
    while (true) {
      TL_RETURN_IF_ERROR((*pages)->Next(kListPageViews, kListPageRecordBytes, &page));
      if (page.empty()) return counts;
      for (const TaskView& view : page) counts.Add(view);
    }
  };
  Result<TaskCounts> counts = scan();
  gauges.tasks_scan_seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  if (counts.ok()) {
    gauges.tasks = std::move(*counts);
  } else {
    spdlog::warn("/metrics: cannot count the tasks: {}", counts.status().message());
  }
  return gauges;
}

// The HTTP endpoint (the JSON API, /metrics, /healthz) when there is a plan for one;
// else null.
Result<std::unique_ptr<HttpEndpoint>> StartHttp(const std::optional<ListenPlan>& plan, kj::AsyncIoContext& io,
                                                HttpSources sources) {
  if (!plan) return std::unique_ptr<HttpEndpoint>();
  Result<Listener> listener = Listen(*plan, "HTTP", io);
  if (!listener.ok()) return listener.status();
  spdlog::info("serving HTTP on {}", listener->shown);
  return std::make_unique<HttpEndpoint>(io.provider->getTimer(), std::move(*listener), std::move(sources));
}

// Each client is a file descriptor: allow as many as the hard limit does.
void RaiseOpenFilesLimit() {
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
}

}  // namespace

// One function on purpose (~90 lines): the event loop, the ledger, the committer and the
// listener are locals whose destruction order is the shutdown order, and the accept and
// drain loops capture them by reference.
int Serve(const ServeOptions& given) {
  const auto fail = [](const Status& s) {
    std::fprintf(stderr, "taskledger: %s\n", s.message().c_str());
    return s.ExitCode();
  };
  ServeOptions options = given;
  std::optional<ClusterConfig> cluster;
  if (!options.cluster_config.empty()) {
    Result<ClusterConfig> config = LoadClusterConfig(options.cluster_config);
    if (!config.ok()) return fail(config.status());
    cluster = std::move(*config);
    if (!options.listen_given) options.listen = cluster->servers.at(cluster->name);
  }
  Result<ListenPlans> plans = PlanListeners(options);
  if (!plans.ok()) return fail(plans.status());

  // Before any thread exists (RocksDB's, the writer's): every thread must block these, so
  // that they reach the event loop instead of killing the process.
  kj::UnixEventPort::captureSignal(SIGTERM);
  kj::UnixEventPort::captureSignal(SIGINT);
  std::signal(SIGPIPE, SIG_IGN);
  RaiseOpenFilesLimit();

  ServerMetrics metrics(BuildInfo{options.version, options.revision});
  const SteadyClock::time_point opening = SteadyClock::now();
  SystemClock clock;
  // One node: the ledger, written by the committer. A cluster: the partition writer's
  // local view, written by the committer through the partition's log.
  std::unique_ptr<Ledger> own_ledger;
  std::unique_ptr<ClusterMember> member;
  if (cluster) {
    Result<std::unique_ptr<ClusterMember>> opened = ClusterMember::Open(*cluster, options.db_path, options.sync, &clock);
    if (!opened.ok()) return fail(opened.status());
    member = std::move(*opened);
  } else {
    LedgerOptions ledger_options;
    ledger_options.path = options.db_path;
    ledger_options.sync = options.sync;
    Result<std::unique_ptr<Ledger>> opened = Ledger::Open(ledger_options, &clock);
    if (!opened.ok()) return fail(opened.status());
    own_ledger = std::move(*opened);
  }
  Ledger* const ledger = member != nullptr ? &member->writer().ledger() : own_ledger.get();
  metrics.SetStartupSeconds(std::chrono::duration<double>(SteadyClock::now() - opening).count());

  auto io = kj::setupAsyncIo();
  std::unique_ptr<GroupCommitter> committer_owner =
      member != nullptr ? std::make_unique<GroupCommitter>(&member->writer(), ObservedCommitOptions(metrics))
                        : std::make_unique<GroupCommitter>(ledger, ObservedCommitOptions(metrics));
  GroupCommitter& committer = *committer_owner;
  size_t in_flight = 0;
  auto stop_paf = kj::newPromiseAndFulfiller<void>();
  kj::ForkedPromise<void> stopping = stop_paf.promise.fork();

  Result<Listener> listener = Listen(plans->rpc, "RPC", io);
  if (!listener.ok()) return fail(listener.status());
  kj::Timer& timer = io.provider->getTimer();
  HttpSources http_sources;
  http_sources.ledger = ledger;
  // A writer that does not answer within twice its lease has lost it (a frozen one); and
  // no longer than a stopping server waits for replies (kDrainReplies). Its commands'
  // outcome is unknown then (they were sent): the client looks before sending again.
  const kj::Duration forward_timeout =
      member != nullptr ? std::min(2 * cluster->lease_ttl_ns * kj::NANOSECONDS, kDrainReplies) : kDrainReplies;
  Forwarder forwarder(*io.provider, forward_timeout);
  const SubmitRoute route = [&](std::vector<Command> commands, bool forwarded) -> kj::Promise<std::vector<Outcome>> {
    if (member != nullptr && !forwarded && !member->writer().writing()) {
      const std::string writer = member->WriterAddress();
      if (!writer.empty()) return ForwardToWriter(forwarder, metrics, &in_flight, writer, std::move(commands));
    }
    return SubmitToCommitter(committer, metrics, &in_flight, std::move(commands));
  };
  http_sources.submit = [&route](std::vector<Command> commands) { return route(std::move(commands), false); };
  http_sources.metrics = &metrics;
  http_sources.gauges = [ledger] { return Scrape(*ledger); };
  http_sources.title = options.db_path;
  Result<std::unique_ptr<HttpEndpoint>> http = StartHttp(plans->http, io, std::move(http_sources));
  if (!http.ok()) {
    listener->Close();  // no RPC socket file left behind for a server that did not start
    return fail(http.status());
  }
  capnp::ReaderOptions reader_options;
  reader_options.traversalLimitInWords = kMaxRequestWords;
  ConnectionErrors errors;
  kj::TaskSet connections(errors);
  size_t open_connections = 0;

  std::function<kj::Promise<void>()> accept_loop = [&]() -> kj::Promise<void> {
    return listener->receiver->accept().then([&](kj::Own<kj::AsyncIoStream>&& stream) {
      if (open_connections >= kMaxConnections) {
        spdlog::warn("refusing a connection: {} open", open_connections);
      } else {
        metrics.SetConnections(++open_connections);
        auto activity = std::make_shared<Activity>();
        capnp::Capability::Client service = NewLedgerService(ledger, &route, &metrics, timer, stopping, activity);
        auto connection = kj::heap<Connection>(kj::mv(stream), activity, kj::mv(service), reader_options);
        kj::Promise<void> done = connection->network.onDisconnect();
        if (options.idle_timeout_ns > 0) {
          // Closing is dropping the connection: its stream, RPC system and service go.
          done = done.exclusiveJoin(WhenIdle(timer, activity, std::chrono::nanoseconds(options.idle_timeout_ns))
                                        .then([] { spdlog::info("closing a connection idle past --idle-timeout"); }));
        }
        connections.add(done.attach(kj::mv(connection), kj::defer([&] { metrics.SetConnections(--open_connections); })));
      }
      return accept_loop();
    });
  };
  if (cluster) {
    spdlog::info("serving ledger {} on {}, as {} of a cluster ({} NATS replicas, writer lease {} ms)", options.db_path,
                 listener->shown, cluster->name, cluster->replicas, cluster->lease_ttl_ns / 1'000'000);
    const std::string& directory = cluster->servers.at(cluster->name);
    if (options.listen_given && options.listen != directory) {
      spdlog::warn("--listen {} is not this server's address in the cluster config ({}): the other servers pass "
                   "commands on to {}", options.listen, directory, directory);
    }
    // Only now, reachable: a server that may become the writer must be one others can reach.
    member->Start();
  } else {
    spdlog::info("serving ledger {} on {}", options.db_path, listener->shown);
  }
  if (*http != nullptr) std::cout << "http on " << (*http)->shown() << std::endl;
  std::cout << "listening on " << listener->shown << std::endl;
  NotifyReady("serving ledger " + options.db_path + " on " + listener->shown);

  auto accepting = accept_loop().exclusiveJoin(io.unixEventPort.onSignal(SIGTERM).ignoreResult())
                       .exclusiveJoin(io.unixEventPort.onSignal(SIGINT).ignoreResult());
  try {
    accepting.wait(io.waitScope);
  } catch (const kj::Exception& e) {
    spdlog::error("accept failed: {}", e.getDescription().cStr());
  }
  // Stop: no new connections, no new commands; commit and acknowledge what is queued.
  spdlog::info("stopping: finishing {} call(s) in flight", in_flight);
  NotifyStopping("stopping: finishing " + std::to_string(in_flight) + " call(s) in flight");
  listener->Close();
  // HTTP: no new requests; event streams end; requests in flight are answered below.
  kj::Promise<void> http_drained = *http != nullptr ? (*http)->Drain() : kj::Promise<void>(kj::READY_NOW);
  committer.Stop();
  if (member != nullptr) member->Stop();  // gives the writer lease up: a standby takes over at once
  stop_paf.fulfiller->fulfill();
  auto give_up = io.provider->getTimer().afterDelay(kDrainReplies);
  std::function<kj::Promise<void>()> drain = [&]() -> kj::Promise<void> {
    if (in_flight == 0) return io.provider->getTimer().afterDelay(50 * kj::MILLISECONDS);  // let replies flush
    return io.provider->getTimer().afterDelay(5 * kj::MILLISECONDS).then([&] { return drain(); });
  };
  drain().then([&] { return kj::mv(http_drained); }).exclusiveJoin(kj::mv(give_up)).wait(io.waitScope);
  http->reset();
  spdlog::info("stopped after {} groups, {} commands", committer.groups_committed(), committer.commands_committed());
  return 0;
}

}  // namespace taskledger::server
