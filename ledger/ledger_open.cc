// Opening and closing a ledger: the RocksDB options, the owner check, the format version,
// the flush that bounds the write-ahead log; and the last commit's seq and time.
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>

#include "ledger/codec.h"
#include "ledger/ledger_impl.h"
#include "ledger/process_lock.h"
#include "ledger/rocks_status.h"

namespace taskledger {
namespace {

// A writable ledger flushes at open and close once its memtables hold this much...
constexpr uint64_t kFlushMemtableBytes = 16ULL << 20;
// ...or this many WAL files have accumulated (see FlushIfLogGrew).
constexpr size_t kFlushWalFiles = 8;

rocksdb::Options DatabaseOptions(const LedgerOptions& options) {
  rocksdb::Options db_options;
  db_options.env = options.env != nullptr ? options.env : rocksdb::Env::Default();
  db_options.create_if_missing = !options.read_only && options.create_if_missing;
  db_options.create_missing_column_families = db_options.create_if_missing;
  db_options.IncreaseParallelism(2);
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  db_options.keep_log_file_num = 4;
  // A damaged record in the middle of the WAL is DataLoss, not the end of the log: the
  // default (point-in-time recovery) would open silently without every acknowledged
  // command after it (tests/faults). A torn last record (a crash mid-write, never
  // acknowledged) is still tolerated.
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  // Recovered WAL data stays in the memtables instead of being flushed at open: otherwise
  // every embedded CLI command (open, write a few keys, close) left a new SST per family
  // behind. The memtables are flushed when full, or at open or close once the WAL has
  // grown (FlushIfLogGrew).
  db_options.avoid_flush_during_recovery = true;
  return db_options;
}

}  // namespace

LedgerImpl::LedgerImpl(LedgerOptions options, Clock* clock) : options_(std::move(options)), clock_(clock) {}

// A large unflushed write-ahead log makes every open slow: a primary replays it into
// memtables, and so does every read-only verb's secondary, each time it opens. And since
// recovery does not flush (see DatabaseOptions), each open starts a new WAL file and keeps
// the older ones until a flush. So a writable ledger flushes at open and at close once
// either has grown past its bound; below them (an embedded CLI command wrote a few events)
// the WAL is cheaper to replay than a new SST per family is to write. At open as well as
// at close: a server killed with -9 never closes, and without the flush at open its
// restarts replayed ever more WAL files (the crash loop found it: 138 kills, 148 files, no
// restart in time).
void LedgerImpl::FlushIfLogGrew() {
  uint64_t unflushed = 0;
  rocksdb::VectorLogPtr wal_files;
  const bool many_wal_files = db_->GetSortedWalFiles(wal_files).ok() && wal_files.size() >= kFlushWalFiles;
  if (many_wal_files || (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &unflushed) &&
                         unflushed >= kFlushMemtableBytes)) {
    rocksdb::FlushOptions flush;
    (void)db_->Flush(flush, handles_);  // best effort: the WAL still holds everything
  }
}

LedgerImpl::~LedgerImpl() {
  {
    MutexLock lock(&view_mutex_);  // the snapshots go before the database
    durable_.reset();
    unsynced_.clear();
  }
  if (db_ && !options_.read_only) FlushIfLogGrew();
  owned_path_.reset();
  for (rocksdb::ColumnFamilyHandle* handle : handles_) {
    if (db_) (void)db_->DestroyColumnFamilyHandle(handle);
  }
  handles_.clear();
  db_.reset();
  if (!secondary_path_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(secondary_path_, ignored);
  }
}

Result<std::unique_ptr<LedgerImpl>> LedgerImpl::Open(const LedgerOptions& options, Clock* clock) {
  if (options.path.empty()) return Status::InvalidArgument("the ledger path is empty");
  std::unique_ptr<LedgerImpl> ledger(new LedgerImpl(options, clock));
  TL_RETURN_IF_ERROR(ledger->OpenDatabase());
  TL_RETURN_IF_ERROR(ledger->CheckFormatVersion());
  if (!options.read_only && options.env == nullptr) ledger->owned_path_.emplace(options.path);
  TL_RETURN_IF_ERROR(ledger->Refresh());
  if (!options.read_only) TL_RETURN_IF_ERROR(ledger->LoadWritableState());
  // Without sync nothing is ever durable before the OS writes it: reads see the latest.
  ledger->durable_reads_ = !options.read_only && options.sync;
  return ledger;
}

Status LedgerImpl::OpenDatabase() {
  rocksdb::Options db_options = DatabaseOptions(options_);
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const char* name : kColumnFamilyNames) families.emplace_back(name, rocksdb::ColumnFamilyOptions(db_options));

  const std::string& path = options_.path;
  const bool real_fs = options_.env == nullptr;
  const bool exists = real_fs ? std::filesystem::exists(path + "/CURRENT")
                              : db_options.env->FileExists(path + "/CURRENT").ok();
  if (!exists && !db_options.create_if_missing) {
    return Status::IOError("no ledger at " + path + " (create one with `taskledger create`)");
  }
  const pid_t holder = real_fs ? LockHolder(path) : 0;
  rocksdb::DB* db = nullptr;
  rocksdb::Status s;
  if (!options_.read_only) {
    if (holder != 0) {
      return Status::Busy("ledger " + path + " is held by another process (" + DescribeProcess(holder) +
                          "); stop it, or go through it with --connect");
    }
    if (real_fs && !exists) {
      std::error_code error;
      std::filesystem::create_directories(path, error);
      if (error) return Status::IOError("cannot create " + path + ": " + error.message());
    }
    s = rocksdb::DB::Open(db_options, path, families, &handles_, &db);
    if (s.IsIOError() && s.ToString().find("lock") != std::string::npos) {
      return Status::Busy("ledger " + path + " is already open (" + s.ToString() + ")");
    }
  } else {
    // Read-only verbs follow the ledger as a RocksDB secondary: safe while a server owns
    // it (OpenForReadOnly is undefined while another process writes), never touching its
    // files, and able to catch up (Refresh) for `log --follow`.
    char dir[] = "/tmp/taskledger-secondary-XXXXXX";
    if (::mkdtemp(dir) == nullptr) return Status::IOError("cannot create a secondary directory in /tmp");
    secondary_path_ = dir;
    db_options.max_open_files = -1;
    s = rocksdb::DB::OpenAsSecondary(db_options, path, secondary_path_, families, &handles_, &db);
  }
  if (!s.ok()) return FromRocks(s, "cannot open ledger " + path);
  db_.reset(db);
  return Status::Ok();
}

Status LedgerImpl::CheckFormatVersion() {
  std::string version;
  const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kMeta), kFormatVersionKey, &version);
  if (s.IsNotFound()) {
    if (options_.read_only) return Status::Ok();
    rocksdb::WriteOptions write_options;
    write_options.sync = options_.sync;
    return FromRocks(db_->Put(write_options, cf(kMeta), kFormatVersionKey, std::to_string(kFormatVersion)),
                     "cannot initialize ledger");
  }
  if (!s.ok()) return FromRocks(s, "cannot read the ledger's format version");
  const int found = version.size() == 1 && version[0] >= '1' && version[0] <= '9' ? version[0] - '0' : 0;
  if (found < kOldestFormatVersion || found > kFormatVersion) {
    return Status::DataLoss("ledger " + options_.path + " has format version " + version +
                            "; this taskledger reads versions " + std::to_string(kOldestFormatVersion) + " to " +
                            std::to_string(kFormatVersion));
  }
  format_version_ = found;
  return Status::Ok();
}

Status LedgerImpl::LoadWritableState() {
  FlushIfLogGrew();
  MutexLock lock(&mutex_);
  if (format_version_ < kFormatVersion) TL_RETURN_IF_ERROR(ConvertFromFormat1());
  return LoadIndex();
}

Status LedgerImpl::Refresh() {
  if (!secondary_path_.empty()) TL_RETURN_IF_ERROR(FromRocks(db_->TryCatchUpWithPrimary(), "catch up"));
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kEvents)));
  it->SeekToLast();
  TL_RETURN_IF_ERROR(FromRocks(it->status(), "read the log's end"));
  MutexLock lock(&mutex_);
  if (!it->Valid()) {
    last_seq_ = 0;
    last_ns_ = 0;
    return Status::Ok();
  }
  Result<Event> last = DecodeEvent(it->value().ToStringView());
  if (!last.ok()) return last.status();
  last_seq_ = last->seq;
  last_ns_ = last->time_ns;
  return Status::Ok();
}

int64_t LedgerImpl::Now() {
  MutexLock lock(&mutex_);
  return std::max(clock_->NowNs(), last_ns_);
}

uint64_t LedgerImpl::last_seq() {
  // The last event a reader may see (reads.cc, DurableView): what the `now` RPC reports.
  return DurableView().seq;
}

}  // namespace taskledger
