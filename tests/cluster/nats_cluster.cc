#include "tests/cluster/nats_cluster.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

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

}  // namespace

std::string NatsServerBinary() {
  const char* chosen = std::getenv("TASKLEDGER_NATS_SERVER");
  if (chosen != nullptr && *chosen != '\0') return chosen;
  return TASKLEDGER_NATS_SERVER;
}

NatsCluster::NatsCluster(const std::string& root, int size) {
  const std::vector<int> ports = FreePorts(2 * size);
  for (int i = 0; i < size; ++i) {
    Node node;
    node.name = "n" + std::to_string(i);
    node.dir = root + "/" + node.name;
    node.port = ports[2 * i];
    node.cluster_port = ports[2 * i + 1];
    std::filesystem::create_directories(node.dir);
    nodes_.push_back(std::move(node));
  }
  for (int i = 0; i < size; ++i) Start(i);
}

NatsCluster::~NatsCluster() = default;

void NatsCluster::Start(int i) {
  Node& node = nodes_[i];
  std::vector<std::string> argv = {NatsServerBinary(), "--addr", "127.0.0.1", "--port", std::to_string(node.port),
                                   "--jetstream", "--store_dir", node.dir + "/store", "--server_name", node.name};
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
                      20s) &&
                  !node.process->Poll();
  ASSERT_TRUE(up) << NatsServerBinary() << " " << node.name << " did not start:\n" << node.process->output();
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

void NatsCluster::Restart(int i) { Start(i); }

}  // namespace taskledger::test
