#include "projections/writer_lease.h"

#include <nlohmann/json.hpp>

namespace taskledger {

std::string EncodeWriterLease(const WriterLeaseRecord& record) {
  nlohmann::json out;
  out["holder"] = record.holder;
  out["term"] = record.term;
  out["ttl_ms"] = record.ttl_ns / 1'000'000;
  return out.dump();
}

Result<WriterLeaseRecord> DecodeWriterLease(std::string_view bytes) {
  const nlohmann::json in = nlohmann::json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  const auto bad = [&](const std::string& what) {
    return Status::DataLoss("writer lease record " + std::string(bytes.substr(0, 80)) + ": " + what);
  };
  if (!in.is_object()) return bad("not a JSON object");
  if (!in.contains("holder") || !in["holder"].is_string()) return bad("no holder");
  if (!in.contains("term") || !in["term"].is_number_unsigned()) return bad("no term");
  if (!in.contains("ttl_ms") || !in["ttl_ms"].is_number_unsigned() || in["ttl_ms"].get<uint64_t>() == 0 ||
      in["ttl_ms"].get<uint64_t>() > 86'400'000) {
    return bad("no ttl_ms between 1 ms and a day");
  }
  WriterLeaseRecord record;
  record.holder = in["holder"].get<std::string>();
  record.term = in["term"].get<uint64_t>();
  record.ttl_ns = in["ttl_ms"].get<int64_t>() * 1'000'000;
  return record;
}

void LeaseWatch::Observe(uint64_t revision, const WriterLeaseRecord& record, int64_t now_ns) {
  if (seen_ && revision == revision_) return;  // the same record: its time keeps running
  seen_ = true;
  revision_ = revision;
  seen_since_ns_ = now_ns;
  record_ = record;
}

bool LeaseWatch::Lapsed(int64_t now_ns) const {
  if (!seen_) return false;
  return record_.holder.empty() || now_ns >= LapsesAtNs();
}

int64_t LeaseWatch::LapsesAtNs() const { return seen_ ? seen_since_ns_ + record_.ttl_ns : 0; }

TakeoverDecision DecideTakeover(LeaseWatch& watch, uint64_t revision, const WriterLeaseRecord& current,
                                const std::string& me, int64_t ttl_ns, int64_t now_ns) {
  TakeoverDecision decision;
  decision.record = WriterLeaseRecord{me, 1, ttl_ns};
  decision.expected_revision = revision;
  if (revision != 0) {
    watch.Observe(revision, current, now_ns);
    decision.record.term = current.term + 1;
    decision.lapses_at_ns = watch.LapsesAtNs();
  }
  decision.take = revision == 0 || watch.Lapsed(now_ns);
  return decision;
}

}  // namespace taskledger
