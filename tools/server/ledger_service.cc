#include "tools/server/ledger_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>
#include <vector>

#include "ledger/codec.h"
#include "ledger/wire.h"
#include "projections/limits.h"
#include "tools/common/follow.h"
#include "tools/server/free_memory.h"

namespace taskledger::server {
namespace {

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
    Status bad = Status::Ok();
    if (commands_in.size() > kMaxCommandsPerCall) {
      bad = Status::InvalidArgument("more than " + std::to_string(kMaxCommandsPerCall) + " commands in one call");
    }
    for (auto c : commands_in) {
      if (!bad.ok()) break;
      Result<Command> command = wire::ReadCommand(c);
      if (!command.ok()) bad = command.status();
      else commands.push_back(std::move(*command));
    }
    const size_t count = commands_in.size();
    if (!bad.ok()) {
      std::vector<Outcome> outcomes(count, Outcome{bad, {}});
      RecordOutcomes(*metrics_, KindsOf(commands), outcomes, submitted);
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

}  // namespace

kj::Own<rpc::Ledger::Server> NewLedgerService(Ledger* ledger, const SubmitRoute* route, ServerMetrics* metrics,
                                              kj::Timer& timer, kj::ForkedPromise<void>& stopping,
                                              std::shared_ptr<Activity> activity) {
  return kj::heap<LedgerService>(ledger, route, metrics, timer, stopping, std::move(activity));
}

}  // namespace taskledger::server
