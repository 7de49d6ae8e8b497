// The ledger's column families and its format version (docs/format.md "Column families").
#pragma once

#include <iterator>
#include <vector>

namespace rocksdb {
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace taskledger {

// The order is the handle index.
enum ColumnFamily : int {
  kMeta = 0,  // RocksDB's default: format_version
  kEvents,
  kTaskEvents,
  kTasks,
  kSchedule,   // which tasks are live (in the in-memory schedule): ledger/schedule_index.h
  kDeadlines,  // format 1 only: emptied when a format-1 ledger is opened writable
  kDependents,
  kIdempotency,
  kColumnFamilyCount,
};
inline constexpr const char* kColumnFamilyNames[] = {
    "default", "events", "task_events", "tasks", "schedule", "deadlines", "dependents", "idempotency"};
static_assert(std::size(kColumnFamilyNames) == kColumnFamilyCount);
// The projection and indexes: everything `rebuild` recreates from the log.
inline constexpr ColumnFamily kDerivedFamilies[] = {kTaskEvents, kTasks,      kSchedule,
                                                    kDeadlines,  kDependents, kIdempotency};

// An open ledger's handles, indexed by ColumnFamily.
using ColumnFamilyHandles = std::vector<rocksdb::ColumnFamilyHandle*>;

inline constexpr char kFormatVersionKey[] = "format_version";
// 2: the schedule and deadlines are in memory; `schedule` holds one live marker per task.
// 1: they were stored (R/T/S keys, `deadlines`). A format-1 ledger opens read-only as it
// is and is converted at its first writable open (ConvertFromFormat1, maintenance.cc).
inline constexpr int kFormatVersion = 2;
inline constexpr int kOldestFormatVersion = 1;
// The version is stored as one ASCII digit.
static_assert(kOldestFormatVersion >= 1 && kFormatVersion <= 9 && kOldestFormatVersion <= kFormatVersion);

}  // namespace taskledger
