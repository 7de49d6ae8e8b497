// GroupCommitter: many submitters, one writer thread, one durable write per group.
//
// Submitters enqueue batches of commands; the writer takes everything queued (up to a
// group limit), validates it in arrival order and commits it with one sync write
// (Ledger::SubmitGroup), then calls each batch's completion with its outcomes. The queue is
// bounded: when full, Enqueue refuses (Busy) instead of growing.
//
// Thread-safe. Completions run on the writer thread and must not block.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "ledger/ledger.h"
#include "ledger/thread_safety.h"

namespace taskledger {

struct GroupCommitOptions {
  // Commands waiting for the writer, across all submitters. Default 65536: about a second
  // of peak load; beyond that clients are told to back off.
  size_t max_queued_commands = 65536;
  // Commands in one durable write. Default 4096: large enough to amortize the fsync,
  // small enough to bound one WriteBatch.
  size_t max_group_commands = 4096;
};

class GroupCommitter {
 public:
  using Completion = std::function<void(std::vector<Outcome>)>;

  GroupCommitter(Ledger* ledger, GroupCommitOptions options);
  ~GroupCommitter();  // Stops (draining the queue).
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Busy if the queue is full or the committer is stopping; otherwise `done` will be called
  // exactly once, from the writer thread, after the group holding these commands is durable.
  Status Enqueue(std::vector<Command> commands, Completion done) EXCLUDES(mutex_);

  // Refuses new work, commits everything already queued, and joins the writer.
  void Stop() EXCLUDES(mutex_);

  uint64_t groups_committed() const EXCLUDES(mutex_);
  uint64_t commands_committed() const EXCLUDES(mutex_);

 private:
  struct Batch {
    std::vector<Command> commands;
    Completion done;
  };
  void Run() EXCLUDES(mutex_);

  Ledger* const ledger_;
  const GroupCommitOptions options_;
  mutable Mutex mutex_;
  CondVar wake_;
  std::deque<Batch> queue_ GUARDED_BY(mutex_);
  size_t queued_commands_ GUARDED_BY(mutex_) = 0;
  bool stopping_ GUARDED_BY(mutex_) = false;
  uint64_t groups_ GUARDED_BY(mutex_) = 0;
  uint64_t commands_ GUARDED_BY(mutex_) = 0;
  std::thread writer_;
};

}  // namespace taskledger
