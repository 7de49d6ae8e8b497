// Partitions' writer leases, stored on NATS JetStream (docs/scale-out.md "Writer lease").
// The rules (when a standby may take over, how long a holder may write) are
// projections/writer_lease.h; this is where the records live and how they are changed.
//
// Each partition's lease is the last message of its own subject in one stream. A change
// is published only if the subject's last sequence is still the revision it was read at
// (compare-and-set, as JetStream KV does). That sequence is the record's revision. The
// store is behind LeaseRecords: JetStream's in Open, a model of it in the simulation
// (tests/sim/partition_failover_sim_test.cc).
//
// Not thread-safe: each server has one WriterLeases and drives it from one thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/clock.h"
#include "projections/status.h"
#include "projections/writer_lease.h"

namespace taskledger {

struct WriterLeaseOptions {
  std::vector<std::string> servers;        // nats://host:port of any servers of the cluster
  std::string stream = "TASKLEDGER_WRITERS";
  std::string subject_prefix = "taskledger.writers";  // partition p's subject is PREFIX.p
  int replicas = 1;                        // 1 or 3
  std::chrono::milliseconds patience{10'000};  // for one call, across a leader election
};

// Where the records live: each partition's last record, changed by compare-and-set on its
// revision.
class LeaseRecords {
 public:
  virtual ~LeaseRecords() = default;
  struct Stored {
    uint64_t revision = 0;  // 0: never written (and `bytes` empty)
    std::string bytes;
  };
  // The partition's last record. Busy if the store did not answer.
  virtual Result<Stored> Last(uint32_t partition) = 0;
  // Stores `bytes` as the partition's record if its revision is still `expected`, and
  // returns the new revision. Refused, with nothing stored, if the revision has moved on
  // (possibly by an earlier try of this very call); Busy: the outcome is unknown.
  virtual Result<uint64_t> Put(uint32_t partition, std::string_view bytes, uint64_t expected) = 0;
};

// A lease held, and what renewing it takes.
struct WriterGrant {
  uint32_t partition = 0;
  WriterLeaseRecord record;
  uint64_t revision = 0;       // the record's revision when it was last written
  int64_t held_until_ns = 0;   // on the holder's clock: stop writing then unless renewed
};

class WriterLeases {
 public:
  // `clock` is monotonic (a MonotonicClock; a ManualClock in tests) and outlives this object.
  static Result<std::unique_ptr<WriterLeases>> Open(const WriterLeaseOptions& options, Clock& clock);
  // Over another store (`records` outlives this object), for the simulation.
  WriterLeases(LeaseRecords* records, Clock& clock);
  ~WriterLeases();
  WriterLeases(const WriterLeases&) = delete;
  WriterLeases& operator=(const WriterLeases&) = delete;

  // Takes the lease of `partition` for `holder`, for `ttl_ns` (1 ms to a day, whole ms).
  // It succeeds if the lease was never held or was released. It also succeeds once this
  // object has seen the same record stand for its ttl: each call is one more look, so a
  // standby calls it again as time passes. A holder that restarts waits like anyone else,
  // in case its old self is only paused.
  //
  // Busy while the lease is held, naming the holder, its term and when it lapses unless
  // renewed. Busy also when another standby took it first.
  Result<WriterGrant> TryAcquire(uint32_t partition, const std::string& holder, int64_t ttl_ns);

  // Renews a held lease: the new grant holds until the ttl from now, less a tenth, or from
  // an earlier renewal that answered Busy, which may have landed (RenewalStartNs). Refused
  // if another server has taken the lease since: the holder must stop writing. Busy: the
  // outcome is unknown; the grant given holds until its held_until_ns, and a later Renew
  // of it resolves.
  Result<WriterGrant> Renew(const WriterGrant& grant);

  // Gives the lease up, so that a standby may take over without waiting out the ttl.
  // Refused as Renew is.
  Status Release(const WriterGrant& grant);

  // The partition's record as TryAcquire, or a refused Renew or Release, last read it
  // (who writes it, as far as this server knows); nullopt before any look. For the directory a standby answers with.
  std::optional<WriterLeaseRecord> LastSeen(uint32_t partition) const;

 private:
  struct Reading {
    uint64_t revision = 0;  // 0: never written
    WriterLeaseRecord record;
  };
  WriterLeases(std::unique_ptr<LeaseRecords> owned, Clock& clock);
  Result<Reading> Read(uint32_t partition);
  // Writes `record` if the partition's revision is still `revision`. Returns the new
  // revision, or Refused if the record moved on. A lost acknowledgement is resolved by
  // reading the record back.
  Result<uint64_t> Write(uint32_t partition, const WriterLeaseRecord& record, uint64_t revision);
  Result<WriterGrant> Rewrite(const WriterGrant& grant, const WriterLeaseRecord& record);

  std::unique_ptr<LeaseRecords> owned_;  // JetStream's, when opened on it
  LeaseRecords* const records_;
  Clock& clock_;
  std::map<uint32_t, LeaseWatch> watches_;
  std::map<uint32_t, WriterLeaseRecord> last_seen_;
  // Per partition held: when the earliest renewal whose answer was lost was asked.
  std::map<uint32_t, int64_t> unanswered_since_;
};

}  // namespace taskledger
