#include "ledger/partition_seat.h"

#include <algorithm>
#include <utility>

namespace taskledger {

PartitionSeat::PartitionSeat(WriterLeases* leases, PartitionWriter* writer, Clock* lease_clock, uint32_t partition,
                             std::string name, int64_t ttl_ns)
    : leases_(leases),
      writer_(writer),
      lease_clock_(lease_clock),
      partition_(partition),
      name_(std::move(name)),
      ttl_ns_(ttl_ns) {}

Result<int64_t> PartitionSeat::Step() {
  TL_RETURN_IF_ERROR(grant_ ? RenewHeld() : Acquire());
  // A standby looks again every tenth of the ttl (it takes over after watching the record
  // stand for the ttl); a holder renews at half its lease.
  const int64_t next_ns = lease_clock_->NowNs() + std::max<int64_t>(ttl_ns_ / 10, 1);
  return grant_ ? std::max(next_ns, RenewAtNs()) : next_ns;
}

Status PartitionSeat::Acquire() {
  Result<WriterGrant> grant = leases_->TryAcquire(partition_, name_, ttl_ns_);
  if (grant.status().IsBusy()) {
    // Another server writes (or may): follow it.
    return writer_->CatchUp();
  }
  if (!grant.ok()) return grant.status();
  grant_ = *grant;
  const Status led = writer_->Lead(grant_->record.term, grant_->held_until_ns);
  if (!led.ok()) {
    // Holding a lease it cannot write under (a damaged log, the cluster gone while it
    // caught up) would keep every other server out: give it back.
    (void)Release();
    return led;
  }
  return Status::Ok();
}

Status PartitionSeat::RenewHeld() {
  if (lease_clock_->NowNs() < RenewAtNs()) return Status::Ok();
  Result<WriterGrant> renewed = leases_->Renew(*grant_);
  if (renewed.status().IsRefused()) {
    // Another server has taken the partition: stop, and follow it from now on.
    writer_->StepDown();
    grant_.reset();
    return writer_->CatchUp();
  }
  // Busy: unknown; the grant held stands until its end, and the next step asks again.
  if (!renewed.ok()) return renewed.status();
  grant_ = *renewed;
  // A writer that found its lease lapsed (a late renewal) has stopped; the renewal proves
  // nobody took over since, but only a Lead (which catches up first) resumes it.
  if (writer_->writing()) {
    writer_->Hold(grant_->held_until_ns);
    return Status::Ok();
  }
  const Status led = writer_->Lead(grant_->record.term, grant_->held_until_ns);
  if (!led.ok() && !led.IsBusy()) {
    // A lease it cannot write under (a damaged log, a stale grant) would keep every other
    // server out: give it back. Busy (the log unreachable) is tried again next step.
    (void)Release();
  }
  return led;
}

int64_t PartitionSeat::RenewAtNs() const {
  // Half way through the lease held (HeldUntilNs keeps back a tenth of the ttl).
  return grant_->held_until_ns - (ttl_ns_ - ttl_ns_ / 10) / 2;
}

Status PartitionSeat::Release() {
  writer_->StepDown();
  if (!grant_) return Status::Ok();
  const WriterGrant grant = *grant_;
  grant_.reset();
  return leases_->Release(grant);
}

}  // namespace taskledger
