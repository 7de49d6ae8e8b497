// The command path: a commit group (SubmitGroup) validates each command against the state
// the previous ones left (projections/decide.h), appends its events, folds them into the
// task records and the in-memory schedule, and writes everything with one durable write.
// claim --next promotes due timers and takes the best ready place; sweep appends the
// lapses no event has observed yet.
#include <rocksdb/db.h>

#include <algorithm>

#include "ledger/codec.h"
#include "ledger/commit_group.h"
#include "ledger/keys.h"
#include "ledger/ledger_impl.h"
#include "ledger/rocks_status.h"
#include "ledger/schedule_key.h"
#include "projections/check.h"
#include "projections/limits.h"
#include "projections/validate.h"

namespace taskledger {
namespace {

// Due timers promoted per pass of claim --next: bounds one batch of index reads.
constexpr size_t kPromoteBatch = 256;
// A schedule entry that cannot be claimed is repaired and skipped; more than this many in
// one claim means the index is broken, not merely stale.
constexpr int kMaxClaimSkips = 64;
// Lease-expired markers appended by one sweep: bounds one commit. In cluster mode the
// commit group is one message of the partition's log, which NATS bounds (1 MiB by
// default; 2,000 markers make a group of about 240 KB): a sweep there appends fewer, and the next sweep
// the rest.
constexpr size_t kMaxSweepEvents = 10'000;
constexpr size_t kMaxReplicatedSweepEvents = 2'000;

std::string DefaultActor(const Command& c) {
  if (!c.actor.empty()) return c.actor;
  switch (c.kind) {
    case CommandKind::kCreate: return "dispatcher";
    case CommandKind::kBlock:
    case CommandKind::kUnblock:
    case CommandKind::kCancel:
    case CommandKind::kRevive: return "operator";
    case CommandKind::kSweep: return "sweeper";
    default: return "unknown";
  }
}

// A refusal by the rules keeps what the command wrote (its `rejected` event, the repairs
// of a claim --next that found nothing); any other failure writes nothing of it.
bool IsRuleRefusal(const Status& status) {
  return status.IsRefused() || status.IsNotFound() || status.code() == Code::kInvalidArgument;
}

}  // namespace

std::vector<Outcome> LedgerImpl::SubmitGroup(const std::vector<Command>& commands, bool sync) {
  std::vector<Outcome> outcomes;
  outcomes.reserve(commands.size());
  if (options_.read_only) {
    for (size_t i = 0; i < commands.size(); ++i) {
      outcomes.push_back({Status::IOError("ledger " + options_.path + " is open read-only"), {}});
    }
    return outcomes;
  }
  MutexLock lock(&mutex_);
  CommitGroup group(db_.get(), handles_, &records_, &mutex_);
  uint64_t next_seq = last_seq_ + 1;
  int64_t last_ns = last_ns_;
  for (const Command& command : commands) {
    // Ledger time never decreases, whatever the clock does.
    const int64_t now_ns = std::max(clock_->NowNs(), last_ns);
    group.SetSavePoint();
    const size_t index_save_point = index_.SavePoint();
    Outcome outcome = Execute(group, command, now_ns, next_seq);
    if (!outcome.status.ok() && !IsRuleRefusal(outcome.status)) {
      // Nothing of a command that failed for another reason is written.
      group.RollbackToSavePoint();
      index_.RollbackTo(index_save_point);
      outcome.reply.events.clear();
    } else {
      group.PopSavePoint();
    }
    next_seq += outcome.reply.events.size();
    if (!outcome.reply.events.empty()) last_ns = now_ns;
    outcomes.push_back(std::move(outcome));
  }
  // Tasks that entered or left the schedule: the one thing of it that is stored.
  for (const auto& [id, live] : index_.LivenessChanges()) group.PutLiveMarker(id, live);
  Status written = Status::Ok();
  if (group.batch().Count() > 0) {
    // Cluster mode: the group is in the partition's replicated log before it is here.
    if (options_.replicate) written = Replicate(group, outcomes);
    if (written.ok()) {
      written = WriteGroup(group, sync, next_seq - 1, last_ns);
    } else {
      DropGroup();
    }
  } else {
    index_.Commit();
  }
  if (!written.ok()) {
    for (Outcome& outcome : outcomes) {
      outcome.status = written;
      outcome.reply.events.clear();
    }
    return outcomes;
  }
  last_seq_ = next_seq - 1;
  last_ns_ = last_ns;
  return outcomes;
}

Status LedgerImpl::WriteGroup(CommitGroup& group, bool sync, uint64_t last_seq, int64_t last_ns) {
  rocksdb::WriteOptions write_options;
  write_options.sync = options_.sync && sync;
  if (!write_options.sync) BeginUnsyncedWrite();
  const Status written = FromRocks(db_->Write(write_options, &group.batch()), "commit");
  if (!write_options.sync) {
    EndUnsyncedWrite(written.ok(), last_seq, last_ns);
  } else if (written.ok()) {
    AfterSyncedWrite();
  }
  if (!written.ok()) {
    DropGroup();
    return written;
  }
  index_.Commit();
  records_.Retire(group.WrittenTasks());
  return Status::Ok();
}

void LedgerImpl::DropGroup() {
  index_.RollbackTo(0);
  index_.Commit();
  records_.Clear();  // it holds what the group would have written
}

Status LedgerImpl::SyncWrites() {
  if (options_.read_only) return Status::IOError("ledger " + options_.path + " is open read-only");
  if (!options_.sync) return Status::Ok();
  // The writes this sync covers: those whose Write had returned before it began.
  std::optional<ReadView> covered;
  {
    MutexLock lock(&view_mutex_);
    for (const ReadView& view : unsynced_) {
      if (view.snapshot == nullptr) break;  // still being written
      covered = view;
    }
  }
  // Syncs every WAL file written so far; RocksDB allows it beside a concurrent Write.
  TL_RETURN_IF_ERROR(FromRocks(db_->SyncWAL(), "sync"));
  if (covered) {
    MutexLock lock(&view_mutex_);
    while (!unsynced_.empty() && unsynced_.front().snapshot != nullptr && unsynced_.front().seq <= covered->seq) {
      unsynced_.pop_front();
    }
    if (unsynced_.empty()) {
      durable_.reset();  // nothing pending: the latest state is durable
    } else if (!durable_ || durable_->seq < covered->seq) {
      durable_ = std::move(covered);
    }
  }
  return Status::Ok();
}

std::shared_ptr<const rocksdb::Snapshot> LedgerImpl::TakeSnapshot() {
  rocksdb::DB* db = db_.get();
  return std::shared_ptr<const rocksdb::Snapshot>(db->GetSnapshot(),
                                                  [db](const rocksdb::Snapshot* s) { db->ReleaseSnapshot(s); });
}

void LedgerImpl::BeginUnsyncedWrite() {
  if (!durable_reads_) return;
  MutexLock lock(&view_mutex_);
  // The first pending write: the state before it, all durable, is what reads keep.
  if (!durable_) durable_ = ReadView{TakeSnapshot(), last_seq_, last_ns_};
  unsynced_.push_back(ReadView{});  // being written: no sync covers it yet
}

void LedgerImpl::EndUnsyncedWrite(bool written, uint64_t seq, int64_t ns) {
  if (!durable_reads_) return;
  MutexLock lock(&view_mutex_);
  if (!written) {
    unsynced_.pop_back();
    if (unsynced_.empty()) durable_.reset();
    return;
  }
  unsynced_.back() = ReadView{TakeSnapshot(), seq, ns};  // writes are serialized by mutex_
}

void LedgerImpl::AfterSyncedWrite() {
  if (!durable_reads_) return;
  MutexLock lock(&view_mutex_);
  // Its fsync covered the log up to it, every earlier unsynced write included.
  unsynced_.clear();
  durable_.reset();
}

Outcome LedgerImpl::Execute(CommitGroup& group, const Command& given, int64_t now_ns, uint64_t next_seq) {
  // Every entry (CLI, RPC, import, a test) meets the same rules, checked before any read.
  if (Status s = ValidateCommand(given); !s.ok()) return {s, {}};
  Command command = given;
  command.actor = DefaultActor(given);
  if (command.kind == CommandKind::kCreate) return ExecuteCreate(group, command, now_ns, next_seq);
  if (command.kind == CommandKind::kSweep) return ExecuteSweep(group, command, now_ns, next_seq);
  if (command.kind == CommandKind::kClaim && command.next) return ExecuteClaimNext(group, command, now_ns, next_seq);
  Result<const TaskRecord*> record = group.FindTask(command.task_id);
  if (!record.ok()) return {record.status(), {}};
  if (*record == nullptr) return {Status::NotFound("no task " + command.task_id), {}};
  if (given.actor.empty() && command.token != 0) {
    // A holder command without a name speaks for whoever claimed its token: the token is
    // the seq of that claim, so a zombie's rejected command still names the zombie.
    Result<std::optional<std::pair<std::string, std::string>>> claim = group.GetClaim(command.token);
    if (!claim.ok()) return {claim.status(), {}};
    if (claim->has_value() && (*claim)->first == command.task_id) command.actor = (*claim)->second;
  }
  const DecisionContext context{now_ns, next_seq, group.Dependencies(now_ns)};
  Outcome outcome = DecideOnTask(command, **record, context);
  if (!outcome.reply.events.empty()) {
    if (Status s = ApplyEvents(group, outcome.reply.events, now_ns); !s.ok()) return {s, {}};
  }
  if (outcome.status.ok()) {
    if (Status s = FillReply(group, now_ns, &outcome.reply); !s.ok()) return {s, {}};
  }
  return outcome;
}

Outcome LedgerImpl::ExecuteCreate(CommitGroup& group, const Command& given, int64_t now_ns, uint64_t next_seq) {
  Command command = given;
  if (Status s = NormalizeSpec(&command.spec); !s.ok()) return {s, {}};
  Outcome outcome;
  if (!command.spec.idempotency_key.empty()) {
    Result<std::optional<std::string>> existing = group.GetIdempotency(command.spec.idempotency_key);
    if (!existing.ok()) return {existing.status(), {}};
    if (existing->has_value()) {
      // The same request again: the task it created, and nothing appended.
      outcome.reply.task_id = **existing;
      outcome.reply.existing = true;
      if (Status s = FillReply(group, now_ns, &outcome.reply); !s.ok()) return {s, {}};
      return outcome;
    }
  }
  std::string id = command.task_id;
  if (id.empty()) {
    id = "t-" + std::to_string(next_seq);
    for (int suffix = 1;; ++suffix) {
      Result<bool> taken = group.TaskExists(id);
      if (!taken.ok()) return {taken.status(), {}};
      if (!*taken) break;
      id = "t-" + std::to_string(next_seq) + "-" + std::to_string(suffix);
    }
  } else {
    Result<bool> taken = group.TaskExists(id);
    if (!taken.ok()) return {taken.status(), {}};
    if (*taken) return {Status::Refused("task " + id + " already exists"), {}};
  }
  std::vector<std::string> unique_after;
  for (const std::string& dep : command.spec.after) {
    if (std::find(unique_after.begin(), unique_after.end(), dep) != unique_after.end()) continue;
    Result<bool> found = group.TaskExists(dep);
    if (!found.ok()) return {found.status(), {}};
    if (!*found) return {Status::NotFound("--after names no task " + dep), {}};
    unique_after.push_back(dep);
  }
  command.spec.after = std::move(unique_after);
  const DecisionContext context{now_ns, next_seq, group.Dependencies(now_ns)};
  outcome.reply.task_id = id;
  outcome.reply.events.push_back(DecideCreate(command, id, context));
  if (Status s = ApplyEvents(group, outcome.reply.events, now_ns); !s.ok()) return {s, {}};
  if (Status s = FillReply(group, now_ns, &outcome.reply); !s.ok()) return {s, {}};
  return outcome;
}

Outcome LedgerImpl::ExecuteClaimNext(CommitGroup& group, const Command& command, int64_t now_ns, uint64_t next_seq) {
  const std::string queue = command.queue.empty() ? std::string(kDefaultQueue) : command.queue;
  if (Status s = PromoteDueTimers(group, queue, now_ns); !s.ok()) return {s, {}};
  const std::string prefix = keys::ReadyPrefix(queue);
  for (int skips = 0; skips < kMaxClaimSkips; ++skips) {
    const std::optional<std::pair<std::string, std::string>> best = index_.First(prefix);
    if (!best) return {Status::NotFound("no task is ready in queue " + queue), {}};
    const std::string id = best->second;
    Result<const TaskRecord*> record = group.FindTask(id);
    if (!record.ok()) return {record.status(), {}};
    if (*record == nullptr) return {Status::DataLoss("schedule names unknown task " + id + "; run rebuild"), {}};
    Command claim = command;
    claim.next = false;
    claim.task_id = id;
    const DecisionContext context{now_ns, next_seq, group.Dependencies(now_ns)};
    Outcome outcome = DecideOnTask(claim, **record, context);
    if (!outcome.status.ok()) {
      // A stale entry: put the task where it belongs now and look again.
      if (Status s = UpdateSchedule(group, **record, now_ns); !s.ok()) return {s, {}};
      continue;
    }
    if (Status s = ApplyEvents(group, outcome.reply.events, now_ns); !s.ok()) return {s, {}};
    if (Status s = FillReply(group, now_ns, &outcome.reply); !s.ok()) return {s, {}};
    return outcome;
  }
  return {Status::Internal("the schedule keeps offering unclaimable tasks in queue " + queue + "; run rebuild"), {}};
}

Outcome LedgerImpl::ExecuteSweep(CommitGroup& group, const Command& command, int64_t now_ns, uint64_t next_seq) {
  std::vector<std::string> lapsed;
  for (const std::string& key : index_.FirstDeadlines(options_.replicate ? kMaxReplicatedSweepEvents : kMaxSweepEvents)) {
    if (static_cast<int64_t>(keys::ReadU64(key)) > now_ns) break;
    lapsed.push_back(key.substr(8));
  }
  Outcome outcome;
  for (const std::string& id : lapsed) {
    Result<const TaskRecord*> record = group.FindTask(id);
    if (!record.ok()) return {record.status(), {}};
    if (*record == nullptr) return {Status::DataLoss("deadline index names unknown task " + id), {}};
    const TaskRecord& r = **record;
    // Invariant: the deadline index holds exactly the open attempts of the projection.
    if (!LeaseLapsed(r, now_ns)) {
      return {Status::DataLoss("deadline index is stale for task " + id + "; run rebuild"), {}};
    }
    Event e;
    e.seq = next_seq + outcome.reply.events.size();
    e.time_ns = now_ns;
    e.task_id = id;
    e.actor = command.actor;
    e.meta = command.meta;
    e.kind = EventKind::kLeaseExpired;
    e.token = r.last_token;
    e.deadline_ns = r.deadline_ns;
    outcome.reply.events.push_back(std::move(e));
  }
  if (Status s = ApplyEvents(group, outcome.reply.events, now_ns); !s.ok()) return {s, {}};
  return outcome;
}

Status LedgerImpl::ApplyEvents(CommitGroup& group, const std::vector<Event>& events, int64_t now_ns) {
  for (const Event& event : events) {
    TaskRecord next;
    bool was_open = false, was_done = false;
    int64_t old_deadline_ns = 0;
    if (event.kind != EventKind::kCreated) {
      Result<const TaskRecord*> found = group.FindTask(event.task_id);
      if (!found.ok()) return found.status();
      if (*found == nullptr) return Status::Internal("event for unknown task " + event.task_id);
      next = **found;
      was_open = next.attempt_open;
      was_done = next.done;
      old_deadline_ns = next.deadline_ns;
    }
    // Invariant: the ledger appends only events its own derivation rules accept.
    if (Status s = ApplyEvent(&next, event); !s.ok()) {
      return Status::Internal("refusing to append an event the rules reject: " + s.message());
    }
    const std::string encoded = EncodeEvent(event);
    // Invariant: what is appended decodes to what was decided. A DCHECK, not a CHECK: it
    // decodes every event a second time on the hot path (on in every test build).
    TL_DCHECK(DecodeEvent(encoded).ok() && *DecodeEvent(encoded) == event);
    group.PutEvent(event, encoded);
    const TaskRecord& record = group.PutTask(std::move(next));
    if (was_open) index_.RemoveDeadline(keys::Deadline(old_deadline_ns, event.task_id));
    if (record.attempt_open) index_.AddDeadline(keys::Deadline(record.deadline_ns, event.task_id));
    if (event.kind == EventKind::kCreated) {
      for (const std::string& dep : record.spec.after) group.PutDependent(dep, record.id);
      if (!record.spec.idempotency_key.empty()) group.PutIdempotency(record.spec.idempotency_key, record.id);
    }
    TL_RETURN_IF_ERROR(UpdateSchedule(group, record, now_ns));
    if (record.done && !was_done) {
      // Completion is what wakes the tasks waiting on this one.
      Result<std::vector<std::string>> dependents = group.Dependents(record.id);
      if (!dependents.ok()) return dependents.status();
      for (const std::string& id : *dependents) {
        Result<const TaskRecord*> dependent = group.FindTask(id);
        if (!dependent.ok()) return dependent.status();
        if (*dependent != nullptr) TL_RETURN_IF_ERROR(UpdateSchedule(group, **dependent, now_ns));
      }
    }
  }
  return Status::Ok();
}

Status LedgerImpl::UpdateSchedule(CommitGroup& group, const TaskRecord& record, int64_t now_ns) {
  const std::string wanted = ScheduleKey(record, now_ns, group.Dependencies(now_ns));
  if (index_.PlaceOf(record.id) != wanted) index_.Place(record.id, wanted);
  return Status::Ok();
}

Status LedgerImpl::PromoteDueTimers(CommitGroup& group, const std::string& queue, int64_t now_ns) {
  const std::string prefix = keys::TimerPrefix(queue);
  for (;;) {
    std::vector<std::string> due;
    for (const auto& [key, id] : index_.Scan(prefix, kPromoteBatch)) {
      if (static_cast<int64_t>(keys::ReadU64(std::string_view(key).substr(prefix.size()))) > now_ns) break;
      due.push_back(id);
    }
    for (const std::string& id : due) {
      Result<const TaskRecord*> record = group.FindTask(id);
      if (!record.ok()) return record.status();
      if (*record == nullptr) return Status::DataLoss("schedule names unknown task " + id + "; run rebuild");
      // Invariant: a due timer always moves (to ready, a later timer, or nowhere), so this
      // loop ends.
      TL_RETURN_IF_ERROR(UpdateSchedule(group, **record, now_ns));
    }
    if (due.size() < kPromoteBatch) return Status::Ok();
  }
}

Status LedgerImpl::FillReply(CommitGroup& group, int64_t now_ns, CommandReply* reply) {
  Result<const TaskRecord*> record = group.FindTask(reply->task_id);
  if (!record.ok()) return record.status();
  if (*record == nullptr) return Status::Internal("reply for unknown task " + reply->task_id);
  const TaskView view = Evaluate(**record, now_ns, group.Dependencies(now_ns));
  reply->status = view.status;
  reply->token = view.settled.last_token;
  reply->deadline_ns = view.status == TaskStatus::kRunning ? view.settled.deadline_ns : 0;
  return Status::Ok();
}

}  // namespace taskledger
