#include "ledger/group_commit.h"

namespace taskledger {

GroupCommitter::GroupCommitter(Ledger* ledger, GroupCommitOptions options)
    : ledger_(ledger), options_(options), writer_([this] { Run(); }) {}

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
    if (stopping_ && !writer_.joinable()) return;
    stopping_ = true;
  }
  wake_.NotifyOne();
  if (writer_.joinable()) writer_.join();
}

uint64_t GroupCommitter::groups_committed() const {
  MutexLock lock(&mutex_);
  return groups_;
}

uint64_t GroupCommitter::commands_committed() const {
  MutexLock lock(&mutex_);
  return commands_;
}

void GroupCommitter::Run() {
  for (;;) {
    std::vector<Batch> group;
    size_t group_commands = 0;
    {
      MutexLock lock(&mutex_);
      while (!stopping_ && queue_.empty()) wake_.Wait(&mutex_);
      if (queue_.empty()) return;  // stopping, and everything queued is committed
      while (!queue_.empty() && group_commands + queue_.front().commands.size() <= options_.max_group_commands) {
        group_commands += queue_.front().commands.size();
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      queued_commands_ -= group_commands;
    }
    std::vector<Command> commands;
    commands.reserve(group_commands);
    for (Batch& batch : group) {
      for (Command& command : batch.commands) commands.push_back(std::move(command));
    }
    std::vector<Outcome> outcomes = ledger_->SubmitGroup(commands);
    {
      MutexLock lock(&mutex_);
      groups_++;
      commands_ += commands.size();
    }
    size_t next = 0;
    for (Batch& batch : group) {
      std::vector<Outcome> mine(std::make_move_iterator(outcomes.begin() + next),
                                std::make_move_iterator(outcomes.begin() + next + batch.commands.size()));
      next += batch.commands.size();
      batch.done(std::move(mine));
    }
  }
}

}  // namespace taskledger
