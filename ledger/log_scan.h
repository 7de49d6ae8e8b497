// Reading the log in seq order: ScanEvents for a plain walk, FoldEvents for a fold of the
// whole log (replay to a point in time, verify, rebuild), which reads ahead of the fold.
//
// Both decode into reused Events: `fn` must not keep a reference to an event past its
// call. Both stop when `fn` returns false (and then return Ok), and return a decoding or
// read error only once every event before it was passed to `fn`.
#pragma once

#include <rocksdb/options.h>

#include <cstdint>
#include <functional>

#include "projections/event.h"
#include "projections/replay.h"
#include "projections/status.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace taskledger {

using EventFn = std::function<bool(const Event& event)>;

// Read options of a scan of the whole log or of a whole derived family: such a scan reads
// every block once, so it must not evict the block cache that serves the ledger's point
// reads, and it reads ahead in large steps.
rocksdb::ReadOptions LogScanOptions();

// Every event of the log from `from_seq` on, until `fn` returns false.
Status ScanEvents(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events, const rocksdb::ReadOptions& options,
                  uint64_t from_seq, const EventFn& fn);

// Every event of the log from seq 1 on, for a fold into `replay`: the replay is told of
// each event ahead of `fn` (Replay::PrefetchSlot, PrefetchRecord) so that the cache misses
// of its lookups overlap decoding. With two or more cores a reader thread iterates while
// the calling thread folds, and each batch is decoded by whichever of the two has the
// time. What `fn` sees, and where the scan stops, is exactly as with ScanEvents.
Status FoldEvents(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events, const rocksdb::ReadOptions& options,
                  const Replay& replay, const EventFn& fn);

}  // namespace taskledger
