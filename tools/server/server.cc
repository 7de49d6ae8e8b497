#include "tools/server/server.h"

#include <capnp/rpc-twoparty.h>
#include <capnp/rpc.h>
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

#include "ledger/codec.h"
#include "ledger/group_commit.h"
#include "ledger/wire.h"
#include "projections/limits.h"
#include "tools/common/address.h"
#include "tools/common/follow.h"
#include "tools/server/cluster_config.h"
#include "tools/server/cluster_member.h"
#include "tools/server/forwarder.h"
#include "tools/server/free_memory.h"
#include "tools/server/http_service.h"
#include "tools/server/listener.h"
#include "tools/server/metrics.h"
#include "tools/server/systemd_support.h"

namespace taskledger::server {
namespace {

// Limits of what one client may send or hold (and kMaxCommandsPerCall, limits.h).
// One request: a thousand commands or a few payloads at their 1 MiB limit.
constexpr uint64_t kMaxRequestWords = (64u << 20) / sizeof(capnp::word);
constexpr size_t kMaxConnections = 4096;
constexpr uint32_t kMaxEventsPerCall = 16384;
// A page of `listTasks`: at most this many views and this many words (one view may carry a
// 1 MiB payload), far below what one message may hold.
constexpr size_t kListPageViews = 2000;
constexpr uint64_t kListPageWords = uint64_t{1} << 20;  // 8 MiB
// A page read from storage for a streamed `listTasks`: the same bound on its stored records,
// so that the server holds about one such page (and its message) per listing client.
constexpr size_t kListPageRecordBytes = size_t{8} << 20;
// The largest reply we send: the RPC layer refuses to send a message past our own limit on
// what we receive (kMaxRequestWords); this leaves room for the reply's envelope.
constexpr uint64_t kMaxReplyWords = kMaxRequestWords - 4096;
// On shutdown, replies in flight get this long to reach their clients.
constexpr auto kDrainReplies = 5 * kj::SECONDS;

using SteadyClock = std::chrono::steady_clock;

// What the idle timeout of one connection looks at. Shared by the connection, its stream
// and its service: a call may outlive its connection.
struct Activity {
  SteadyClock::time_point last = SteadyClock::now();  // last byte received, or end of a call
  size_t calls = 0;                                   // in flight, `follow` streams included
  void Touch() { last = SteadyClock::now(); }
};

// Counts one call in flight on its connection while it lives; its end is activity (a
// long call must not leave its connection looking idle the moment it returns).
class CallInFlight {
 public:
  explicit CallInFlight(std::shared_ptr<Activity> activity) : activity_(std::move(activity)) { ++activity_->calls; }
  CallInFlight(CallInFlight&& other) noexcept = default;
  CallInFlight(const CallInFlight&) = delete;
  CallInFlight& operator=(const CallInFlight&) = delete;
  CallInFlight& operator=(CallInFlight&&) = delete;
  ~CallInFlight() {
    if (!activity_) return;
    --activity_->calls;
    activity_->Touch();
  }

 private:
  std::shared_ptr<Activity> activity_;
};

// A client's stream that notes when bytes arrive. Reads are taken as they come (at least
// one byte each), so a message arriving slowly counts as traffic all along, not only once
// it is complete.
class WatchedStream final : public kj::AsyncIoStream {
 public:
  WatchedStream(kj::Own<kj::AsyncIoStream> inner, std::shared_ptr<Activity> activity)
      : inner_(kj::mv(inner)), activity_(std::move(activity)) {}

  kj::Promise<size_t> tryRead(void* buffer, size_t min_bytes, size_t max_bytes) override {
    if (min_bytes == 0 || max_bytes == 0) return inner_->tryRead(buffer, min_bytes, max_bytes);
    return ReadAtLeast(static_cast<kj::byte*>(buffer), min_bytes, max_bytes, 0);
  }
  kj::Promise<void> write(const void* buffer, size_t size) override { return inner_->write(buffer, size); }
  kj::Promise<void> write(kj::ArrayPtr<const kj::ArrayPtr<const kj::byte>> pieces) override {
    return inner_->write(pieces);
  }
  kj::Promise<void> whenWriteDisconnected() override { return inner_->whenWriteDisconnected(); }
  void shutdownWrite() override { inner_->shutdownWrite(); }
  void abortRead() override { inner_->abortRead(); }
  void getsockopt(int level, int option, void* value, kj::uint* length) override {
    inner_->getsockopt(level, option, value, length);
  }
  void setsockopt(int level, int option, const void* value, kj::uint length) override {
    inner_->setsockopt(level, option, value, length);
  }
  void getsockname(struct sockaddr* addr, kj::uint* length) override { inner_->getsockname(addr, length); }
  void getpeername(struct sockaddr* addr, kj::uint* length) override { inner_->getpeername(addr, length); }
  kj::Maybe<int> getFd() const override { return inner_->getFd(); }

 private:
  kj::Promise<size_t> ReadAtLeast(kj::byte* buffer, size_t min_bytes, size_t max_bytes, size_t done) {
    return inner_->tryRead(buffer + done, 1, max_bytes - done)
        .then([this, buffer, min_bytes, max_bytes, done](size_t n) -> kj::Promise<size_t> {
          if (n == 0) return done;  // end of stream
          activity_->Touch();
          if (done + n >= min_bytes) return done + n;
          return ReadAtLeast(buffer, min_bytes, max_bytes, done + n);
        });
  }

  kj::Own<kj::AsyncIoStream> inner_;
  std::shared_ptr<Activity> activity_;
};

// Resolves once the connection has been idle for `timeout`: no byte received and no call
// in flight for that long.
kj::Promise<void> WhenIdle(kj::Timer& timer, std::shared_ptr<Activity> activity, SteadyClock::duration timeout) {
  const SteadyClock::duration idle_for = SteadyClock::now() - activity->last;
  if (activity->calls == 0 && idle_for >= timeout) return kj::READY_NOW;
  // With a call in flight, look again a timeout later (its end counts as activity).
  const SteadyClock::duration wait = activity->calls > 0 ? timeout : timeout - idle_for;
  const int64_t wait_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(wait).count();
  return timer.afterDelay(std::max<int64_t>(wait_ns, 1) * kj::NANOSECONDS)
      .then([&timer, activity = std::move(activity), timeout]() mutable {
        return WhenIdle(timer, std::move(activity), timeout);
      });
}

// Outcomes in the order of `kinds` (the commands that could be read; any others are
// counted as of unknown kind). Runs on the event loop or the committer's syncer thread.
void RecordOutcomes(ServerMetrics& metrics, const std::vector<CommandKind>& kinds,
                           const std::vector<Outcome>& outcomes, SteadyClock::time_point submitted) {
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - submitted).count();
  for (size_t i = 0; i < outcomes.size(); ++i) {
    metrics.CommandDone(i < kinds.size() ? std::optional<CommandKind>(kinds[i]) : std::nullopt, outcomes[i], seconds);
  }
}

// The one way commands reach the ledger, over RPC and HTTP alike: queued on the
// committer (validated and committed with its group), counted in `in_flight` until their
// outcomes are back (a stopping server waits for them), recorded in the metrics.
kj::Promise<std::vector<Outcome>> SubmitToCommitter(GroupCommitter& committer, ServerMetrics& metrics,
                                                    size_t* in_flight, std::vector<Command> commands) {
  const SteadyClock::time_point submitted = SteadyClock::now();
  std::vector<CommandKind> kinds;
  kinds.reserve(commands.size());
  for (const Command& c : commands) kinds.push_back(c.kind);
  const size_t count = commands.size();
  auto paf = kj::newPromiseAndCrossThreadFulfiller<std::vector<Outcome>>();
  auto fulfiller = std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<std::vector<Outcome>>>>(
      kj::mv(paf.fulfiller));
  const Status queued =
      committer.Enqueue(std::move(commands), [fulfiller, &metrics, kinds, submitted](std::vector<Outcome> outcomes) {
        RecordOutcomes(metrics, kinds, outcomes, submitted);
        (*fulfiller)->fulfill(kj::mv(outcomes));
      });
  if (!queued.ok()) {
    std::vector<Outcome> outcomes(count, Outcome{queued, {}});
    RecordOutcomes(metrics, kinds, outcomes, submitted);
    return outcomes;
  }
  ++*in_flight;
  return paf.promise.then([in_flight](std::vector<Outcome> outcomes) {
    --*in_flight;
    return outcomes;
  });
}

// Where a call's commands go: the committer; in a cluster, a standby passes them on to
// the partition's writer, unless they were passed on to it already (`forwarded`).
using SubmitRoute = std::function<kj::Promise<std::vector<Outcome>>(std::vector<Command>, bool forwarded)>;

// A standby's way (Forwarder), counted and recorded as SubmitToCommitter does.
kj::Promise<std::vector<Outcome>> ForwardToWriter(Forwarder& forwarder, ServerMetrics& metrics, size_t* in_flight,
                                                  const std::string& writer, std::vector<Command> commands) {
  const SteadyClock::time_point submitted = SteadyClock::now();
  std::vector<CommandKind> kinds;
  kinds.reserve(commands.size());
  for (const Command& c : commands) kinds.push_back(c.kind);
  ++*in_flight;
  return forwarder.Submit(writer, commands)
      .then([&metrics, kinds = std::move(kinds), submitted](std::vector<Outcome> outcomes) {
        RecordOutcomes(metrics, kinds, outcomes, submitted);
        return outcomes;
      })
      .attach(kj::defer([in_flight] { --*in_flight; }));  // also if the call is dropped
}

// The service of one connection (each has its own, to count its calls).
class LedgerService final : public rpc::Ledger::Server {
 public:
  LedgerService(Ledger* ledger, const SubmitRoute* route, ServerMetrics* metrics, kj::Timer& timer,
                kj::ForkedPromise<void>& stopping, std::shared_ptr<Activity> activity)
      : ledger_(ledger),
        route_(route),
        metrics_(metrics),
        timer_(timer),
        stopping_(stopping),
        activity_(std::move(activity)) {}

  kj::Promise<void> submit(SubmitContext context) override {
    CallInFlight call(activity_);
    const SteadyClock::time_point submitted = SteadyClock::now();
    auto commands_in = context.getParams().getCommands();
    std::vector<Command> commands;
    std::vector<CommandKind> kinds;  // for the metrics, once the commands are the committer's
    Status bad = Status::Ok();
    if (commands_in.size() > kMaxCommandsPerCall) {
      bad = Status::InvalidArgument("more than " + std::to_string(kMaxCommandsPerCall) + " commands in one call");
    }
    for (auto c : commands_in) {
      if (!bad.ok()) break;
      Result<Command> command = wire::ReadCommand(c);
      if (!command.ok()) bad = command.status();
      else {
        kinds.push_back(command->kind);
        commands.push_back(std::move(*command));
      }
    }
    const size_t count = commands_in.size();
    if (!bad.ok()) {
      std::vector<Outcome> outcomes(count, Outcome{bad, {}});
      RecordOutcomes(*metrics_, kinds, outcomes, submitted);
      FillOutcomes(context, outcomes);
      return kj::READY_NOW;
    }
    return (*route_)(std::move(commands), context.getParams().getForwarded())
        .then([context](std::vector<Outcome> outcomes) mutable { FillOutcomes(context, outcomes); })
        .attach(kj::mv(call));
  }

  kj::Promise<void> now(NowContext context) override {
    CallInFlight call(activity_);
    context.getResults().setNs(ledger_->Now());
    context.getResults().setLastSeq(ledger_->last_seq());
    return kj::READY_NOW;
  }

  // The old way: every view in one reply. Past the message limit it fails with a clear
  // error (the RPC layer would refuse to send the reply) instead of a broken call.
  kj::Promise<void> tasksAt(TasksAtContext context) override {
    CallInFlight call(activity_);
    Result<PointInTime> at = wire::ReadPointInTime(context.getParams().getAt());
    auto results = context.getResults();
    if (!at.ok()) return Error(results.initError(), at.status());
    const ReturnFreeMemoryAfterward release;  // every view at once
    Result<TasksSnapshot> snapshot = ledger_->TasksAt(*at);
    if (!snapshot.ok()) return Error(results.initError(), snapshot.status());
    uint64_t words = 1;  // the list's tag
    for (const TaskView& view : snapshot->tasks) words += wire::TaskViewWords(view);
    if (words > kMaxReplyWords) {
      return Error(results.initError(),
                   Status::IOError(std::to_string(snapshot->tasks.size()) + " tasks (" +
                                   std::to_string((words * sizeof(capnp::word) + (1 << 20) - 1) >> 20) +
                                   " MiB) are too many for one tasksAt reply (at most " +
                                   std::to_string(kMaxRequestWords * sizeof(capnp::word) >> 20) +
                                   " MiB): upgrade this client to a taskledger that lists tasks in pages (listTasks)"));
    }
    results.setAtNs(snapshot->at_ns);
    results.setSeq(snapshot->seq);
    auto tasks = results.initTasks(static_cast<unsigned>(snapshot->tasks.size()));
    for (size_t i = 0; i < snapshot->tasks.size(); ++i) {
      wire::WriteTaskView(snapshot->tasks[i], tasks[static_cast<unsigned>(i)]);
    }
    return kj::READY_NOW;
  }

  // One snapshot pushed to the client's sink a page at a time, each push awaited (flow
  // control: the event loop serves other clients between pages). Now, for a client that
  // orders the views itself (anyOrder), each page is read from storage when the previous
  // one has been taken (TaskPages): the server holds about a page, never the snapshot.
  // Otherwise (--at: a replay; or a client that expects creation order) the snapshot is
  // computed whole first.
  kj::Promise<void> listTasks(ListTasksContext context) override {
    CallInFlight call(activity_);
    auto params = context.getParams();
    Result<PointInTime> at = wire::ReadPointInTime(params.getAt());
    if (!at.ok()) return Error(context.getResults().initError(), at.status());
    auto state = kj::heap<Lister>(params.getSink());
    if (at->kind == PointInTime::Kind::kNow && params.getAnyOrder()) {
      Result<std::unique_ptr<TaskPages>> pages = ledger_->TaskPagesNow();
      if (!pages.ok()) return Error(context.getResults().initError(), pages.status());
      state->at_ns = (*pages)->at_ns();
      state->seq = (*pages)->seq();
      state->pages = std::move(*pages);
    } else {
      state->release.Arm();  // the whole snapshot: released when the lister goes
      Result<TasksSnapshot> snapshot = ledger_->TasksAt(*at);
      if (!snapshot.ok()) return Error(context.getResults().initError(), snapshot.status());
      state->at_ns = snapshot->at_ns;
      state->seq = snapshot->seq;
      state->total = snapshot->tasks.size();
      state->page = std::move(snapshot->tasks);
    }
    context.releaseParams();
    Lister& lister = *state;
    return ListLoop(lister)
        .then([context, &lister]() mutable {
          auto results = context.getResults();
          if (!lister.failed.ok()) {
            wire::WriteError(lister.failed, results.initError());
            return;
          }
          results.setAtNs(lister.at_ns);
          results.setSeq(lister.seq);
          results.setCount(lister.count);
        })
        .attach(kj::mv(state), kj::mv(call));
  }

  kj::Promise<void> taskAt(TaskAtContext context) override {
    CallInFlight call(activity_);
    auto params = context.getParams();
    auto results = context.getResults();
    Result<PointInTime> at = wire::ReadPointInTime(params.getAt());
    if (!at.ok()) return Error(results.initError(), at.status());
    Result<TaskView> view = ledger_->TaskAt(params.getId(), *at);
    if (!view.ok()) return Error(results.initError(), view.status());
    wire::WriteTaskView(*view, results.initView());
    return kj::READY_NOW;
  }

  kj::Promise<void> events(EventsContext context) override {
    CallInFlight call(activity_);
    auto params = context.getParams();
    auto results = context.getResults();
    std::vector<Event> page;
    Status s = ReadEvents(params.getFromSeq(), params.getTaskId(), std::min(params.getLimit(), kMaxEventsPerCall), &page);
    if (!s.ok()) return Error(results.initError(), s);
    auto list = results.initEvents(static_cast<unsigned>(page.size()));
    for (size_t i = 0; i < page.size(); ++i) WriteEvent(page[i], list[static_cast<unsigned>(i)]);
    return kj::READY_NOW;
  }

  kj::Promise<void> firstSeqAtOrAfter(FirstSeqAtOrAfterContext context) override {
    CallInFlight call(activity_);
    Result<uint64_t> seq = ledger_->FirstSeqAtOrAfter(context.getParams().getTimeNs());
    if (!seq.ok()) return Error(context.getResults().initError(), seq.status());
    context.getResults().setSeq(*seq);
    return kj::READY_NOW;
  }

  kj::Promise<void> verify(VerifyContext context) override {
    CallInFlight call(activity_);
    const ReturnFreeMemoryAfterward release;  // a replay of the whole log
    Result<VerifyReport> report = ledger_->Verify();
    auto results = context.getResults();
    if (!report.ok()) return Error(results.initError(), report.status());
    results.setEvents(report->events);
    results.setTasks(report->tasks);
    auto problems = results.initProblems(static_cast<unsigned>(report->problems.size()));
    for (size_t i = 0; i < report->problems.size(); ++i) problems.set(static_cast<unsigned>(i), report->problems[i]);
    return kj::READY_NOW;
  }

  kj::Promise<void> rebuild(RebuildContext context) override {
    CallInFlight call(activity_);
    const ReturnFreeMemoryAfterward release;  // a replay of the whole log
    Result<RebuildReport> report = ledger_->Rebuild();
    auto results = context.getResults();
    if (!report.ok()) return Error(results.initError(), report.status());
    results.setEvents(report->events);
    results.setTasks(report->tasks);
    return kj::READY_NOW;
  }

  kj::Promise<void> follow(FollowContext context) override {
    CallInFlight call(activity_);  // an open follow stream is not idle, events or not
    auto params = context.getParams();
    auto state = kj::heap<Follower>(Follower{std::max<uint64_t>(params.getFromSeq(), 1), params.getTaskId(),
                                             params.getSink()});
    if (!state->task_id.empty()) {
      if (Status s = ValidateName("task id", state->task_id); !s.ok()) return Error(context.getResults().initError(), s);
    }
    Follower& follower = *state;
    return FollowLoop(follower)
        .attach(kj::mv(state))
        .exclusiveJoin(stopping_.addBranch())
        .then([] {},
              [context](kj::Exception&& e) mutable {
                spdlog::debug("follower ended: {}", e.getDescription().cStr());
                (void)context;
              })
        .attach(kj::mv(call));
  }

 private:
  struct Follower {
    uint64_t next_seq;
    std::string task_id;
    rpc::EventSink::Client sink;
  };

  struct Lister {
    explicit Lister(rpc::TaskViewSink::Client to) : sink(kj::mv(to)) {}
    ReturnFreeMemoryAfterward release{false};  // first: goes after the snapshot
    rpc::TaskViewSink::Client sink;
    std::unique_ptr<TaskPages> pages;  // streaming: where the next page comes from; else null
    std::vector<TaskView> page;        // streaming: the current page; else the whole snapshot
    size_t next = 0;                   // the first view of `page` not yet pushed
    uint64_t count = 0;                // views pushed
    uint64_t total = 0;                // views in all, when known before the first page
    int64_t at_ns = 0;
    uint64_t seq = 0;
    Status failed = Status::Ok();      // a page that could not be read: no done(), the error
  };

  kj::Promise<void> ListLoop(Lister& l) {
    if (l.next == l.page.size() && l.pages != nullptr) {
      l.next = 0;
      l.failed = l.pages->Next(kListPageViews, kListPageRecordBytes, &l.page);
      if (!l.failed.ok()) return kj::READY_NOW;
    }
    const std::vector<TaskView>& tasks = l.page;
    if (l.next == tasks.size()) return l.sink.doneRequest().send().ignoreResult();
    size_t end = l.next;
    uint64_t words = 0;
    while (end < tasks.size() && end - l.next < kListPageViews) {
      const uint64_t view_words = wire::TaskViewWords(tasks[end]);
      if (end > l.next && words + view_words > kListPageWords) break;
      words += view_words;
      ++end;
    }
    auto request = l.sink.pushRequest();
    request.setTotal(l.total);
    auto list = request.initTasks(static_cast<unsigned>(end - l.next));
    for (size_t i = l.next; i < end; ++i) wire::WriteTaskView(tasks[i], list[static_cast<unsigned>(i - l.next)]);
    l.count += end - l.next;
    l.next = end;
    return request.send().then([this, &l] { return ListLoop(l); });
  }

  kj::Promise<void> FollowLoop(Follower& f) {
    std::vector<Event> page;
    Status s = ReadEvents(f.next_seq, f.task_id, kMaxEventsPerCall, &page);
    if (!s.ok()) return KJ_EXCEPTION(FAILED, s.message());
    if (page.empty()) return timer_.afterDelay(tools::kFollowPollInterval.count() * kj::MILLISECONDS).then([this, &f] { return FollowLoop(f); });
    auto request = f.sink.pushRequest();
    auto list = request.initEvents(static_cast<unsigned>(page.size()));
    for (size_t i = 0; i < page.size(); ++i) WriteEvent(page[i], list[static_cast<unsigned>(i)]);
    f.next_seq = page.back().seq + 1;
    return request.send().then([this, &f] { return FollowLoop(f); });
  }

  Status ReadEvents(uint64_t from_seq, const std::string& task_id, uint32_t limit, std::vector<Event>* page) {
    const auto collect = [&](const Event& e) {
      page->push_back(e);
      return page->size() < limit;
    };
    if (task_id.empty()) return ledger_->ForEachEvent(from_seq, collect);
    TL_RETURN_IF_ERROR(ValidateName("task id", task_id));
    return ledger_->ForEachTaskEvent(task_id, from_seq, collect);
  }

  template <typename Context>
  static void FillOutcomes(Context& context, const std::vector<Outcome>& outcomes) {
    auto list = context.getResults().initOutcomes(static_cast<unsigned>(outcomes.size()));
    for (size_t i = 0; i < outcomes.size(); ++i) wire::WriteOutcome(outcomes[i], list[static_cast<unsigned>(i)]);
  }

  static kj::Promise<void> Error(rpc::Error::Builder out, const Status& status) {
    wire::WriteError(status, out);
    return kj::READY_NOW;
  }

  Ledger* ledger_;
  const SubmitRoute* route_;
  ServerMetrics* metrics_;
  kj::Timer& timer_;
  kj::ForkedPromise<void>& stopping_;
  std::shared_ptr<Activity> activity_;
};

// One client connection: the RPC system over its stream, with our size limits.
struct Connection {
  Connection(kj::Own<kj::AsyncIoStream>&& stream_in, std::shared_ptr<Activity> activity_in,
             capnp::Capability::Client bootstrap, capnp::ReaderOptions options)
      : activity(std::move(activity_in)),
        stream(kj::heap<WatchedStream>(kj::mv(stream_in), activity)),
        network(*stream, capnp::rpc::twoparty::Side::SERVER, options),
        rpc(capnp::makeRpcServer(network, kj::mv(bootstrap))) {}
  std::shared_ptr<Activity> activity;
  kj::Own<kj::AsyncIoStream> stream;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc;
};

class ConnectionErrors final : public kj::TaskSet::ErrorHandler {
 public:
  void taskFailed(kj::Exception&& e) override { spdlog::debug("connection ended: {}", e.getDescription().cStr()); }
};

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
  // no longer than a stopping server waits for replies (kDrainReplies). Busy then: the
  // client's retry goes to whichever server writes by then.
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
        capnp::Capability::Client service =
            kj::heap<LedgerService>(ledger, &route, &metrics, timer, stopping, activity);
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
