#include "ledger/partition_writer.h"

#include <algorithm>
#include <cstddef>
#include <iterator>
#include <utility>

#include "ledger/codec.h"

namespace taskledger {

PartitionWriter::PartitionWriter(ReplicatedLog* log, Clock* lease_clock, PartitionWriterOptions options)
    : log_(log), lease_clock_(lease_clock), options_(std::move(options)) {}

PartitionWriter::~PartitionWriter() = default;

Result<std::unique_ptr<PartitionWriter>> PartitionWriter::Open(LedgerOptions local, Clock* ledger_clock,
                                                               ReplicatedLog* log, Clock* lease_clock,
                                                               PartitionWriterOptions options) {
  if (local.replicate) return Status::InvalidArgument("the partition writer sets the ledger's replicate hook");
  if (local.read_only) return Status::InvalidArgument("a partition's local ledger must be writable");
  if (options.name.empty()) return Status::InvalidArgument("a partition writer needs this server's name");
  std::unique_ptr<PartitionWriter> writer(new PartitionWriter(log, lease_clock, std::move(options)));
  PartitionWriter* self = writer.get();
  local.replicate = [self](const std::vector<std::string>& events) { return self->AppendGroup(events); };
  Result<std::unique_ptr<Ledger>> ledger = Ledger::Open(local, ledger_clock);
  if (!ledger.ok()) return ledger.status();
  writer->ledger_ = std::move(*ledger);
  Result<uint64_t> held = writer->ledger_->ReplicatedPosition();
  if (!held.ok()) return held.status();
  if (*held == 0 && writer->ledger_->last_seq() != 0) {
    return Status::InvalidArgument("ledger " + local.path + " holds " + std::to_string(writer->ledger_->last_seq()) +
                                   " events that are not in any partition's log: a partition's local ledger starts "
                                   "empty");
  }
  if (*held != 0) {
    // A log that ends before what this ledger holds is another log (or lost its tail):
    // appending to it would fork the partition.
    Result<uint64_t> last = log->LastSeq();
    if (!last.ok()) return last.status();
    if (*last < *held) {
      return Status::DataLoss("ledger " + local.path + " holds partition " + std::to_string(writer->options_.partition) +
                              "'s log through position " + std::to_string(*held) + ", but the log ends at " +
                              std::to_string(*last));
    }
    MutexLock lock(&writer->mutex_);
    writer->position_ = *held;
  }
  TL_RETURN_IF_ERROR(writer->CatchUp());
  return writer;
}

std::string PartitionWriter::NotWriter(const std::string& why) const {
  std::string writer;
  {
    MutexLock lock(&known_writer_mutex_);
    writer = known_writer_;
  }
  return "partition " + std::to_string(options_.partition) + ": server " + options_.name + " is not its writer (" +
         why + "); try again, or ask its writer" + (writer.empty() ? "" : " (" + writer + ")");
}

void PartitionWriter::SetKnownWriter(std::string where) {
  MutexLock lock(&known_writer_mutex_);
  known_writer_ = std::move(where);
}

Status PartitionWriter::CatchUp() {
  MutexLock lock(&mutex_);
  return CatchUpLocked();
}

Status PartitionWriter::CatchUpLocked() {
  // The log is the truth: a group left unsettled is either in it (and read below) or may
  // still land at the one place it was conditional on, where the next append of this
  // server is refused for it, and the catch-up that follows reads it.
  unsettled_.reset();
  return log_->ReadFrom(position_ + 1, [this](uint64_t seq, std::string_view bytes) {
    mutex_.AssertHeld();  // ReadFrom calls back on this thread, inside CatchUpLocked
    return ApplyGroup(seq, bytes);
  });
}

Status PartitionWriter::ApplyGroup(uint64_t seq, std::string_view bytes) {
  const std::string where = "partition " + std::to_string(options_.partition) + " log position " + std::to_string(seq);
  if (seq != position_ + 1) {
    return Status::DataLoss(where + ": expected position " + std::to_string(position_ + 1));
  }
  Result<ReplicatedGroup> group = DecodeReplicatedGroup(bytes);
  if (!group.ok()) return Status::DataLoss(where + ": " + group.status().message());
  if (group->term < last_term_) {
    return Status::DataLoss(where + ": a group of term " + std::to_string(group->term) + " (by " + group->writer +
                            ") after one of term " + std::to_string(last_term_));
  }
  TL_RETURN_IF_ERROR(
      ledger_->ApplyReplicated(group->events, seq).Prefixed("partition " + std::to_string(options_.partition) + ": "));
  position_ = seq;
  last_term_ = group->term;
  return Status::Ok();
}

Status PartitionWriter::Lead(uint64_t term, int64_t held_until_ns) {
  if (term == 0) return Status::InvalidArgument("writer lease terms start at 1");
  MutexLock lock(&mutex_);
  leading_ = false;
  TL_RETURN_IF_ERROR(CatchUpLocked());
  if (term < last_term_) {
    return Status::Refused("partition " + std::to_string(options_.partition) + ": a writer lease of term " +
                           std::to_string(term) + " is stale: the log holds a group of term " +
                           std::to_string(last_term_));
  }
  term_ = term;
  held_until_ns_.store(held_until_ns);
  leading_ = true;
  return Status::Ok();
}

void PartitionWriter::StepDown() {
  MutexLock lock(&mutex_);
  leading_ = false;
}

uint64_t PartitionWriter::position() {
  MutexLock lock(&mutex_);
  return position_;
}

std::vector<Outcome> PartitionWriter::Submit(const std::vector<Command>& commands) {
  return SubmitWith(commands, /*sync=*/true);
}

std::vector<Outcome> PartitionWriter::SubmitUnsynced(const std::vector<Command>& commands) {
  return SubmitWith(commands, /*sync=*/false);
}

std::vector<Outcome> PartitionWriter::SubmitWith(const std::vector<Command>& commands, bool sync) {
  MutexLock lock(&mutex_);
  return SubmitLocked(commands, sync);
}

std::vector<Outcome> PartitionWriter::SubmitLocked(const std::vector<Command>& commands, bool sync) {
  Status refused = Status::Ok();
  if (!leading_) {
    refused = Status::Busy(NotWriter("it holds no writer lease"));
  } else if (unsettled_) {
    refused = Settle();
    // These commands were not sent: the earlier group's fate is what is unknown.
    if (refused.IsUnknownOutcome()) refused = Status::Busy(refused.message());
  }
  if (!refused.ok()) {
    std::vector<Outcome> outcomes(commands.size());
    for (Outcome& outcome : outcomes) outcome.status = refused;
    return outcomes;
  }
  // The ledger validates the group and calls AppendGroup before writing it.
  appended_ = false;
  oversized_ = false;
  submitting_ = std::this_thread::get_id();
  std::vector<Outcome> outcomes = sync ? ledger_->SubmitGroup(commands) : ledger_->SubmitGroupUnsynced(commands);
  submitting_ = std::thread::id();
  if (oversized_ && commands.size() > 1) {
    // Too big for one message of the log, and nothing of it written: the commands go in
    // two groups, the second decided after the first, as they would have been in one. One
    // command alone too big keeps the error.
    const auto middle = commands.begin() + static_cast<std::ptrdiff_t>(commands.size() / 2);
    outcomes = SubmitLocked(std::vector<Command>(commands.begin(), middle), sync);
    std::vector<Outcome> rest(static_cast<size_t>(commands.end() - middle));
    const auto busy = std::find_if(outcomes.begin(), outcomes.end(), [](const Outcome& o) {
      return o.status.IsBusy() || o.status.IsUnknownOutcome();
    });
    if (busy == outcomes.end()) {
      rest = SubmitLocked(std::vector<Command>(middle, commands.end()), sync);
    } else {
      // The first half's fate is unknown or this server stopped writing: the second half
      // is not sent (its Settle could store the first half while it is reported Busy), so
      // it is Busy either way: not done.
      const Status not_sent = busy->status.IsBusy() ? busy->status : Status::Busy(busy->status.message());
      for (Outcome& outcome : rest) outcome.status = not_sent;
    }
    outcomes.insert(outcomes.end(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
    return outcomes;
  }
  if (!appended_) return outcomes;
  for (const Outcome& outcome : outcomes) {
    if (outcome.status.ok()) return outcomes;
  }
  // Every command failed although the group was appended: either each was refused by the
  // rules (its `rejected` event is written), or the local write failed after the log had
  // stored the group. In the second case the group is in the log but not here.
  Result<uint64_t> stored = ledger_->ReplicatedPosition();
  if (stored.ok() && *stored == position_) return outcomes;
  // In the log, so they will take effect; but what each one's outcome is (accepted or
  // refused by the rules) is not known here.
  const Status unapplied = Status::UnknownOutcome(
      "partition " + std::to_string(options_.partition) + ": the commands are in the partition's log but were not " +
      "applied on server " + options_.name + " (" + (stored.ok() ? outcomes.front().status : stored.status()).message() +
      "); it stops writing until it has caught up");
  position_ -= 1;  // where the local ledger stands: before the one group appended
  leading_ = false;
  for (Outcome& outcome : outcomes) outcome = {unapplied, {}};
  return outcomes;
}

Result<uint64_t> PartitionWriter::AppendGroup(const std::vector<std::string>& events) {
  if (submitting_.load() != std::this_thread::get_id()) {
    return Status::InvalidArgument("partition " + std::to_string(options_.partition) +
                                   "'s ledger is written only through its partition writer");
  }
  mutex_.AssertHeld();  // SubmitWith holds it, on this thread
  ReplicatedGroup group{term_, options_.name, events};
  Result<uint64_t> appended = AppendLocked(EncodeReplicatedGroup(group));
  if (appended.ok()) appended_ = true;
  return appended;
}

Result<uint64_t> PartitionWriter::AppendLocked(std::string bytes) {
  if (lease_clock_->NowNs() >= held_until_ns_.load()) {
    leading_ = false;
    return Status::Busy(NotWriter("its writer lease lapsed before it was renewed"));
  }
  if (bytes.size() > options_.max_group_bytes) {
    oversized_ = true;
    return Status::InvalidArgument("partition " + std::to_string(options_.partition) + ": a commit group of " +
                                   std::to_string(bytes.size()) + " bytes is larger than the log takes (" +
                                   std::to_string(options_.max_group_bytes) + ")");
  }
  const uint64_t after = position_;
  Result<uint64_t> appended = log_->Append(bytes, after);
  if (appended.ok()) {
    position_ = *appended;
    last_term_ = term_;
    unsettled_.reset();
    return appended;
  }
  if (appended.status().IsRefused()) {
    unsettled_.reset();
    leading_ = false;
    return Status::Busy(NotWriter("another writer appended to the log: " + appended.status().message()));
  }
  if (appended.status().IsBusy()) {
    unsettled_ = Unsettled{std::move(bytes), after};
    return Status::UnknownOutcome("partition " + std::to_string(options_.partition) +
                                  ": the replicated log did not answer; whether these commands took effect is "
                                  "unknown until it does (" + appended.status().message() + ")");
  }
  return appended.status();
}

Status PartitionWriter::Settle() {
  std::string bytes = unsettled_->bytes;
  Result<uint64_t> appended = AppendLocked(bytes);
  if (!appended.ok()) return appended.status();
  // The group was stored, not written here: it is applied as any group read from the log.
  position_ = *appended - 1;
  const Status applied = ApplyGroup(*appended, bytes);
  if (!applied.ok()) leading_ = false;  // the next Lead's catch-up applies it
  return applied;
}

}  // namespace taskledger
