// What the NATS-backed parts of the ledger share (ledger/jetstream_log.h,
// ledger/writer_lease.h): one connection with its JetStream context, the retry policy for
// calls across a leader election, and readable errors. Internal to ledger/.
#pragma once

#include <nats/nats.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "projections/status.h"

namespace taskledger::nats {

// A connection to any of `servers` and its JetStream context; closed when it goes.
struct Connection {
  natsOptions* options = nullptr;
  natsConnection* connection = nullptr;
  jsCtx* js = nullptr;

  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();
};

// Connects, trying for up to `patience`. It reconnects by itself afterwards (to any server
// of the list), so a lost server costs a call one failover, not the connection. Busy if no
// server answered in time.
Result<std::unique_ptr<Connection>> Connect(const std::vector<std::string>& servers, std::chrono::milliseconds patience);

// Connect, for a client of streams with `replicas` copies: InvalidArgument unless 1 or 3
// (3: a majority of 3 servers holds each write; 2 would stop at the loss of either).
Result<std::unique_ptr<Connection>> ConnectForReplicas(const std::vector<std::string>& servers, int replicas,
                                                       std::chrono::milliseconds patience);

// What every taskledger stream is: `name`, file storage, one subject (or subject pattern)
// at *subject, `replicas` copies. The strings must outlive the configuration.
jsStreamConfig FileStreamConfig(const std::string& name, const char** subject, int replicas);

// Creates the stream `config` describes, or finds it with the same configuration (then
// nothing changes). InvalidArgument if it exists configured otherwise; Busy if the cluster
// did not answer within the patience.
Status AddStream(Connection& nats, jsStreamConfig& config, std::chrono::milliseconds patience);

// The library's status, its last error's text and the JetStream error code if there is one.
std::string ErrorText(natsStatus s, jsErrCode js_error = static_cast<jsErrCode>(0));

// Failures no retry can mend. Everything else (timeouts, no responders while a leader is
// elected, a connection being re-established) is retried until the patience runs out.
bool Final(natsStatus s, jsErrCode js_error = static_cast<jsErrCode>(0));

// Retries of one call until its patience is spent. Waits between tries grow from 5 ms to
// 200 ms: a leader election takes seconds, and busier retries would only load the servers
// electing it.
class Patience {
 public:
  explicit Patience(std::chrono::milliseconds patience);
  // How long a single request may wait: what is left, between 100 ms and 2 s.
  int64_t RequestWaitMs() const;
  // jsOptions for one request.
  jsOptions RequestOptions() const;
  // Sleeps before the next try; false if there is no time for one.
  bool Again();

 private:
  std::chrono::steady_clock::time_point deadline_;
  std::chrono::milliseconds wait_{5};
};

}  // namespace taskledger::nats
