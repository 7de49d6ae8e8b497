// PartitionWriter: one partition's local ledger, written only through the partition's
// replicated log (docs/scale-out.md "The partition writer").
//
// While this server holds the partition's writer lease (ledger/writer_lease.h; the server
// drives the lease and hands each grant in with Lead and Hold), it is the partition's
// writer: each commit group's commands are validated by the local ledger exactly as on a
// single node, the group's events are appended to the log after the position this ledger
// holds, and the group is written here and acknowledged only once the log has stored it.
// Otherwise it is a standby: it follows the log (CatchUp) and answers commands Busy.
//
// - Fenced: if another writer appended meanwhile, the log refuses the append. Nothing of
//   the group is written, every command of it answers Busy, and this server stops
//   writing until it is handed a new grant, when it catches up first.
// - A lost answer: if the log cannot say whether it stored a group, the group's commands
//   answer Busy (their outcome is unknown) and the same bytes are appended again, after
//   the same position, before anything else is: Ok means they were stored (and they are
//   applied here then), Refused that another writer's group is there.
// - A lapsed lease: the writer stops appending (and settling) at held_until_ns on the
//   lease's clock, whatever the log would say.
// - The local write fails after the log stored the group: the commands answer Busy (they
//   are in the log, not applied here), and this server stops writing until it leads
//   again, when the catch-up applies the group from the log.
//
// Each group carries the writer's lease term and name, so no two writers' groups are
// alike (JetStreamLog relies on it to settle a lost answer), and a log whose terms go
// down is refused as damaged.
//
// Thread-safe: Submit, CatchUp, Lead and StepDown are serialized; Hold (a renewal) and
// writing() never wait for an append in flight.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ledger/clock.h"
#include "ledger/ledger.h"
#include "ledger/replicated_log.h"
#include "ledger/thread_safety.h"

namespace taskledger {

struct PartitionWriterOptions {
  uint32_t partition = 0;
  std::string name;  // this server's name in the cluster: the lease holder it writes as
  // The largest group the log takes as one message (NATS's max_payload: 1 MiB by
  // default). A larger commit group is split in two at a command boundary, again as
  // needed (if the first half answers Busy, the second is not sent and answers the same);
  // a single command larger than this fails (InvalidArgument).
  size_t max_group_bytes = 1 << 20;
};

class PartitionWriter {
 public:
  // Opens the local ledger (`local`, whose `replicate` must be empty: the writer sets it),
  // which must be a view of this partition's log (or empty), and catches it up with `log`.
  // DataLoss if the log ends before the position the ledger holds (another log).
  // `ledger_clock` is the ledger's (wall) clock; `lease_clock` the monotonic clock the
  // writer lease's grants are measured on. Both, and `log`, outlive the writer.
  static Result<std::unique_ptr<PartitionWriter>> Open(LedgerOptions local, Clock* ledger_clock, ReplicatedLog* log,
                                                       Clock* lease_clock, PartitionWriterOptions options);
  ~PartitionWriter();
  PartitionWriter(const PartitionWriter&) = delete;
  PartitionWriter& operator=(const PartitionWriter&) = delete;

  // The local view: for reads. A write to it other than through Submit is refused
  // (InvalidArgument): it would fork the view from the log.
  Ledger& ledger() { return *ledger_; }

  // Applies every group the log holds past this ledger's position. DataLoss if a group
  // does not continue this ledger's log (nothing of it is applied).
  Status CatchUp() EXCLUDES(mutex_);

  // Becomes the partition's writer under a lease of `term`, held until `held_until_ns` on
  // the lease clock: catches up first. Refused if the log already holds a group of a
  // later term (the grant is stale).
  Status Lead(uint64_t term, int64_t held_until_ns) EXCLUDES(mutex_);
  // A renewal of the lease led under. It does not revive a writer that stopped (a lapse,
  // a fence): only Lead does, after catching up.
  void Hold(int64_t held_until_ns) { held_until_ns_.store(held_until_ns); }
  // Stops writing (the lease was lost or given up).
  void StepDown() EXCLUDES(mutex_);
  // Whether this server writes the partition now: leading and the lease not lapsed.
  bool writing() { return leading_.load() && lease_clock_->NowNs() < held_until_ns_.load(); }

  // The commands as one commit group, through the log (see above). Every command answers
  // Busy, and nothing is written, when this server is not the writer.
  std::vector<Outcome> Submit(const std::vector<Command>& commands) EXCLUDES(mutex_);
  // For a GroupCommitter: as Submit, but the local write is not synced (SyncWrites is the
  // local ledger's). The log has stored the group when this returns: that is what makes
  // an outcome durable here.
  std::vector<Outcome> SubmitUnsynced(const std::vector<Command>& commands) EXCLUDES(mutex_);
  Status SyncWrites() { return ledger_->SyncWrites(); }

  // Who writes the partition, as this server last saw it (e.g. "n2 at tcp:10.0.0.2:7401"):
  // named in the Busy answers of a standby, so that a client knows where to go. Empty:
  // not known.
  void SetKnownWriter(std::string where) EXCLUDES(known_writer_mutex_);

  // The log's position of the last group this ledger holds (kFirstGroupSeq - 1: none).
  uint64_t position() EXCLUDES(mutex_);

 private:
  PartitionWriter(ReplicatedLog* log, Clock* lease_clock, PartitionWriterOptions options);
  std::vector<Outcome> SubmitWith(const std::vector<Command>& commands, bool sync) EXCLUDES(mutex_);
  std::vector<Outcome> SubmitLocked(const std::vector<Command>& commands, bool sync) REQUIRES(mutex_);
  // The replicate hook the ledger calls, under its write mutex. Refused unless called from
  // inside SubmitWith (on its thread, which holds mutex_).
  Result<uint64_t> AppendGroup(const std::vector<std::string>& events);
  // Appends a group's bytes after position_ unless the lease has lapsed; on Refused this
  // server stops writing, on Busy the bytes are kept to settle.
  Result<uint64_t> AppendLocked(std::string bytes) REQUIRES(mutex_);
  Status CatchUpLocked() REQUIRES(mutex_);
  // Appends an unsettled group's bytes again (see "a lost answer" above).
  Status Settle() REQUIRES(mutex_);
  // A group read from the log, or settled as stored: applied here.
  Status ApplyGroup(uint64_t seq, std::string_view bytes) REQUIRES(mutex_);
  std::string NotWriter(const std::string& why) const EXCLUDES(known_writer_mutex_);

  ReplicatedLog* const log_;
  Clock* const lease_clock_;
  const PartitionWriterOptions options_;
  std::unique_ptr<Ledger> ledger_;

  Mutex mutex_;
  // Written under mutex_; read without it by writing().
  std::atomic<bool> leading_{false};
  uint64_t term_ GUARDED_BY(mutex_) = 0;
  std::atomic<int64_t> held_until_ns_{0};
  uint64_t position_ GUARDED_BY(mutex_) = kFirstGroupSeq - 1;
  uint64_t last_term_ GUARDED_BY(mutex_) = 0;  // of the last group seen in the log
  // The thread inside SubmitWith (holding mutex_), the only one AppendGroup serves.
  std::atomic<std::thread::id> submitting_{};
  bool appended_ GUARDED_BY(mutex_) = false;   // by the group of the SubmitLocked under way
  bool oversized_ GUARDED_BY(mutex_) = false;  // that group was too big for the log
  // A group whose append answered Busy: its bytes and the position it was appended after.
  struct Unsettled {
    std::string bytes;
    uint64_t after = 0;
  };
  std::optional<Unsettled> unsettled_ GUARDED_BY(mutex_);
  // Its own mutex: set by the seat's thread while a submit may hold mutex_ for an append.
  mutable Mutex known_writer_mutex_;
  std::string known_writer_ GUARDED_BY(known_writer_mutex_);
};

}  // namespace taskledger
