// Ledgers for tests: on an in-memory RocksDB Env (MemLedger) or in a directory on disk
// (OpenLedgerAt), driven by a ManualClock; submitting commands that must be accepted; the
// log read back whole.
#pragma once

#include <gtest/gtest.h>
#include <rocksdb/env.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ledger/clock.h"
#include "ledger/ledger.h"
#include "tests/support/time.h"

namespace taskledger::test {

// A ledger in `path`, unsynced (tests measure nothing about durability unless they say
// so). A failure to open is a test failure, and null.
std::unique_ptr<Ledger> OpenLedgerAt(const std::string& path, Clock* clock, bool read_only = false);

// Submits a command that must be accepted; returns its reply.
CommandReply MustSubmit(Ledger& ledger, const Command& command);

// The log from `from` on.
std::vector<Event> EventsOf(Ledger& ledger, uint64_t from = 1);

// Verifies the ledger: no error, no problem (each a failure, prefixed by `when`), and as
// many events as its last seq.
void ExpectVerifyClean(Ledger& ledger, const std::string& when = "verify");

// The export of a ledger: one EventToJson line per event.
std::string ExportLines(Ledger& ledger);

// `events` as an import source. REQUIRES: `events` outlives the source.
EventSource VectorSource(const std::vector<Event>& events);

// Owns an in-memory Env (outliving the ledger) and a ManualClock.
class MemLedger {
 public:
  explicit MemLedger(int64_t start_ns = kT0) : clock_(start_ns), env_(rocksdb::NewMemEnv(rocksdb::Env::Default())) {}
  ~MemLedger() { ledger_.reset(); }

  Status Open(const std::string& path = "/ledger") {
    LedgerOptions options;
    options.path = path;
    options.env = env_.get();
    options.sync = false;
    Result<std::unique_ptr<Ledger>> opened = Ledger::Open(options, &clock_);
    if (!opened.ok()) return opened.status();
    ledger_ = std::move(*opened);
    return Status::Ok();
  }
  void Close() { ledger_.reset(); }

  Ledger& ledger() { return *ledger_; }
  ManualClock& clock() { return clock_; }
  rocksdb::Env* env() { return env_.get(); }

  // The whole log.
  std::vector<Event> Events(uint64_t from = 1) { return EventsOf(*ledger_, from); }
  std::optional<TaskRecord> Task(const std::string& id) {
    Result<std::optional<TaskRecord>> r = ledger_->GetTask(id);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : std::nullopt;
  }

 private:
  ManualClock clock_;
  std::unique_ptr<rocksdb::Env> env_;
  std::unique_ptr<Ledger> ledger_;
};

}  // namespace taskledger::test
