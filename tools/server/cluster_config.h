// What `serve --cluster CONFIG` reads: this server's place in a cluster of taskledger
// servers writing one partition's log on NATS JetStream (docs/scale-out.md "Running a
// cluster"). One JSON object:
//
//   {"name": "n1",                                   this server, as the writer lease names it
//    "nats": ["nats://127.0.0.1:4222", ...],         any servers of the NATS cluster
//    "replicas": 3,                                  the streams' replicas: 1 or 3 (default 3)
//    "partitions": 1,                                only 1 for now (see below)
//    "lease_ttl": "2s",                              the writer lease (default 2s; 100ms to 1m)
//    "prefix": "TASKLEDGER",                         names of the streams (default TASKLEDGER)
//    "servers": {"n1": "tcp:127.0.0.1:7401", ...}}   every server's RPC address: the directory
//
// Partitioning by key (P > 1) needs routing and cross-partition refusals the server does
// not do yet: more than one partition is refused, not silently served as one.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "projections/status.h"

namespace taskledger::server {

struct ClusterConfig {
  std::string name;
  std::vector<std::string> nats;
  int replicas = 3;
  uint32_t partitions = 1;
  int64_t lease_ttl_ns = 2'000'000'000;
  std::string prefix = "TASKLEDGER";
  std::map<std::string, std::string> servers;  // name -> RPC address (unix:PATH or tcp:HOST:PORT)

  // The names derived from the prefix: partition p's stream and subject, the leases'.
  std::string LogStream(uint32_t partition) const;
  std::string LogSubject(uint32_t partition) const;
  std::string LeaseStream() const;
  std::string LeaseSubjectPrefix() const;
};

// InvalidArgument naming the field and what is wrong (unknown fields too: a typo must not
// pass for a default).
Result<ClusterConfig> ParseClusterConfig(std::string_view json);
// The file at `path`, parsed; NotFound or InvalidArgument naming the file.
Result<ClusterConfig> LoadClusterConfig(const std::string& path);

}  // namespace taskledger::server
