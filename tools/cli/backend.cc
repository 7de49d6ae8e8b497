#include "tools/cli/backend.h"

#include <capnp/message.h>
#include <capnp/rpc-twoparty.h>
#include <kj/async-io.h>
#include <kj/async.h>
#include <kj/timer.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "ledger/codec.h"
#include "ledger/wire.h"
#include "tools/common/address.h"
#include "tools/common/follow.h"

namespace taskledger::cli {
namespace {

// Events per `events` call: bounds one reply.
constexpr uint32_t kEventsPage = 4096;
// A busy server is retried for this long before the error reaches the user.
constexpr auto kBusyRetryFor = std::chrono::seconds(10);
// Replies may hold many tasks: allow large messages from our own server.
constexpr uint64_t kClientTraversalWords = uint64_t{1} << 33;

// The ledger in this process: opened by us (OpenEmbedded), or the server's, borrowed for
// reading (ReadLedger; its commands go through the server's committer, never here).
class EmbeddedBackend final : public Backend {
 public:
  EmbeddedBackend(std::unique_ptr<Ledger> ledger, std::string path)
      : owned_(std::move(ledger)), ledger_(owned_.get()), path_(std::move(path)) {}
  explicit EmbeddedBackend(Ledger* borrowed) : ledger_(borrowed), read_only_(true) {}

  std::vector<Outcome> SubmitGroup(const std::vector<Command>& commands) override {
    if (read_only_) {
      return std::vector<Outcome>(commands.size(), Outcome{Status::Internal("a borrowed ledger is read-only here"), {}});
    }
    return ledger_->SubmitGroup(commands);
  }
  Result<int64_t> Now() override { return ledger_->Now(); }
  Result<TasksSnapshot> TasksAt(const PointInTime& at) override { return ledger_->TasksAt(at); }
  Result<TaskView> TaskAt(const std::string& id, const PointInTime& at) override { return ledger_->TaskAt(id, at); }
  Status ForEachEvent(uint64_t from_seq, const std::string& task_id,
                      const std::function<bool(const Event&)>& fn) override {
    if (task_id.empty()) return ledger_->ForEachEvent(from_seq, fn);
    return ledger_->ForEachTaskEvent(task_id, from_seq, fn);
  }
  Result<uint64_t> FirstSeqAtOrAfter(int64_t time_ns) override { return ledger_->FirstSeqAtOrAfter(time_ns); }
  Result<VerifyReport> Verify() override { return ledger_->Verify(); }
  Result<RebuildReport> Rebuild() override {
    if (read_only_) return Status::Internal("a borrowed ledger is read-only here");
    return ledger_->Rebuild();
  }
  Status Follow(uint64_t from_seq, const std::string& task_id, const std::function<bool(const Event&)>& fn,
                const volatile bool* stop) override {
    bool go_on = true;
    const auto forward = [&](const Event& e) {
      from_seq = e.seq + 1;
      go_on = fn(e);
      return go_on;
    };
    while (go_on && !*stop) {
      TL_RETURN_IF_ERROR(ForEachEvent(from_seq, task_id, forward));
      if (!go_on) break;
      std::this_thread::sleep_for(tools::kFollowPollInterval);
      TL_RETURN_IF_ERROR(ledger_->Refresh());
    }
    return Status::Ok();
  }
  std::pair<std::string, std::string> AddressEnv() const override { return {"TASKLEDGER_DB", path_}; }

 private:
  std::unique_ptr<Ledger> owned_;  // null when borrowed
  Ledger* ledger_;
  bool read_only_ = false;
  std::string path_;
};

// Prints each pushed event through the caller's function.
class SinkImpl final : public rpc::EventSink::Server {
 public:
  SinkImpl(const std::function<bool(const Event&)>& fn, bool* stopped) : fn_(fn), stopped_(stopped) {}
  kj::Promise<void> push(PushContext context) override {
    for (auto event : context.getParams().getEvents()) {
      Result<Event> e = ReadEvent(event);
      if (!e.ok() || !fn_(*e)) {
        *stopped_ = true;
        return kj::READY_NOW;
      }
    }
    return kj::READY_NOW;
  }

 private:
  std::function<bool(const Event&)> fn_;
  bool* stopped_;
};

// Collects the pages of `listTasks`. Shared with the capability, which the server may hold
// a moment longer than the call.
struct Listing {
  std::vector<TaskView> tasks;
  Status bad = Status::Ok();  // the first view that did not read
  bool done = false;
};

// The most views a listing reserves room for on the server's word (about 2.5 GiB of
// address space, touched only as views arrive).
constexpr uint64_t kMaxReservedViews = uint64_t{1} << 22;

class TaskViewSinkImpl final : public rpc::TaskViewSink::Server {
 public:
  explicit TaskViewSinkImpl(std::shared_ptr<Listing> listing) : listing_(std::move(listing)) {}
  kj::Promise<void> push(PushContext context) override {
    if (!listing_->bad.ok()) return kj::READY_NOW;
    // Room for every view at once when the server says how many: growing by doubling
    // touched about twice the memory and moved every view again (at 1M views the client
    // spent more time in page faults than in decoding). Bounded: a hint, not a promise.
    if (listing_->tasks.empty() && context.getParams().getTotal() > 0) {
      listing_->tasks.reserve(std::min<uint64_t>(context.getParams().getTotal(), kMaxReservedViews));
    }
    for (auto v : context.getParams().getTasks()) {
      Result<TaskView> view = wire::ReadTaskView(v);
      if (!view.ok()) {
        listing_->bad = view.status();
        return kj::READY_NOW;
      }
      listing_->tasks.push_back(std::move(*view));
    }
    return kj::READY_NOW;
  }
  kj::Promise<void> done(DoneContext) override {
    listing_->done = true;
    return kj::READY_NOW;
  }

 private:
  std::shared_ptr<Listing> listing_;
};

// One connection to the server. It notes when the server has closed it (an idle timeout,
// a restart), so that the next call reconnects instead of failing.
struct Session {
  Session(kj::AsyncIoContext& io, const std::string& endpoint, capnp::ReaderOptions options)
      : stream(io.provider->getNetwork().parseAddress(endpoint).wait(io.waitScope)->connect().wait(io.waitScope)),
        network(*stream, capnp::rpc::twoparty::Side::CLIENT, options),
        rpc_system(capnp::makeRpcClient(network)),
        ledger(Bootstrap(rpc_system).castAs<rpc::Ledger>()),
        watch(network.onDisconnect()
                  .then([this] { disconnected = true; }, [this](kj::Exception&&) { disconnected = true; })
                  .eagerlyEvaluate(nullptr)) {}

  static capnp::Capability::Client Bootstrap(capnp::RpcSystem<capnp::rpc::twoparty::VatId>& system) {
    capnp::MallocMessageBuilder message(4);
    auto server = message.getRoot<capnp::rpc::twoparty::VatId>();
    server.setSide(capnp::rpc::twoparty::Side::SERVER);
    return system.bootstrap(server);
  }

  kj::Own<kj::AsyncIoStream> stream;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc_system;
  rpc::Ledger::Client ledger;
  bool disconnected = false;
  kj::Promise<void> watch;
};

class RemoteBackend final : public Backend {
 public:
  RemoteBackend(std::string address, std::string endpoint)
      : address_(std::move(address)), endpoint_(std::move(endpoint)) {}

  std::vector<Outcome> SubmitGroup(const std::vector<Command>& commands) override {
    const auto give_up_at = std::chrono::steady_clock::now() + kBusyRetryFor;
    auto pause = std::chrono::milliseconds(5);
    for (;;) {
      std::vector<Outcome> outcomes;
      Status s = Call([&](rpc::Ledger::Client& ledger, kj::WaitScope& wait) {
        auto request = ledger.submitRequest();
        auto list = request.initCommands(static_cast<unsigned>(commands.size()));
        for (size_t i = 0; i < commands.size(); ++i) wire::WriteCommand(commands[i], list[static_cast<unsigned>(i)]);
        auto response = request.send().wait(wait);
        for (auto o : response.getOutcomes()) {
          Result<Outcome> outcome = wire::ReadOutcome(o);
          if (!outcome.ok()) return outcome.status();
          outcomes.push_back(std::move(*outcome));
        }
        if (outcomes.size() != commands.size()) return Status::Internal("the server answered a different count");
        return Status::Ok();
      });
      if (!s.ok()) {
        outcomes.assign(commands.size(), Outcome{s, {}});
        return outcomes;
      }
      const bool busy = !outcomes.empty() && outcomes.front().status.code() == Code::kBusy;
      if (!busy || std::chrono::steady_clock::now() > give_up_at) return outcomes;
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(200));
    }
  }

  Result<int64_t> Now() override {
    int64_t now = 0;
    TL_RETURN_IF_ERROR(Call([&](rpc::Ledger::Client& ledger, kj::WaitScope& wait) {
      now = ledger.nowRequest().send().wait(wait).getNs();
      return Status::Ok();
    }));
    return now;
  }

  // Through `listTasks` (pages, any size; in creation order once sorted here); from a
  // server that predates it, `tasksAt`.
  Result<TasksSnapshot> TasksAt(const PointInTime& at) override {
    TasksSnapshot snapshot;
    bool unimplemented = false;
    TL_RETURN_IF_ERROR(Call([&](rpc::Ledger::Client& ledger, kj::WaitScope& wait) {
      auto listing = std::make_shared<Listing>();
      auto request = ledger.listTasksRequest();
      wire::WritePointInTime(at, request.initAt());
      request.setSink(kj::heap<TaskViewSinkImpl>(listing));
      request.setAnyOrder(true);  // sorted below: lets the server stream instead of holding every view
      auto response = request.send().then(
          [](auto r) -> kj::Maybe<capnp::Response<rpc::Ledger::ListTasksResults>> { return kj::mv(r); },
          [&unimplemented](kj::Exception&& e) -> kj::Maybe<capnp::Response<rpc::Ledger::ListTasksResults>> {
            if (e.getType() != kj::Exception::Type::UNIMPLEMENTED) kj::throwFatalException(kj::mv(e));
            unimplemented = true;
            return nullptr;
          }).wait(wait);
      KJ_IF_MAYBE(r, response) {
        TL_RETURN_IF_ERROR(wire::ReadError(r->getError()));
        TL_RETURN_IF_ERROR(listing->bad);
        if (!listing->done || listing->tasks.size() != r->getCount()) {
          return Status::Internal("the server's task listing ended early: " + std::to_string(listing->tasks.size()) +
                                  " of " + std::to_string(r->getCount()) + " tasks");
        }
        snapshot.at_ns = r->getAtNs();
        snapshot.seq = r->getSeq();
        snapshot.tasks = std::move(listing->tasks);
        SortInCreationOrder(&snapshot.tasks);
      }
      return Status::Ok();
    }));
    if (unimplemented) return TasksAtInOneReply(at);
    return snapshot;
  }

  Result<TaskView> TaskAt(const std::string& id, const PointInTime& at) override {
    std::optional<TaskView> view;
    TL_RETURN_IF_ERROR(Call([&](rpc::Ledger::Client& ledger, kj::WaitScope& wait) {
      auto request = ledger.taskAtRequest();
      request.setId(id);
      wire::WritePointInTime(at, request.initAt());
      auto response = request.send().wait(wait);
      TL_RETURN_IF_ERROR(wire::ReadError(response.getError()));
      Result<TaskView> read = wire::ReadTaskView(response.getView());
      if (!read.ok()) return read.status();
      view = std::move(*read);
      return Status::Ok();
    }));
    return std::move(*view);
  }

  Status ForEachEvent(uint64_t from_seq, const std::string& task_id,
                      const std::function<bool(const Event&)>& fn) override {
    for (;;) {
      std::vector<Event> page;
      TL_RETURN_IF_ERROR(Call([&](rpc::Ledger::Client& ledger, kj::WaitScope& wait) {
        auto request = ledger.eventsRequest();
        request.setFromSeq(from_seq);
        request.setTaskId(task_id);
        request.setLimit(kEventsPage);
        auto response = request.send().wait(wait);
        TL_RETURN_IF_ERROR(wire::ReadError(response.getError()));
        for (auto event : response.getEvents()) {
          Result<Event> e = ReadEvent(event);
          if (!e.ok()) return e.status();
          page.push_back(std::move(*e));
        }
        return Status::Ok();
      }));
      for (const Event& e : page) {
        if (!fn(e)) return Status::Ok();
        from_seq = e.seq + 1;
      }
      if (page.size() < kEventsPage) return Status::Ok();
    }
  }

  Result<uint64_t> FirstSeqAtOrAfter(int64_t time_ns) override {
    uint64_t seq = 0;
    TL_RETURN_IF_ERROR(Call([&](rpc::Ledger::Client& ledger, kj::WaitScope& wait) {
      auto request = ledger.firstSeqAtOrAfterRequest();
      request.setTimeNs(time_ns);
      auto response = request.send().wait(wait);
      TL_RETURN_IF_ERROR(wire::ReadError(response.getError()));
      seq = response.getSeq();
      return Status::Ok();
    }));
    return seq;
  }

  Result<VerifyReport> Verify() override {
    VerifyReport report;
    TL_RETURN_IF_ERROR(Call([&](rpc::Ledger::Client& ledger, kj::WaitScope& wait) {
      auto response = ledger.verifyRequest().send().wait(wait);
      TL_RETURN_IF_ERROR(wire::ReadError(response.getError()));
      report.events = response.getEvents();
      report.tasks = response.getTasks();
      for (auto problem : response.getProblems()) report.problems.emplace_back(problem);
      return Status::Ok();
    }));
    return report;
  }

  Result<RebuildReport> Rebuild() override {
    RebuildReport report;
    TL_RETURN_IF_ERROR(Call([&](rpc::Ledger::Client& ledger, kj::WaitScope& wait) {
      auto response = ledger.rebuildRequest().send().wait(wait);
      TL_RETURN_IF_ERROR(wire::ReadError(response.getError()));
      report.events = response.getEvents();
      report.tasks = response.getTasks();
      return Status::Ok();
    }));
    return report;
  }

  Status Follow(uint64_t from_seq, const std::string& task_id, const std::function<bool(const Event&)>& fn,
                const volatile bool* stop) override {
    bool stopped = false;
    return Call([&](rpc::Ledger::Client& ledger, kj::WaitScope& wait) -> Status {
      auto request = ledger.followRequest();
      request.setFromSeq(from_seq);
      request.setTaskId(task_id);
      request.setSink(kj::heap<SinkImpl>(fn, &stopped));
      auto following = request.send().then([](auto response) { return wire::ReadError(response.getError()); }).fork();
      kj::Timer& timer = io_->provider->getTimer();
      // Wake every so often to notice `stop` (set by a signal handler) or a sink that
      // wants no more.
      while (!*stop && !stopped) {
        auto ended = following.addBranch().then([](Status s) { return std::optional<Status>(s); });
        std::optional<Status> result =
            ended.exclusiveJoin(timer.afterDelay(tools::kFollowPollInterval.count() * kj::MILLISECONDS).then([] {
                   return std::optional<Status>();
                 })).wait(wait);
        if (result) return *result;
      }
      return Status::Ok();
    });
  }

  std::pair<std::string, std::string> AddressEnv() const override { return {"TASKLEDGER_ADDR", address_}; }

 private:
  Result<TasksSnapshot> TasksAtInOneReply(const PointInTime& at) {
    TasksSnapshot snapshot;
    TL_RETURN_IF_ERROR(Call([&](rpc::Ledger::Client& ledger, kj::WaitScope& wait) {
      auto request = ledger.tasksAtRequest();
      wire::WritePointInTime(at, request.initAt());
      auto response = request.send().wait(wait);
      TL_RETURN_IF_ERROR(wire::ReadError(response.getError()));
      snapshot.at_ns = response.getAtNs();
      snapshot.seq = response.getSeq();
      for (auto v : response.getTasks()) {
        Result<TaskView> view = wire::ReadTaskView(v);
        if (!view.ok()) return view.status();
        snapshot.tasks.push_back(std::move(*view));
      }
      return Status::Ok();
    }));
    return snapshot;
  }

  // Runs one exchange, connecting first if needed. A connection the server has closed
  // while we were not calling (its idle timeout, a restart) is replaced before anything is
  // sent on it. A connection that breaks during a call is dropped so the next call
  // reconnects (the supervisor outlives server restarts).
  Status Call(const std::function<Status(rpc::Ledger::Client&, kj::WaitScope&)>& exchange) {
    try {
      if (!io_) io_ = std::make_unique<kj::AsyncIoContext>(kj::setupAsyncIo());
      if (session_) {
        io_->waitScope.poll();  // takes in a hang-up that is already there
        if (session_->disconnected) session_.reset();
      }
      if (!session_) {
        capnp::ReaderOptions options;
        options.traversalLimitInWords = kClientTraversalWords;
        session_ = std::make_unique<Session>(*io_, endpoint_, options);
      }
      return exchange(session_->ledger, io_->waitScope);
    } catch (const kj::Exception& e) {
      session_.reset();
      return Status::IOError("cannot reach the server at " + address_ + ": " + e.getDescription().cStr());
    }
  }

  std::string address_;
  std::string endpoint_;
  std::unique_ptr<kj::AsyncIoContext> io_;
  std::unique_ptr<Session> session_;  // destroyed before io_
};

}  // namespace

std::unique_ptr<Backend> ReadLedger(Ledger* ledger) { return std::make_unique<EmbeddedBackend>(ledger); }

Result<std::unique_ptr<Backend>> OpenEmbedded(const std::string& path, bool read_only, Clock* clock) {
  LedgerOptions options;
  options.path = path;
  options.read_only = read_only;
  Result<std::unique_ptr<Ledger>> ledger = Ledger::Open(options, clock);
  if (!ledger.ok()) return ledger.status();
  return std::unique_ptr<Backend>(new EmbeddedBackend(std::move(*ledger), path));
}

Result<std::unique_ptr<Backend>> ConnectRemote(const std::string& address) {
  Result<tools::ServerAddress> parsed = tools::ParseServerAddress(address);
  if (!parsed.ok()) return Status::InvalidArgument("bad server address '" + address + "': " + parsed.status().message());
  return std::unique_ptr<Backend>(new RemoteBackend(address, parsed->endpoint));
}

}  // namespace taskledger::cli
