// TaskPages: the current tasks read a page at a time from one snapshot. The pages, sorted
// by creation, are the snapshot of every task now (TasksAt, a replay of the whole log),
// whatever the page size and whatever is written between pages.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ledger/ledger.h"
#include "ledger_fixture.h"
#include "projections/replay.h"
#include "test_util.h"

namespace taskledger {
namespace {

using namespace test;

void ExpectSameViews(const std::vector<TaskView>& got, const std::vector<TaskView>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE("view " + std::to_string(i) + " (" + want[i].settled.id + ")");
    EXPECT_EQ(got[i].settled, want[i].settled);
    EXPECT_EQ(got[i].status, want[i].status);
    EXPECT_EQ(got[i].wait, want[i].wait);
    EXPECT_EQ(got[i].until_ns, want[i].until_ns);
    EXPECT_EQ(got[i].dependency, want[i].dependency);
    EXPECT_EQ(got[i].dependency_status, want[i].dependency_status);
  }
}

class TaskPagesTest : public ::testing::Test {
 protected:
  void SetUp() override { TL_ASSERT_OK(m_.Open()); }

  Ledger& L() { return m_.ledger(); }

  CommandReply Ok(const Command& c) {
    Outcome out = L().Submit(c);
    EXPECT_TRUE(out.status.ok()) << out.status.ToString();
    return out.reply;
  }
  void Create(const std::string& id, std::vector<std::string> after = {}) {
    Command c = CreateCmd(id);
    c.spec.after = std::move(after);
    c.spec.lease_ttl_ns = 10 * kSec;
    c.spec.max_attempts = 1;
    Ok(c);
  }

  // Tasks in every status, created out of id order, with dependencies on tasks both before
  // and after them in id order (so on other pages, whatever the page size).
  void FillMixedLedger() {
    Create("m-dep-done");
    Create("z-dep-running");
    Create("b-dep-dead");
    Create("y-dep-cancelled");
    Create("a-waits", {"z-dep-running", "m-dep-done"});
    Create("n-ready", {"m-dep-done"});
    Create("w-waits-for-n", {"n-ready"});
    Create("c-blocked-by-dead", {"b-dep-dead"});
    Create("d-blocked-by-cancelled", {"y-dep-cancelled"});
    Create("x-blocked");
    Create("e-lapses");
    const CommandReply done = Ok(ClaimCmd("m-dep-done"));
    Ok(HolderCmd(CommandKind::kComplete, "m-dep-done", done.token));
    const CommandReply dead = Ok(ClaimCmd("b-dep-dead"));
    Ok(HolderCmd(CommandKind::kFail, "b-dep-dead", dead.token));
    Ok(OperatorCmd(CommandKind::kCancel, "y-dep-cancelled"));
    Ok(OperatorCmd(CommandKind::kBlock, "x-blocked", "held"));
    Ok(ClaimCmd("e-lapses", "w2", 2 * kSec));
    m_.clock().Advance(5 * kSec);
    Ok(ClaimCmd("z-dep-running", "w3"));
  }

  // Every task now, as a replay of the whole log evaluated at `at_ns`, in creation order.
  std::vector<TaskView> Replayed(int64_t at_ns) {
    Replay replay;
    for (const Event& e : m_.Events()) EXPECT_TRUE(replay.Apply(e).ok());
    std::vector<TaskView> views;
    for (const TaskRecord* record : replay.Tasks()) views.push_back(replay.View(*record, at_ns));
    return views;
  }

  // Every page of a walk, each checked against the limits and the id order.
  std::vector<TaskView> Walk(TaskPages& pages, size_t page_views, size_t page_bytes = 1 << 20) {
    std::vector<TaskView> all;
    std::vector<TaskView> page;
    for (int pages_read = 0; pages_read < 10'000; ++pages_read) {
      const Status s = pages.Next(page_views, page_bytes, &page);
      EXPECT_TRUE(s.ok()) << s.ToString();
      if (!s.ok() || page.empty()) break;
      EXPECT_LE(page.size(), page_views);
      for (TaskView& view : page) {
        if (!all.empty()) {
          EXPECT_LT(all.back().settled.id, view.settled.id);
        }
        all.push_back(std::move(view));
      }
    }
    return all;
  }

  MemLedger m_;
};

TEST_F(TaskPagesTest, PagesOfAnySizeSortedAreTheSnapshotOfEveryTaskNow) {
  FillMixedLedger();
  Result<TasksSnapshot> snapshot = L().TasksAt(PointInTime::Now());
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().ToString();
  EXPECT_EQ(snapshot->seq, L().last_seq());
  EXPECT_EQ(snapshot->at_ns, L().Now());
  ExpectSameViews(snapshot->tasks, Replayed(snapshot->at_ns));

  for (size_t page_views : {1, 2, 3, 7, 4096}) {
    SCOPED_TRACE("pages of " + std::to_string(page_views));
    Result<std::unique_ptr<TaskPages>> pages = L().TaskPagesNow();
    ASSERT_TRUE(pages.ok()) << pages.status().ToString();
    EXPECT_EQ((*pages)->seq(), snapshot->seq);
    EXPECT_EQ((*pages)->at_ns(), snapshot->at_ns);
    std::vector<TaskView> all = Walk(**pages, page_views);
    SortInCreationOrder(&all);
    ExpectSameViews(all, snapshot->tasks);
  }
}

TEST_F(TaskPagesTest, TheViewsCoverEveryStatusAndDependencyRule) {
  // What the test above compares would prove little if the mix did not reach the rules.
  FillMixedLedger();
  Result<TasksSnapshot> snapshot = L().TasksAt(PointInTime::Now());
  ASSERT_TRUE(snapshot.ok());
  std::map<std::string, TaskView> by_id;
  for (const TaskView& view : snapshot->tasks) by_id[view.settled.id] = view;
  EXPECT_EQ(by_id["m-dep-done"].status, TaskStatus::kDone);
  EXPECT_EQ(by_id["z-dep-running"].status, TaskStatus::kRunning);
  EXPECT_EQ(by_id["b-dep-dead"].status, TaskStatus::kDead);
  EXPECT_EQ(by_id["y-dep-cancelled"].status, TaskStatus::kCancelled);
  EXPECT_EQ(by_id["a-waits"].status, TaskStatus::kWaiting);
  EXPECT_EQ(by_id["a-waits"].dependency, "z-dep-running");
  EXPECT_EQ(by_id["n-ready"].status, TaskStatus::kReady);
  EXPECT_EQ(by_id["w-waits-for-n"].status, TaskStatus::kWaiting);
  EXPECT_EQ(by_id["w-waits-for-n"].dependency, "n-ready");
  EXPECT_EQ(by_id["c-blocked-by-dead"].status, TaskStatus::kBlocked);
  EXPECT_EQ(by_id["c-blocked-by-dead"].dependency, "b-dep-dead");
  EXPECT_EQ(by_id["d-blocked-by-cancelled"].status, TaskStatus::kBlocked);
  EXPECT_EQ(by_id["x-blocked"].status, TaskStatus::kBlocked);
  EXPECT_EQ(by_id["e-lapses"].status, TaskStatus::kDead);  // its one attempt lapsed
}

TEST_F(TaskPagesTest, AByteBoundStillTakesOneRecordPerPage) {
  FillMixedLedger();
  Result<TasksSnapshot> snapshot = L().TasksAt(PointInTime::Now());
  ASSERT_TRUE(snapshot.ok());
  Result<std::unique_ptr<TaskPages>> pages = L().TaskPagesNow();
  ASSERT_TRUE(pages.ok());
  std::vector<TaskView> page;
  size_t pages_read = 0;
  std::vector<TaskView> all;
  for (;;) {
    TL_ASSERT_OK((*pages)->Next(100, 1, &page));
    if (page.empty()) break;
    ASSERT_EQ(page.size(), 1u);
    ++pages_read;
    all.push_back(page.front());
  }
  EXPECT_EQ(pages_read, snapshot->tasks.size());
  SortInCreationOrder(&all);
  ExpectSameViews(all, snapshot->tasks);
}

TEST_F(TaskPagesTest, WritesBetweenPagesDoNotAppear) {
  FillMixedLedger();
  Result<TasksSnapshot> before = L().TasksAt(PointInTime::Now());
  ASSERT_TRUE(before.ok());
  Result<std::unique_ptr<TaskPages>> pages = L().TaskPagesNow();
  ASSERT_TRUE(pages.ok());

  std::vector<TaskView> all;
  std::vector<TaskView> page;
  TL_ASSERT_OK((*pages)->Next(1, 1 << 20, &page));
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page.front().settled.id, "a-waits");
  all.push_back(page.front());

  // After the first page: its dependency completes, new tasks appear before and after it in
  // id order, a task is cancelled whose dependent (on a later page) has not looked it up
  // yet (a point read, which must read the snapshot too), and time passes (the running
  // lease would lapse).
  const uint64_t token = L().TaskAt("z-dep-running", PointInTime::Now())->settled.last_token;
  Ok(HolderCmd(CommandKind::kComplete, "z-dep-running", token, "w3"));
  Create("0-new-first");
  Create("zz-new-last", {"z-dep-running"});
  Ok(OperatorCmd(CommandKind::kCancel, "n-ready"));
  m_.clock().Advance(60 * kSec);
  ASSERT_GT(L().last_seq(), before->seq);

  while (true) {
    TL_ASSERT_OK((*pages)->Next(1, 1 << 20, &page));
    if (page.empty()) break;
    all.push_back(page.front());
  }
  EXPECT_EQ((*pages)->seq(), before->seq);
  EXPECT_EQ((*pages)->at_ns(), before->at_ns);
  SortInCreationOrder(&all);
  ExpectSameViews(all, before->tasks);

  // A walk begun now sees them.
  Result<TasksSnapshot> after = L().TasksAt(PointInTime::Now());
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->tasks.size(), before->tasks.size() + 2);
  EXPECT_EQ(after->seq, L().last_seq());
}

TEST_F(TaskPagesTest, AnEmptyLedgerIsOneEmptyPage) {
  Result<std::unique_ptr<TaskPages>> pages = L().TaskPagesNow();
  ASSERT_TRUE(pages.ok());
  EXPECT_EQ((*pages)->seq(), 0u);
  std::vector<TaskView> page(3);
  TL_ASSERT_OK((*pages)->Next(10, 1 << 20, &page));
  EXPECT_TRUE(page.empty());
}

TEST_F(TaskPagesTest, ManyTasksWithSharedAndDistantDependencies) {
  // More distinct dependencies (about 4,500) than the dependency-status cache holds (4096):
  // the cache starts over and statuses are read again, never wrong.
  constexpr int kTasks = 9000;
  std::vector<Command> group;
  for (int i = 0; i < kTasks; ++i) {
    Command c = CreateCmd("t" + std::to_string(kTasks - i));  // id order opposite to creation
    if (i > 0) c.spec.after.push_back("t" + std::to_string(kTasks));            // shared
    if (i > 10) c.spec.after.push_back("t" + std::to_string(kTasks - i / 2));  // distant
    group.push_back(std::move(c));
    if (group.size() == 500) {
      for (const Outcome& out : L().SubmitGroup(group)) TL_ASSERT_OK(out.status);
      group.clear();
    }
  }
  const CommandReply claim = Ok(ClaimCmd("t" + std::to_string(kTasks)));
  Ok(HolderCmd(CommandKind::kComplete, "t" + std::to_string(kTasks), claim.token));

  Result<TasksSnapshot> snapshot = L().TasksAt(PointInTime::Now());
  ASSERT_TRUE(snapshot.ok());
  ExpectSameViews(snapshot->tasks, Replayed(snapshot->at_ns));
  Result<std::unique_ptr<TaskPages>> pages = L().TaskPagesNow();
  ASSERT_TRUE(pages.ok());
  std::vector<TaskView> all = Walk(**pages, 333);
  SortInCreationOrder(&all);
  ExpectSameViews(all, snapshot->tasks);
}

}  // namespace
}  // namespace taskledger
