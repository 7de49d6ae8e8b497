// `ls` through a server at any size: the server pushes the snapshot in pages (listTasks)
// and the client's output equals the embedded `ls`, byte for byte. The old one-reply
// `tasksAt` still works where it fits and fails clearly where it does not.
#include <capnp/ez-rpc.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "ledger/clock.h"
#include "ledger/ledger.h"
#include "ledger/wire.h"
#include "projections/limits.h"
#include "schemas/rpc.capnp.h"
#include "tests/support/commands.h"
#include "tests/support/ledgers.h"
#include "tests/support/server.h"

namespace taskledger::test {
namespace {

// Ledger time far ahead of the wall clock, so that "now" is the last event's time for the
// server and for the embedded CLI alike: `ls` and `ls --json` of now are deterministic.
constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kT0 = 4'102'444'800 * kSecond;  // 2100-01-01T00:00:00Z
constexpr size_t kGroup = 4096;

std::string TaskId(size_t i) {
  char id[32];
  std::snprintf(id, sizeof(id), "t-%06zu", i);
  return id;
}

// Commands in groups of kGroup, unsynced, every outcome checked.
class Filler {
 public:
  explicit Filler(Ledger* ledger) : ledger_(ledger) {}
  void Add(Command command) {
    group_.push_back(std::move(command));
    if (group_.size() == kGroup) Flush();
  }
  void Flush() {
    if (group_.empty()) return;
    const std::vector<Outcome> outcomes = ledger_->SubmitGroup(group_);
    for (size_t i = 0; i < outcomes.size(); ++i) {
      ASSERT_TRUE(outcomes[i].status.ok()) << group_[i].task_id << ": " << outcomes[i].status.message();
    }
    group_.clear();
  }
  std::vector<Outcome> SubmitNow(const std::vector<Command>& commands) {
    Flush();
    return ledger_->SubmitGroup(commands);
  }

 private:
  Ledger* ledger_;
  std::vector<Command> group_;
};

Command Create(size_t i) {
  Command c;
  c.kind = CommandKind::kCreate;
  c.task_id = TaskId(i);
  c.actor = "operator";
  c.spec.title = "task " + std::to_string(i);
  c.spec.queue = i % 3 == 0 ? "default" : (i % 3 == 1 ? "gpu" : "io");
  c.spec.priority = static_cast<int32_t>(i % 7) - 3;
  if (i % 10 == 9) c.spec.after = {TaskId(i - 1)};
  return c;
}

// `tasks` tasks: the first half at kT0, the rest at kT0+10s, every 100th of those claimed
// (running) and every 200th completed; `big` more carry a payload near the 1 MiB limit.
void Fill(const std::string& db_path, size_t tasks, size_t big) {
  ManualClock clock(kT0);
  const std::unique_ptr<Ledger> ledger = OpenLedgerAt(db_path, &clock);
  ASSERT_NE(ledger, nullptr);
  Filler fill(ledger.get());
  for (size_t i = 0; i < tasks / 2; ++i) fill.Add(Create(i));
  fill.Flush();
  clock.Set(kT0 + 10 * kSecond);
  for (size_t i = tasks / 2; i < tasks; ++i) fill.Add(Create(i));
  for (size_t i = 0; i < big; ++i) {
    Command c = Create(tasks + i);
    c.spec.payload = "\"" + std::string(kMaxPayloadBytes - 64, 'p') + "\"";
    fill.Add(std::move(c));
  }
  fill.Flush();
  for (size_t i = tasks / 2; i < tasks; i += 100) {
    if (i % 10 == 9) continue;  // waits for its dependency
    const Command claim = ClaimCmd(TaskId(i), "w" + std::to_string(i % 4), 60 * kSecond);
    std::vector<Outcome> claimed = fill.SubmitNow({claim});
    ASSERT_TRUE(claimed[0].status.ok()) << claim.task_id << ": " << claimed[0].status.message();
    if (i % 200 != 0) continue;
    Command complete = HolderCmd(CommandKind::kComplete, claim.task_id, claimed[0].reply.token, claim.actor);
    complete.text = "ok";
    ASSERT_TRUE(fill.SubmitNow({complete})[0].status.ok());
  }
}

// Counts the pages of a listTasks call and keeps the ids, in order.
struct Pages {
  size_t pages = 0;
  size_t largest = 0;
  std::vector<std::string> ids;
  bool done = false;
};

class CountingSink final : public rpc::TaskViewSink::Server {
 public:
  explicit CountingSink(std::shared_ptr<Pages> pages) : pages_(std::move(pages)) {}
  kj::Promise<void> push(PushContext context) override {
    auto tasks = context.getParams().getTasks();
    ++pages_->pages;
    pages_->largest = std::max<size_t>(pages_->largest, tasks.size());
    for (auto t : tasks) pages_->ids.emplace_back(t.getSettled().getId().cStr());
    return kj::READY_NOW;
  }
  kj::Promise<void> done(DoneContext) override {
    pages_->done = true;
    return kj::READY_NOW;
  }

 private:
  std::shared_ptr<Pages> pages_;
};

class FailingSink final : public rpc::TaskViewSink::Server {
 public:
  kj::Promise<void> push(PushContext) override { return KJ_EXCEPTION(FAILED, "this sink takes nothing"); }
};

class ListTest : public ServerTest {
 protected:
  // The embedded CLI on the ledger the server owns (as a secondary), without TASKLEDGER_ADDR.
  ProcessResult Embedded(std::vector<std::string> args) {
    args.insert(args.begin(), {TaskledgerBinary(), "--db", root_ + "/ledger.db"});
    return RunProcess(args);
  }
  // `args` through the server and embedded: the same output and exit code.
  void ExpectSame(const std::vector<std::string>& args, size_t min_lines) {
    const ProcessResult remote = Run(args);
    const ProcessResult local = Embedded(args);
    ASSERT_EQ(remote.exit_code, 0) << ::testing::PrintToString(args) << ": " << remote.err;
    ASSERT_EQ(local.exit_code, 0) << ::testing::PrintToString(args) << ": " << local.err;
    EXPECT_TRUE(remote.out == local.out) << ::testing::PrintToString(args) << ": " << remote.out.size() << " vs "
                                         << local.out.size() << " bytes";
    EXPECT_GE(static_cast<size_t>(std::count(local.out.begin(), local.out.end(), '\n')), min_lines);
    EXPECT_EQ(remote.err, local.err);
  }
  std::string SocketPath() const { return address_.substr(5); }
};

// 5,000 small tasks (several pages by count) and 24 near 1 MiB (several pages by size):
// about 25 MiB, which the old tasksAt still carries in one reply.
class ListPagesTest : public ListTest {
 protected:
  static constexpr size_t kTasks = 5000;
  static constexpr size_t kBig = 24;
  void Prepare(const std::string& db_path) override { Fill(db_path, kTasks, kBig); }
};

TEST_F(ListPagesTest, LsThroughTheServerEqualsEmbedded) {
  ExpectSame({"ls"}, kTasks + kBig + 1);
  ExpectSame({"--json", "ls"}, kTasks + kBig);
  ExpectSame({"ls", "--at", "2100-01-01T00:00:05Z"}, kTasks / 2 + 1);
  ExpectSame({"--json", "ls", "--at", "2100-01-01T00:00:05Z"}, kTasks / 2);
  ExpectSame({"--json", "ls", "--at-seq", "3000"}, 3000);
  ExpectSame({"ls", "--status", "running"}, 2);
  ExpectSame({"ls", "--queue", "gpu"}, 2);
  // The same errors and exit codes.
  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"ls", "--at", "1999-01-01T00:00:00Z"}, {"ls", "--status", "nope"}}) {
    const ProcessResult remote = Run(bad);
    const ProcessResult local = Embedded(bad);
    EXPECT_EQ(remote.exit_code, local.exit_code) << remote.err << " / " << local.err;
    EXPECT_EQ(remote.out, local.out);
  }
}

TEST_F(ListPagesTest, ListTasksPushesBoundedPagesThenReturns) {
  capnp::EzRpcClient client(address_);
  auto ledger = client.getMain<rpc::Ledger>();
  auto pages = std::make_shared<Pages>();
  auto request = ledger.listTasksRequest();
  request.initAt().setKind(0);
  request.setSink(kj::heap<CountingSink>(pages));
  auto response = request.send().wait(client.getWaitScope());
  ASSERT_EQ(response.getError().getCode(), 0) << response.getError().getMessage().cStr();
  EXPECT_TRUE(pages->done);
  EXPECT_EQ(response.getCount(), kTasks + kBig);
  ASSERT_EQ(pages->ids.size(), kTasks + kBig);
  for (size_t i = 0; i < pages->ids.size(); ++i) ASSERT_EQ(pages->ids[i], TaskId(i));
  EXPECT_GE(pages->pages, kTasks / 2000 + kBig / 8);  // by count, and by size for the big ones
  EXPECT_LE(pages->largest, 2000u);

  // The old method still answers what fits in one reply, with the same views.
  auto old = ledger.tasksAtRequest();
  old.initAt().setKind(0);
  auto reply = old.send().wait(client.getWaitScope());
  ASSERT_EQ(reply.getError().getCode(), 0) << reply.getError().getMessage().cStr();
  EXPECT_EQ(reply.getSeq(), response.getSeq());
  EXPECT_EQ(reply.getAtNs(), response.getAtNs());
  ASSERT_EQ(reply.getTasks().size(), kTasks + kBig);
  EXPECT_EQ(reply.getTasks()[kTasks].getSettled().getId().cStr(), TaskId(kTasks));

  // A bad point in time is an error in the reply, nothing pushed.
  auto bad_pages = std::make_shared<Pages>();
  auto bad = ledger.listTasksRequest();
  bad.initAt().setKind(7);
  bad.setSink(kj::heap<CountingSink>(bad_pages));
  auto refused = bad.send().wait(client.getWaitScope());
  EXPECT_EQ(refused.getError().getCode(), static_cast<uint8_t>(Code::kInvalidArgument));
  EXPECT_EQ(bad_pages->pages, 0u);

  // No sink, or a sink that fails: the call fails, the server keeps serving.
  auto no_sink = ledger.listTasksRequest();
  no_sink.initAt().setKind(0);
  EXPECT_ANY_THROW(no_sink.send().wait(client.getWaitScope()));
  auto broken = ledger.listTasksRequest();
  broken.initAt().setKind(0);
  broken.setSink(kj::heap<FailingSink>());
  EXPECT_ANY_THROW(broken.send().wait(client.getWaitScope()));
  auto now = ledger.nowRequest().send().wait(client.getWaitScope());
  EXPECT_EQ(now.getNs(), kT0 + 10 * kSecond);
  ExpectSame({"ls", "--queue", "io"}, 2);
}

TEST_F(ListPagesTest, ListTasksInAnyOrderStreamsTheSameSnapshotInBoundedPages) {
  capnp::EzRpcClient client(address_);
  auto ledger = client.getMain<rpc::Ledger>();
  auto ordered = ledger.listTasksRequest();
  ordered.initAt().setKind(0);
  auto ordered_pages = std::make_shared<Pages>();
  ordered.setSink(kj::heap<CountingSink>(ordered_pages));
  auto want = ordered.send().wait(client.getWaitScope());
  ASSERT_EQ(want.getError().getCode(), 0) << want.getError().getMessage().cStr();

  auto request = ledger.listTasksRequest();
  request.initAt().setKind(0);
  request.setAnyOrder(true);
  auto pages = std::make_shared<Pages>();
  request.setSink(kj::heap<CountingSink>(pages));
  auto response = request.send().wait(client.getWaitScope());
  ASSERT_EQ(response.getError().getCode(), 0) << response.getError().getMessage().cStr();
  EXPECT_TRUE(pages->done);
  EXPECT_EQ(response.getCount(), kTasks + kBig);
  EXPECT_EQ(response.getSeq(), want.getSeq());
  EXPECT_EQ(response.getAtNs(), want.getAtNs());
  std::vector<std::string> ids = pages->ids;
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, ordered_pages->ids);  // ids here are in creation order
  EXPECT_GE(pages->pages, kTasks / 2000 + kBig / 8);
  EXPECT_LE(pages->largest, 2000u);
}

// Ids in the opposite order to creation (the streamed pages come in id order), with
// dependencies: the served `ls` still lists in creation order, as the embedded one does.
class ListOutOfIdOrderTest : public ListTest {
 protected:
  static constexpr size_t kTasks = 4500;
  void Prepare(const std::string& db_path) override {
    ManualClock clock(kT0);
    const std::unique_ptr<Ledger> ledger = OpenLedgerAt(db_path, &clock);
    ASSERT_NE(ledger, nullptr);
    Filler fill(ledger.get());
    for (size_t i = 0; i < kTasks; ++i) {
      Command c = Create(i);
      c.task_id = TaskId(kTasks - i);
      c.spec.after.clear();
      if (i % 10 == 9) c.spec.after = {TaskId(kTasks - i + 1), TaskId(kTasks - i / 2)};
      fill.Add(std::move(c));
    }
    fill.Flush();
    clock.Set(kT0 + 10 * kSecond);
    for (size_t i = 0; i < kTasks; i += 97) {
      const Command claim = ClaimCmd(TaskId(kTasks - i), "w1", 60 * kSecond);
      const std::vector<Outcome> claimed = fill.SubmitNow({claim});
      if (!claimed[0].status.ok()) continue;  // waits for a dependency
      const Command complete = HolderCmd(CommandKind::kComplete, claim.task_id, claimed[0].reply.token, claim.actor);
      ASSERT_TRUE(fill.SubmitNow({complete})[0].status.ok());
    }
  }
};

TEST_F(ListOutOfIdOrderTest, LsThroughTheServerListsInCreationOrderAsEmbedded) {
  ExpectSame({"ls"}, kTasks + 1);
  ExpectSame({"--json", "ls"}, kTasks);
  ExpectSame({"ls", "--status", "waiting"}, 2);
  const ProcessResult listed = Run({"--json", "ls"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_LT(listed.out.find(TaskId(kTasks)), listed.out.find(TaskId(1)));  // created first, listed first
}

// Above the old limit (~150k tasks in one reply): 160,000 tasks.
class ListBeyondOneReplyTest : public ListTest {
 protected:
  static constexpr size_t kTasks = 160'000;
  void Prepare(const std::string& db_path) override { Fill(db_path, kTasks, 0); }
};

TEST_F(ListBeyondOneReplyTest, LsWorksAndTheOldMethodAsksForANewerClient) {
  ExpectSame({"ls"}, kTasks + 1);
  ExpectSame({"ls", "--at-seq", "100000"}, 100'000 + 1);

  capnp::EzRpcClient client(address_);
  auto old = client.getMain<rpc::Ledger>().tasksAtRequest();
  old.initAt().setKind(0);
  auto reply = old.send().wait(client.getWaitScope());
  const Status error = wire::ReadError(reply.getError());
  EXPECT_EQ(error.code(), Code::kIOError);
  EXPECT_NE(error.message().find("upgrade"), std::string::npos) << error.message();
  EXPECT_EQ(reply.getTasks().size(), 0u);
  // The connection is still good afterwards.
  auto now = client.getMain<rpc::Ledger>().nowRequest().send().wait(client.getWaitScope());
  EXPECT_EQ(now.getNs(), kT0 + 10 * kSecond);
}

}  // namespace
}  // namespace taskledger::test
