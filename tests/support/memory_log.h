// MemoryLog: a ReplicatedLog in memory, answering as JetStreamLog does (the cluster tests
// check JetStream does so), with faults a test turns on: an answer lost after the group
// was stored or before, and a log that does not answer at all.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ledger/replicated_log.h"

namespace taskledger::test {

class MemoryLog final : public ReplicatedLog {
 public:
  Result<uint64_t> Append(std::string_view group, uint64_t after) override {
    std::lock_guard lock(mutex_);
    if (unreachable_) return Status::Busy("memory log: unreachable");
    const uint64_t last = LastLocked();
    if (after != last) {
      // As JetStreamLog: the same bytes already at after + 1 are an earlier try, stored.
      if (after < last && after + 1 >= kFirstGroupSeq && groups_[after + 1 - kFirstGroupSeq] == group) {
        return after + 1;
      }
      return Status::Refused("memory log: moved past " + std::to_string(after) + " to " + std::to_string(last));
    }
    if (lose_next_answer_) {
      lose_next_answer_ = false;
      if (store_lost_) groups_.emplace_back(group);
      return Status::Busy("memory log: the answer was lost");
    }
    groups_.emplace_back(group);
    return last + 1;
  }
  Result<uint64_t> LastSeq() override {
    std::lock_guard lock(mutex_);
    if (unreachable_) return Status::Busy("memory log: unreachable");
    return LastLocked();
  }
  Status ReadFrom(uint64_t from, const std::function<Status(uint64_t, std::string_view)>& each) override {
    std::vector<std::string> groups;
    {
      std::lock_guard lock(mutex_);
      if (unreachable_) return Status::Busy("memory log: unreachable");
      groups = groups_;
    }
    for (uint64_t seq = std::max(from, kFirstGroupSeq); seq < kFirstGroupSeq + groups.size(); ++seq) {
      if (Status s = each(seq, groups[seq - kFirstGroupSeq]); !s.ok()) return s;
    }
    return Status::Ok();
  }

  // The next append's answer is lost: the group is stored first if `stored`.
  void LoseNextAnswer(bool stored) {
    std::lock_guard lock(mutex_);
    lose_next_answer_ = true;
    store_lost_ = stored;
  }
  // Every call answers Busy and stores nothing while unreachable.
  void SetUnreachable(bool unreachable) {
    std::lock_guard lock(mutex_);
    unreachable_ = unreachable;
  }
  // Appends bytes as if another writer had (no condition).
  void Inject(std::string group) {
    std::lock_guard lock(mutex_);
    groups_.push_back(std::move(group));
  }
  std::vector<std::string> groups() {
    std::lock_guard lock(mutex_);
    return groups_;
  }

 private:
  uint64_t LastLocked() const { return kFirstGroupSeq - 1 + groups_.size(); }

  std::mutex mutex_;
  std::vector<std::string> groups_;  // groups_[i] is at kFirstGroupSeq + i
  bool lose_next_answer_ = false;
  bool store_lost_ = false;
  bool unreachable_ = false;
};

}  // namespace taskledger::test
