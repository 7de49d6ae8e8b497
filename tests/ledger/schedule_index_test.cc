// ScheduleIndex: the in-memory schedule. What the ledger stores of it is only which tasks
// are live (LivenessChanges), so those changes must be exact across moves, rollbacks and
// commits: a missed change loses a task from the schedule at the next open, a spurious
// one writes a marker for nothing.
#include "ledger/schedule_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "ledger/keys.h"

namespace taskledger {
namespace {

using Changes = std::vector<std::pair<std::string, bool>>;

Changes Sorted(Changes changes) {
  std::sort(changes.begin(), changes.end());
  return changes;
}

TEST(ScheduleIndexTest, AMoveWithinTheScheduleIsNoLivenessChange) {
  ScheduleIndex index;
  index.Place("a", keys::Ready("q", 0, 1));
  index.Commit();
  index.Place("a", keys::Timer("q", 100, "a"));
  index.AddDeadline(keys::Deadline(100, "a"));
  index.RemoveDeadline(keys::Deadline(100, "a"));
  index.AddDeadline(keys::Deadline(200, "a"));
  EXPECT_TRUE(index.LivenessChanges().empty());
  EXPECT_TRUE(index.IsLive("a"));
}

TEST(ScheduleIndexTest, EnteringAndLeavingAreChangesUntilCommitted) {
  ScheduleIndex index;
  index.Place("a", keys::Ready("q", 0, 1));
  index.AddDeadline(keys::Deadline(50, "b"));  // a deadline alone makes a task live
  EXPECT_EQ(Sorted(index.LivenessChanges()), (Changes{{"a", true}, {"b", true}}));
  index.Commit();
  EXPECT_TRUE(index.LivenessChanges().empty());

  index.Place("a", "");
  EXPECT_EQ(index.LivenessChanges(), (Changes{{"a", false}}));
  index.Place("a", keys::Ready("q", 0, 1));  // and back within the same group: nothing to write
  EXPECT_TRUE(index.LivenessChanges().empty());

  index.RemoveDeadline(keys::Deadline(50, "b"));
  EXPECT_EQ(index.LivenessChanges(), (Changes{{"b", false}}));
  EXPECT_FALSE(index.IsLive("b"));
}

TEST(ScheduleIndexTest, ATaskWithAPlaceAndADeadlineIsLiveUntilItHasNeither) {
  ScheduleIndex index;
  index.Place("a", keys::Timer("q", 100, "a"));
  index.AddDeadline(keys::Deadline(100, "a"));
  index.Commit();
  index.Place("a", "");
  EXPECT_TRUE(index.IsLive("a"));
  EXPECT_TRUE(index.LivenessChanges().empty());
  index.RemoveDeadline(keys::Deadline(100, "a"));
  EXPECT_EQ(index.LivenessChanges(), (Changes{{"a", false}}));
}

TEST(ScheduleIndexTest, ARollbackUndoesPlacesDeadlinesAndTheirLivenessChanges) {
  ScheduleIndex index;
  index.Place("a", keys::Ready("q", 0, 1));
  index.Commit();
  const size_t save_point = index.SavePoint();
  index.Place("a", "");
  index.Place("b", keys::Ready("q", 0, 2));
  index.AddDeadline(keys::Deadline(70, "c"));
  index.RollbackTo(save_point);
  EXPECT_EQ(index.PlaceOf("a"), keys::Ready("q", 0, 1));
  EXPECT_EQ(index.PlaceOf("b"), "");
  EXPECT_TRUE(index.FirstDeadlines(10).empty());
  EXPECT_FALSE(index.IsLive("c"));
  EXPECT_TRUE(index.LivenessChanges().empty());
  // The first key of the queue is a again.
  const auto first = index.First(keys::ReadyPrefix("q"));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->second, "a");
}

TEST(ScheduleIndexTest, DeadlinesComeOutInTimeOrder) {
  ScheduleIndex index;
  index.AddDeadline(keys::Deadline(300, "x"));
  index.AddDeadline(keys::Deadline(100, "y"));
  index.AddDeadline(keys::Deadline(200, "z"));
  EXPECT_EQ(index.FirstDeadlines(2), (std::vector<std::string>{keys::Deadline(100, "y"), keys::Deadline(200, "z")}));
}

// One deadline per task: adding another replaces it, and undo brings the first back.
TEST(ScheduleIndexTest, ASecondDeadlineReplacesTheFirstAndUndoRestoresIt) {
  ScheduleIndex index;
  index.AddDeadline(keys::Deadline(100, "a"));
  index.Commit();
  const size_t save_point = index.SavePoint();
  index.AddDeadline(keys::Deadline(200, "a"));
  EXPECT_EQ(index.FirstDeadlines(10), (std::vector<std::string>{keys::Deadline(200, "a")}));
  index.RemoveDeadline(keys::Deadline(100, "a"));  // not its deadline any more: nothing to do
  EXPECT_TRUE(index.IsLive("a"));
  index.RollbackTo(save_point);
  EXPECT_EQ(index.FirstDeadlines(10), (std::vector<std::string>{keys::Deadline(100, "a")}));
  EXPECT_TRUE(index.LivenessChanges().empty());
}

// The index refers to each task's id in one place; a task that leaves and comes back, many
// times over, must leave nothing dangling (run under ASan in CI).
TEST(ScheduleIndexTest, TasksLeavingAndReturningLeaveNothingDangling) {
  ScheduleIndex index;
  for (int round = 0; round < 50; ++round) {
    for (int t = 0; t < 40; ++t) {
      const std::string id = "task-with-a-long-id-" + std::to_string(t);  // beyond the small-string buffer
      index.Place(id, keys::Ready("q", t % 3, static_cast<uint64_t>(t)));
      index.AddDeadline(keys::Deadline(1000 + round, id));
    }
    const size_t save_point = index.SavePoint();
    for (int t = 0; t < 40; t += 2) {
      const std::string id = "task-with-a-long-id-" + std::to_string(t);
      index.Place(id, "");
      index.RemoveDeadline(keys::Deadline(1000 + round, id));
    }
    if (round % 2 == 0) index.RollbackTo(save_point);
    index.Commit();
    const auto first = index.First(keys::ReadyPrefix("q"));
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->second.rfind("task-with-a-long-id-", 0), 0u);
    for (const std::string& key : index.FirstDeadlines(100)) {
      EXPECT_TRUE(index.IsLive(key.substr(8))) << key;
    }
  }
}

}  // namespace
}  // namespace taskledger
