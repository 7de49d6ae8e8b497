#include "ledger/rocks_status.h"

#include <rocksdb/status.h>

#include <string>

namespace taskledger {

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  const std::string message = std::string(what) + ": " + s.ToString();
  if (s.IsCorruption()) return Status::DataLoss(message);
  if (s.IsNoSpace()) return Status::IOError(message + " (disk full)");
  if (s.IsNotFound()) return Status::NotFound(message);
  return Status::IOError(message);
}

}  // namespace taskledger
