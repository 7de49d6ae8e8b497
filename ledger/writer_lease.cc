#include "ledger/writer_lease.h"

#include <utility>

#include "ledger/nats_client.h"

namespace taskledger {

using nats::ErrorText;
using nats::Final;
using nats::Patience;

namespace {
constexpr int64_t kMs = 1'000'000;
constexpr int64_t kDay = 86'400'000 * kMs;

// The records on JetStream: the last message of subject PREFIX.p of one stream; a Put is
// published with the expected last subject sequence.
class JetStreamLeaseRecords final : public LeaseRecords {
 public:
  JetStreamLeaseRecords(WriterLeaseOptions options, std::unique_ptr<nats::Connection> nats)
      : options_(std::move(options)), nats_(std::move(nats)) {}

  Result<Stored> Last(uint32_t partition) override {
    const std::string subject = Subject(partition);
    Patience patience(options_.patience);
    for (;;) {
      jsOptions call = patience.RequestOptions();
      natsMsg* message = nullptr;
      jsErrCode js_error = static_cast<jsErrCode>(0);
      natsStatus s = js_GetLastMsg(&message, nats_->js, options_.stream.c_str(), subject.c_str(), &call, &js_error);
      if (s == NATS_OK) {
        Stored stored;
        stored.revision = natsMsg_GetSequence(message);
        stored.bytes.assign(natsMsg_GetData(message), static_cast<size_t>(natsMsg_GetDataLength(message)));
        natsMsg_Destroy(message);
        return stored;
      }
      if (js_error == JSNoMessageFoundErr) return Stored{};
      if (Final(s, js_error) || !patience.Again()) {
        return Status::Busy("cannot read the writer lease of partition " + std::to_string(partition) + ": " +
                            ErrorText(s, js_error));
      }
    }
  }

  Result<uint64_t> Put(uint32_t partition, std::string_view bytes, uint64_t expected) override {
    const std::string subject = Subject(partition);
    const std::string expected_text = std::to_string(expected);
    jsPubOptions publish;
    jsPubOptions_Init(&publish);
    Patience patience(options_.patience);
    for (;;) {
      publish.MaxWait = patience.RequestWaitMs();
      natsMsg* message = nullptr;
      natsStatus s = natsMsg_Create(&message, subject.c_str(), nullptr, bytes.data(), static_cast<int>(bytes.size()));
      // Set as a header, for every revision alike (0 means "never written").
      if (s == NATS_OK) s = natsMsgHeader_Set(message, "Nats-Expected-Last-Subject-Sequence", expected_text.c_str());
      jsPubAck* ack = nullptr;
      jsErrCode js_error = static_cast<jsErrCode>(0);
      if (s == NATS_OK) s = js_PublishMsg(&ack, nats_->js, message, &publish, &js_error);
      natsMsg_Destroy(message);
      if (s == NATS_OK) {
        const uint64_t written = ack->Sequence;
        jsPubAck_Destroy(ack);
        return written;
      }
      if (js_error == JSStreamWrongLastSequenceErr) {
        return Status::Refused("the writer lease of partition " + std::to_string(partition) + " has moved on");
      }
      if (Final(s, js_error) || !patience.Again()) {
        return Status::Busy("writer lease of partition " + std::to_string(partition) + ": outcome unknown: " +
                            ErrorText(s, js_error));
      }
    }
  }

 private:
  std::string Subject(uint32_t partition) const { return options_.subject_prefix + "." + std::to_string(partition); }

  const WriterLeaseOptions options_;
  std::unique_ptr<nats::Connection> nats_;
};

}  // namespace

WriterLeases::WriterLeases(LeaseRecords* records, Clock& clock) : records_(records), clock_(clock) {}

WriterLeases::WriterLeases(std::unique_ptr<LeaseRecords> owned, Clock& clock)
    : owned_(std::move(owned)), records_(owned_.get()), clock_(clock) {}

WriterLeases::~WriterLeases() = default;

Result<std::unique_ptr<WriterLeases>> WriterLeases::Open(const WriterLeaseOptions& options, Clock& clock) {
  if (options.stream.empty() || options.subject_prefix.empty()) {
    return Status::InvalidArgument("writer leases need a stream name and a subject prefix");
  }
  Result<std::unique_ptr<nats::Connection>> nats =
      nats::ConnectForReplicas(options.servers, options.replicas, options.patience);
  if (!nats.ok()) return nats.status();

  const std::string subjects = options.subject_prefix + ".*";
  const char* subject[] = {subjects.c_str()};
  jsStreamConfig config = nats::FileStreamConfig(options.stream, subject, options.replicas);
  // The last few records of each partition stay, for `who held it when`; older ones go.
  config.MaxMsgsPerSubject = 16;
  TL_RETURN_IF_ERROR(nats::AddStream(**nats, config, options.patience));
  return std::unique_ptr<WriterLeases>(
      new WriterLeases(std::make_unique<JetStreamLeaseRecords>(options, std::move(nats).value()), clock));
}

Result<WriterLeases::Reading> WriterLeases::Read(uint32_t partition) {
  Result<LeaseRecords::Stored> stored = records_->Last(partition);
  if (!stored.ok()) return stored.status();
  Reading reading;
  if (stored->revision == 0) return reading;
  reading.revision = stored->revision;
  Result<WriterLeaseRecord> record = DecodeWriterLease(stored->bytes);
  if (!record.ok()) return record.status().Prefixed("partition " + std::to_string(partition) + ": ");
  reading.record = std::move(record).value();
  return reading;
}

Result<uint64_t> WriterLeases::Write(uint32_t partition, const WriterLeaseRecord& record, uint64_t revision) {
  Result<uint64_t> written = records_->Put(partition, EncodeWriterLease(record), revision);
  if (!written.status().IsRefused()) return written;
  // The record moved on: by this write's earlier try (its record is there, newer), or by
  // another server's.
  Result<Reading> now = Read(partition);
  if (!now.ok()) return now.status();
  if (WriteLanded(revision, record, now->revision, now->record)) return now->revision;
  last_seen_[partition] = now->record;
  return Status::Refused("the writer lease of partition " + std::to_string(partition) + " is now " +
                         (now->record.holder.empty() ? std::string("released") : "held by " + now->record.holder) +
                         " (term " + std::to_string(now->record.term) + ")");
}

std::optional<WriterLeaseRecord> WriterLeases::LastSeen(uint32_t partition) const {
  auto seen = last_seen_.find(partition);
  if (seen == last_seen_.end()) return std::nullopt;
  return seen->second;
}

Result<WriterGrant> WriterLeases::TryAcquire(uint32_t partition, const std::string& holder, int64_t ttl_ns) {
  if (holder.empty()) return Status::InvalidArgument("a writer lease needs a holder's name");
  if (ttl_ns < kMs || ttl_ns > kDay || ttl_ns % kMs != 0) {
    return Status::InvalidArgument("a writer lease's ttl is a whole number of ms from 1 ms to a day");
  }
  Result<Reading> reading = Read(partition);
  if (!reading.ok()) return reading.status();
  // Timed when the answer is in hand, not when the question was sent: the record it shows
  // was written by then, and a read that took long (an election) must not date a fresh
  // renewal from before it was asked.
  const int64_t looked_at = clock_.NowNs();
  last_seen_[partition] = reading->record;
  const TakeoverDecision decision =
      DecideTakeover(watches_[partition], reading->revision, reading->record, holder, ttl_ns, looked_at);
  if (!decision.take) {
    return Status::Busy("partition " + std::to_string(partition) + " is held by " + reading->record.holder +
                        " (term " + std::to_string(reading->record.term) + "); it lapses in " +
                        std::to_string((decision.lapses_at_ns - looked_at + kMs - 1) / kMs) + " ms unless renewed");
  }
  WriterGrant grant;
  grant.partition = partition;
  grant.record = decision.record;
  const int64_t asked = clock_.NowNs();
  Result<uint64_t> revision = Write(partition, grant.record, decision.expected_revision);
  if (revision.status().IsRefused()) {
    return Status::Busy("partition " + std::to_string(partition) + " was taken first: " + revision.status().message());
  }
  if (!revision.ok()) return revision.status();
  grant.revision = *revision;
  grant.held_until_ns = HeldUntilNs(asked, ttl_ns);
  watches_.erase(partition);
  unanswered_since_.erase(partition);
  return grant;
}

Result<WriterGrant> WriterLeases::Rewrite(const WriterGrant& grant, const WriterLeaseRecord& record) {
  const int64_t asked = clock_.NowNs();
  const auto unanswered = unanswered_since_.find(grant.partition);
  const std::optional<int64_t> earliest_unanswered =
      unanswered == unanswered_since_.end() ? std::nullopt : std::optional<int64_t>(unanswered->second);
  Result<uint64_t> revision = Write(grant.partition, record, grant.revision);
  if (revision.status().code() == Code::kBusy) {
    unanswered_since_.emplace(grant.partition, asked);  // keeps an earlier one
    return revision.status();
  }
  unanswered_since_.erase(grant.partition);
  if (revision.status().IsRefused()) {
    return Status::Refused("lost the writer lease of partition " + std::to_string(grant.partition) + " (term " +
                           std::to_string(grant.record.term) + "): " + revision.status().message());
  }
  if (!revision.ok()) return revision.status();
  WriterGrant renewed = grant;
  renewed.record = record;
  renewed.revision = *revision;
  renewed.held_until_ns = HeldUntilNs(RenewalStartNs(asked, earliest_unanswered), record.ttl_ns);
  return renewed;
}

Result<WriterGrant> WriterLeases::Renew(const WriterGrant& grant) { return Rewrite(grant, grant.record); }

Status WriterLeases::Release(const WriterGrant& grant) {
  WriterLeaseRecord released = grant.record;
  released.holder.clear();
  return Rewrite(grant, released).status();
}

}  // namespace taskledger
