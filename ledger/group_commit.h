// GroupCommitter: many submitters, one writer thread, one fsync per group or fewer.
//
// Submitters enqueue batches of commands; the writer takes everything queued (up to a
// group limit), validates it in arrival order and writes it in one batch
// (Ledger::SubmitGroupUnsynced), then hands the group to the syncer and takes the next.
// In cluster mode the groups go through a PartitionWriter instead, which appends each to
// the partition's replicated log before writing it (docs/scale-out.md): the log is what
// makes it durable, and the local sync only keeps the local view's own bookkeeping.
// The syncer makes everything written so far durable with one fsync (Ledger::SyncWrites)
// and only then calls each batch's completion with its outcomes, in order. So the fsync
// of one group overlaps the validation and writing of the next (on two cores the writer
// no longer waits ~0.4 ms per group), and one fsync may cover several groups. Nothing is
// acknowledged before it is durable; a failed sync fails every outcome it covered.
//
// The queue is bounded (commands queued, being written or waiting for their sync): when
// full, Enqueue refuses (Busy) instead of growing.
//
// Thread-safe. Completions run on the syncer thread and must not block.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "ledger/ledger.h"
#include "ledger/partition_writer.h"
#include "ledger/thread_safety.h"

namespace taskledger {

struct GroupCommitOptions {
  // Commands waiting for the writer, across all submitters. Default 65536: about a second
  // of peak load; beyond that clients are told to back off.
  size_t max_queued_commands = 65536;
  // Commands in one durable write. Default 4096: large enough to amortize the fsync,
  // small enough to bound one WriteBatch.
  size_t max_group_commands = 4096;
  // Optional observers, for a server's metrics: called on the writer thread after each
  // group is written (its commands and the time to validate and write them), and on the
  // syncer thread after each fsync (its time). They must not block.
  std::function<void(size_t commands, std::chrono::nanoseconds took)> on_group_written;
  std::function<void(std::chrono::nanoseconds took)> on_synced;
};

class GroupCommitter {
 public:
  using Completion = std::function<void(std::vector<Outcome>)>;

  GroupCommitter(Ledger* ledger, GroupCommitOptions options);
  GroupCommitter(PartitionWriter* writer, GroupCommitOptions options);
  ~GroupCommitter();  // Stops (draining the queue).
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Busy if the queue is full or the committer is stopping; otherwise `done` will be called
  // exactly once, from the syncer thread, after the group holding these commands is durable.
  Status Enqueue(std::vector<Command> commands, Completion done) EXCLUDES(mutex_);

  // Refuses new work, commits everything already queued, and joins both threads.
  void Stop() EXCLUDES(mutex_);

  uint64_t groups_committed() const EXCLUDES(mutex_);
  uint64_t commands_committed() const EXCLUDES(mutex_);
  // fsyncs so far: at most groups_committed().
  uint64_t syncs() const EXCLUDES(mutex_);

 private:
  struct Batch {
    std::vector<Command> commands;
    Completion done;
  };
  // A group written, waiting for a sync before its batches are completed.
  struct Written {
    std::vector<Batch> batches;
    std::vector<Outcome> outcomes;  // in the order of the batches' commands
  };
  using WriteGroup = std::function<std::vector<Outcome>(const std::vector<Command>&)>;
  using SyncWritten = std::function<Status()>;
  GroupCommitter(WriteGroup write, SyncWritten sync, GroupCommitOptions options);
  void RunWriter() EXCLUDES(mutex_);
  void RunSyncer() EXCLUDES(mutex_);

  // Writes a group unsynced, and syncs everything written so far.
  const WriteGroup write_;
  const SyncWritten sync_;
  const GroupCommitOptions options_;
  mutable Mutex mutex_;
  CondVar wake_;
  CondVar written_;  // the syncer waits for groups to sync
  std::deque<Batch> queue_ GUARDED_BY(mutex_);
  std::deque<Written> unsynced_ GUARDED_BY(mutex_);
  // Commands accepted and not yet completed: queued, being written, or waiting to sync.
  size_t queued_commands_ GUARDED_BY(mutex_) = 0;
  bool stopping_ GUARDED_BY(mutex_) = false;
  bool writer_done_ GUARDED_BY(mutex_) = false;  // the writer has written its last group
  uint64_t groups_ GUARDED_BY(mutex_) = 0;
  uint64_t commands_ GUARDED_BY(mutex_) = 0;
  uint64_t syncs_ GUARDED_BY(mutex_) = 0;
  std::thread writer_;
  std::thread syncer_;
};

}  // namespace taskledger
