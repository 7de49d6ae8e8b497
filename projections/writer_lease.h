// The rules of a partition's writer lease (docs/scale-out.md "Writer lease"), apart from
// where the lease is stored (ledger/writer_lease.h keeps it on a JetStream stream, as
// JetStream KV would).
//
// The lease is one record per partition in a store with compare-and-set by revision:
// whoever wrote the record last holds the partition. Nobody compares clocks across
// machines. A standby measures how long it has seen the same revision, on its own
// monotonic clock, and may take over only once that has lasted the record's ttl. The
// holder measures its lease from when it asked for the renewal, which is before the record
// was written, so the holder's lease ends before any standby can see it lapse. Clock rates
// may differ a little between machines, so the holder also gives up a tenth of the ttl.
//
// The lease decides who may try to write. Safety does not rest on it: every append to the
// partition's log is conditional on the log's last sequence (ledger/jetstream_log.h), so a
// writer that still believes in a lapsed lease is refused by the log itself.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "projections/status.h"

namespace taskledger {

struct WriterLeaseRecord {
  std::string holder;  // the writing server's name; empty once released
  uint64_t term = 0;   // one more at every change of holder: names a writer's reign
  int64_t ttl_ns = 0;  // how long the record may stand unrenewed before a standby takes over

  bool operator==(const WriterLeaseRecord&) const = default;
};

// The stored form: one line of JSON, {"holder":"n1","term":3,"ttl_ms":2000}.
std::string EncodeWriterLease(const WriterLeaseRecord& record);
// DataLoss naming what is wrong if `bytes` is not a record EncodeWriterLease could write.
Result<WriterLeaseRecord> DecodeWriterLease(std::string_view bytes);

// Until when (on the holder's monotonic clock) a lease renewed by a request sent at
// `asked_ns` is held: the ttl from the request, less a tenth for clock rates.
inline int64_t HeldUntilNs(int64_t asked_ns, int64_t ttl_ns) { return asked_ns + ttl_ns - ttl_ns / 10; }

// When a renewal's lease starts: when it was asked, unless an earlier renewal's answer was
// lost. The record this renewal finds may then be that earlier one's (WriteLanded), and
// standbys have been watching it since it was written, so the lease counts from the
// earliest unanswered request. (The failover simulation found this.)
inline int64_t RenewalStartNs(int64_t asked_ns, std::optional<int64_t> earliest_unanswered_ns) {
  return earliest_unanswered_ns ? std::min(asked_ns, *earliest_unanswered_ns) : asked_ns;
}

// A standby's watch of one partition's record. Feed it every reading of the record; it
// says when the holder has let the lease lapse.
class LeaseWatch {
 public:
  // The record read at `now_ns` (this standby's monotonic clock) has `revision`.
  void Observe(uint64_t revision, const WriterLeaseRecord& record, int64_t now_ns);
  // Whether a standby may take over at `now_ns`: the record is released, or the same
  // revision has been seen for at least its ttl. False before any observation.
  bool Lapsed(int64_t now_ns) const;
  // When Lapsed will become true if nothing changes (0 before any observation).
  int64_t LapsesAtNs() const;

 private:
  bool seen_ = false;
  uint64_t revision_ = 0;
  int64_t seen_since_ns_ = 0;
  WriterLeaseRecord record_;
};

// What a server that wants partition p's lease does after reading its record: write
// `record` if the revision is still `expected_revision` (take), or wait (not take).
struct TakeoverDecision {
  bool take = false;
  WriterLeaseRecord record;       // to write: the wanting server, the next term, its ttl
  uint64_t expected_revision = 0;
  int64_t lapses_at_ns = 0;       // when not taking: when it may, unless the record changes
};

// Decides from a reading at `now_ns`: `revision` 0 means never written (take, term 1);
// else the watch sees the reading, and the lease is taken once it has lapsed (the next
// term). A server whose own name is in the record waits like anyone else: its old self
// may only be paused.
TakeoverDecision DecideTakeover(LeaseWatch& watch, uint64_t revision, const WriterLeaseRecord& current,
                                const std::string& me, int64_t ttl_ns, int64_t now_ns);

// Whether a conditional write of `wrote` (expected `expected_revision`) whose answer was
// lost, or was "the revision moved", was stored after all, judged by a later reading: only
// that write puts this record at a newer revision, since a term has one holder.
inline bool WriteLanded(uint64_t expected_revision, const WriterLeaseRecord& wrote, uint64_t revision_now,
                        const WriterLeaseRecord& now) {
  return revision_now > expected_revision && now == wrote;
}

}  // namespace taskledger
