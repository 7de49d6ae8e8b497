// ClusterMember: this server's part in a cluster (`serve --cluster CONFIG`,
// docs/scale-out.md "Running a cluster"). It opens the partition's log on JetStream, the
// writer leases, the partition writer over the local ledger (`--db`, a view of the log),
// and the partition's seat, which a thread of its own steps: the server writes while its
// seat holds the lease, and stands by, following the log, while another server does.
// A standby answers commands Busy, naming the writer and its address from the config's
// directory; reads are served from its local view, as of its last catch-up.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "ledger/clock.h"
#include "ledger/jetstream_log.h"
#include "ledger/partition_seat.h"
#include "ledger/partition_writer.h"
#include "ledger/writer_lease.h"
#include "tools/server/cluster_config.h"

namespace taskledger::server {

class ClusterMember {
 public:
  // Connects to NATS (Busy if it does not answer within the patience), opens or creates
  // the streams, and opens the local ledger at `db_path` caught up with the log. Nothing
  // steps until Start. `ledger_clock` (wall) outlives the member.
  static Result<std::unique_ptr<ClusterMember>> Open(const ClusterConfig& config, const std::string& db_path,
                                                     bool sync, Clock* ledger_clock);
  ~ClusterMember();  // Stop()
  ClusterMember(const ClusterMember&) = delete;
  ClusterMember& operator=(const ClusterMember&) = delete;

  PartitionWriter& writer() { return *writer_; }
  // The RPC address of the partition's writer as this server last saw it, from the
  // config's directory; empty if unknown, or if it is this server. Thread-safe.
  std::string WriterAddress();

  // Starts stepping the seat on its own thread.
  void Start();
  // Stops stepping, and gives the lease up if held (so that a standby takes over without
  // waiting out the ttl). Call once nothing is submitted any more.
  void Stop();

 private:
  ClusterMember(ClusterConfig config) : config_(std::move(config)) {}
  void StepLoop();
  // Logs what changed since the last step: writing, standing by (and who writes), failing.
  void Report(const Result<int64_t>& step);

  const ClusterConfig config_;
  MonotonicClock lease_clock_;
  std::unique_ptr<JetStreamLog> log_;
  std::unique_ptr<WriterLeases> leases_;
  std::unique_ptr<PartitionWriter> writer_;
  std::unique_ptr<PartitionSeat> seat_;

  std::mutex stop_mutex_;
  std::condition_variable stop_signal_;
  bool stopping_ = false;  // under stop_mutex_
  std::thread stepper_;

  std::mutex writer_address_mutex_;
  std::string writer_address_;  // under writer_address_mutex_

  // The stepping thread's own: what was last reported.
  std::string reported_;
};

}  // namespace taskledger::server
