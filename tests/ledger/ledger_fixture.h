// A ledger on an in-memory RocksDB Env driven by a ManualClock, and command builders.
#pragma once

#include <gtest/gtest.h>
#include <rocksdb/env.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ledger/clock.h"
#include "ledger/ledger.h"
#include "projections/decide.h"
#include "test_util.h"

namespace taskledger::test {

inline Command CreateCmd(const std::string& id, const std::string& title = "t") {
  Command c;
  c.kind = CommandKind::kCreate;
  c.task_id = id;
  c.spec.title = title;
  return c;
}
inline Command ClaimCmd(const std::string& id, const std::string& worker = "w1", int64_t ttl = 0) {
  Command c;
  c.kind = CommandKind::kClaim;
  c.task_id = id;
  c.actor = worker;
  c.ttl_ns = ttl;
  return c;
}
inline Command ClaimNextCmd(const std::string& worker = "w1", const std::string& queue = "", int64_t ttl = 0) {
  Command c;
  c.kind = CommandKind::kClaim;
  c.next = true;
  c.actor = worker;
  c.queue = queue;
  c.ttl_ns = ttl;
  return c;
}
inline Command HolderCmd(CommandKind kind, const std::string& id, uint64_t token, const std::string& worker = "w1") {
  Command c;
  c.kind = kind;
  c.task_id = id;
  c.actor = worker;
  c.token = token;
  if (kind == CommandKind::kSignal) c.signal = "SIGTERM";
  if (kind == CommandKind::kExit) c.exit_code = 1;
  return c;
}
inline Command OperatorCmd(CommandKind kind, const std::string& id, const std::string& text = "") {
  Command c;
  c.kind = kind;
  c.task_id = id;
  c.actor = "operator";
  c.text = text;
  return c;
}
inline Command SweepCmd() {
  Command c;
  c.kind = CommandKind::kSweep;
  return c;
}

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
  std::vector<Event> Events(uint64_t from = 1) {
    std::vector<Event> out;
    const Status s = ledger_->ForEachEvent(from, [&](const Event& e) {
      out.push_back(e);
      return true;
    });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }
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
