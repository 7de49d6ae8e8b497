// Cluster mode (docs/scale-out.md): the local ledger as a view of a partition's replicated
// log. The writer hands each commit group's events to the replicate hook before writing
// them here (Replicate, called by SubmitGroup); a server catching up applies the groups
// other writers replicated (ApplyReplicated). Either way the group's position in the
// replicated log is stored in the same write as its events, so the view knows exactly
// where in the log it stands after a crash.
#include <rocksdb/db.h>

#include <charconv>

#include "ledger/codec.h"
#include "ledger/commit_group.h"
#include "ledger/ledger_impl.h"
#include "ledger/rocks_status.h"

namespace taskledger {
namespace {

// kMeta: the replicated log's position of the last group written here, in decimal.
constexpr char kReplicatedPositionKey[] = "replicated_position";

}  // namespace

Status LedgerImpl::Replicate(CommitGroup& group, const std::vector<Outcome>& outcomes) {
  std::vector<std::string> events;
  for (const Outcome& outcome : outcomes) {
    for (const Event& event : outcome.reply.events) events.push_back(EncodeEvent(event));
  }
  // Only the in-memory schedule's repairs: nothing another server needs.
  if (events.empty()) return Status::Ok();
  Result<uint64_t> position = options_.replicate(events);
  if (!position.ok()) return position.status();
  group.batch().Put(cf(kMeta), kReplicatedPositionKey, std::to_string(*position));
  return Status::Ok();
}

Result<uint64_t> LedgerImpl::ReadReplicatedPosition() {
  std::string bytes;
  const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kMeta), kReplicatedPositionKey, &bytes);
  if (s.IsNotFound()) return uint64_t{0};
  if (!s.ok()) return FromRocks(s, "read the replicated position");
  uint64_t position = 0;
  const auto [end, error] = std::from_chars(bytes.data(), bytes.data() + bytes.size(), position);
  if (error != std::errc() || end != bytes.data() + bytes.size()) {
    return Status::DataLoss("ledger " + options_.path + ": the replicated position is not a number: " + bytes);
  }
  return position;
}

Result<uint64_t> LedgerImpl::ReplicatedPosition() {
  MutexLock lock(&mutex_);
  return ReadReplicatedPosition();
}

Status LedgerImpl::ApplyReplicated(const std::vector<std::string>& encoded, uint64_t position) {
  if (options_.read_only) return Status::IOError("ledger " + options_.path + " is open read-only");
  MutexLock lock(&mutex_);
  Result<uint64_t> held = ReadReplicatedPosition();
  if (!held.ok()) return held.status();
  const std::string where = "replicated group at position " + std::to_string(position);
  if (position <= *held) {
    return Status::DataLoss(where + ": this ledger already holds the log through position " + std::to_string(*held));
  }
  if (encoded.empty()) return Status::DataLoss(where + " holds no events");
  CommitGroup group(db_.get(), handles_, &records_, &mutex_);
  uint64_t next_seq = last_seq_ + 1;
  int64_t last_ns = last_ns_;
  Status applied = Status::Ok();
  EventDecoder decoder;
  std::vector<Event> one(1);
  for (const std::string& bytes : encoded) {
    applied = decoder.Decode(bytes, &one[0]);
    if (!applied.ok()) {
      applied = Status::DataLoss(where + ": " + applied.message());
      break;
    }
    const Event& event = one[0];
    if (event.seq != next_seq) {
      applied = Status::DataLoss(where + ": event " + std::to_string(event.seq) + " where this ledger's log expects " +
                                 std::to_string(next_seq));
      break;
    }
    if (event.time_ns < last_ns) {
      applied = Status::DataLoss(where + ": event " + std::to_string(event.seq) + " goes back in ledger time");
      break;
    }
    // The writer placed the task in the schedule at the event's own time; so does this.
    applied = ApplyEvents(group, one, event.time_ns);
    if (!applied.ok()) {
      // The rules refusing an event is damage; a read that failed is the disk's error.
      applied = applied.code() == Code::kInternal ? Status::DataLoss(where + ": " + applied.message())
                                                  : applied.Prefixed(where + ": ");
      break;
    }
    next_seq++;
    last_ns = event.time_ns;
  }
  if (!applied.ok()) {
    DropGroup();
    return applied;
  }
  for (const auto& [id, live] : index_.LivenessChanges()) group.PutLiveMarker(id, live);
  group.batch().Put(cf(kMeta), kReplicatedPositionKey, std::to_string(position));
  TL_RETURN_IF_ERROR(WriteGroup(group, /*sync=*/true, next_seq - 1, last_ns));
  last_seq_ = next_seq - 1;
  last_ns_ = last_ns;
  return Status::Ok();
}

}  // namespace taskledger
