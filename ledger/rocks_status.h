// RocksDB errors converted to the ledger's Status at the edge (STYLE.md "Errors").
#pragma once

#include <string_view>

#include "projections/status.h"

namespace rocksdb {
class Status;
}  // namespace rocksdb

namespace taskledger {

// Ok for ok; corruption is DataLoss; no space and every other failure is IOError, and
// NotFound stays NotFound. The message is "`what`: RocksDB's message".
Status FromRocks(const rocksdb::Status& s, std::string_view what);

}  // namespace taskledger
