#include "ledger/group_commit.h"

#include <iterator>
#include <utility>

namespace taskledger {

GroupCommitter::GroupCommitter(Ledger* ledger, GroupCommitOptions options)
    : GroupCommitter([ledger](const std::vector<Command>& commands) { return ledger->SubmitGroupUnsynced(commands); },
                     [ledger] { return ledger->SyncWrites(); }, std::move(options)) {}

GroupCommitter::GroupCommitter(PartitionWriter* writer, GroupCommitOptions options)
    : GroupCommitter([writer](const std::vector<Command>& commands) { return writer->SubmitUnsynced(commands); },
                     [writer] { return writer->SyncWrites(); }, std::move(options)) {}

GroupCommitter::GroupCommitter(WriteGroup write, SyncWritten sync, GroupCommitOptions options)
    : write_(std::move(write)),
      sync_(std::move(sync)),
      options_(std::move(options)),
      writer_([this] { RunWriter(); }),
      syncer_([this] { RunSyncer(); }) {}

GroupCommitter::~GroupCommitter() { Stop(); }

Status GroupCommitter::Enqueue(std::vector<Command> commands, Completion done) {
  if (commands.empty()) {
    done({});
    return Status::Ok();
  }
  if (commands.size() > options_.max_group_commands) {
    return Status::InvalidArgument("more than " + std::to_string(options_.max_group_commands) +
                                   " commands in one call");
  }
  {
    MutexLock lock(&mutex_);
    if (stopping_) return Status::Busy("the server is shutting down");
    if (queued_commands_ + commands.size() > options_.max_queued_commands) {
      return Status::Busy("the server's command queue is full; retry shortly");
    }
    queued_commands_ += commands.size();
    queue_.push_back({std::move(commands), std::move(done)});
  }
  wake_.NotifyOne();
  return Status::Ok();
}

void GroupCommitter::Stop() {
  {
    MutexLock lock(&mutex_);
    stopping_ = true;
  }
  wake_.NotifyOne();
  if (writer_.joinable()) writer_.join();
  if (syncer_.joinable()) syncer_.join();
}

uint64_t GroupCommitter::groups_committed() const {
  MutexLock lock(&mutex_);
  return groups_;
}

uint64_t GroupCommitter::commands_committed() const {
  MutexLock lock(&mutex_);
  return commands_;
}

uint64_t GroupCommitter::syncs() const {
  MutexLock lock(&mutex_);
  return syncs_;
}

void GroupCommitter::RunWriter() {
  for (;;) {
    Written group;
    size_t group_commands = 0;
    {
      MutexLock lock(&mutex_);
      while (!stopping_ && queue_.empty()) wake_.Wait(&mutex_);
      if (queue_.empty()) {  // stopping, and everything queued is written
        writer_done_ = true;
        written_.NotifyOne();
        return;
      }
      while (!queue_.empty() && group_commands + queue_.front().commands.size() <= options_.max_group_commands) {
        group_commands += queue_.front().commands.size();
        group.batches.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::vector<Command> commands;
    commands.reserve(group_commands);
    for (Batch& batch : group.batches) {
      for (Command& command : batch.commands) commands.push_back(std::move(command));
    }
    const auto started = std::chrono::steady_clock::now();
    group.outcomes = write_(commands);
    if (options_.on_group_written) options_.on_group_written(commands.size(), std::chrono::steady_clock::now() - started);
    {
      MutexLock lock(&mutex_);
      groups_++;
      commands_ += commands.size();
      unsynced_.push_back(std::move(group));
    }
    written_.NotifyOne();
  }
}

void GroupCommitter::RunSyncer() {
  for (;;) {
    std::deque<Written> groups;
    {
      MutexLock lock(&mutex_);
      while (!writer_done_ && unsynced_.empty()) written_.Wait(&mutex_);
      if (unsynced_.empty()) return;  // the writer is done and every group is completed
      groups.swap(unsynced_);
    }
    // One fsync for every group written so far: each was written before this call began.
    const auto started = std::chrono::steady_clock::now();
    const Status synced = sync_();
    if (options_.on_synced) options_.on_synced(std::chrono::steady_clock::now() - started);
    size_t completed = 0;
    for (Written& group : groups) {
      size_t next = 0;
      for (Batch& batch : group.batches) {
        const size_t n = batch.commands.size();
        std::vector<Outcome> mine(std::make_move_iterator(group.outcomes.begin() + next),
                                  std::make_move_iterator(group.outcomes.begin() + next + n));
        next += n;
        if (!synced.ok()) {
          // Written but maybe not durable: acknowledged as failed, like a failed write.
          for (Outcome& outcome : mine) outcome = {synced, {}};
        }
        batch.done(std::move(mine));
        completed += n;
      }
    }
    MutexLock lock(&mutex_);
    syncs_++;
    queued_commands_ -= completed;
  }
}

}  // namespace taskledger
