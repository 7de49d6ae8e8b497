// Ledgers on disk for the audit tests: the shared helpers of tests/support under the names
// the audit tests use, a command builder, and a short history written by commands.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "ledger/clock.h"
#include "ledger/ledger.h"
#include "tests/audit/story.h"
#include "tests/support/ledgers.h"
#include "tests/support/raw_db.h"
#include "tests/support/temp_dir.h"

namespace taskledger::audit_test {

using test::ExportLines;
using test::MustSubmit;
using test::TempDir;
using test::VectorSource;
using test::WithRawDb;

inline std::unique_ptr<Ledger> OpenLedger(const std::string& path, Clock* clock, bool read_only = false) {
  return test::OpenLedgerAt(path, clock, read_only);
}

inline Command Cmd(CommandKind kind, const std::string& id, const std::string& actor = "", uint64_t token = 0) {
  Command c;
  c.kind = kind;
  c.task_id = id;
  c.actor = actor;
  c.token = token;
  if (kind == CommandKind::kCreate) c.spec.title = "task " + id;
  return c;
}

// A short history written by commands: a and b (after a); w1 claims a and falls silent,
// w2 takes a over, w1's late heartbeat is refused, w2 completes a, b runs.
inline void WriteHistory(Ledger& ledger, ManualClock& clock) {
  MustSubmit(ledger, Cmd(CommandKind::kCreate, "a"));
  Command b = Cmd(CommandKind::kCreate, "b");
  b.spec.after = {"a"};
  MustSubmit(ledger, b);
  Command claim = Cmd(CommandKind::kClaim, "a", "w1");
  claim.ttl_ns = 5 * kSec;
  const uint64_t t1 = MustSubmit(ledger, claim).token;
  clock.Advance(2 * kSec);
  MustSubmit(ledger, Cmd(CommandKind::kHeartbeat, "a", "w1", t1));
  clock.Advance(10 * kSec);  // the lease lapsed at +7s; the backoff ran out at +8s
  claim.actor = "w2";
  const uint64_t t2 = MustSubmit(ledger, claim).token;
  EXPECT_TRUE(ledger.Submit(Cmd(CommandKind::kHeartbeat, "a", "w1", t1)).status.IsRefused());
  MustSubmit(ledger, Cmd(CommandKind::kComplete, "a", "w2", t2));
  const uint64_t t3 = MustSubmit(ledger, Cmd(CommandKind::kClaim, "b", "w2")).token;
  MustSubmit(ledger, Cmd(CommandKind::kComplete, "b", "w2", t3));
}

}  // namespace taskledger::audit_test
