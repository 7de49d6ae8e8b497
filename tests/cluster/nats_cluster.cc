#include "tests/cluster/nats_cluster.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

namespace taskledger::test {
namespace {

// `count` distinct loopback ports nothing listens on now (the kernel's picks, all held
// until the last is picked, so that none repeats). Another process could take one before
// a server binds it; that server then fails to start, which the test reports.
std::vector<int> FreePorts(int count) {
  std::vector<int> fds, ports;
  for (int i = 0; i < count; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      port = ntohs(address.sin_port);
    }
    fds.push_back(fd);
    ports.push_back(port);
  }
  for (int fd : fds) ::close(fd);
  return ports;
}

bool Accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return ok;
}

// The body of GET `path` from the HTTP server on loopback `port`; "" if it did not answer.
std::string HttpGet(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  // Bounded: a process on a reused port that accepts and never answers must not hang the
  // wait for the cluster.
  const timeval limit{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof(limit));
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
    const std::string request = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buffer[4096];
      ssize_t n;
      while ((n = ::read(fd, buffer, sizeof(buffer))) > 0) reply.append(buffer, static_cast<size_t>(n));
    }
  }
  ::close(fd);
  const size_t body = reply.find("\r\n\r\n");
  return body == std::string::npos ? "" : reply.substr(body + 4);
}

}  // namespace

std::string NatsServerBinary() {
  const char* chosen = std::getenv("TASKLEDGER_NATS_SERVER");
  if (chosen != nullptr && *chosen != '\0') return chosen;
  return TASKLEDGER_NATS_SERVER;
}

NatsCluster::NatsCluster(const std::string& root, int size) {
  // A cluster whose JetStream meta group does not form is started again, on new ports and
  // in new directories. (Seen once in a loaded CI run: stream creation on a fresh cluster
  // found "no suitable peers for placement" for 90 s. One cause that fits is a port picked
  // by FreePorts and taken by another process before a route bound it.)
  constexpr int kAttempts = 3;
  for (int attempt = 1; attempt <= kAttempts; ++attempt) {
    const std::vector<int> ports = FreePorts(3 * size);
    nodes_.clear();
    for (int i = 0; i < size; ++i) {
      Node node;
      node.name = "n" + std::to_string(i);
      node.dir = root + "/attempt-" + std::to_string(attempt) + "/" + node.name;
      node.port = ports[3 * i];
      node.cluster_port = ports[3 * i + 1];
      node.monitor_port = ports[3 * i + 2];
      std::filesystem::create_directories(node.dir);
      nodes_.push_back(std::move(node));
    }
    // A server that cannot bind a port (another process took it) is also tried again.
    std::string failed;
    for (int i = 0; i < size && failed.empty(); ++i) failed = TryStart(i);
    if (failed.empty() && WaitUntil([&] { return MetaGroupFormed(); }, 20s)) return;
    if (failed.empty()) failed = "the JetStream meta group did not form within 20 s:\n" + MetaGroupState();
    if (attempt == kAttempts) {
      ADD_FAILURE() << "the NATS cluster did not start, " << kAttempts << " times; the last: " << failed;
      return;
    }
    std::cerr << "NATS cluster attempt " << attempt << ": " << failed << "\nstarting another on new ports\n";
    for (Node& node : nodes_) {
      if (node.process == nullptr || node.process->Poll()) continue;  // not started, or reaped
      node.process->Signal(SIGKILL);
      node.process->WaitExit(10s);
    }
  }
}

bool NatsCluster::MetaGroupFormed() const {
  // Formed: every server names the same leader, and the leader sees every other server as
  // a current replica. Before that, a stream of R3 can be refused ("no suitable peers").
  std::string leader;
  for (const Node& node : nodes_) {
    const nlohmann::json jsz = nlohmann::json::parse(HttpGet(node.monitor_port, "/jsz"), nullptr, false);
    if (!jsz.is_object()) return false;
    if (nodes_.size() == 1) return jsz.contains("config");  // JetStream is on; no meta group alone
    // Each field looked at only once its type is checked: value() throws on a mismatch.
    const auto meta = jsz.find("meta_cluster");
    if (meta == jsz.end() || !meta->is_object()) return false;
    const auto seen = meta->find("leader");
    if (seen == meta->end() || !seen->is_string() || seen->get<std::string>().empty()) return false;
    if (!leader.empty() && *seen != leader) return false;
    leader = seen->get<std::string>();
    if (leader == node.name) {
      const auto replicas = meta->find("replicas");
      if (replicas == meta->end() || !replicas->is_array() || replicas->size() != nodes_.size() - 1) return false;
      for (const nlohmann::json& replica : *replicas) {
        if (!replica.is_object()) return false;
        const auto current = replica.find("current");
        if (current == replica.end() || !current->is_boolean() || !current->get<bool>()) return false;
        const auto offline = replica.find("offline");
        if (offline != replica.end() && offline->is_boolean() && offline->get<bool>()) return false;
      }
    }
  }
  return true;
}

std::string NatsCluster::MetaGroupState() const {
  std::string state;
  for (const Node& node : nodes_) {
    const nlohmann::json jsz = nlohmann::json::parse(HttpGet(node.monitor_port, "/jsz"), nullptr, false);
    const auto meta = jsz.is_object() ? jsz.find("meta_cluster") : jsz.end();
    state += node.name + ": " + (jsz.is_object() && meta != jsz.end() ? meta->dump() : std::string("no answer")) + "\n";
  }
  return state;
}

NatsCluster::~NatsCluster() = default;

std::string NatsCluster::TryStart(int i) {
  Node& node = nodes_[i];
  std::vector<std::string> argv = {NatsServerBinary(), "--addr", "127.0.0.1", "--port", std::to_string(node.port),
                                   "--http_port", std::to_string(node.monitor_port), "--jetstream",
                                   "--store_dir", node.dir + "/store", "--server_name", node.name};
  if (nodes_.size() > 1) {
    std::string routes;
    for (const Node& other : nodes_) {
      if (&other == &node) continue;
      routes += (routes.empty() ? "" : ",") + std::string("nats://127.0.0.1:") + std::to_string(other.cluster_port);
    }
    // A name of its own (its first server's cluster port): a server of another test's
    // cluster can never join this one, whatever ports the two were given.
    argv.insert(argv.end(), {"--cluster_name", "taskledger-" + std::to_string(nodes_.front().cluster_port), "--cluster",
                             "nats://127.0.0.1:" + std::to_string(node.cluster_port), "--routes", routes});
  }
  // One log per start, so that a restarted server's log leaves the first run's in place.
  ++node.starts;
  node.process = std::make_unique<Background>(argv, std::vector<std::string>{},
                                              node.dir + "/server-" + std::to_string(node.starts) + ".log");
  // Ready once it says so (after binding its ports) and answers on its client port.
  const bool up = WaitUntil(
                      [&] {
                        return node.process->Poll() ||
                               (node.process->output().find("Server is ready") != std::string::npos &&
                                Accepts(node.port));
                      },
                      15s) &&
                  !node.process->Poll();
  if (up) return "";
  return NatsServerBinary() + " " + node.name + " did not start:\n" + node.process->output();
}

std::string NatsCluster::Url(int i) const { return "nats://127.0.0.1:" + std::to_string(nodes_[i].port); }

std::vector<std::string> NatsCluster::Urls() const {
  std::vector<std::string> urls;
  for (int i = 0; i < size(); ++i) urls.push_back(Url(i));
  return urls;
}

std::string NatsCluster::Name(int i) const { return nodes_[i].name; }

int NatsCluster::IndexOf(const std::string& name) const {
  for (int i = 0; i < size(); ++i) {
    if (nodes_[i].name == name) return i;
  }
  return -1;
}

void NatsCluster::Kill(int i) {
  Background& process = *nodes_[i].process;
  process.Signal(SIGKILL);
  ASSERT_NE(process.WaitExit(10s), -1) << nodes_[i].name << " did not die";
}

void NatsCluster::Restart(int i) {
  const std::string failed = TryStart(i);
  ASSERT_TRUE(failed.empty()) << failed;
  ASSERT_TRUE(WaitUntil([&] { return MetaGroupFormed(); }, 30s))
      << nodes_[i].name << " restarted, but the JetStream meta group did not form again within 30 s:\n"
      << MetaGroupState();
}

}  // namespace taskledger::test
