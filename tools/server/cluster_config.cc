#include "tools/server/cluster_config.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "projections/time_text.h"
#include "tools/common/address.h"

namespace taskledger::server {
namespace {

using Json = nlohmann::json;

constexpr int64_t kMinLeaseTtlNs = 100'000'000;      // below this a renewal races the network
constexpr int64_t kMaxLeaseTtlNs = 60'000'000'000;   // beyond this a failover is a minute of stall

// One line whatever the config held: a control character in a value quoted back is escaped.
Status Bad(const std::string& what) {
  std::string line = "cluster config: ";
  for (unsigned char c : what) {
    if (c < 0x20 || c == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      line += escaped;
    } else {
      line += static_cast<char>(c);
    }
  }
  return Status::InvalidArgument(line);
}

// A name NATS takes in a stream name and a subject token, and the writer lease records.
bool PlainName(const std::string& name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 || c == '_' || c == '-';
  });
}

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

}  // namespace

std::string ClusterConfig::LogStream(uint32_t partition) const { return prefix + "_P" + std::to_string(partition); }
std::string ClusterConfig::LogSubject(uint32_t partition) const {
  return Lower(prefix) + ".p" + std::to_string(partition);
}
std::string ClusterConfig::LeaseStream() const { return prefix + "_WRITERS"; }
std::string ClusterConfig::LeaseSubjectPrefix() const { return Lower(prefix) + ".writers"; }

Result<ClusterConfig> ParseClusterConfig(std::string_view text) {
  Json json;
  try {
    json = Json::parse(text);
  } catch (const Json::parse_error& e) {
    return Bad(std::string("not JSON: ") + e.what());
  }
  if (!json.is_object()) return Bad("expected one JSON object");
  static const std::set<std::string> kFields = {"name",       "nats",   "replicas", "partitions",
                                                "lease_ttl",  "prefix", "servers"};
  for (const auto& [key, value] : json.items()) {
    (void)value;
    // Quoted as JSON: a key may hold a newline, and the error is one line.
    if (kFields.count(key) == 0) return Bad("unknown field " + Json(key).dump());
  }
  ClusterConfig config;

  if (!json.contains("name") || !json["name"].is_string()) return Bad("\"name\" (this server's name) is required");
  config.name = json["name"].get<std::string>();
  if (!PlainName(config.name)) return Bad("\"name\" must be 1-64 letters, digits, '_' or '-'");

  if (!json.contains("nats") || !json["nats"].is_array() || json["nats"].empty()) {
    return Bad("\"nats\" must list the NATS servers' URLs");
  }
  for (const Json& url : json["nats"]) {
    if (!url.is_string() || url.get<std::string>().rfind("nats://", 0) != 0) {
      return Bad("\"nats\": expected nats://HOST:PORT, got " + url.dump());
    }
    config.nats.push_back(url.get<std::string>());
  }

  if (json.contains("replicas")) {
    const Json& replicas = json["replicas"];
    if (!replicas.is_number_integer() || (replicas.get<int64_t>() != 1 && replicas.get<int64_t>() != 3)) {
      return Bad("\"replicas\" must be 1 or 3");
    }
    config.replicas = static_cast<int>(replicas.get<int64_t>());
  }
  if (json.contains("partitions")) {
    if (!json["partitions"].is_number_unsigned()) return Bad("\"partitions\" must be a whole number");
    const uint64_t partitions = json["partitions"].get<uint64_t>();
    if (partitions != 1) {
      return Bad("\"partitions\": this version serves one partition; routing tasks by key across " +
                 std::to_string(partitions) + " is not built yet (docs/scale-out.md)");
    }
    config.partitions = 1;
  }
  if (json.contains("lease_ttl")) {
    if (!json["lease_ttl"].is_string()) return Bad("\"lease_ttl\" must be a duration such as \"2s\"");
    Result<int64_t> ttl = ParseDuration(json["lease_ttl"].get<std::string>());
    if (!ttl.ok()) return Bad("\"lease_ttl\": " + ttl.status().message());
    if (*ttl < kMinLeaseTtlNs || *ttl > kMaxLeaseTtlNs) return Bad("\"lease_ttl\" must be from 100ms to 1m");
    // Whole milliseconds: the lease record stores ttl_ms.
    config.lease_ttl_ns = *ttl / 1'000'000 * 1'000'000;
  }
  if (json.contains("prefix")) {
    if (!json["prefix"].is_string() || !PlainName(json["prefix"].get<std::string>())) {
      return Bad("\"prefix\" must be 1-64 letters, digits, '_' or '-'");
    }
    config.prefix = json["prefix"].get<std::string>();
  }

  if (!json.contains("servers") || !json["servers"].is_object() || json["servers"].empty()) {
    return Bad("\"servers\" must map every server's name to its RPC address");
  }
  for (const auto& [name, address] : json["servers"].items()) {
    if (!PlainName(name)) return Bad("\"servers\": " + Json(name).dump() + " is not a server name");
    if (!address.is_string()) return Bad("\"servers\": the address of " + name + " must be a string");
    Result<tools::ServerAddress> parsed = tools::ParseServerAddress(address.get<std::string>());
    if (!parsed.ok()) return Bad("\"servers\": " + name + ": " + parsed.status().message());
    config.servers[name] = address.get<std::string>();
  }
  if (config.servers.count(config.name) == 0) {
    return Bad("\"servers\" does not name this server (\"" + config.name + "\")");
  }
  return config;
}

Result<ClusterConfig> LoadClusterConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cluster config " + path + ": cannot be read");
  std::stringstream text;
  text << in.rdbuf();
  Result<ClusterConfig> config = ParseClusterConfig(text.str());
  if (!config.ok()) return Status::InvalidArgument(path + ": " + config.status().message());
  return config;
}

}  // namespace taskledger::server
