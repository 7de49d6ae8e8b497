// NATS servers with JetStream on loopback for the cluster tests: one alone, or three in
// a cluster. Each runs in its own directory of the test's temp dir, and all are killed
// when the NatsCluster goes. Not thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace taskledger::test {

// The nats-server the tests run: $TASKLEDGER_NATS_SERVER if set (to try another version),
// else the one CMake found (scripts/install-nats-server.sh installs it).
std::string NatsServerBinary();

class NatsCluster {
 public:
  // Starts `size` servers (1, or 3 clustered), waits until each accepts connections and
  // then until JetStream's meta group has formed (a leader that sees every other server).
  // A cluster with a server that does not start, or that does not form in 20 s, is
  // started again on new ports, up to 3 times.
  // Stream leaders may still be electing after that: clients retry (JetStreamLogOptions
  // ::patience). A server that does not start is a test failure.
  NatsCluster(const std::string& root, int size);
  ~NatsCluster();

  int size() const { return static_cast<int>(nodes_.size()); }
  // nats://127.0.0.1:port of server i.
  std::string Url(int i) const;
  std::vector<std::string> Urls() const;
  // The name server i has in the cluster (what a stream names as its leader).
  std::string Name(int i) const;
  // The index of the server named `name`; -1 if none is.
  int IndexOf(const std::string& name) const;

  // kill -9, and reaped.
  void Kill(int i);
  // Starts server i again on its ports and directory, and waits until it accepts
  // connections and the meta group has formed again.
  void Restart(int i);

 private:
  struct Node {
    std::string name, dir;
    int port = 0, cluster_port = 0, monitor_port = 0;
    int starts = 0;
    std::unique_ptr<Background> process;
  };
  // Starts server i and waits until it is ready: "" then, else why not.
  std::string TryStart(int i);
  bool MetaGroupFormed() const;
  // Each server's view of the meta group, for a failure's message.
  std::string MetaGroupState() const;
  std::vector<Node> nodes_;
};

}  // namespace taskledger::test
