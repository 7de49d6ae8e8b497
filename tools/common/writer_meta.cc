#include "tools/common/writer_meta.h"

#include <unistd.h>

#include <string>

#include "ledger/clock.h"

namespace taskledger::tools {
namespace {

// Read once: a process's host name does not change under it in any way we would report.
const std::string& HostName() {
  static const std::string name = [] {
    char host[256] = {};
    return ::gethostname(host, sizeof(host) - 1) == 0 ? std::string(host) : std::string();
  }();
  return name;
}

}  // namespace

ClientMeta WriterMeta(uint32_t pid) {
  ClientMeta meta;
  meta.pid = pid;
  meta.host = HostName();
  meta.wall_time_ns = SystemClock().NowNs();
  return meta;
}

}  // namespace taskledger::tools
