#include "ledger/process_lock.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "ledger/thread_safety.h"
#include "projections/check.h"

namespace taskledger {
namespace {

struct OwnedPathRegistry {
  Mutex mutex;
  std::multiset<std::string> paths GUARDED_BY(mutex);  // canonical; a path twice: opened twice
};

OwnedPathRegistry& Registry() {
  static OwnedPathRegistry* const registry = new OwnedPathRegistry;  // never destroyed: no exit-order race
  return *registry;
}

std::string CanonicalPath(const std::string& path) {
  std::error_code error;
  const std::filesystem::path canonical = std::filesystem::weakly_canonical(path, error);
  return error ? path : canonical.string();
}

}  // namespace

pid_t LockHolder(const std::string& path) {
  const std::string lock_path = path + "/LOCK";
  // Read-only is enough for F_GETLK, and lets an auditor who may only read the ledger
  // still see its owner.
  const int fd = ::open(lock_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct flock query {};
  query.l_type = F_WRLCK;
  query.l_whence = SEEK_SET;
  const int rc = ::fcntl(fd, F_GETLK, &query);
  ::close(fd);
  if (rc != 0 || query.l_type == F_UNLCK) return 0;
  return query.l_pid;
}

std::string DescribeProcess(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string cmdline((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
  while (!cmdline.empty() && cmdline.back() == ' ') cmdline.pop_back();
  std::string out = "pid " + std::to_string(pid);
  if (!cmdline.empty()) out += ": " + cmdline;
  return out;
}

bool OwnedByThisProcess(const std::string& path) {
  const std::string canonical = CanonicalPath(path);
  OwnedPathRegistry& registry = Registry();
  MutexLock lock(&registry.mutex);
  return registry.paths.count(canonical) != 0;
}

OwnedPath::OwnedPath(const std::string& path) : canonical_path_(CanonicalPath(path)) {
  OwnedPathRegistry& registry = Registry();
  MutexLock lock(&registry.mutex);
  registry.paths.insert(canonical_path_);
}

OwnedPath::~OwnedPath() {
  OwnedPathRegistry& registry = Registry();
  MutexLock lock(&registry.mutex);
  auto it = registry.paths.find(canonical_path_);
  TL_CHECK(it != registry.paths.end());  // registered by the constructor, removed only here
  registry.paths.erase(it);
}

}  // namespace taskledger
