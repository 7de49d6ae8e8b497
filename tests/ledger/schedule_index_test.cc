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

}  // namespace
}  // namespace taskledger
