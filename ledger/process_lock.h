// Who owns a ledger directory: another process, seen through RocksDB's fcntl lock on its
// LOCK file, or this process, through a registry of the paths it has open for writing.
// fcntl locks belong to a process, so LockHolder cannot see our own: a read-only verify
// beside a writable ledger of the same process (tests, an embedded tool) must still know
// that an owner is writing. The registry is process-wide because the lock is.
//
// Thread-safe.
#pragma once

#include <sys/types.h>

#include <string>

namespace taskledger {

// The pid that holds the fcntl lock on `path`/LOCK, or 0 (none, or no LOCK file).
pid_t LockHolder(const std::string& path);

// "pid N: its command line", for a message that names the owner.
std::string DescribeProcess(pid_t pid);

// Whether a ledger of this process has `path` open for writing.
bool OwnedByThisProcess(const std::string& path);

// Registers `path` as open for writing by this process for the object's life. Not
// copyable: one registration, one owner.
class OwnedPath {
 public:
  explicit OwnedPath(const std::string& path);
  ~OwnedPath();
  OwnedPath(const OwnedPath&) = delete;
  OwnedPath& operator=(const OwnedPath&) = delete;

 private:
  const std::string canonical_path_;
};

}  // namespace taskledger
