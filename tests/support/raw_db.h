// The ledger's RocksDB opened directly, with every column family, to damage or flush it
// on purpose underneath the ledger. REQUIRES: no Ledger has the directory open.
#pragma once

#include <rocksdb/db.h>

#include <functional>
#include <map>
#include <string>

namespace taskledger::test {

using RawFamilies = std::map<std::string, rocksdb::ColumnFamilyHandle*>;

// Opens the RocksDB at `path` for `fn`; any failure to open is a test failure.
void WithRawDb(const std::string& path, const std::function<void(rocksdb::DB&, RawFamilies&)>& fn);

// Flushes every column family into SST files.
void FlushEverything(const std::string& path);

}  // namespace taskledger::test
