#include "tools/server/cluster_member.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace taskledger::server {

Result<std::unique_ptr<ClusterMember>> ClusterMember::Open(const ClusterConfig& config, const std::string& db_path,
                                                           bool sync, Clock* ledger_clock) {
  std::unique_ptr<ClusterMember> member(new ClusterMember(config));
  constexpr uint32_t kPartition = 0;  // one partition (ClusterConfig)

  JetStreamLogOptions log_options;
  log_options.servers = config.nats;
  log_options.replicas = config.replicas;
  log_options.stream = config.LogStream(kPartition);
  log_options.subject = config.LogSubject(kPartition);
  Result<std::unique_ptr<JetStreamLog>> log = JetStreamLog::Open(log_options);
  if (!log.ok()) return log.status();
  member->log_ = std::move(*log);

  WriterLeaseOptions lease_options;
  lease_options.servers = config.nats;
  lease_options.replicas = config.replicas;
  lease_options.stream = config.LeaseStream();
  lease_options.subject_prefix = config.LeaseSubjectPrefix();
  Result<std::unique_ptr<WriterLeases>> leases = WriterLeases::Open(lease_options, member->lease_clock_);
  if (!leases.ok()) return leases.status();
  member->leases_ = std::move(*leases);

  LedgerOptions local;
  local.path = db_path;
  local.sync = sync;
  Result<std::unique_ptr<PartitionWriter>> writer = PartitionWriter::Open(
      local, ledger_clock, member->log_.get(), &member->lease_clock_, PartitionWriterOptions{kPartition, config.name});
  if (!writer.ok()) return writer.status();
  member->writer_ = std::move(*writer);
  member->seat_ = std::make_unique<PartitionSeat>(member->leases_.get(), member->writer_.get(),
                                                  &member->lease_clock_, kPartition, config.name, config.lease_ttl_ns);
  return member;
}

ClusterMember::~ClusterMember() { Stop(); }

void ClusterMember::Start() {
  if (stepper_.joinable()) return;
  stepper_ = std::thread([this] { StepLoop(); });
}

void ClusterMember::Stop() {
  {
    std::lock_guard<std::mutex> lock(stop_mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  stop_signal_.notify_all();
  if (stepper_.joinable()) stepper_.join();
  if (seat_ != nullptr && seat_->holding()) {
    const Status released = seat_->Release();
    if (released.ok()) {
      spdlog::info("partition 0: writer lease released");
    } else {
      spdlog::warn("partition 0: the writer lease could not be released ({}); a standby takes over when it lapses",
                   released.message());
    }
  }
}

void ClusterMember::StepLoop() {
  std::unique_lock<std::mutex> lock(stop_mutex_);
  while (!stopping_) {
    lock.unlock();
    const Result<int64_t> step = seat_->Step();
    // A failed step is tried again within a tenth of the ttl (PartitionSeat::Step).
    const int64_t next_ns = step.ok() ? *step : lease_clock_.NowNs() + config_.lease_ttl_ns / 10;
    Report(step);
    lock.lock();
    const int64_t wait_ns = std::max<int64_t>(next_ns - lease_clock_.NowNs(), 0);
    stop_signal_.wait_for(lock, std::chrono::nanoseconds(wait_ns), [this] { return stopping_; });
  }
}

std::string ClusterMember::WriterAddress() {
  std::lock_guard<std::mutex> lock(writer_address_mutex_);
  return writer_address_;
}

void ClusterMember::Report(const Result<int64_t>& step) {
  std::string now;
  std::string writer_address;
  if (!step.ok()) {
    now = "partition 0: a step of its seat failed: " + step.status().message();
  } else if (seat_->holding()) {
    writer_->SetKnownWriter("");
    now = "partition 0: writing (term " + std::to_string(seat_->grant()->record.term) + ")";
  } else {
    const std::optional<WriterLeaseRecord> seen = leases_->LastSeen(0);
    std::string writer;
    if (seen && !seen->holder.empty() && seen->holder != config_.name) {
      auto address = config_.servers.find(seen->holder);
      writer = "its writer is " + seen->holder +
               (address != config_.servers.end() ? " at " + address->second : " (not in this server's config)");
      if (address != config_.servers.end()) writer_address = address->second;
    }
    writer_->SetKnownWriter(writer);
    now = "partition 0: standing by" + (writer.empty() ? std::string() : "; " + writer);
  }
  if (step.ok()) {
    std::lock_guard<std::mutex> lock(writer_address_mutex_);
    writer_address_ = writer_address;
  }
  if (now == reported_) return;
  reported_ = now;
  if (step.ok()) {
    spdlog::info("{}", now);
  } else {
    spdlog::warn("{}", now);
  }
}

}  // namespace taskledger::server
