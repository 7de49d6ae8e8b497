// PartitionSeat: one server's seat at one partition (docs/scale-out.md "Who writes"). It
// drives the writer lease (ledger/writer_lease.h) and the partition writer
// (ledger/partition_writer.h) together: it takes the lease when it may and leads, renews
// it in time while leading, steps down when it is lost, and while another server writes
// it stands by, following the log, so that a takeover has little to catch up.
//
// The server calls Step on one thread per seat, again at the time Step returns (a standby
// every tenth of the ttl, a holder at half its lease), or within a tenth of the ttl after
// a step that failed. A seat not stepped (its thread frozen) stops writing by itself when
// its lease ends (PartitionWriter checks it before every append).
//
// Not thread-safe: one thread steps a seat. The writer it drives is thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "ledger/clock.h"
#include "ledger/partition_writer.h"
#include "ledger/writer_lease.h"

namespace taskledger {

class PartitionSeat {
 public:
  // `leases`, `writer` and `lease_clock` (monotonic; the one `leases` uses) outlive the seat.
  PartitionSeat(WriterLeases* leases, PartitionWriter* writer, Clock* lease_clock, uint32_t partition,
                std::string name, int64_t ttl_ns);

  // One step: takes the lease if it may (and leads, caught up), renews it once half of it
  // has passed, or follows the log as a standby. Returns when to step next, on the lease
  // clock. An error (the cluster unreachable, a damaged log) is returned after the seat
  // has done what it safely could: the caller logs it and steps again within a tenth of
  // the ttl.
  Result<int64_t> Step();

  // Whether this seat holds the lease (as far as it knows; its writer checks the time).
  bool holding() const { return grant_.has_value(); }
  const std::optional<WriterGrant>& grant() const { return grant_; }

  // Stops writing and gives the lease up, so that a standby takes over without waiting
  // out the ttl: for a clean stop.
  Status Release();

 private:
  Status Acquire();
  Status RenewHeld();
  // When the lease held is due for renewal. REQUIRES: grant_.
  int64_t RenewAtNs() const;

  WriterLeases* const leases_;
  PartitionWriter* const writer_;
  Clock* const lease_clock_;
  const uint32_t partition_;
  const std::string name_;
  const int64_t ttl_ns_;
  std::optional<WriterGrant> grant_;
};

}  // namespace taskledger
